"""Login sessions of the console: a random token in a cookie, only its SHA-256 stored, an idle expiry, a CSRF
token per session.

* The cookie (:data:`COOKIE`) is HttpOnly and SameSite=Strict (Secure over HTTPS); the row in
  ``console_sessions`` holds the token's SHA-256, the user, the session's CSRF token, and when it expires.
* A session expires after :func:`idle_hours` without a request (8 h unless ``SUPERVISE_SESSION_HOURS`` says
  otherwise): every request it makes moves ``expires_at`` on. Logging out ends the row (``ended_at``), so the
  same cookie sent again is refused; disabling a user ends its sessions (engine.store.people.disable_user).
* Every POST carries the session's CSRF token, as the form field :data:`CSRF_FIELD` or (htmx) the header
  :data:`CSRF_HEADER`. The login form, before any session exists, is protected by a double-submit cookie
  (:data:`LOGIN_COOKIE`): the token in the form must equal the one in that cookie.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import secrets

from engine.access.users import User, get_by_id
from engine.errors import SupervisionError
from engine.store import Connection, now
from engine.store import console as q

COOKIE = "supervise_session"
LOGIN_COOKIE = "supervise_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_IDLE_HOURS = 8.0
HOURS_ENV = "SUPERVISE_SESSION_HOURS"


class SessionSettingError(SupervisionError):
    """SUPERVISE_SESSION_HOURS is not a positive number of hours."""


def idle_hours() -> float:
    """Hours a session lives without a request: ``SUPERVISE_SESSION_HOURS`` (a positive number), else 8."""
    raw = os.environ.get(HOURS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_IDLE_HOURS
    try:
        hours = float(raw)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24 * 30:
        raise SessionSettingError(
            f"{HOURS_ENV}='{raw}' is not a number of hours between 0 and 720; set it to e.g. 8, or unset it."
        )
    return hours


def new_token() -> str:
    """A random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored as."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same(expected: str | None, given: str | None) -> bool:
    """Whether two tokens are equal (constant time; a missing one never is)."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives back naive UTC timestamps; PostgreSQL aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class Session:
    """A live login session: its row id, the user, the CSRF token its forms carry, when it expires."""

    id: int
    user: User
    csrf: str
    expires_at: dt.datetime


def start(conn: Connection, user: User, at: dt.datetime | None = None) -> tuple[str, Session]:
    """A new session of ``user``: (the token for the cookie, the session)."""
    at = at or now()
    token, csrf = new_token(), new_token()
    expires = at + dt.timedelta(hours=idle_hours())
    session_id = q.insert_session(conn, digest(token), user.id, csrf, at, expires)
    return token, Session(session_id, user, csrf, expires)


def resume(conn: Connection, token: str | None, at: dt.datetime | None = None) -> Session | None:
    """The live session of a cookie's token, its expiry moved on; None for no token, an unknown one, an ended or
    expired session, or a user disabled since."""
    if not token:
        return None
    at = at or now()
    row = q.session_row(conn, digest(token))
    if row is None or row["ended_at"] is not None or _aware(row["expires_at"]) <= at:
        return None
    user = get_by_id(conn, row["user_id"])
    if user is None:
        return None
    expires = at + dt.timedelta(hours=idle_hours())
    q.extend_session(conn, row["id"], expires)
    return Session(row["id"], user, row["csrf"], expires)


def end(conn: Connection, token: str | None, at: dt.datetime | None = None) -> bool:
    """End the session of ``token`` (logout); whether there was one to end."""
    if not token:
        return False
    row = q.session_row(conn, digest(token))
    if row is None or row["ended_at"] is not None:
        return False
    q.end_session(conn, row["id"], at or now())
    return True
