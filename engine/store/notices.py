"""Notices: reads of the cycle, plan and list rows a notice is built from; numbering; storing notices.

Numbering is gap-free because the counter row (``doc_counters``) is locked and bumped in the same transaction that
inserts the notices: PostgreSQL row lock through ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` (plus a
transaction-scoped advisory lock that serialises issuing runs, so two runs never both decide a cause is new);
SQLite through the ``BEGIN IMMEDIATE`` that ``Store.transaction()`` issues.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.store import insert_columns, schema

N = schema.notices
PV = schema.policy_versions
D = schema.decisions
O = schema.outcomes
E = schema.entities
LE = schema.list_entries
LV = schema.list_events
P = schema.plans
PC = schema.plan_checks
PA = schema.plan_assignments
I = schema.inspectors
DC = schema.doc_counters

ISSUE_LOCK = 0x5355_5045_4E4F  # pg_advisory_xact_lock key for "issuing notices"
_IN_CHUNK = 900
ENTITY_COLUMNS = (E.c.code, E.c.code_kind, E.c.name, E.c.entity_type, E.c.region, E.c.legal_rep)


def _upsert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def _in_chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), _IN_CHUNK):
        yield values[i : i + _IN_CHUNK]


# -- plans, list entries (a cycle is read with engine.store.cycles.get_cycle) ------------------------------


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(P).where(P.c.id == plan_id)).mappings().first()
    return dict(row) if row else None


def cycle_outcomes(conn: Connection, cycle_id: int) -> dict[int, dict]:
    return {r.id: r.result for r in conn.execute(sa.select(O.c.id, O.c.result).where(O.c.cycle_id == cycle_id))}


def cycle_decision_ids(conn: Connection, cycle_id: int) -> list[int]:
    return list(conn.execute(sa.select(D.c.id).where(D.c.cycle_id == cycle_id).order_by(D.c.id)).scalars())


def _dicts(result: Any) -> list[dict[str, Any]]:
    """The rows of a result as dicts of their columns (``dict(row mapping)`` each, without a mapping a row)."""
    keys = list(result.keys())
    return [dict(zip(keys, row)) for row in result.all()]


def decisions_with_entities(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in _in_chunks(list(ids)):
        stmt = (
            sa.select(D.c.id, D.c.cycle_id, D.c.entity_id, D.c.outcome_id, D.c.tier, D.c.facts, *ENTITY_COLUMNS)
            .join(E, E.c.id == D.c.entity_id)
            .where(D.c.id.in_(part))
            .order_by(D.c.id)
        )
        out.extend(_dicts(conn.execute(stmt)))
    return out


def decision_with_entity(conn: Connection, decision_id: int) -> dict[str, Any] | None:
    rows = decisions_with_entities(conn, [decision_id])
    if not rows:
        return None
    row = rows[0]
    row["result"] = conn.execute(sa.select(O.c.result).where(O.c.id == row["outcome_id"])).scalar_one()
    return row


def cycle_entry_ids(conn: Connection, cycle_id: int) -> list[int]:
    return list(conn.execute(sa.select(LE.c.id).where(LE.c.cycle_id == cycle_id).order_by(LE.c.id)).scalars())


def cycle_entry_events(conn: Connection, cycle_id: int) -> list[dict[str, Any]]:
    """(decision_id, list, data, event) for the list entries a cycle created; event is None without events."""
    stmt = (
        sa.select(LE.c.decision_id, LE.c.list, LE.c.data, LV.c.event)
        .outerjoin(LV, LV.c.entry_id == LE.c.id)
        .where(LE.c.cycle_id == cycle_id, LE.c.decision_id.is_not(None))
    )
    return _dicts(conn.execute(stmt))


def entries_with_events(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """List entries with their entity, ``events`` (by seq) and, when linked, the decision's ``facts``."""
    out: list[dict[str, Any]] = []
    for part in _in_chunks(list(ids)):
        stmt = (
            sa.select(LE, *ENTITY_COLUMNS, D.c.facts.label("facts"), D.c.outcome_id.label("outcome_id"))
            .join(E, E.c.id == LE.c.entity_id)
            .outerjoin(D, D.c.id == LE.c.decision_id)
            .where(LE.c.id.in_(part))
            .order_by(LE.c.id)
        )
        rows = _dicts(conn.execute(stmt))
        events: dict[int, list[dict]] = {r["id"]: [] for r in rows}
        for ev in _dicts(conn.execute(sa.select(LV).where(LV.c.entry_id.in_(part)).order_by(LV.c.entry_id, LV.c.seq))):
            events[ev["entry_id"]].append(ev)
        for r in rows:
            r["events"] = events[r["id"]]
        out.extend(rows)
    return out


