"""List entries, their events, objections, credit repair and joint-measure tasks (SQLAlchemy Core).

Everything here is append-only: this module only selects and inserts (tests check the source and every statement
sent to the database; no row of these tables is ever rewritten or removed). An entry's state is the ``state`` of its latest event; the library
(``lists.lifecycle``) derives everything else from the event rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import allocate_ids, any_of, bulk_insert, insert_columns, now, prebuilt, schema

LE = schema.list_entries
EV = schema.list_events
OB = schema.objections
OD = schema.objection_decisions
RA = schema.repair_applications
RD = schema.repair_decisions
MT = schema.measure_tasks
MA = schema.measure_acks
E = schema.entities
CHUNK = 900  # stay below SQLite's bound-parameter limit


def _columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows (dicts with the keys of the first) column by column, for :func:`insert_columns`."""
    return {name: [r[name] for r in rows] for name in rows[0]}


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


# -- cycles and packs ---------------------------------------------------------------------------------------


def task_departments(conn: Connection) -> set[str]:
    """Departments named by stored measure tasks."""
    return {r[0] for r in conn.execute(sa.select(schema.measure_tasks.c.department).distinct())}


def earlier_revisions(conn: Connection, pack_id: str, period: str, revision: int) -> list[int]:
    """Ids of the cycles of a pack and period with a lower revision, oldest first."""
    cy = schema.cycles
    return list(
        conn.execute(
            sa.select(cy.c.id)
            .where(cy.c.pack_id == pack_id, cy.c.period == period, cy.c.revision < revision)
            .order_by(cy.c.revision)
        ).scalars()
    )


def latest_pack_bodies(conn: Connection) -> list[dict[str, Any]]:
    """Bodies of the newest stored version of every pack (for list titles on the public site)."""
    pv = schema.policy_versions
    newest = sa.select(sa.func.max(pv.c.id)).group_by(pv.c.pack_id)
    return [body for (body,) in conn.execute(sa.select(pv.c.body).where(pv.c.id.in_(newest)).order_by(pv.c.id))]


