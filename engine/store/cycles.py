"""Cycles, outcomes and decisions: bulk writes and the reads that lists, plans and notices need."""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.errors import CycleError, CycleNotFound
from engine.progress import collector_paused
from engine.store import allocate_ids, any_of, insert_columns, now, prebuilt, schema
from engine.store import lists as ql

if TYPE_CHECKING:  # for annotations only: the store sits below the model
    from engine.model import PackVersion

CY, OU, DE, PV, E = schema.cycles, schema.outcomes, schema.decisions, schema.policy_versions, schema.entities


LOCK_WAIT_SECONDS = 5.0


def run_lock_key(pack_id: str, period: str) -> int:
    """The PostgreSQL advisory-lock key of the run lock of a pack and period."""
    return zlib.crc32(f"supervise-cycle:{pack_id}:{period}".encode())


def lock_pack_period(conn: Connection, pack_id: str, period: str, wait: float = LOCK_WAIT_SECONDS) -> None:
    """Take the run lock of this pack and period, or fail with a clear message (PostgreSQL advisory lock; on
    SQLite the write transaction itself is exclusive: BEGIN IMMEDIATE waits for the other writer).

    PostgreSQL: retried for ``wait`` seconds, the time a killed run's backend needs to notice its client is gone
    and release the lock; a run still going after that is reported as in progress."""
    if conn.dialect.name != "postgresql":
        return
    key = run_lock_key(pack_id, period)
    deadline = time.monotonic() + wait
    while not conn.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar():
        if time.monotonic() >= deadline:
            raise CycleError(
                f"Another run of policy {pack_id} for period {period} is in progress; "
                f"wait for it to finish, then use --rerun if you still need a new revision."
            )
        time.sleep(0.2)


def ensure_policy_version(conn: Connection, version: PackVersion) -> int:
    found = conn.execute(sa.select(PV.c.id).where(PV.c.content_hash == version.content_hash)).scalar()
    if found:
        return found
    return conn.execute(
        sa.insert(PV)
        .values(
            pack_id=version.pack.id,
            version=version.version,
            content_hash=version.content_hash,
            effective_from=version.effective_from,
            effective_to=version.effective_to,
            body=version.stored_body(),
            source=str(version.pack.path),
            loaded_at=now(),
        )
        .returning(PV.c.id)
    ).scalar_one()


