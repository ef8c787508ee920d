"""Queries of console jobs and seed announcements (migration 0006)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import now
from engine.store import schema as t

J, S = t.console_jobs, t.seed_announcements


def insert_job(conn: Connection, kind: str, params: dict[str, Any], by: str) -> int:
    return conn.execute(
        J.insert().values(kind=kind, params=params, status="queued", created_by=by, created_at=now()).returning(J.c.id)
    ).scalar_one()


def get_job(conn: Connection, job_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(J).where(J.c.id == job_id)).mappings().first()
    return dict(row) if row else None


def claim(conn: Connection, job_id: int) -> dict[str, Any] | None:
    """Mark a queued job running; None when it is not queued (another worker took it, or it ran)."""
    row = (
        conn.execute(
            sa.update(J)
            .where(J.c.id == job_id, J.c.status == "queued")
            .values(status="running", started_at=now())
            .returning(*J.c)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def finish(conn: Connection, job_id: int, result: dict[str, Any] | None, error: str | None) -> None:
    conn.execute(
        sa.update(J)
        .where(J.c.id == job_id)
        .values(status="failed" if error else "done", result=result, error=error, finished_at=now())
    )


def recent_jobs(conn: Connection, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    stmt = sa.select(J).order_by(J.c.id.desc()).limit(limit)
    if kind:
        stmt = stmt.where(J.c.kind == kind)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def insert_announcement(conn: Connection, cycle_id: int, seed: str, source: str, by: str) -> int:
    return conn.execute(
        S.insert()
        .values(cycle_id=cycle_id, seed=seed, source=source, announced_at=now(), announced_by=by)
        .returning(S.c.id)
    ).scalar_one()


def announcement(conn: Connection, announcement_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(S).where(S.c.id == announcement_id)).mappings().first()
    return dict(row) if row else None


def announcements(conn: Connection, cycle_id: int | None = None) -> list[dict[str, Any]]:
    stmt = sa.select(S).order_by(S.c.id.desc())
    if cycle_id is not None:
        stmt = stmt.where(S.c.cycle_id == cycle_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def announced(conn: Connection, cycle_id: int, seed: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(S).where(S.c.cycle_id == cycle_id, S.c.seed == seed)).mappings().first()
    return dict(row) if row else None
