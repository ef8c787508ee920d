"""Users of the console and the CLI: one authority (office) and one role each, an argon2 password hash.

Roles: ``clerk`` (经办: serves notices, records objections and repair applications, proposes decisions — 初审),
``reviewer`` (审核: approves or returns another user's proposal; may also do a clerk's work), ``admin`` (manages
users; in the CLI may decide in one step, which the history marks as such). ``supervise init`` (migration 0005)
creates the admin ``admin`` of every authority, with no password (it acts from the CLI; ``supervise users password admin`` gives it
one for the console). Passwords are read from standard input by the CLI, never from its command line, and kept only
as an argon2id hash (argon2-cffi's defaults, rehashed on login when those change).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import unicodedata
from typing import Any

import argon2

from engine.access import AccessRefused
from engine.access.offices import NOWHERE, Office, find
from engine.results import DictResult
from engine.store import audit
from engine.store import people as q

ROLES = ("clerk", "reviewer", "admin")
ROLE_NAMES = {"clerk": "经办人", "reviewer": "审核人", "admin": "管理员"}
ADMIN = "admin"  # the user `supervise init` creates (migration 0005)
LOCKED = "!"  # a password hash no password matches: the account cannot log in until given a password
MIN_PASSWORD = 10
NAME = re.compile(r"[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]{0,62}[^\s\x00-\x1f\x7f])?")

_hasher = argon2.PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against on an unknown name, so timing tells nothing; made on first use (a hash costs about 0.2 s
    and 64 MiB, which every CLI command paid at start when this was done on import)."""
    return _hasher.hash("not a password of anyone")


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    authority: Office | None  # None: an admin of every authority

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]

    @property
    def authority_name(self) -> str:
        return self.authority.name if self.authority else "全部机关"

    def covers_region(self, region: str | None) -> bool:
        return self.authority is None or self.authority.covers(region)

    def runs_pack(self, pack_id: str) -> bool:
        return self.authority is None or pack_id in self.authority.packs

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "authority": self.authority.to_json() if self.authority else None,
        }


def _office(ref: str | None) -> Office | None:
    if ref is None:
        return None
    try:
        return find(ref)
    except AccessRefused:
        # an office that no pack names any more: the user keeps its name and acts on nothing until it is restored
        return Office(id=ref, name=ref, region=NOWHERE, packs=())


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, role=row.role, authority=_office(row.authority))


def check_password(password: str) -> None:
    """At least 10 characters with a letter and a digit (GB/T 22239 asks for complexity); no control characters."""
    if len(password) < MIN_PASSWORD:
        raise AccessRefused(f"The password is too short: at least {MIN_PASSWORD} characters, with letters and digits.")
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise AccessRefused("The password needs both letters and digits.")
    if any(unicodedata.category(c) == "Cc" for c in password):
        raise AccessRefused("The password contains a control character; type it again.")


def add(
    conn, name: str, authority: str | None, role: str, password: str, by: str, known: list[Office] | None = None
) -> User:
    """A new user. ``authority`` is an office id or name (None only for an admin of every authority), one of
    ``known`` (default: the offices of the packs found)."""
    if not NAME.fullmatch(name or ""):
        raise AccessRefused(
            f"'{name}' is not a usable user name: 1 to 64 characters, no control characters, "
            f"not starting or ending with a space."
        )
    if role not in ROLES:
        raise AccessRefused(f"No role '{role}': a user is one of {', '.join(ROLES)}.")
    office = find(authority, known) if authority is not None else None
    if office is None and role != "admin":
        raise AccessRefused(f"A {role} acts for one authority: give --authority (see 'supervise authorities list').")
    check_password(password)
    if q.user_row(conn, name) is not None:
        raise AccessRefused(f"A user '{name}' exists already; names are never reused (see 'supervise users list').")
    user_id = q.insert_user(conn, name, office.id if office else None, role, _hasher.hash(password), by)
    return User(id=user_id, name=name, role=role, authority=office)


def set_password(conn, name: str, password: str) -> User:
    check_password(password)
    row = _row(conn, name)
    q.set_password_hash(conn, row.id, _hasher.hash(password))
    return _user(row)


def _row(conn, name: str, lock: bool = False) -> Any:
    row = q.user_row(conn, name, lock)
    if row is None:
        raise AccessRefused(
            f"There is no user '{name}'. An admin creates one with 'supervise users add {name} --authority A "
            f"--role clerk|reviewer' (see 'supervise users list')."
        )
    return row


def get(conn, name: str) -> User:
    """The enabled user ``name``; AccessRefused for an unknown or disabled one."""
    row = _row(conn, name)
    if row.disabled_at is not None:
        raise AccessRefused(f"User '{name}' was disabled on {row.disabled_at:%Y-%m-%d} by {row.disabled_by}.")
    return _user(row)


def get_by_id(conn, user_id: int) -> User | None:
    """The enabled user of that id, or None (unknown or disabled): for a login session."""
    row = q.user_by_id(conn, user_id)
    if row is None or row.disabled_at is not None:
        return None
    return _user(row)


