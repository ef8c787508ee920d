"""Queries of the list delta feed (``GET /api/v1/lists/{list}/changes``, issue 16): list events in id order, and
the *settled horizon*: the largest event id up to which every event is either committed and visible or never will
be, so a client that pages by event id never misses an event committed later with a smaller id.

SQLite has one writer at a time (BEGIN IMMEDIATE) and numbers events ``max(id) + 1`` under that lock: ids commit in
order, and the horizon is the largest visible id. PostgreSQL draws ids from the table's sequence at insert time,
and two writers (of different entries) may commit out of id order: id 11 may still be uncommitted when id 12 is
visible. There the horizon is:

- the sequence's last drawn value, read first, when no other transaction holds a write lock on ``list_events``
  (read after it): every id drawn by then belongs to a transaction that has ended (committed: visible to the next
  statement; rolled back: a gap that stays empty);
- otherwise the end of the unbroken run of visible ids after the client's cursor (a missing id may be an event
  still being written): the feed waits at the first gap until the writers are done.

This relies on every ``list_events`` id being drawn by its INSERT (the column default, under the table's write
lock), never reserved beforehand (``engine.store.allocate_ids`` is not used for this table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import schema

EV = schema.list_events
LE = schema.list_entries
PV = schema.policy_versions


def drawn(conn: Connection) -> int:
    """The largest event id handed out so far (0: none), whether or not its transaction committed."""
    if conn.dialect.name == "postgresql":
        seq = conn.execute(sa.select(sa.func.pg_get_serial_sequence(EV.name, "id"))).scalar_one()
        row = conn.execute(sa.text(f"SELECT last_value, is_called FROM {seq}")).one()
        return int(row.last_value) if row.is_called else 0
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(EV.c.id), 0))).scalar_one())


def _other_writers(conn: Connection) -> int:
    """Other transactions holding (or waiting for) a lock on list_events stronger than a reader's."""
    return int(
        conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND relation = CAST(:t AS regclass) "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND mode <> 'AccessShareLock' AND pid IS DISTINCT FROM pg_backend_pid()"
            ),
            {"t": EV.name},
        ).scalar_one()
    )


def settled(conn: Connection, after: int) -> tuple[int, int]:
    """(horizon, drawn): every event with ``after`` < id <= horizon is visible now or never will be; ``drawn`` is
    the largest id handed out. Call it before reading the events, in a READ COMMITTED connection (each statement
    sees what was committed when it started; ``Store.read()`` is one on PostgreSQL)."""
    last = drawn(conn)
    if conn.dialect.name != "postgresql" or last <= after:
        return last, last
    if not _other_writers(conn):
        return last, last
    nxt = EV.alias("nxt")
    if conn.execute(sa.select(EV.c.id).where(EV.c.id == after + 1)).first() is None:
        return after, last
    end = conn.execute(
        sa.select(sa.func.min(EV.c.id)).where(
            EV.c.id > after,
            EV.c.id < last,
            ~sa.exists(sa.select(nxt.c.id).where(nxt.c.id == EV.c.id + 1)),
        )
    ).scalar()
    return (int(end) if end is not None else last), last


def events(
    conn: Connection,
    pack_id: str,
    list_name: str,
    kinds: Sequence[str],
    after: int,
    upto: int,
    since: dt.datetime | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Events of one pack's list of the given kinds with ``after`` < id <= ``upto`` (recorded at or after
    ``since``), in id order, at most ``limit``."""
    stmt = (
        sa.select(EV)
        .join(LE, LE.c.id == EV.c.entry_id)
        .where(
            LE.c.pack_id == pack_id,
            LE.c.list == list_name,
            EV.c.event.in_(list(kinds)),
            EV.c.id > after,
            EV.c.id <= upto,
        )
        .order_by(EV.c.id)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(EV.c.recorded_at >= since)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def declared_lists(conn: Connection) -> list[tuple[str, str, dict[str, Any]]]:
    """(pack id, list name, list definition) of every list in every stored pack version, oldest version first."""
    out = []
    for pack_id, body in conn.execute(sa.select(PV.c.pack_id, PV.c.body).order_by(PV.c.id)):
        for name, ldef in ((body or {}).get("version") or {}).get("lists", {}).items():
            out.append((pack_id, name, ldef or {}))
    return out
