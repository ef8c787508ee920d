"""``supervise apps add|list|revoke``: who may call the check service."""

from __future__ import annotations

from typing import Any

from engine.results import DictResult, ListResult
from engine.service.keys import ServiceError, load_key, new_credentials
from engine.store import Store, now
from engine.store import service as qs

SCOPES = ("check", "feedback", "lists", "bank")


class AppAdded(DictResult):
    """A new app: its key and secret, shown this once."""

    def lines(self) -> list[str]:
        return [
            f"App '{self['name']}' added with scopes {', '.join(self['scopes'])}.",
            f"app_key: {self['app_key']}",
            f"secret:  {self['secret']}",
            "The secret is shown only now: give it to the calling system; the database keeps only a verifier.",
        ]


class AppList(ListResult):
    def lines(self) -> list[str]:
        if not self:
            return ["No apps; add one with 'supervise apps add NAME --scopes check'."]
        return [
            f"{a['app_key']}  {a['name']}  scopes {','.join(a['scopes'])}  department {a['department'] or '-'}  "
            f"created {a['created_at']}" + (f"  REVOKED {a['revoked_at']}" if a["revoked_at"] else "")
            for a in self
        ]


class AppRevoked(DictResult):
    def lines(self) -> list[str]:
        return [f"App {self['app_key']} ('{self['name']}') revoked at {self['revoked_at']}; it can no longer call."]


def parse_scopes(text: str) -> list[str]:
    scopes = [s.strip() for s in (text or "").split(",") if s.strip()]
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise ServiceError(
            (f"Unknown scope(s) {', '.join(unknown)}" if unknown else "No scope given")
            + f": give --scopes as a comma-separated list of {', '.join(SCOPES)}."
        )
    return list(dict.fromkeys(scopes))


def _public(app: dict[str, Any]) -> dict[str, Any]:
    return {
        "app_key": app["app_key"],
        "name": app["name"],
        "scopes": list(app["scopes"]),
        "department": app["department"],
        "created_at": app["created_at"].isoformat(),
        "revoked_at": app["revoked_at"].isoformat() if app["revoked_at"] else None,
    }


def add_app(store: Store, name: str, scopes: str, department: str | None = None) -> AppAdded:
    if not (name or "").strip():
        raise ServiceError("An app needs a name (the calling system, e.g. 政务服务一体化平台).")
    wanted = parse_scopes(scopes)
    key = load_key(store.url, create=True)
    app_key, salt, secret, verifier = new_credentials(key)
    store.require_schema()
    with store.transaction() as conn:
        app = qs.insert_app(conn, name.strip(), app_key, salt, verifier, wanted, department)
    return AppAdded({**_public(app), "secret": secret})


def list_apps(store: Store) -> AppList:
    store.require_schema()
    with store.read() as conn:
        return AppList(_public(a) for a in qs.list_apps(conn))


def revoke_app(store: Store, app_key: str) -> AppRevoked:
    store.require_schema()
    with store.transaction() as conn:
        app = qs.get_app(conn, app_key)
        if app is None:
            known = [a["app_key"] for a in qs.list_apps(conn)]
            raise ServiceError(
                f"No app with key '{app_key}'; 'supervise apps list' shows the keys"
                + (f" ({', '.join(known)})." if known else " (there are none yet).")
            )
        if app["revoked_at"] is not None:
            raise ServiceError(f"App {app_key} ('{app['name']}') was already revoked at {app['revoked_at']}.")
        at = now()
        qs.revoke_app(conn, app["id"], at)
    return AppRevoked(_public({**app, "revoked_at": at}))
