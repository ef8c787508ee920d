"""Who may call the check service: signed requests (headers ``X-App-Key``, ``X-Timestamp``, ``X-Nonce``,
``X-Signature``), the refusals (HTTP 401 who are you, 403 you may not) and the error document every route shares.

The signed PATH is the request's path and, when it has one, ``?`` and its query string exactly as sent (so a
``GET .../changes?since=...`` cannot have its query changed in transit).
"""

from __future__ import annotations

import datetime as dt
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from pydantic import BaseModel, field_validator
from starlette.concurrency import run_in_threadpool

from engine.service.keys import derive_secret, signature, verifier
from engine.store import Connection, Store, now
from engine.store import service as qs

MAX_SKEW = 300  # seconds a request's X-Timestamp may be off the server's clock
# A nonce first seen at server time S came with a timestamp T within S ± MAX_SKEW, so a replay is refused by its
# timestamp from T + MAX_SKEW <= S + 2 * MAX_SKEW on; until then the nonce must be kept (plus a minute of margin).
NONCE_KEPT = 2 * MAX_SKEW + 60
PRUNE_EVERY = 1000  # requests of a worker between two prunings of the older nonces


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class ErrorOut(BaseModel):
    error: str


class RequestBody(BaseModel):
    """Base of the request documents: no text field may hold a NUL character (PostgreSQL cannot store one, so it
    would fail in the database as a 503 instead of being refused as the caller's mistake, a 422)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character (\\u0000)")
        return value


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong signature, unknown key, stale timestamp, used nonce"},
    403: {"model": ErrorOut, "description": "Revoked key, or a scope the app lacks"},
}


class Service:
    """What the routes share: the store, the server key, the clock."""

    def __init__(self, store: Store, server_key: bytes, clock: Callable[[], float] = time.time):
        self.store, self.server_key, self.clock = store, server_key, clock
        self.used = 0  # nonces this process recorded
        self.apps: dict[str, dict[str, Any]] = {}  # app key -> its row, as last seen not revoked

    def verify(self, scope: str, method: str, path: str, headers: dict[str, str | None], body: bytes) -> Admission:
        """Everything but the nonce: the headers, the timestamp, the app, the signature, revocation as last seen,
        the scope. Reads the database only for an app this process has not seen (the rest is in memory)."""
        missing = [name for name, value in headers.items() if not value]
        if missing:
            raise ApiError(401, f"Unsigned request: header(s) {', '.join(missing)} missing.")
        app_key, stamp, nonce, given = (str(headers[h]) for h in headers)
        try:
            skew = abs(self.clock() - int(stamp))
        except ValueError:
            raise ApiError(401, f"X-Timestamp '{stamp}' is not unix seconds.") from None
        if skew > MAX_SKEW:
            raise ApiError(401, f"X-Timestamp {stamp} is {int(skew)} s off the server's clock (at most {MAX_SKEW}).")
        app = self.apps.get(app_key)
        if app is None:
            with self.store.read() as conn:
                app = qs.get_app(conn, app_key)
        if app is None:
            raise ApiError(401, f"Unknown X-App-Key '{app_key}'.")
        secret = derive_secret(self.server_key, app_key, app["salt"])
        if not hmac.compare_digest(verifier(secret), app["verifier"]):
            raise ApiError(503, "The server's key file is not the one this app was created with; tell the operator.")
        if not hmac.compare_digest(signature(secret, method, path, stamp, nonce, body), given.lower()):
            raise ApiError(401, "X-Signature does not match the request (method, path, timestamp, nonce, body).")
        if app["revoked_at"] is not None:
            raise ApiError(403, f"App key {app_key} was revoked at {app['revoked_at'].isoformat()}.")
        if scope not in app["scopes"]:
            raise ApiError(403, f"App key {app_key} lacks the scope '{scope}' (it has {', '.join(app['scopes'])}).")
        # An app's key, salt, verifier and scopes never change; whether it was revoked since is asked by the
        # nonce's insert (admit), in the transaction of the request's own work.
        self.apps[app_key] = app
        return Admission(app, nonce)

    def admit(self, conn: Connection, admission: Admission) -> dict[str, Any]:
        """Spend the request's nonce in ``conn`` (the transaction of the request's work, so a request that fails
        later stores nothing, its nonce included) if the app is still not revoked; the app."""
        app, at = admission.app, now()
        if not qs.use_nonce(conn, app["id"], admission.nonce, at):
            self.apps.pop(app["app_key"], None)
            fresh = qs.get_app(conn, app["app_key"])
            if fresh is not None and fresh["revoked_at"] is not None:
                raise ApiError(403, f"App key {app['app_key']} was revoked at {fresh['revoked_at'].isoformat()}.")
            raise ApiError(401, f"X-Nonce '{admission.nonce}' was used before: a request is accepted once.")
        self.used += 1
        if self.used % PRUNE_EVERY == 1:  # the first request of a process, then every PRUNE_EVERY
            qs.prune_nonces(conn, at - dt.timedelta(seconds=NONCE_KEPT))
        return app

    def authenticate(
        self, scope: str, method: str, path: str, headers: dict[str, str | None], body: bytes
    ) -> dict[str, Any]:
        """:meth:`verify` and :meth:`admit` in a transaction of their own (for routes whose work is separate)."""
        admission = self.verify(scope, method, path, headers, body)
        with self.store.transaction() as conn:
            return self.admit(conn, admission)


@dataclass(frozen=True)
class Admission:
    """A request verified but for its nonce: the app and the nonce still to spend (:meth:`Service.admit`)."""

    app: dict[str, Any]
    nonce: str


def signed_path(request: Request) -> str:
    """PATH as signed: the path as sent (percent-escapes kept: the server's raw path, not the decoded one), plus
    ``?`` and the raw query string when there is one."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    if not request.scope.get("query_string"):
        return path  # request.url.query is empty then (Starlette escapes a "?" of the path); not built for nothing
    query = request.url.query
    return path + (f"?{query}" if query else "")


SIGNED = ("X-App-Key", "X-Timestamp", "X-Nonce", "X-Signature")
NONCE_MAX = 128  # characters of X-Nonce (a longer one is the caller's 422, as FastAPI validates the header)


async def _headers(  # async: FastAPI runs a plain function dependency in a thread of its pool
    x_app_key: Annotated[str | None, Header()] = None,
    x_timestamp: Annotated[str | None, Header(description="Unix seconds")] = None,
    x_nonce: Annotated[str | None, Header(max_length=NONCE_MAX)] = None,
    x_signature: Annotated[str | None, Header(description="hex HMAC-SHA256, see docs/service.md")] = None,
) -> dict[str, str | None]:
    return {"X-App-Key": x_app_key, "X-Timestamp": x_timestamp, "X-Nonce": x_nonce, "X-Signature": x_signature}


def headers_as_declared(request: Request) -> dict[str, str | None] | None:
    """The signed headers as :func:`_headers` gives them, read from the request directly (for a route's shortcut,
    engine.service.api); None when FastAPI would refuse them (an X-Nonce over ``NONCE_MAX`` characters), so that
    the shortcut leaves the request to FastAPI and its error."""
    got = request.headers
    headers = {name: got.get(name) for name in SIGNED}
    nonce = headers["X-Nonce"]
    return None if nonce is not None and len(nonce) > NONCE_MAX else headers


async def verify_signed(
    service: Service, scope: str, request: Request, headers: dict[str, str | None], body: bytes
) -> Admission:
    """:meth:`Service.verify` of a request: on the event loop for an app this process has seen (three HMACs, no
    database read), else in a thread of the pool."""
    if headers["X-App-Key"] in service.apps:
        return service.verify(scope, request.method, signed_path(request), headers, body)
    return await run_in_threadpool(service.verify, scope, request.method, signed_path(request), headers, body)


def signed(scope: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency that admits a request signed by an app with ``scope`` (nonce spent in its own transaction)
    and returns the app."""

    async def dependency(request: Request, headers: Annotated[dict, Depends(_headers)]) -> dict[str, Any]:
        body = await request.body()
        service: Service = request.app.state.service
        return await run_in_threadpool(service.authenticate, scope, request.method, signed_path(request), headers, body)

    return dependency


def verified(scope: str) -> Callable[..., Awaitable[Admission]]:
    """A dependency that verifies a request signed by an app with ``scope`` and leaves its nonce to the route's
    transaction (:meth:`Service.admit` there, before the route's work)."""

    async def dependency(request: Request, headers: Annotated[dict, Depends(_headers)]) -> Admission:
        return await verify_signed(request.app.state.service, scope, request, headers, await request.body())

    return dependency
