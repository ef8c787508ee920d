"""Queries of the check service (issue 16): apps, the nonces of signed requests, the decision log (``checks``).

``checks`` is append-only: this module only inserts and reads it (the database refuses UPDATE and DELETE too).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.errors import StoreError
from engine.store import now, prebuilt, schema


def insert_app(
    conn: Connection, name: str, app_key: str, salt: str, verifier: str, scopes: list[str], department: str | None
) -> dict[str, Any]:
    values = {
        "name": name,
        "app_key": app_key,
        "salt": salt,
        "verifier": verifier,
        "scopes": scopes,
        "department": department,
        "created_at": now(),
    }
    app_id = conn.execute(sa.insert(schema.apps).values(**values).returning(schema.apps.c.id)).scalar_one()
    return {"id": app_id, **values, "revoked_at": None}


def get_app(conn: Connection, app_key: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(schema.apps).where(schema.apps.c.app_key == app_key)).mappings().first()
    return dict(row) if row else None


def list_apps(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(schema.apps).order_by(schema.apps.c.id)).mappings()]


def revoke_app(conn: Connection, app_id: int, at: dt.datetime) -> None:
    conn.execute(sa.update(schema.apps).where(schema.apps.c.id == app_id).values(revoked_at=at))


def use_nonce(conn: Connection, app_id: int, nonce: str, at: dt.datetime) -> bool:
    """Record a nonce of the app if the app is not revoked; False when the app used the nonce before or is revoked
    (the caller reads the app again to tell which). One statement (INSERT ... SELECT ... WHERE the app is not
    revoked ON CONFLICT DO NOTHING RETURNING): a concurrent request with the same nonce waits for the first one's
    transaction and then finds the key taken; a revocation committed before it is seen."""
    stmt = prebuilt(conn, "use_nonce", _use_nonce)
    return conn.execute(stmt, {"app_id": app_id, "nonce": nonce, "at": at}).first() is not None


def _use_nonce(dialect: str) -> sa.Insert:
    apps, nonces = schema.apps, schema.api_nonces
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    app_id = sa.bindparam("app_id", type_=sa.Integer)
    row = sa.select(
        app_id, sa.bindparam("nonce", type_=sa.String), sa.bindparam("at", type_=nonces.c.seen_at.type)
    ).where(sa.exists().where(apps.c.id == app_id, apps.c.revoked_at.is_(None)))
    return (
        insert(nonces)
        .from_select(["app_id", "nonce", "seen_at"], row)
        .on_conflict_do_nothing(index_elements=["app_id", "nonce"])
        .returning(nonces.c.id)
    )


def prune_nonces(conn: Connection, before: dt.datetime) -> int:
    """Forget the nonces seen before ``before`` (a request that old is refused for its timestamp anyway)."""
    return conn.execute(sa.delete(schema.api_nonces).where(schema.api_nonces.c.seen_at < before)).rowcount or 0


def insert_check(conn: Connection, row: dict[str, Any]) -> int:
    """Append one answered check (``app_id``, ``department``, ``case_no``, ``service_item``, ``as_of``,
    ``requested_at``, ``request``, ``answer``); its id."""
    try:
        stmt = prebuilt(conn, "insert_check", lambda _d: sa.insert(schema.checks).returning(schema.checks.c.id))
        return int(conn.execute(stmt, row).scalar_one())
    except sa.exc.SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"The decision log could not be written ({text})") from exc


def _check_query() -> sa.Select:
    c, a = schema.checks, schema.apps
    return sa.select(c, a.c.app_key, a.c.name.label("app_name")).join(a, a.c.id == c.c.app_id)


def get_check(conn: Connection, check_id: int) -> dict[str, Any] | None:
    row = conn.execute(_check_query().where(schema.checks.c.id == check_id)).mappings().first()
    return dict(row) if row else None


def list_checks(conn: Connection, since: dt.datetime | None = None, app_key: str | None = None) -> list[dict[str, Any]]:
    q = _check_query().order_by(schema.checks.c.id)
    if since is not None:
        q = q.where(schema.checks.c.requested_at >= since)
    if app_key is not None:
        q = q.where(schema.apps.c.app_key == app_key)
    return [dict(r) for r in conn.execute(q).mappings()]


def count_checks(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(schema.checks)).scalar_one())


def sqlite_file(url: str) -> str | None:
    """The file of a SQLite database URL (None: another database, or SQLite in memory)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return parsed.database
    return None


def insert_feedback(conn: Connection, row: dict[str, Any]) -> bool:
    """Append the feedback on one subject of a check; False when that subject already has one."""
    table = schema.check_feedback
    if conn.execute(
        sa.select(table.c.id).where(table.c.check_id == row["check_id"], table.c.ref == row["ref"])
    ).first():
        return False
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(table).values(**row, recorded_at=now()))
    except sa.exc.IntegrityError:  # a concurrent feedback on the same subject won
        return False
    return True
