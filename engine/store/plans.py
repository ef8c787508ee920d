"""Inspection plans (双随机、一公开): inspectors, plans, checks, assignments, results, publications.

Only loads and saves; the draw itself is the pure function in ``engine.plans``. Core ``select()``/``insert()``,
bulk executemany, keyset/streamed reads for the million-row cycle tables.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import chunked, now, schema

I = schema.inspectors
P = schema.plans
PC = schema.plan_checks
PA = schema.plan_assignments
CR = schema.check_results
PP = schema.plan_publications
C = schema.cycles
PV = schema.policy_versions
D = schema.decisions
E = schema.entities
R = schema.records

INSPECTOR_FIELDS = ("name", "department", "region", "specialties", "max_checks", "conflicts", "home_region", "active")
CHUNK = 5000
PLAN_LOCK = 0x5D5250  # pg_advisory_xact_lock key for plan draws


def _inserted_id(result: sa.CursorResult[Any]) -> int:
    """The new row's id from a single-row insert."""
    key = result.inserted_primary_key
    assert key is not None  # a single-row insert (not executemany) always reports its primary key
    new_id: int = key[0]
    return new_id


# -- inspectors -----------------------------------------------------------------------------------


def upsert_inspectors(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Insert or update inspectors by code (last row wins within a chunk). Returns (inserted, updated)."""
    if not rows:
        return 0, 0
    unique = {r["code"]: r for r in rows}
    found = {}
    for part in chunked(list(unique), 900):
        found.update(
            {
                row.code: row
                for row in conn.execute(
                    sa.select(I.c.code, *[I.c[f] for f in INSPECTOR_FIELDS]).where(I.c.code.in_(part))
                )
            }
        )
    stamp = now()
    to_insert, to_update = [], []
    for code, row in unique.items():
        old = found.get(code)
        if old is None:
            to_insert.append({**row, "updated_at": stamp})
        elif any(getattr(old, f) != row.get(f) for f in INSPECTOR_FIELDS):
            to_update.append(row)
    if to_insert:
        conn.execute(sa.insert(I), to_insert)
    if to_update:
        stmt = (
            sa.update(I)
            .where(I.c.code == sa.bindparam("b_code"))
            .values({f: sa.bindparam(f"b_{f}") for f in INSPECTOR_FIELDS} | {"updated_at": stamp})
        )
        conn.execute(stmt, [{"b_code": r["code"], **{f"b_{f}": r.get(f) for f in INSPECTOR_FIELDS}} for r in to_update])
    return len(to_insert), len(to_update)


def active_inspectors(conn: Connection) -> list[dict[str, Any]]:
    """Active inspectors with capacity, ordered by code."""
    stmt = (
        sa.select(I.c.id, I.c.code, *[I.c[f] for f in INSPECTOR_FIELDS])
        .where(I.c.active.is_(True), I.c.max_checks > 0)
        .order_by(I.c.code)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def count_inspectors(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(I)).scalar_one()


# -- cycles and candidates --------------------------------------------------------------------------


def iter_candidates(conn: Connection, cycle_id: int, batch: int = 50000) -> Iterator[list[tuple]]:
    """Stream (code, entity_id, tier, ratio, forced, region, township) for every decision of a cycle.

    The entity's street/township code comes from ``entities.extra['township']`` when the register has it.
    """
    township = E.c.extra["township"].as_string()
    stmt = (
        sa.select(E.c.code, D.c.entity_id, D.c.tier, D.c.ratio, D.c.forced, E.c.region, township)
        .join(E, E.c.id == D.c.entity_id)
        .where(D.c.cycle_id == cycle_id)
    )
    # Statement-level option: Connection.execution_options() would change the connection for later statements.
    result = conn.execute(stmt.execution_options(yield_per=batch))
    for part in result.partitions(batch):
        yield [tuple(r) for r in part]


def forced_entities(conn: Connection, cycle_id: int, entity_ids: Iterable[int]) -> set[int]:
    """The given entities whose decision in the cycle is ``forced`` (must be inspected)."""
    out: set[int] = set()
    for part in chunked(list(entity_ids), 900):
        out.update(
            conn.execute(
                sa.select(D.c.entity_id).where(D.c.cycle_id == cycle_id, D.c.forced.is_(True), D.c.entity_id.in_(part))
            ).scalars()
        )
    return out


def entity_places(conn: Connection, entity_ids: Iterable[int]) -> dict[int, tuple[str | None, str | None]]:
    """entity id -> (region, township) as the register has them now."""
    township = E.c.extra["township"].as_string()
    out: dict[int, tuple] = {}
    for part in chunked(list(entity_ids), 900):
        out.update(
            {i: (r, t) for i, r, t in conn.execute(sa.select(E.c.id, E.c.region, township).where(E.c.id.in_(part)))}
        )
    return out


def clean_results(
    conn: Connection, since: dt.date, until: dt.date, imported_until: dt.datetime | None = None
) -> set[str]:
    """Codes of entities with an ``inspection_result`` record, outcome clean, dated in [since, until]
    (optionally only the versions known at ``imported_until``: current ones recorded by then; a result corrected
    later is judged by the outcome that was known then only if it still reads clean, which is the safe side)."""
    stmt = (
        sa.select(E.c.code)
        .join(E, E.c.id == R.c.entity_id)
        .where(
            R.c.kind == "inspection_result",
            R.c.date >= since,
            R.c.date <= until,
            R.c.data["outcome"].as_string() == "clean",
        )
    )
    stmt = stmt.where(R.c.status == "valid")
    if imported_until is not None:
        stmt = stmt.where(R.c.recorded_at <= imported_until)
    return set(conn.execute(stmt).scalars())


# -- plans ------------------------------------------------------------------------------------------


def insert_plan(
    conn: Connection,
    plan: dict[str, Any],
    checks: Sequence[dict[str, Any]],
    assignments: Sequence[tuple[int, int, int]],
) -> int:
    """Insert a plan, its checks (dicts with seq, entity_id, tier, rank_key, reason, items) and assignments
    ((seq, inspector_id, position)); returns the plan id."""
    values = {**plan, "created_at": plan.get("created_at") or now()}
    plan_id = _inserted_id(conn.execute(sa.insert(P).values(**values)))
    columns = ("plan_id", "seq", "entity_id", "tier", "rank_key", "reason", "items")
    bulk_insert(
        conn,
        PC,
        columns,
        [(plan_id, c["seq"], c["entity_id"], c["tier"], c["rank_key"], c["reason"], c["items"]) for c in checks],
    )
    ids = dict(conn.execute(sa.select(PC.c.seq, PC.c.id).where(PC.c.plan_id == plan_id)).all())
    bulk_insert(
        conn, PA, ("check_id", "inspector_id", "position"), [(ids[seq], insp, pos) for seq, insp, pos in assignments]
    )
    return plan_id


def bulk_insert(conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """executemany of plain tuples, in chunks. On SQLite straight to the driver (a third of the cost of
    SQLAlchemy's per-row parameter processing; JSON columns serialised here), elsewhere Core ``insert()``."""
    if conn.dialect.name == "sqlite":
        json_cols = [k for k, name in enumerate(columns) if isinstance(table.c[name].type, sa.JSON)]
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        memo: dict[int, str] = {}  # by object id: callers share identical JSON values (rows keep them alive)

        def dumps(value: Any) -> str | None:
            if value is None:
                return None
            text = memo.get(id(value))
            if text is None:
                text = memo[id(value)] = json.dumps(value)
            return text

        for part in chunked(rows, 50000):
            if json_cols:
                part = [tuple(dumps(v) if k in json_cols else v for k, v in enumerate(r)) for r in part]
            conn.exec_driver_sql(sql, part)
        return
    for part in chunked(rows, CHUNK):
        conn.execute(sa.insert(table), [dict(zip(columns, r)) for r in part])


def get_plan(conn: Connection, plan_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(P).where(P.c.id == plan_id)).mappings().first()
    return dict(row) if row else None


def list_plans(conn: Connection, cycle_id: int | None = None) -> list[dict[str, Any]]:
    count = sa.select(sa.func.count()).select_from(PC).where(PC.c.plan_id == P.c.id).scalar_subquery()
    stmt = sa.select(
        P.c.id, P.c.cycle_id, P.c.seed, P.c.algorithm, P.c.per_check, P.c.created_at, count.label("checks")
    ).order_by(P.c.id)
    if cycle_id is not None:
        stmt = stmt.where(P.c.cycle_id == cycle_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def lock_plans(conn: Connection) -> None:
    """Serialise plan draws until commit (PostgreSQL advisory lock; SQLite writers are serial already), so two
    draws of one period cannot both pass the existing-plan check or both spend the same inspector capacity."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PLAN_LOCK})


def period_plans(conn: Connection, pack_id: str, period: str) -> list[dict[str, Any]]:
    """Plans drawn on any cycle (any revision) of one pack and period, oldest first, with their check count."""
    count = sa.select(sa.func.count()).select_from(PC).where(PC.c.plan_id == P.c.id).scalar_subquery()
    stmt = (
        sa.select(P.c.id, P.c.cycle_id, P.c.seed, P.c.created_at, count.label("checks"))
        .join(C, C.c.id == P.c.cycle_id)
        .where(C.c.pack_id == pack_id, C.c.period == period)
        .order_by(P.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def inspector_loads(conn: Connection, plan_ids: Sequence[int]) -> dict[int, int]:
    """inspector id -> checks assigned to them in the given plans."""
    if not plan_ids:
        return {}
    stmt = (
        sa.select(PA.c.inspector_id, sa.func.count())
        .join(PC, PC.c.id == PA.c.check_id)
        .where(PC.c.plan_id.in_(list(plan_ids)))
        .group_by(PA.c.inspector_id)
    )
    return {i: n for i, n in conn.execute(stmt)}


def plan_summaries(conn: Connection) -> list[dict[str, Any]]:
    """Every plan with its cycle's pack, period and as-of date, its check count and publication kinds."""
    count = sa.select(sa.func.count()).select_from(PC).where(PC.c.plan_id == P.c.id).scalar_subquery()
    stmt = (
        sa.select(
            P.c.id,
            P.c.cycle_id,
            P.c.seed,
            P.c.algorithm,
            P.c.per_check,
            P.c.created_at,
            P.c.params,
            P.c.actor,
            C.c.pack_id,
            C.c.period,
            C.c.as_of,
            count.label("checks"),
        )
        .join(C, C.c.id == P.c.cycle_id)
        .order_by(P.c.id)
    )
    rows = [dict(r) for r in conn.execute(stmt).mappings()]
    pubs: dict[int, list[tuple[str, dt.date]]] = {}
    for plan_id, kind, on in conn.execute(
        sa.select(PP.c.plan_id, PP.c.kind, PP.c.published_on).order_by(PP.c.published_on, PP.c.id)
    ):
        pubs.setdefault(plan_id, []).append((kind, on))
    for r in rows:
        r["publications"] = pubs.get(r["id"], [])
    return rows


def plan_ids(conn: Connection, limit: int = 20) -> list[int]:
    return list(conn.execute(sa.select(P.c.id).order_by(P.c.id.desc()).limit(limit)).scalars())


def plan_checks(conn: Connection, plan_id: int) -> list[dict[str, Any]]:
    """Checks in seq order with the entity's code, name, kind and type."""
    stmt = (
        sa.select(
            PC.c.id,
            PC.c.seq,
            PC.c.entity_id,
            PC.c.tier,
            PC.c.rank_key,
            PC.c.reason,
            PC.c["items"],
            E.c.code,
            E.c.code_kind,
            E.c.name,
            E.c.entity_type,
            E.c.legal_rep,
            E.c.region.label("entity_region"),
        )
        .join(E, E.c.id == PC.c.entity_id)
        .where(PC.c.plan_id == plan_id)
        .order_by(PC.c.seq)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def plan_assignments(conn: Connection, plan_id: int) -> dict[int, list[int]]:
    """check id -> inspector ids in position order."""
    stmt = (
        sa.select(PA.c.check_id, PA.c.inspector_id)
        .join(PC, PC.c.id == PA.c.check_id)
        .where(PC.c.plan_id == plan_id)
        .order_by(PA.c.check_id, PA.c.position)
    )
    out: dict[int, list[int]] = {}
    for check_id, inspector_id in conn.execute(stmt):
        out.setdefault(check_id, []).append(inspector_id)
    return out


def check_index(conn: Connection, plan_id: int) -> dict[int, dict[str, Any]]:
    """seq -> {id, seq, entity_id, code} for one plan (used to resolve result rows)."""
    stmt = (
        sa.select(PC.c.id, PC.c.seq, PC.c.entity_id, E.c.code)
        .join(E, E.c.id == PC.c.entity_id)
        .where(PC.c.plan_id == plan_id)
    )
    return {r.seq: r._asdict() for r in conn.execute(stmt)}


def check_by_id(conn: Connection, check_id: int) -> dict[str, Any] | None:
    stmt = (
        sa.select(PC.c.id, PC.c.seq, PC.c.plan_id, PC.c.entity_id, E.c.code)
        .join(E, E.c.id == PC.c.entity_id)
        .where(PC.c.id == check_id)
    )
    row = conn.execute(stmt).first()
    return row._asdict() if row else None


# -- results and publications -----------------------------------------------------------------------


def results_for_plan(conn: Connection, plan_id: int) -> dict[int, dict[str, Any]]:
    """check id -> result row."""
    stmt = sa.select(CR).join(PC, PC.c.id == CR.c.check_id).where(PC.c.plan_id == plan_id)
    return {r["check_id"]: dict(r) for r in conn.execute(stmt).mappings()}


def checks_with_results(conn: Connection, check_ids: Iterable[int]) -> set[int]:
    out: set[int] = set()
    for part in chunked(list(check_ids), 900):
        out.update(conn.execute(sa.select(CR.c.check_id).where(CR.c.check_id.in_(part))).scalars())
    return out


def insert_results(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    stamp = now()
    conn.execute(sa.insert(CR), [{**r, "recorded_at": stamp} for r in rows])
    return len(rows)


def insert_publication(conn: Connection, plan_id: int, kind: str, published_on: dt.date, path: str) -> int:
    return _inserted_id(
        conn.execute(
            sa.insert(PP).values(plan_id=plan_id, kind=kind, published_on=published_on, published_at=now(), path=path)
        )
    )


def publications(conn: Connection, plan_id: int) -> list[dict[str, Any]]:
    stmt = sa.select(PP).where(PP.c.plan_id == plan_id).order_by(PP.c.published_at, PP.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]
