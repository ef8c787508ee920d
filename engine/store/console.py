"""Queries of the console: login sessions (``console_sessions``, migration 0005) and the reads its pages need
that no other store module has (a notice by id, the cycles a page lists).

Only a session token's SHA-256 is stored, never the token; the rules (expiry, CSRF) are engine.console.sessions'.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import schema as t

S, U, N, E = t.console_sessions, t.users, t.notices, t.entities


def insert_session(
    conn: Connection, token_hash: str, user_id: int, csrf: str, at: dt.datetime, expires_at: dt.datetime
) -> int:
    return conn.execute(
        S.insert()
        .values(token_hash=token_hash, user_id=user_id, csrf=csrf, created_at=at, expires_at=expires_at)
        .returning(S.c.id)
    ).scalar_one()


def session_row(conn: Connection, token_hash: str) -> dict[str, Any] | None:
    """The session of that token hash (ended or not), or None."""
    row = conn.execute(sa.select(S).where(S.c.token_hash == token_hash)).mappings().first()
    return dict(row) if row else None


def extend_session(conn: Connection, session_id: int, expires_at: dt.datetime) -> None:
    conn.execute(sa.update(S).where(S.c.id == session_id, S.c.ended_at.is_(None)).values(expires_at=expires_at))


def end_session(conn: Connection, session_id: int, at: dt.datetime) -> None:
    conn.execute(sa.update(S).where(S.c.id == session_id, S.c.ended_at.is_(None)).values(ended_at=at))


def notice_by_id(conn: Connection, notice_id: int) -> dict[str, Any] | None:
    """A stored notice (its template and context, to render it again) with its entity's code and region."""
    stmt = (
        sa.select(N, E.c.code, E.c.region.label("entity_region"), E.c.name.label("entity_name"))
        .join(E, E.c.id == N.c.entity_id)
        .where(N.c.id == notice_id)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def last_notice_id(conn: Connection) -> int:
    """The highest notice id (0 for none): what a preview compares with to find the notices it issued."""
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(N.c.id), 0))).scalar_one())


def notices_after(conn: Connection, after_id: int) -> list[dict[str, Any]]:
    """The notices with an id above ``after_id`` (their template and context), oldest first."""
    stmt = sa.select(N).where(N.c.id > after_id).order_by(N.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]