def authenticate(conn, name: str, password: str) -> User:
    """The user whose name and password these are; one sentence for every failure (it does not tell which)."""
    row = q.user_row(conn, name)
    refused = AccessRefused("用户名或密码不正确，或该账号已停用。")
    if row is None or row.password_hash == LOCKED:
        try:
            _hasher.verify(_dummy_hash(), password + "x")
        except argon2.exceptions.VerificationError:
            pass
        raise refused
    try:
        _hasher.verify(row.password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        raise refused from None
    if row.disabled_at is not None:
        raise refused
    if _hasher.check_needs_rehash(row.password_hash):
        q.set_password_hash(conn, row.id, _hasher.hash(password))
    return _user(row)


def disable(conn, name: str, by: str) -> dict[str, Any]:
    row = _row(conn, name, lock=True)
    if row.disabled_at is not None:
        raise AccessRefused(f"User '{name}' is already disabled (since {row.disabled_at:%Y-%m-%d}).")
    if row.name == by:
        raise AccessRefused("A user cannot disable itself; another admin does it.")
    at = q.disable_user(conn, row.id, by)
    return {"name": name, "disabled_at": at.isoformat(), "disabled_by": by}


def list_users(conn) -> list[dict[str, Any]]:
    rows = q.all_users(conn)
    out = []
    for row in rows:
        user = _user(row)
        out.append(
            {
                **user.to_json(),
                "role_name": user.role_name,
                "authority_name": user.authority_name,
                "has_password": row.password_hash != LOCKED,
                "created_at": row.created_at.isoformat(),
                "created_by": row.created_by,
                "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
            }
        )
    return out


def acting_name(store: Any, name: str | None, roles: tuple[str, ...] = ROLES) -> str:
    """The name of the enabled user a command acts as (``name``, else $SUPERVISE_USER, else ``admin``), checked
    against the store: AccessRefused for an unknown or disabled one, or one whose role is not in ``roles``."""
    chosen = name or os.environ.get("SUPERVISE_USER") or ADMIN
    with store.read() as conn:
        user = get(conn, chosen)
    if user.role not in roles:
        allowed = "、".join(ROLE_NAMES[r] for r in roles)
        raise AccessRefused(f"{user.name}是{user.role_name}：这一步只能由{allowed}办理。")
    return user.name


class UserList(DictResult):
    """users.listing: users (name, role, authority, has_password, disabled_at)."""

    def lines(self) -> list[str]:
        out = []
        for u in self["users"]:
            state = f"disabled {u['disabled_at'][:10]}" if u["disabled_at"] else "active"
            password = "" if u["has_password"] else ", no password (CLI only)"
            out.append(f"{u['name']:<16} {u['role']:<9} {u['authority_name']}  {state}{password}")
        return out or ["no users"]


class UserChanged(DictResult):
    """add_as / set_password_as / disable_as: the user's name and what changed."""

    def lines(self) -> list[str]:
        if self.get("disabled_at"):
            return [f"User {self['name']} disabled; its login sessions ended."]
        if self.get("password_set"):
            return [f"Password of {self['name']} set."]
        office = self["authority"]
        where = f"{office['name']} ({office['id']}, {office['region_name']})" if office else "every authority"
        return [f"User {self['name']} created: {self['role']} of {where}."]


def _admin(conn, who: str) -> User:
    actor = get(conn, who)
    if actor.role != "admin":
        raise AccessRefused(f"{actor.name}是{actor.role_name}，不能管理用户：这一步只能由管理员办理。")
    return actor


def add_as(conn, who: str, name: str, authority: str | None, role: str, password: str) -> UserChanged:
    """An admin adds a user (audited)."""
    actor = _admin(conn, who)
    user = add(conn, name, authority, role, password, actor.name)
    audit(
        conn,
        actor.name,
        "users.add",
        f"user {name}",
        role=role,
        authority=user.authority.id if user.authority else None,
    )
    return UserChanged({**user.to_json(), "created_by": actor.name})


def set_password_as(conn, who: str, name: str, password: str) -> UserChanged:
    """An admin sets anyone's password, a user its own (audited, the password never)."""
    actor = get(conn, who)
    if actor.name != name and actor.role != "admin":
        raise AccessRefused(f"{actor.name}只能修改自己的密码；其他用户的密码由管理员设置。")
    user = set_password(conn, name, password)
    audit(conn, actor.name, "users.password", f"user {name}")
    return UserChanged({"name": user.name, "password_set": True})


def disable_as(conn, who: str, name: str) -> UserChanged:
    actor = _admin(conn, who)
    result = disable(conn, name, actor.name)
    audit(conn, actor.name, "users.disable", f"user {name}")
    return UserChanged(result)


def listing(conn) -> UserList:
    return UserList({"users": list_users(conn)})


class AuditLog(DictResult):
    """audit_log: entries (id, at, actor, action, target, detail), newest first."""

    def lines(self) -> list[str]:
        out = []
        for e in self["entries"]:
            detail = ", ".join(
                f"{k}={v if isinstance(v, (str, int, float)) else json.dumps(v, ensure_ascii=False)}"
                for k, v in (e["detail"] or {}).items()
            )
            out.append(f"{e['id']:>6} {e['at'][:19]}  {e['actor']:<12} {e['action']:<22} {e['target'] or ''}  {detail}")
        return out or ["no audit entries"]


def audit_log(conn, user: str | None = None, since: Any = None, limit: int = 200) -> AuditLog:
    """The audit log, newest first: every write a person made, with the user (``user`` must exist)."""
    if user is not None:
        _row(conn, user)
    rows = q.audit_entries(conn, user, since, limit)
    return AuditLog({"entries": [{**r, "at": r["at"].isoformat(), "detail": r["detail"] or {}} for r in rows]})
