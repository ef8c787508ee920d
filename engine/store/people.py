"""Queries of the console's people (migration 0005): users and two-step decisions (proposals, their reviews).

The rules (who may, which region, which pack) are engine.access's; this module only reads and writes rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import now
from engine.store import schema as t

U, S, P, R = t.users, t.console_sessions, t.proposals, t.proposal_reviews


# -- users ---------------------------------------------------------------------------------------------------


def user_row(conn: Connection, name: str, lock: bool = False) -> Any:
    q = sa.select(U).where(U.c.name == name)
    return conn.execute(q.with_for_update() if lock else q).first()


def user_by_id(conn: Connection, user_id: int) -> Any:
    return conn.execute(sa.select(U).where(U.c.id == user_id)).first()


def insert_user(conn: Connection, name: str, authority: str | None, role: str, password_hash: str, by: str) -> int:
    return conn.execute(
        U.insert()
        .values(name=name, authority=authority, role=role, password_hash=password_hash, created_at=now(), created_by=by)
        .returning(U.c.id)
    ).scalar_one()


def set_password_hash(conn: Connection, user_id: int, password_hash: str) -> None:
    conn.execute(sa.update(U).where(U.c.id == user_id).values(password_hash=password_hash))


def disable_user(conn: Connection, user_id: int, by: str) -> dt.datetime:
    """Disable the user and end its open login sessions."""
    at = now()
    conn.execute(sa.update(U).where(U.c.id == user_id).values(disabled_at=at, disabled_by=by))
    conn.execute(sa.update(S).where(S.c.user_id == user_id, S.c.ended_at.is_(None)).values(ended_at=at))
    return at


def all_users(conn: Connection) -> list[Any]:
    return list(conn.execute(sa.select(U).order_by(U.c.name)))


# -- proposals -----------------------------------------------------------------------------------------------


def insert_proposal(
    conn: Connection, kind: str, entry_id: int, target_id: int, decision: dict, reason: str, on: dt.date, by: str
) -> int:
    return conn.execute(
        P.insert()
        .values(
            kind=kind,
            entry_id=entry_id,
            target_id=target_id,
            decision=decision,
            reason=reason,
            proposed_on=on,
            proposed_at=now(),
            proposed_by=by,
        )
        .returning(P.c.id)
    ).scalar_one()


def pending_of(conn: Connection, kind: str, target_id: int) -> Any:
    """The proposal of that kind and target awaiting review, if any."""
    return conn.execute(
        sa.select(P)
        .outerjoin(R, R.c.proposal_id == P.c.id)
        .where(P.c.kind == kind, P.c.target_id == target_id, R.c.id.is_(None))
    ).first()


def proposal(conn: Connection, proposal_id: int, lock: bool = False) -> Any:
    """The proposal with its review's outcome, reviewer, date and reason (None when not reviewed). ``lock``: the
    proposal row is locked (PostgreSQL) so that two reviewers of one proposal are served one after the other."""
    stmt = (
        sa.select(P, R.c.outcome, R.c.reviewed_by, R.c.reviewed_on, R.c.reason.label("review_reason"))
        .outerjoin(R, R.c.proposal_id == P.c.id)
        .where(P.c.id == proposal_id)
    )
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=P)
    return conn.execute(stmt).first()


def insert_review(conn: Connection, proposal_id: int, outcome: str, reason: str | None, on: dt.date, by: str) -> None:
    conn.execute(
        R.insert().values(
            proposal_id=proposal_id, outcome=outcome, reason=reason, reviewed_on=on, reviewed_at=now(), reviewed_by=by
        )
    )


def proposals(
    conn: Connection, status: str | None = None, entry_id: int | None = None, entry_ids: list[int] | None = None
) -> list[dict[str, Any]]:
    """Proposals with their review, list, pack and entity: ``status`` pending (not reviewed), returned (returned
    and not proposed again) or None (all); of one entry or of several when given. Oldest first."""
    E, LE = t.entities, t.list_entries
    stmt = (
        sa.select(
            P,
            R.c.outcome,
            R.c.reviewed_by,
            R.c.reviewed_on,
            R.c.reason.label("review_reason"),
            LE.c.list,
            LE.c.pack_id,
            E.c.code,
            E.c.name.label("entity_name"),
            E.c.region,
        )
        .outerjoin(R, R.c.proposal_id == P.c.id)
        .join(LE, LE.c.id == P.c.entry_id)
        .join(E, E.c.id == LE.c.entity_id)
        .order_by(P.c.id)
    )
    if status == "pending":
        stmt = stmt.where(R.c.id.is_(None))
    elif status == "returned":
        newer = P.alias("newer")
        later = sa.exists().where(newer.c.kind == P.c.kind, newer.c.target_id == P.c.target_id, newer.c.id > P.c.id)
        stmt = stmt.where(R.c.outcome == "returned", ~later)
    if entry_id is not None:
        stmt = stmt.where(P.c.entry_id == entry_id)
    if entry_ids is not None:
        stmt = stmt.where(P.c.entry_id.in_(entry_ids))
    return [dict(r) for r in conn.execute(stmt).mappings()]


# -- the audit log -------------------------------------------------------------------------------------------


def audit_entries(
    conn: Connection, actor: str | None = None, since: dt.datetime | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """The newest audit rows first (of one user, since a time when given)."""
    A = t.audit_log
    stmt = sa.select(A).order_by(A.c.id.desc()).limit(limit)
    if actor is not None:
        stmt = stmt.where(A.c.actor == actor)
    if since is not None:
        stmt = stmt.where(A.c.at >= since)
    return [dict(r) for r in conn.execute(stmt).mappings()]
