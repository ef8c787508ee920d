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
from typing import Annotated, Any

from fastapi import Header, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from engine.service.keys import derive_secret, signature, verifier
from engine.store import Store, now
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


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong signature, unknown key, stale timestamp, used nonce"},
    403: {"model": ErrorOut, "description": "Revoked key, or a scope the app lacks"},
}


class Service:
    """What the routes share: the store, the server key, the clock."""

    def __init__(self, store: Store, server_key: bytes, clock: Callable[[], float] = time.time):
        self.store, self.server_key, self.clock = store, server_key, clock
        self.used = 0  # nonces this process recorded

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
        # One transaction: the app, then the nonce (an exception before the insert rolls back: a refused request
        # stores nothing).
        with self.store.transaction() as conn:
            app = qs.get_app(conn, app_key)
            if app is None:
                raise ApiError(401, f"Unknown X-App-Key '{app_key}'.")
            secret = derive_secret(self.server_key, app_key, app["salt"])
            if not hmac.compare_digest(verifier(secret), app["verifier"]):
                raise ApiError(
                    503, "The server's key file is not the one this app was created with; tell the operator."
                )
            if not hmac.compare_digest(signature(secret, method, path, stamp, nonce, body), given.lower()):
                raise ApiError(401, "X-Signature does not match the request (method, path, timestamp, nonce, body).")
            if app["revoked_at"] is not None:
                raise ApiError(403, f"App key {app_key} was revoked at {app['revoked_at'].isoformat()}.")
            if scope not in app["scopes"]:
                raise ApiError(403, f"App key {app_key} lacks the scope '{scope}' (it has {', '.join(app['scopes'])}).")
            at = now()
            if not qs.use_nonce(conn, app["id"], nonce, at):
                raise ApiError(401, f"X-Nonce '{nonce}' was used before: a request is accepted once.")
            self.used += 1
            if self.used % PRUNE_EVERY == 1:  # the first request of a process, then every PRUNE_EVERY
                qs.prune_nonces(conn, at - dt.timedelta(seconds=NONCE_KEPT))
        return app


def signed_path(request: Request) -> str:
    """PATH as signed: the path, plus ``?`` and the raw query string when there is one."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


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