def current_cycle(conn: Connection, pack_id: str, period: str) -> dict | None:
    row = (
        conn.execute(
            sa.select(CY).where(CY.c.pack_id == pack_id, CY.c.period == period).order_by(CY.c.revision.desc()).limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def create_cycle(conn: Connection, **values: Any) -> int:
    return conn.execute(sa.insert(CY).values(**values).returning(CY.c.id)).scalar_one()


def finish_cycle(conn: Connection, cycle_id: int, entity_count: int, summary: dict) -> None:
    """Fill in the totals of a cycle inside the transaction that created it (before it is visible)."""
    conn.execute(
        sa.update(CY).where(CY.c.id == cycle_id).values(entity_count=entity_count, summary=summary, committed_at=now())
    )


def insert_outcome(conn: Connection, cycle_id: int, key: str, tier: str, result: dict) -> int:
    return conn.execute(
        sa.insert(OU).values(cycle_id=cycle_id, vector_key=key, tier=tier, result=result).returning(OU.c.id)
    ).scalar_one()


def insert_outcomes(conn: Connection, cycle_id: int, outcomes: Sequence[tuple[str, str, dict]]) -> list[int]:
    """Insert outcomes ``(vector key, tier, result)`` of a cycle in one statement (ids reserved first, then
    :func:`insert_columns`, as :func:`insert_decisions`); returns their ids in order. What :func:`insert_outcome`
    stores, row by row."""
    if not outcomes:
        return []
    ids = allocate_ids(conn, OU, len(outcomes))
    keys, tiers, results = zip(*outcomes)
    insert_columns(
        conn,
        OU,
        {"id": ids, "cycle_id": [cycle_id] * len(ids), "vector_key": keys, "tier": tiers, "result": results},
    )
    return ids


def insert_decisions(conn: Connection, cycle_id: int, rows: Sequence[tuple], outcome_ids: dict[str, int]) -> list[int]:
    """Insert a batch of evaluation rows ``(entity_id, vector key, tier, ratio, per_year, forced, facts JSON)`` as
    decisions of a cycle (ids reserved first, then :func:`insert_columns`); returns their ids in row order."""
    if not rows:
        return []
    ids = allocate_ids(conn, DE, len(rows))
    entity_id, key, tier, ratio, per_year, forced, facts = zip(*rows)
    insert_columns(
        conn,
        DE,
        {
            "id": ids,
            "cycle_id": [cycle_id] * len(rows),
            "entity_id": entity_id,
            "outcome_id": [outcome_ids[k] for k in key],
            "tier": tier,
            "ratio": ratio,
            "per_year": per_year,
            "forced": forced,
            "facts": facts,
        },
        raw_json=("facts",),
    )
    return ids


def previous_cycle(conn: Connection, pack_id: str, as_of: dt.date, before: dt.datetime | None = None) -> dict | None:
    """The newest revision of the latest cycle of this pack with an earlier as-of date."""
    stmt = sa.select(CY).where(CY.c.pack_id == pack_id, CY.c.as_of < as_of)
    if before is not None:
        stmt = stmt.where(CY.c.started_at < before)
    row = conn.execute(stmt.order_by(CY.c.as_of.desc(), CY.c.revision.desc()).limit(1)).mappings().first()
    return dict(row) if row else None


def committed_cycles(
    conn: Connection, pack_id: str, as_of: dt.date, known_at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The cycles of a pack in force at ``as_of`` as known at ``known_at``: committed, with an as-of date on or
    before ``as_of`` and (given ``known_at``) started by then; of each period only the newest such revision (a
    rerun started later does not count yet). Latest as-of date first, then the newest cycle. Each row carries
    ``period_kind``, the period its pack version rates (year, month, day), and ``version``."""
    stmt = (
        sa.select(
            CY.c.id, CY.c.pack_id, CY.c.period, CY.c.revision, CY.c.as_of, CY.c.started_at, CY.c.policy_version_id
        )
        .where(CY.c.pack_id == pack_id, CY.c.committed_at.is_not(None), CY.c.as_of <= as_of)
        .order_by(CY.c.revision.desc())
    )
    if known_at is not None:
        stmt = stmt.where(CY.c.started_at <= known_at)
    newest: dict[str, dict[str, Any]] = {}
    for row in conn.execute(stmt).mappings():
        newest.setdefault(row["period"], dict(row))
    kinds: dict[int, tuple[str, str]] = {}  # policy version id -> (version, period kind): one body read per version
    for pv_id in {r["policy_version_id"] for r in newest.values()}:
        version, body = conn.execute(sa.select(PV.c.version, PV.c.body).where(PV.c.id == pv_id)).one()
        kinds[pv_id] = (version, ((body or {}).get("version") or {}).get("period", "year"))
    for r in newest.values():
        r["version"], r["period_kind"] = kinds[r["policy_version_id"]]
    return sorted(newest.values(), key=lambda r: (r["as_of"], r["id"]), reverse=True)


def tiers_between(conn: Connection, cycle_id: int, first: int, last: int, into: dict[int, str]) -> None:
    """Fill ``into`` (emptied first) with entity id -> tier in a cycle for the entities with ids in [first, last]:
    read where the batch is evaluated (the unique index on (cycle, entity)), so that no process holds a whole
    cycle's (a million pairs)."""
    into.clear()
    same: dict[str, str] = {}
    rows = conn.execute(
        sa.select(DE.c.entity_id, DE.c.tier).where(DE.c.cycle_id == cycle_id, DE.c.entity_id.between(first, last))
    )
    into.update((entity_id, same.setdefault(tier, tier)) for entity_id, tier in rows)


def get_cycle(conn: Connection, cycle_id: int) -> dict[str, Any]:
    """The cycle row with its pack version (``version``, ``content_hash``, ``pack_body``), ``superseded_by`` (the
    next revision of the same pack and period, or None) and ``status``: ``superseded`` when a newer revision
    exists, else the stored status. The one read of a cycle by id; an unknown id is :class:`CycleNotFound`."""
    row = (
        conn.execute(
            sa.select(CY, PV.c.version, PV.c.content_hash, PV.c.body.label("pack_body"))
            .join(PV, PV.c.id == CY.c.policy_version_id)
            .where(CY.c.id == cycle_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise CycleNotFound(f"No cycle with id {cycle_id}; 'supervise cycle list' shows the cycles.")
    out = dict(row)
    newer = conn.execute(
        sa.select(CY.c.id)
        .where(CY.c.pack_id == out["pack_id"], CY.c.period == out["period"], CY.c.revision > out["revision"])
        .order_by(CY.c.revision)
        .limit(1)
    ).scalar()
    out["superseded_by"] = newer
    out["status"] = "superseded" if newer else out["status"]
    return out


def latest_cycle(conn: Connection, pack_id: str | None = None) -> dict | None:
    stmt = sa.select(CY.c.id)
    if pack_id:
        stmt = stmt.where(CY.c.pack_id == pack_id)
    cid = conn.execute(stmt.order_by(CY.c.as_of.desc(), CY.c.id.desc()).limit(1)).scalar()
    return get_cycle(conn, cid) if cid else None


def list_cycles(conn: Connection) -> list[dict]:
    rows = (
        conn.execute(
            sa.select(
                CY.c.id,
                CY.c.pack_id,
                CY.c.period,
                CY.c.revision,
                CY.c.as_of,
                CY.c.entity_count,
                CY.c.committed_at,
                PV.c.version,
                CY.c.summary,
            )
            .join(PV, PV.c.id == CY.c.policy_version_id)
            .order_by(CY.c.id)
        )
        .mappings()
        .all()
    )
    latest: dict[tuple, int] = {}
    for r in rows:
        key = (r["pack_id"], r["period"])
        latest[key] = max(latest.get(key, 0), r["revision"])
    return [
        {**dict(r), "status": "committed" if latest[(r["pack_id"], r["period"])] == r["revision"] else "superseded"}
        for r in rows
    ]


def outcome_counts(conn: Connection, cycle_id: int) -> dict[int, int]:
    """Outcome id -> number of entities decided with it in a cycle."""
    return dict(
        conn.execute(
            sa.select(DE.c.outcome_id, sa.func.count()).where(DE.c.cycle_id == cycle_id).group_by(DE.c.outcome_id)
        ).all()
    )


def decided(conn: Connection, cycle_id: int) -> dict[int, tuple]:
    """Entity id -> (tier, ratio, per_year, forced, outcome id) of every decision of a cycle (what replay compares);
    a million pairs read with the cyclic collector paused (it ran over every row tuple and doubled the time)."""
    with collector_paused():
        rows = conn.execute(
            sa.select(DE.c.entity_id, DE.c.tier, DE.c.ratio, DE.c.per_year, DE.c.forced, DE.c.outcome_id).where(
                DE.c.cycle_id == cycle_id
            )
        ).all()
        return {r[0]: tuple(r[1:]) for r in rows}


def outcomes_of(conn: Connection, cycle_id: int) -> dict[int, dict]:
    return {
        r.id: {"key": r.vector_key, "tier": r.tier, "result": r.result}
        for r in conn.execute(
            sa.select(OU.c.id, OU.c.vector_key, OU.c.tier, OU.c.result).where(OU.c.cycle_id == cycle_id)
        )
    }


def decision_for(conn: Connection, cycle_id: int, entity_id: int) -> dict | None:
    row = (
        conn.execute(
            sa.select(DE, OU.c.result, OU.c.vector_key)
            .join(OU, OU.c.id == DE.c.outcome_id)
            .where(DE.c.cycle_id == cycle_id, DE.c.entity_id == entity_id)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


_bodies: dict[tuple[int, str], dict] = {}  # (policy version id, content hash) -> body: a stored version never changes


_current: dict[tuple, dict[str, dict]] = {}  # (database, committed cycles' count, max id and time, as_of) -> ...


def current_cycles(conn: Connection, as_of: dt.date | None = None) -> dict[str, dict]:
    """Pack id -> the cycle that speaks for the pack on ``as_of``: of each pack and period only the latest
    committed revision counts, and of those the one with the latest as-of date on or before ``as_of`` (then the
    newest). Each row carries ``version``, ``content_hash`` and ``pack_body`` (read-only).

    The check service asks for this on every request, so the answer is kept in memory by the set of committed
    cycles, which only grows (a cycle's row is written once, in the transaction that creates it, before it is
    visible; it is committed or never seen): one small query (their count, highest id and latest commit time) tells
    whether it still holds, in the caller's transaction. A stored version's body is kept by its id and content hash."""
    committed = conn.execute(prebuilt(conn, "committed_cycles", _committed_cycles)).one()
    # The database too (a process may open several, or one emptied and filled again, whose ids start over: the
    # latest commit time, to the microsecond, tells them apart).
    key = (str(conn.engine.url), tuple(committed), as_of)
    if key not in _current:
        if len(_current) >= 64:
            _current.clear()
        _current[key] = _current_cycles(conn, as_of)
    return {pack_id: dict(row) for pack_id, row in _current[key].items()}


def _committed_cycles(_dialect: str) -> sa.Select:
    return sa.select(sa.func.count(CY.c.id), sa.func.max(CY.c.id), sa.func.max(CY.c.committed_at)).where(
        CY.c.committed_at.is_not(None)
    )


def _current_cycles(conn: Connection, as_of: dt.date | None) -> dict[str, dict]:
    newest = (
        sa.select(CY.c.pack_id, CY.c.period, sa.func.max(CY.c.revision).label("revision"))
        .where(CY.c.committed_at.is_not(None))
        .group_by(CY.c.pack_id, CY.c.period)
        .subquery()
    )
    stmt = (
        sa.select(CY, PV.c.version, PV.c.content_hash)
        .join(PV, PV.c.id == CY.c.policy_version_id)
        .join(
            newest,
            (newest.c.pack_id == CY.c.pack_id)
            & (newest.c.period == CY.c.period)
            & (newest.c.revision == CY.c.revision),
        )
    )
    if as_of is not None:
        stmt = stmt.where(CY.c.as_of <= as_of)
    out: dict[str, dict] = {}
    for found in conn.execute(stmt.order_by(CY.c.pack_id, CY.c.as_of.desc(), CY.c.id.desc())).mappings():
        out.setdefault(found["pack_id"], dict(found))
    for row in out.values():
        key = (row["policy_version_id"], row["content_hash"])
        if key not in _bodies:
            _bodies[key] = conn.execute(sa.select(PV.c.body).where(PV.c.id == key[0])).scalar_one()
        row["pack_body"] = _bodies[key]
    return out


def subjects(
    conn: Connection, codes: Sequence[str], cycle_ids: Sequence[int], listed_before: dt.date
) -> tuple[dict[str, dict[str, Any]], dict[int, dict[int, dict]], set[int]]:
    """What a check reads of its subjects, in one statement: (code -> entity row of the codes in the register,
    cycle id -> entity id -> its decision in that cycle as :func:`decisions_of` gives it, the ids of the entities
    with a list entry listed on or before ``listed_before``, whose entries the check then loads)."""
    codes = list(dict.fromkeys(codes))
    entities: dict[str, dict[str, Any]] = {}
    decided: dict[int, dict[int, dict]] = {c: {} for c in cycle_ids}
    listed: set[int] = set()
    stmt = prebuilt(conn, "check_subjects", _subjects)
    step = (len(codes) or 1) if conn.dialect.name == "postgresql" else 900  # SQLite: at most 999 parameters
    for i in range(0, len(codes), step):
        params = {"codes": codes[i : i + step], "cycles": list(cycle_ids) or [0], "ever": "listed"}
        for r in conn.execute(stmt, {**params, "ever_before": listed_before}).mappings():
            entity = entities.setdefault(r["code"], {c.name: r[c.name] for c in E.c})
            if r["decision_id"] is not None:
                decided[r["decision_cycle_id"]][entity["id"]] = {
                    name: r[f"decision_{name}"] for name in ("id", "entity_id", *_DECIDED)
                }
            if r["listed"]:
                listed.add(entity["id"])
    return entities, decided, listed


_DECIDED = ("tier", "ratio", "per_year", "forced", "facts", "result")


def _subjects(dialect: str) -> sa.Select:
    listed = sa.exists().where(
        schema.list_entries.c.entity_id == E.c.id, ql.had_event(sa.bindparam("ever", type_=sa.String), True)
    )
    columns = [DE.c.id, DE.c.entity_id, DE.c.cycle_id, *(DE.c[n] for n in _DECIDED[:-1]), OU.c.result]
    # Two left joins, not one to (decisions JOIN outcomes): SQLite materialises such a nested join, every decision of
    # the cycle, before it looks at the subjects. A decision always has its outcome.
    joined = E.outerjoin(DE, (DE.c.entity_id == E.c.id) & any_of(DE.c.cycle_id, "cycles", dialect)).outerjoin(
        OU, OU.c.id == DE.c.outcome_id
    )
    return (
        sa.select(E, *(c.label(f"decision_{c.name}") for c in columns), listed.label("listed"))
        .select_from(joined)
        .where(any_of(E.c.code, "codes", dialect))
    )


def decisions_of(conn: Connection, cycle_id: int, entity_ids: Sequence[int]) -> dict[int, dict]:
    """Entity id -> its decision in a cycle (tier, ratio, per_year, forced, facts, outcome ``result``), for the
    given entities only."""
    out: dict[int, dict] = {}
    ids = list(dict.fromkeys(entity_ids))
    stmt = prebuilt(conn, "decisions_of", _decisions_of)
    for i in range(0, len(ids), 5000):
        rows = conn.execute(stmt, {"cycle_id": cycle_id, "ids": ids[i : i + 5000]}).mappings()
        out.update({r["entity_id"]: dict(r) for r in rows})
    return out


def _decisions_of(dialect: str) -> sa.Select:
    return (
        sa.select(DE.c.id, DE.c.entity_id, DE.c.tier, DE.c.ratio, DE.c.per_year, DE.c.forced, DE.c.facts, OU.c.result)
        .join(OU, OU.c.id == DE.c.outcome_id)
        .where(
            DE.c.cycle_id == sa.bindparam("cycle_id", type_=DE.c.cycle_id.type), any_of(DE.c.entity_id, "ids", dialect)
        )
    )


def tier_counts(conn: Connection, cycle_id: int) -> dict[str, int]:
    return dict(
        conn.execute(sa.select(DE.c.tier, sa.func.count()).where(DE.c.cycle_id == cycle_id).group_by(DE.c.tier)).all()
    )


def transitions(conn: Connection, a: int, b: int) -> dict[tuple[str, str], int]:
    da, db = DE.alias("da"), DE.alias("db")
    rows = conn.execute(
        sa.select(da.c.tier, db.c.tier, sa.func.count())
        .select_from(da.join(db, (da.c.entity_id == db.c.entity_id) & (db.c.cycle_id == b)))
        .where(da.c.cycle_id == a)
        .group_by(da.c.tier, db.c.tier)
    ).all()
    return {(x, y): n for x, y, n in rows}


def region_tier_workload(conn: Connection, cycle_id: int) -> list[dict]:
    rows = conn.execute(
        sa.select(
            E.c.region,
            DE.c.tier,
            sa.func.count(),
            sa.func.sum(DE.c.ratio),
            sa.func.sum(sa.case((DE.c.forced, 1), else_=0)),
        )
        .join(E, E.c.id == DE.c.entity_id)
        .where(DE.c.cycle_id == cycle_id)
        .group_by(E.c.region, DE.c.tier)
    ).all()
    return [
        {"region": r, "tier": t, "entities": n, "expected_inspections": float(s or 0), "forced": int(f or 0)}
        for r, t, n, s, f in rows
    ]


def tiers_of_entity(conn: Connection, cycle_id: int, entity_id: int) -> str | None:
    return conn.execute(sa.select(DE.c.tier).where(DE.c.cycle_id == cycle_id, DE.c.entity_id == entity_id)).scalar()


def pack_body_latest(conn: Connection, pack_id: str) -> dict | None:
    return conn.execute(sa.select(PV.c.body).where(PV.c.pack_id == pack_id).order_by(PV.c.id.desc()).limit(1)).scalar()
