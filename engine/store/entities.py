"""The entity register: bulk upserts (Core, executemany) and lookups (records are in :mod:`engine.store.records`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from engine.store import any_of, ids_in, insert_columns, now, prebuilt, schema

E = schema.entities
ENTITY_FIELDS = ("name", "entity_type", "region", "industry", "established_on", "legal_rep", "extra", "reg_no")


def upsert_entities(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Insert or update entities by code; rows whose values did not change are left alone.

    Returns (inserted, updated) counts for this chunk.
    """
    if not rows:
        return 0, 0
    # Last row wins for duplicate codes within one chunk (like a sequential upsert would).
    unique = {r["code"]: r for r in rows}
    codes = list(unique)
    if conn.dialect.name == "sqlite":  # first which codes the register has, through the driver (cheap per code)
        codes = list(entity_ids(conn, codes))
    found = (
        {
            row.code: row
            for row in conn.execute(sa.select(E.c.code, *[E.c[f] for f in ENTITY_FIELDS]).where(_code_in(conn, codes)))
        }
        if codes
        else {}
    )
    stamp = now()
    to_insert: list[dict[str, Any]] = []
    to_update = []
    for code, row in unique.items():
        old = found.get(code)
        if old is None:
            to_insert.append(row)
        else:
            # A field the row does not carry (its column is not in the file) keeps the stored value.
            row = {f: getattr(old, f) for f in ENTITY_FIELDS} | row
            if any(getattr(old, f) != row[f] for f in ENTITY_FIELDS):
                to_update.append(row)
    if to_insert:
        # Straight through the driver (COPY on PostgreSQL, an executemany of tuples on SQLite), the values bound as
        # a Core insert binds them; a field a row does not carry is NULL.
        names = dict.fromkeys(["code", *ENTITY_FIELDS])
        for r in to_insert:
            names.update(dict.fromkeys(r))
        names.pop("created_at", None), names.pop("updated_at", None)
        stamps = [stamp] * len(to_insert)
        columns = {name: [r.get(name) for r in to_insert] for name in names}
        insert_columns(conn, E, columns | {"created_at": stamps, "updated_at": stamps})
    if to_update:
        stmt = (
            sa.update(E)
            .where(E.c.code == sa.bindparam("b_code"))
            .values({f: sa.bindparam(f"b_{f}") for f in ENTITY_FIELDS} | {"updated_at": stamp})
        )
        conn.execute(stmt, [{"b_code": r["code"], **{f"b_{f}": r.get(f) for f in ENTITY_FIELDS}} for r in to_update])
    return len(to_insert), len(to_update)


def _code_in(conn: Connection, codes: list[str]) -> sa.ColumnElement[bool]:
    # PostgreSQL: one array parameter. A long IN list is one placeholder per code, which psycopg re-parses on
    # every execution (the statement is too long for its cache) and costs more than the lookup itself.
    if conn.dialect.name == "postgresql":
        return E.c.code == sa.any_(sa.literal(codes, postgresql.ARRAY(sa.String)))
    return E.c.code.in_(codes)


def entity_ids(conn: Connection, codes: Iterable[str]) -> dict[str, int]:
    codes = list(set(codes))
    out: dict[str, int] = {}
    step = (len(codes) or 1) if conn.dialect.name == "postgresql" else 900  # SQLite: at most 999 parameters
    for i in range(0, len(codes), step):
        part = codes[i : i + step]
        if conn.dialect.name == "sqlite":  # plain text parameters: straight to the driver, no expanding IN to render
            marks = ",".join("?" * len(part))
            out.update(
                conn.exec_driver_sql(f"SELECT code, id FROM entities WHERE code IN ({marks})", tuple(part)).all()
            )
        else:  # one array parameter, plain tuples back
            sql = "SELECT code, id FROM entities WHERE code = ANY(%(codes)s)"
            out.update(conn.exec_driver_sql(sql, {"codes": part}).all())
    return out


