"""Read-only aggregates for cycle reports and draft-pack simulations (SQLAlchemy Core, SELECT only).

Nothing here writes: ``read_only(conn)`` additionally makes the connection refuse writes for the duration
(PostgreSQL ``SET TRANSACTION ... READ ONLY``; SQLite ``PRAGMA query_only``), so a simulation cannot change the
register even by mistake. (SQLite: the read transaction of ``Store.read()`` already sees one snapshot.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import schema

E, DE, N = schema.entities, schema.decisions, schema.notices


@contextlib.contextmanager
def read_only(conn: Connection) -> Iterator[Connection]:
    """Make the read transaction refuse writes until the block ends; call it before the first query.

    PostgreSQL also gets one snapshot for the whole transaction (REPEATABLE READ), so queries that walk the
    register side by side (the evaluation and the stored decisions) see the same entities even while an import
    commits."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")  # ends with it
        yield conn
        return
    conn.exec_driver_sql("PRAGMA query_only = ON")
    try:
        yield conn
    finally:
        conn.exec_driver_sql("PRAGMA query_only = OFF")  # the pooled connection is reused for writes


def outcome_counts(conn: Connection, cycle_id: int) -> dict[int, int]:
    """Number of decisions per outcome id of a cycle (entities sharing each stored outcome)."""
    return dict(
        conn.execute(
            sa.select(DE.c.outcome_id, sa.func.count()).where(DE.c.cycle_id == cycle_id).group_by(DE.c.outcome_id)
        ).all()
    )


def stored_notice_counts(conn: Connection, cycle_id: int) -> dict[str, int]:
    """Stored notices per kind whose cause belongs to a cycle (``notices.cycle_id``)."""
    return dict(
        conn.execute(sa.select(N.c.kind, sa.func.count()).where(N.c.cycle_id == cycle_id).group_by(N.c.kind)).all()
    )


def iter_register_decisions(
    conn: Connection, cycle_id: int | None, batch: int = 20000
) -> Iterator[Sequence[sa.Row[int, str | None, int | None]]]:
    """Every entity in id order as ``(entity_id, region, outcome_id)``; the outcome is that of the entity's decision
    in the cycle (None when it has none, or when ``cycle_id`` is None). Keyset pagination over the entities,
    left-joined through the (cycle_id, entity_id) unique index of ``decisions``: constant memory."""
    last = 0
    if cycle_id is None:
        cols: list[sa.ColumnElement[Any]] = [E.c.id, E.c.region, sa.null()]
        source: sa.FromClause = E
    else:
        cols = [E.c.id, E.c.region, DE.c.outcome_id]
        source = E.outerjoin(DE, (DE.c.entity_id == E.c.id) & (DE.c.cycle_id == cycle_id))
    while True:
        rows = conn.execute(
            sa.select(*cols).select_from(source).where(E.c.id > last).order_by(E.c.id).limit(batch)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def table_counts(conn: Connection) -> dict[str, int]:
    """Row count of every table of the schema (tests use it to prove that a command wrote nothing)."""
    return {
        name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        for name, table in sorted(schema.metadata.tables.items())
    }