ENTRY_KEYS = tuple(c.name for c in LE.columns)


def entry_parties(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """For list entries read without them: the entity's ``legal_rep``, the decision's ``facts`` and ``outcome_id``
    (None without a decision), as :func:`entries_with_events` gives them."""
    out: dict[int, dict[str, Any]] = {}
    for part in _in_chunks(list(ids)):
        stmt = (
            sa.select(LE.c.id, E.c.legal_rep, D.c.facts.label("facts"), D.c.outcome_id.label("outcome_id"))
            .join(E, E.c.id == LE.c.entity_id)
            .outerjoin(D, D.c.id == LE.c.decision_id)
            .where(LE.c.id.in_(part))
        )
        for entry_id, legal_rep, facts, outcome_id in conn.execute(stmt).all():
            out[entry_id] = {"legal_rep": legal_rep, "facts": facts, "outcome_id": outcome_id}
    return out


def outcome_result(conn: Connection, outcome_id: int) -> dict | None:
    return conn.execute(sa.select(O.c.result).where(O.c.id == outcome_id)).scalar()


def pack_version_by_id(conn: Connection, version_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(PV.c.id, PV.c.version, PV.c.body).where(PV.c.id == version_id)).mappings().first()
    return dict(row) if row else None


def pack_version_for(conn: Connection, pack_id: str, on: dt.date) -> dict[str, Any] | None:
    """The pack version in force on ``on`` (newest effective_from <= on), else the newest one."""
    base = sa.select(PV.c.id, PV.c.version, PV.c.body).where(PV.c.pack_id == pack_id)
    row = (
        conn.execute(base.where(PV.c.effective_from <= on).order_by(PV.c.effective_from.desc(), PV.c.id.desc()))
        .mappings()
        .first()
    )
    if row is None:
        row = conn.execute(base.order_by(PV.c.effective_from.desc(), PV.c.id.desc())).mappings().first()
    return dict(row) if row else None


def plan_check_ids(conn: Connection, plan_id: int) -> list[int]:
    return list(conn.execute(sa.select(PC.c.id).where(PC.c.plan_id == plan_id).order_by(PC.c.seq)).scalars())


def checks_with_inspectors(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Plan checks with their entity and ``inspectors`` (by assignment position)."""
    out: list[dict[str, Any]] = []
    for part in _in_chunks(list(ids)):
        stmt = (
            sa.select(PC, *ENTITY_COLUMNS).join(E, E.c.id == PC.c.entity_id).where(PC.c.id.in_(part)).order_by(PC.c.seq)
        )
        rows = [dict(r) for r in conn.execute(stmt).mappings()]
        staff: dict[int, list[dict]] = {r["id"]: [] for r in rows}
        for a in conn.execute(
            sa.select(PA.c.check_id, PA.c.position, I.c.code, I.c.name, I.c.department)
            .join(I, I.c.id == PA.c.inspector_id)
            .where(PA.c.check_id.in_(part))
            .order_by(PA.c.check_id, PA.c.position)
        ).mappings():
            staff[a["check_id"]].append({"code": a["code"], "name": a["name"], "department": a["department"]})
        for r in rows:
            r["inspectors"] = staff[r["id"]]
        out.extend(rows)
    return out


# -- numbering ----------------------------------------------------------------------------------


def lock_issuing(conn: Connection) -> None:
    """Serialise issuing transactions (PostgreSQL advisory lock until commit; SQLite is serial already)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ISSUE_LOCK})