def count(conn: Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def entity_count(conn: Connection) -> int:
    return count(conn, E)


def get_entity(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(E).where(E.c.code == code)).mappings().first()
    return dict(row) if row else None


def entities_by_code(conn: Connection, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Code -> entity row of the codes that are in the register (one query per 900 codes on SQLite, one on
    PostgreSQL)."""
    codes = list(dict.fromkeys(codes))
    out: dict[str, dict[str, Any]] = {}
    stmt = prebuilt(conn, "entities_by_code", lambda d: sa.select(E).where(any_of(E.c.code, "codes", d)))
    step = (len(codes) or 1) if conn.dialect.name == "postgresql" else 900
    for i in range(0, len(codes), step):
        out.update({r["code"]: dict(r) for r in conn.execute(stmt, {"codes": codes[i : i + step]}).mappings()})
    return out


def codes_and_regions(conn: Connection, ids: Iterable[int], chunk: int = 5000) -> dict[int, dict[str, Any]]:
    """Entity id -> {code, region}, read a chunk of ids at a time."""
    E, out, ids = schema.entities, {}, sorted(set(ids))
    for i in range(0, len(ids), chunk):
        for entity_id, code, region in conn.execute(
            sa.select(E.c.id, E.c.code, E.c.region).where(ids_in(conn, E.c.id, ids[i : i + chunk]))
        ):
            out[entity_id] = {"code": code, "region": region}
    return out


def regions_of(conn: Connection, entity_types: Sequence[str] = ()) -> list[str | None]:
    """The distinct regions of the register (of entities of these types, when given)."""
    E = schema.entities
    where = [E.c.entity_type.in_(list(entity_types))] if entity_types else []
    return [r[0] for r in conn.execute(sa.select(E.c.region).where(*where).distinct())]


def entities_in_regions(
    conn: Connection, regions: Sequence[str | None], entity_types: Sequence[str] = (), limit: int = 7
) -> list[dict[str, Any]]:
    """A few entities (code, name, region) of these regions (None: no region), ordered by region and code."""
    E = schema.entities
    cond = [E.c.region.in_([r for r in regions if r is not None])]
    if None in regions:
        cond.append(E.c.region.is_(None))
    where = [E.c.entity_type.in_(list(entity_types))] if entity_types else []
    return [
        dict(r)
        for r in conn.execute(
            sa.select(E.c.code, E.c.name, E.c.region)
            .where(sa.or_(*cond), *where)
            .order_by(E.c.region, E.c.code)
            .limit(limit)
        ).mappings()
    ]


def get_entity_by_id(conn: Connection, entity_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(E).where(E.c.id == entity_id)).mappings().first()
    return dict(row) if row else None


def batch_ranges(conn: Connection, batch: int = 20000) -> list[tuple[int, int]]:
    """(first id, last id) of consecutive batches of ``batch`` entities in id order: the units that the
    evaluation's worker processes take (each reads its batches itself)."""
    out: list[tuple[int, int]] = []
    first = last = 0  # both set by the first row, before any range is appended
    n = 0
    for (i,) in conn.execute(sa.select(E.c.id).order_by(E.c.id)):
        if n == 0:
            first = i
        last = i
        n += 1
        if n == batch:
            out.append((first, last))
            n = 0
    if n:
        out.append((first, last))
    return out


class _Days(dict):
    """SQLite keeps dates as ISO text: parse each distinct one once, as the Date type would."""

    def __missing__(self, text: str | None) -> dt.date | None:
        value = self[text] = None if text is None else dt.date.fromisoformat(text)
        return value


def entities_between(conn: Connection, first: int, last: int | None, limit: int | None = None) -> list[dict[str, Any]]:
    """Entities with ids in [first, last] (no upper bound when ``last`` is None) in id order, at most ``limit``,
    as the evaluation reads them."""
    cols: list[sa.ColumnElement[Any]] = [
        E.c.id,
        E.c.code,
        E.c.code_kind,
        E.c.name,
        E.c.entity_type,
        E.c.region,
        E.c.industry,
        E.c.established_on,
    ]
    days = None
    if conn.dialect.name == "sqlite":
        cols[-1] = sa.type_coerce(E.c.established_on, sa.Text).label("established_on")
        days = _Days()
    stmt = sa.select(*cols).where(E.c.id >= first if last is None else E.c.id.between(first, last)).order_by(E.c.id)
    rows = conn.execute(stmt.limit(limit) if limit else stmt).all()
    if days is None:
        return [
            {
                "id": i,
                "code": c,
                "code_kind": ck,
                "name": n,
                "entity_type": t,
                "region": r,
                "industry": ind,
                "established_on": est,
            }
            for i, c, ck, n, t, r, ind, est in rows
        ]
    return [
        {
            "id": i,
            "code": c,
            "code_kind": ck,
            "name": n,
            "entity_type": t,
            "region": r,
            "industry": ind,
            "established_on": days[est],
        }
        for i, c, ck, n, t, r, ind, est in rows
    ]


def iter_entities(conn: Connection, batch: int = 20000) -> Iterator[list[dict[str, Any]]]:
    """Stream every entity in id order, in batches (keyset pagination, constant memory)."""
    last = 0
    while True:
        rows = entities_between(conn, last + 1, None, limit=batch)
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]