def pack_bodies(conn: Connection, version_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Stored pack version bodies by id."""
    pv = schema.policy_versions
    ids = sorted(set(version_ids))
    return {i: body for i, body in conn.execute(sa.select(pv.c.id, pv.c.body).where(pv.c.id.in_(ids)))} if ids else {}


def list_proposals(conn: Connection, cycle_id: int) -> Iterator[dict[str, Any]]:
    """Decisions of a cycle whose outcome proposes at least one list, with the outcome's list items."""
    O, D = schema.outcomes, schema.decisions
    wanted: dict[int, list[dict]] = {}
    for outcome_id, result in conn.execute(sa.select(O.c.id, O.c.result).where(O.c.cycle_id == cycle_id)):
        items = [i for i in (result or {}).get("lists") or [] if i.get("action") == "propose"]
        if items:
            wanted[outcome_id] = items
    for part in _chunks(sorted(wanted)):
        stmt = (
            sa.select(D.c.id, D.c.entity_id, D.c.outcome_id, D.c.facts)
            .where(D.c.cycle_id == cycle_id, D.c.outcome_id.in_(part))
            .order_by(D.c.entity_id)
        )
        for row in conn.execute(stmt):
            yield {
                "decision_id": row.id,
                "entity_id": row.entity_id,
                "facts": row.facts or {},
                "items": wanted[row.outcome_id],
            }


# -- entries and events -------------------------------------------------------------------------------------


def insert_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert entries (ids reserved first, then one bulk insert); returns their ids in the order of ``rows``."""
    ids = allocate_ids(conn, LE, len(rows))
    if rows:
        columns: dict[str, Sequence[Any]] = {"id": ids, "created_at": [now()] * len(rows), **_columns(rows)}
        insert_columns(conn, LE, columns)
    return ids


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Append event rows (entry_id, seq, event, state, valid_from, recorded_at, actor, reason, data).

    The caller numbers them from the entry's loaded events (under the entry's lock); the unique (entry_id, seq)
    key turns a concurrent writer that slipped past the lock into an error instead of a second history."""
    bulk_insert(conn, EV, rows)


def lock_entries(conn: Connection, entry_ids: Sequence[int]) -> None:
    """Serialise writers of the same entries (PostgreSQL row locks; SQLite holds a database write lock)."""
    if conn.dialect.name == "postgresql" and entry_ids:
        for part in _chunks(sorted(set(entry_ids))):
            conn.execute(sa.select(LE.c.id).where(LE.c.id.in_(part)).with_for_update()).all()


def _entry_select() -> sa.Select[Any]:
    return sa.select(
        LE, E.c.code, E.c.code_kind, E.c.name.label("entity_name"), E.c.entity_type, E.c.region.label("entity_region")
    ).join(E, E.c.id == LE.c.entity_id)


def get_entries(conn: Connection, entry_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for part in _chunks(sorted(set(entry_ids))):
        result = conn.execute(_entry_select().where(LE.c.id.in_(part)))
        keys = list(result.keys())  # each row a dict of its columns (as dict(row mapping), without one per row)
        for row in result.all():
            found = dict(zip(keys, row))
            out[found["id"]] = found
    return out


def events_for(conn: Connection, entry_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for part in _chunks(sorted(set(entry_ids))):
        stmt = sa.select(EV).where(EV.c.entry_id.in_(part)).order_by(EV.c.entry_id, EV.c.seq)
        result = conn.execute(stmt)
        keys = list(result.keys())
        for row in result.all():
            event = dict(zip(keys, row))
            out.setdefault(event["entry_id"], []).append(event)
    return out


def _latest_states() -> sa.Subquery:
    last = sa.select(EV.c.entry_id, sa.func.max(EV.c.seq).label("seq")).group_by(EV.c.entry_id).subquery()
    return (
        sa.select(EV.c.entry_id, EV.c.state)
        .join(last, sa.and_(last.c.entry_id == EV.c.entry_id, last.c.seq == EV.c.seq))
        .subquery()
    )


def entry_ids(
    conn: Connection,
    *,
    states: Sequence[str] | None = None,
    entity_id: int | None = None,
    list_name: str | None = None,
    cycle_id: int | None = None,
    ever: str | None = None,
    ever_before: dt.date | None = None,
    entity_ids: Sequence[int] | None = None,
) -> list[int]:
    """Ids of entries filtered by current state, entity (or any of ``entity_ids``), list, proposing cycle, or by
    having had an event ``ever`` valid on or before ``ever_before``. One statement per set of filters given, built
    once (:func:`engine.store.prebuilt`: the check service asks this on every check)."""
    ids: list[int] | None = None
    if entity_ids is not None:
        ids = sorted(set(entity_ids))
        if not ids:
            return []
        if len(ids) > CHUNK:  # SQLite takes at most 999 parameters: one query per chunk
            found: set[int] = set()
            for part in _chunks(ids):
                found |= set(entry_ids(conn, states=states, entity_ids=part, list_name=list_name, ever=ever,
                                       cycle_id=cycle_id, ever_before=ever_before))  # fmt: skip
            return sorted(found)
    given = {
        "states": list(states) if states is not None else None,
        "entity_id": entity_id,
        "entity_ids": ids,
        "list_name": list_name,
        "cycle_id": cycle_id,
        "ever": ever,
        "ever_before": ever_before if ever is not None else None,
    }
    params = {k: v for k, v in given.items() if v is not None}
    stmt = prebuilt(conn, ("entry_ids", *params), lambda d: _entry_ids_stmt(d, set(params)))
    return list(conn.execute(stmt, params).scalars())


def _entry_ids_stmt(dialect: str, given: set[str]) -> sa.Select:
    stmt = sa.select(LE.c.id)
    if "states" in given:
        latest = _latest_states()
        stmt = stmt.join(latest, latest.c.entry_id == LE.c.id).where(any_of(latest.c.state, "states", dialect))
    if "entity_id" in given:
        stmt = stmt.where(LE.c.entity_id == sa.bindparam("entity_id", type_=LE.c.entity_id.type))
    if "entity_ids" in given:
        stmt = stmt.where(any_of(LE.c.entity_id, "entity_ids", dialect))
    if "list_name" in given:
        stmt = stmt.where(LE.c.list == sa.bindparam("list_name", type_=LE.c.list.type))
    if "cycle_id" in given:
        stmt = stmt.where(LE.c.cycle_id == sa.bindparam("cycle_id", type_=LE.c.cycle_id.type))
    if "ever" in given:
        stmt = stmt.where(had_event(sa.bindparam("ever", type_=EV.c.event.type), "ever_before" in given))
    return stmt.order_by(LE.c.id)


def had_event(event: sa.ColumnElement[Any], before: bool) -> sa.Exists:
    """The entry (``list_entries``, correlated) has had the event ``event``, valid on or before the bind parameter
    ``ever_before`` when ``before``. Correlated by the entry_id, seq index: an IN over every such event of every
    entry was a full scan."""
    had = sa.select(EV.c.id).where(EV.c.entry_id == LE.c.id, EV.c.event == event)
    if before:
        had = had.where(EV.c.valid_from <= sa.bindparam("ever_before", type_=EV.c.valid_from.type))
    return had.exists()


def entries_of_cycle(conn: Connection, cycle_id: int) -> set[tuple[int, str]]:
    """(entity_id, list) pairs that already have an entry proposed by this cycle."""
    return {(e, l) for e, l in conn.execute(sa.select(LE.c.entity_id, LE.c.list).where(LE.c.cycle_id == cycle_id))}


def pair_states(conn: Connection, pack_id: str) -> dict[tuple[int, str], tuple[int, str, dt.date | None]]:
    """(entity_id, list) -> (id, current state, end of its publication period or None) of the newest entry of that
    entity on that list of a pack (lists are a pack's own: two packs' 'red' lists are different lists)."""
    latest = _latest_states()
    stmt = (
        sa.select(LE.c.entity_id, LE.c.list, LE.c.id, latest.c.state)
        .join(latest, latest.c.entry_id == LE.c.id)
        .where(LE.c.pack_id == pack_id)
        .order_by(LE.c.id)
    )
    periods = publication_periods(conn, pack_id)
    return {(e, l): (i, s, periods[i][1] if i in periods else None) for e, l, i, s in conn.execute(stmt)}


def publication_periods(conn: Connection, pack_id: str) -> dict[int, tuple[str, dt.date | None, dt.date | None]]:
    """Entry id -> (list, end of its publication period as set on listing and by extensions (None: no end),
    date it was first repaired or revoked (None: never)) for every entry of a pack that was listed."""
    stmt = (
        sa.select(EV.c.entry_id, LE.c.list, EV.c.event, EV.c.valid_from, EV.c.data)
        .join(LE, LE.c.id == EV.c.entry_id)
        .where(LE.c.pack_id == pack_id, EV.c.event.in_(["listed", "extended", "repaired", "revoked"]))
        .order_by(EV.c.entry_id, EV.c.seq)
    )
    out: dict[int, tuple[str, dt.date | None, dt.date | None]] = {}
    for entry_id, name, event, valid_from, data in conn.execute(stmt):
        _, end, early = out.get(entry_id, (name, None, None))
        if event in ("listed", "extended"):
            until = (data or {}).get("until")  # an ISO date in the event's JSON
            end = dt.date.fromisoformat(str(until)[:10]) if until else None
        elif early is None:
            early = valid_from
        out[entry_id] = (name, end, early)
    return out


def list_names(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(LE.c.list).distinct().order_by(LE.c.list)).scalars())


def entities_by_ids(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for part in _chunks(sorted(set(ids))):
        for row in conn.execute(sa.select(E.c.id, E.c.code, E.c.code_kind, E.c.name).where(E.c.id.in_(part))):
            out[row.id] = row._asdict()
    return out


def operators(conn: Connection, entity_ids: Iterable[int]) -> dict[int, str | None]:
    """Entity id -> its legal representative / operator (personal data: only for masking on published artefacts)."""
    out: dict[int, str | None] = {}
    for part in _chunks(sorted(set(entity_ids))):
        for entity_id, rep in conn.execute(sa.select(E.c.id, E.c.legal_rep).where(E.c.id.in_(part))):
            out[entity_id] = rep
    return out


# -- objections ---------------------------------------------------------------------------------------------


def insert_objection(
    conn: Connection, entry_id: int, reason: str, evidence: list[dict], filed_on: dt.date, filed_by: str
) -> int:
    return conn.execute(
        sa.insert(OB)
        .values(
            entry_id=entry_id, reason=reason, evidence=evidence, filed_on=filed_on, filed_at=now(), filed_by=filed_by
        )
        .returning(OB.c.id)
    ).scalar_one()


def get_objection(conn: Connection, objection_id: int) -> dict[str, Any] | None:
    stmt = (
        sa.select(OB, OD.c.decision, OD.c.reason.label("decision_reason"), OD.c.decided_on, OD.c.decided_by)
        .outerjoin(OD, OD.c.objection_id == OB.c.id)
        .where(OB.c.id == objection_id)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def objections_for(conn: Connection, entry_ids: Iterable[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in _chunks(sorted(set(entry_ids))):
        stmt = (
            sa.select(OB, OD.c.decision, OD.c.reason.label("decision_reason"), OD.c.decided_on, OD.c.decided_by)
            .outerjoin(OD, OD.c.objection_id == OB.c.id)
            .where(OB.c.entry_id.in_(part))
            .order_by(OB.c.id)
        )
        out.extend(dict(r) for r in conn.execute(stmt).mappings())
    return out


def insert_objection_decision(
    conn: Connection, objection_id: int, decision: str, reason: str, decided_on: dt.date, decided_by: str
) -> None:
    conn.execute(
        sa.insert(OD).values(
            objection_id=objection_id,
            decision=decision,
            reason=reason,
            decided_on=decided_on,
            decided_at=now(),
            decided_by=decided_by,
        )
    )


# -- credit repair ------------------------------------------------------------------------------------------


def insert_application(
    conn: Connection,
    entry_id: int,
    applied_on: dt.date,
    applicant: str,
    commitment: dict | None,
    evidence: list[dict],
    eligibility: dict,
) -> int:
    return conn.execute(
        sa.insert(RA)
        .values(
            entry_id=entry_id,
            applied_on=applied_on,
            applied_at=now(),
            applicant=applicant,
            commitment=commitment,
            evidence=evidence,
            eligibility=eligibility,
        )
        .returning(RA.c.id)
    ).scalar_one()


def _application_select() -> sa.Select[Any]:
    return sa.select(
        RA, RD.c.decision, RD.c.reason.label("decision_reason"), RD.c.decided_on, RD.c.decided_by
    ).outerjoin(RD, RD.c.application_id == RA.c.id)


def get_application(conn: Connection, application_id: int) -> dict[str, Any] | None:
    row = conn.execute(_application_select().where(RA.c.id == application_id)).mappings().first()
    return dict(row) if row else None


def applications_for(conn: Connection, entry_ids: Iterable[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in _chunks(sorted(set(entry_ids))):
        stmt = _application_select().where(RA.c.entry_id.in_(part)).order_by(RA.c.id)
        out.extend(dict(r) for r in conn.execute(stmt).mappings())
    return out


def approved_repairs(conn: Connection, entity_id: int) -> list[dt.date]:
    """Dates of every approved credit repair of an entity (any list), oldest first."""
    stmt = (
        sa.select(RD.c.decided_on)
        .join(RA, RA.c.id == RD.c.application_id)
        .join(LE, LE.c.id == RA.c.entry_id)
        .where(LE.c.entity_id == entity_id, RD.c.decision == "approved")
        .order_by(RD.c.decided_on)
    )
    return list(conn.execute(stmt).scalars())


def insert_repair_decision(
    conn: Connection, application_id: int, decision: str, reason: str, decided_on: dt.date, decided_by: str
) -> None:
    conn.execute(
        sa.insert(RD).values(
            application_id=application_id,
            decision=decision,
            reason=reason,
            decided_on=decided_on,
            decided_at=now(),
            decided_by=decided_by,
        )
    )


# -- joint measure tasks ------------------------------------------------------------------------------------


def insert_tasks(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert measure tasks (one bulk insert)."""
    if rows:
        insert_columns(conn, MT, {"created_at": [now()] * len(rows), **_columns(rows)})


def _task_select() -> sa.Select[Any]:
    return (
        sa.select(
            MT,
            MA.c.acked_on,
            MA.c.acked_by,
            MA.c.note,
            LE.c.list,
            LE.c.entity_id,
            E.c.code,
            E.c.name.label("entity_name"),
        )
        .join(LE, LE.c.id == MT.c.entry_id)
        .join(E, E.c.id == LE.c.entity_id)
        .outerjoin(MA, MA.c.task_id == MT.c.id)
    )


def get_task(conn: Connection, task_id: int) -> dict[str, Any] | None:
    row = conn.execute(_task_select().where(MT.c.id == task_id)).mappings().first()
    return dict(row) if row else None


def tasks(
    conn: Connection,
    *,
    entry_ids: Sequence[int] | None = None,
    department: str | None = None,
    unacked_on: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Measure tasks, optionally of some entries, of one department, or not acknowledged by a date."""
    stmt = _task_select()
    if entry_ids is not None:
        stmt = stmt.where(MT.c.entry_id.in_(list(entry_ids)))
    if department is not None:
        stmt = stmt.where(MT.c.department == department)
    if unacked_on is not None:
        stmt = stmt.where(MT.c.created_on <= unacked_on, sa.or_(MA.c.task_id.is_(None), MA.c.acked_on > unacked_on))
    return [dict(r) for r in conn.execute(stmt.order_by(MT.c.due_on, MT.c.id)).mappings()]


def applied_measures(conn: Connection, entry_ids: Sequence[int]) -> dict[int, set[str]]:
    """The measures applied to each of these entries (an ``apply`` task stored): what a removal lifts."""
    out: dict[int, set[str]] = {i: set() for i in entry_ids}
    for part in _chunks(sorted(set(entry_ids))):
        stmt = sa.select(MT.c.entry_id, MT.c.measure_id).where(MT.c.entry_id.in_(part), MT.c.action == "apply")
        for entry_id, measure_id in conn.execute(stmt):
            out[entry_id].add(measure_id)
    return out


def insert_ack(conn: Connection, task_id: int, acked_on: dt.date, acked_by: str, note: str | None) -> None:
    conn.execute(sa.insert(MA).values(task_id=task_id, acked_on=acked_on, acked_at=now(), acked_by=acked_by, note=note))


# -- notices (read only; written by the notices package) --------------------------------------------------


def notices_for(conn: Connection, entry_ids: Iterable[int]) -> list[dict[str, Any]]:
    N = schema.notices
    out: list[dict[str, Any]] = []
    for part in _chunks(sorted(set(entry_ids))):
        stmt = (
            sa.select(N.c.id, N.c.entry_id, N.c.number, N.c.kind, N.c.issued_on)
            .where(N.c.entry_id.in_(part))
            .order_by(N.c.issued_on, N.c.id)
        )
        out.extend(dict(r) for r in conn.execute(stmt).mappings())
    return out