def lock_counters(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """Create-if-missing and lock each counter row (in key order, so no deadlocks); return current values."""
    values: dict[str, int] = {}
    for key in sorted(set(keys)):
        stmt = (
            _upsert(conn, DC)
            .values(key=key, value=0)
            .on_conflict_do_update(index_elements=[DC.c.key], set_={"value": DC.c.value})
            .returning(DC.c.value)
        )
        values[key] = conn.execute(stmt).scalar_one()
    return values


def set_counter(conn: Connection, key: str, value: int) -> None:
    conn.execute(sa.update(DC).where(DC.c.key == key).values(value=value))


def counters(conn: Connection, prefix: str = "") -> dict[str, int]:
    rows = conn.execute(sa.select(DC.c.key, DC.c.value).where(DC.c.key.startswith(prefix, autoescape=True)))
    return {r.key: r.value for r in rows}


# -- notices ------------------------------------------------------------------------------------

_SUMMARY = (
    N.c.id,
    N.c.number,
    N.c.kind,
    N.c.entity_id,
    N.c.cycle_id,
    N.c.decision_id,
    N.c.entry_id,
    N.c.check_id,
    N.c.source_key,
    N.c.template,
    N.c.pack_id,
    N.c.pack_version,
    N.c.content_hash,
    N.c.issued_on,
    N.c.issued_at,
)


def _stored_keys(conn: Connection, keys: Sequence[str]) -> list[str]:
    """Which of ``keys`` are source keys of stored notices: one plain statement through the driver per chunk (a
    Core ``IN`` of a thousand keys costs more to render than to answer, and most runs find none)."""
    found: list[str] = []
    for part in _in_chunks(list(keys)):
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT source_key FROM notices WHERE source_key = ANY(%(k)s)", {"k": list(part)}
            )
        else:
            marks = ", ".join("?" * len(part))
            rows = conn.exec_driver_sql(f"SELECT source_key FROM notices WHERE source_key IN ({marks})", tuple(part))
        found.extend(r[0] for r in rows)
    return found


def notices_by_source_keys(conn: Connection, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for part in _in_chunks(_stored_keys(conn, keys)):
        for r in conn.execute(sa.select(*_SUMMARY, N.c.context).where(N.c.source_key.in_(part))).mappings():
            out[r["source_key"]] = dict(r)
    return out


_INSERTED = (
    "number",
    "kind",
    "entity_id",
    "cycle_id",
    "decision_id",
    "entry_id",
    "check_id",
    "source_key",
    "template",
    "pack_id",
    "pack_version",
    "content_hash",
    "issued_on",
    "issued_at",
)


def insert_notices(conn: Connection, rows: Sequence[dict[str, Any]], contexts: Sequence[str] | None = None) -> None:
    """Insert notices (ids in the order of ``rows``). ``contexts``: each row's context as JSON text already
    (serialised where its text form was rendered), written straight through the driver (COPY on PostgreSQL, one
    executemany of tuples on SQLite); without it, the rows' ``context`` dicts through a Core insert."""
    if not rows:
        return
    if contexts is None:
        conn.execute(sa.insert(N), list(rows))
        return
    columns: dict[str, Sequence[Any]] = {name: [r[name] for r in rows] for name in _INSERTED}
    columns["context"] = contexts
    insert_columns(conn, N, columns, raw_json=("context",))


def get_notice(conn: Connection, number: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            sa.select(*_SUMMARY, N.c.context, E.c.code, E.c.code_kind, E.c.name)
            .join(E, E.c.id == N.c.entity_id)
            .where(N.c.number == number)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def find_numbers(conn: Connection, fragment: str, limit: int = 5) -> list[str]:
    like = f"%{fragment}%"
    return list(
        conn.execute(sa.select(N.c.number).where(N.c.number.like(like)).order_by(N.c.id).limit(limit)).scalars()
    )


def list_notices(
    conn: Connection,
    cycle_id: int | None = None,
    kind: str | None = None,
    entity_code: str | None = None,
    plan_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    stmt = sa.select(*_SUMMARY, E.c.code, E.c.code_kind, E.c.name).join(E, E.c.id == N.c.entity_id)
    if cycle_id is not None:
        stmt = stmt.where(N.c.cycle_id == cycle_id)
    if kind:
        stmt = stmt.where(N.c.kind == kind)
    if entity_code:
        stmt = stmt.where(E.c.code == entity_code)
    if plan_id is not None:
        stmt = stmt.where(N.c.check_id.in_(sa.select(PC.c.id).where(PC.c.plan_id == plan_id)))
    stmt = stmt.order_by(N.c.id)
    if limit:
        stmt = stmt.limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]
