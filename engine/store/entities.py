"""Entity register and credit records: bulk upserts (Core, executemany) and lookups."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from . import now, schema

E = schema.entities
R = schema.records
ENTITY_FIELDS = ("name", "entity_type", "region", "industry", "established_on", "legal_rep")


def _insert(conn: Connection, table: sa.Table):
    return (postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table))


def upsert_entities(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Insert or update entities by code; rows whose values did not change are left alone.

    Returns (inserted, updated) counts for this chunk.
    """
    if not rows:
        return 0, 0
    # Last row wins for duplicate codes within one chunk (like a sequential upsert would).
    unique = {r["code"]: r for r in rows}
    codes = list(unique)
    found = {row.code: row for row in conn.execute(sa.select(E.c.code, *[E.c[f] for f in ENTITY_FIELDS])
                                                  .where(E.c.code.in_(codes)))}
    stamp = now()
    to_insert, to_update = [], []
    for code, row in unique.items():
        old = found.get(code)
        if old is None:
            to_insert.append({**row, "created_at": stamp, "updated_at": stamp})
        elif any(getattr(old, f) != row.get(f) for f in ENTITY_FIELDS):
            to_update.append(row)
    if to_insert:
        conn.execute(sa.insert(E), to_insert)
    if to_update:
        stmt = (sa.update(E).where(E.c.code == sa.bindparam("b_code"))
                .values({f: sa.bindparam(f"b_{f}") for f in ENTITY_FIELDS} | {"updated_at": stamp}))
        conn.execute(stmt, [{"b_code": r["code"], **{f"b_{f}": r.get(f) for f in ENTITY_FIELDS}} for r in to_update])
    return len(to_insert), len(to_update)


def entity_ids(conn: Connection, codes: Iterable[str]) -> dict[str, int]:
    codes = list(set(codes))
    out: dict[str, int] = {}
    for i in range(0, len(codes), 900):
        part = codes[i:i + 900]
        out.update({c: i_ for c, i_ in conn.execute(sa.select(E.c.code, E.c.id).where(E.c.code.in_(part)))})
    return out


def insert_records(conn: Connection, rows: Sequence[dict[str, Any]], source: str) -> int:
    """Insert records (entity_id already resolved); duplicates on the natural key are ignored."""
    if not rows:
        return 0
    stamp = now()
    payload = [{**r, "source": source, "imported_at": stamp} for r in rows]
    # RETURNING yields a row only for records actually inserted (not for ignored duplicates). That is exact
    # under concurrent writers and avoids a count(*) over the whole table before and after every chunk.
    stmt = (_insert(conn, R).on_conflict_do_nothing(index_elements=["entity_id", "kind", "natural_key"])
            .returning(R.c.id))
    return len(conn.execute(stmt, payload).all())


def count(conn: Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def get_entity(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(E).where(E.c.code == code)).mappings().first()
    return dict(row) if row else None


def get_entity_by_id(conn: Connection, entity_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(E).where(E.c.id == entity_id)).mappings().first()
    return dict(row) if row else None


def records_for(conn: Connection, entity_id: int, until: dt.date | None = None) -> list[dict[str, Any]]:
    stmt = sa.select(R.c.id, R.c.kind, R.c.date, R.c.data, R.c.source).where(R.c.entity_id == entity_id)
    if until is not None:
        stmt = stmt.where(R.c.date <= until)
    return [dict(r) for r in conn.execute(stmt.order_by(R.c.date, R.c.kind, R.c.id)).mappings()]


def iter_entities(conn: Connection, batch: int = 20000) -> Iterator[list[dict[str, Any]]]:
    """Stream every entity in id order, in batches (keyset pagination, constant memory)."""
    last = 0
    cols = [E.c.id, E.c.code, E.c.code_kind, E.c.name, E.c.entity_type, E.c.region, E.c.industry, E.c.established_on]
    while True:
        rows = conn.execute(sa.select(*cols).where(E.c.id > last).order_by(E.c.id).limit(batch)).all()
        if not rows:
            return
        yield [r._asdict() for r in rows]
        last = rows[-1].id


def records_for_range(conn: Connection, first_id: int, last_id: int, until: dt.date,
                      kinds: Sequence[str] | None = None, imported_before: dt.datetime | None = None
                      ) -> dict[int, list[tuple[str, dt.date, dict]]]:
    """Records of entities with ids in [first_id, last_id], dated on or before ``until`` (and, for replay,
    imported before a moment), grouped by entity."""
    stmt = (sa.select(R.c.entity_id, R.c.kind, R.c.date, R.c.data)
            .where(R.c.entity_id.between(first_id, last_id), R.c.date <= until))
    if imported_before is not None:
        stmt = stmt.where(R.c.imported_at < imported_before)
    if kinds is not None:
        stmt = stmt.where(R.c.kind.in_(list(kinds)))
    out: dict[int, list] = {}
    for entity_id, kind, date, data in conn.execute(stmt):
        out.setdefault(entity_id, []).append((kind, date, data))
    return out
