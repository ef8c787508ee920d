"""Who may call the check service: signed requests (headers ``X-App-Key``, ``X-Timestamp``, ``X-Nonce``,
``X-Signature``), the refusals (HTTP 401 who are you, 403 you may not) and the error document every route shares.

The signed PATH is the request's path and, when it has one, ``?`` and its query string exactly as sent (so a
``GET .../changes?since=...`` cannot have its query changed in transit).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Header, Request
from pydantic import BaseModel, field_validator
from starlette.concurrency import run_in_threadpool

from engine.service.keys import derive_secret, signature, verifier
from engine.store import Store, now
from engine.store import service as qs

MAX_SKEW = 300  # seconds a request's X-Timestamp may be off the server's clock


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

    def authenticate(
        self, scope: str, method: str, path: str, headers: dict[str, str | None], body: bytes
    ) -> dict[str, Any]:
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
        with self.store.transaction() as conn:
            if not qs.use_nonce(conn, app["id"], nonce, now()):
                raise ApiError(401, f"X-Nonce '{nonce}' was used before: a request is accepted once.")
        return app


def signed_path(request: Request) -> str:
    """PATH as signed: the path as sent (percent-escapes kept: the server's raw path, not the decoded one), plus
    ``?`` and the raw query string when there is one."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    query = request.url.query
    return path + (f"?{query}" if query else "")


def signed(scope: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A dependency that admits a request signed by an app with ``scope`` and returns the app."""

    async def dependency(
        request: Request,
        x_app_key: Annotated[str | None, Header()] = None,
        x_timestamp: Annotated[str | None, Header(description="Unix seconds")] = None,
        x_nonce: Annotated[str | None, Header(max_length=128)] = None,
        x_signature: Annotated[str | None, Header(description="hex HMAC-SHA256, see docs/service.md")] = None,
    ) -> dict[str, Any]:
        body = await request.body()
        headers = {"X-App-Key": x_app_key, "X-Timestamp": x_timestamp, "X-Nonce": x_nonce, "X-Signature": x_signature}
        service: Service = request.app.state.service
        return await run_in_threadpool(service.authenticate, scope, request.method, signed_path(request), headers, body)

    return dependency
