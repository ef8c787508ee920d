"""The check service's HTTP API (FastAPI): ``create_app(store)``, one application under ``/api/v1``.

- ``GET /api/v1/health``: no authentication;
- ``POST /api/v1/checks``: signed, scope ``check``; answers from stored decisions (engine.pipeline.check) and
  writes the decision log in the same transaction (engine.service.checks);
- ``POST /api/v1/checks/{check_id}/feedback``: signed, scope ``feedback``; acknowledges the measure tasks of the
  list entries the check cited, once per subject (engine.service.feedback).

Every other request is signed (engine.service.keys). A refusal is HTTP 401 (who are you: a missing or wrong
signature, an unknown key, a stale timestamp, a used nonce) or 403 (you may not: a revoked key, a missing scope)
with ``{"error": ...}``; nothing of a refused request is stored (refusals are not logged in the database; the
server's access log has them). The OpenAPI document is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from engine.errors import CodeError, ListError, StoreError, UnknownServiceItem
from engine.service import checks as service_checks
from engine.service import feedback
from engine.service.keys import derive_secret, load_key, signature, verifier
from engine.store import Store, now
from engine.store import service as qs

PREFIX = "/api/v1"
MAX_SKEW = 300  # seconds a request's X-Timestamp may be off the server's clock


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


# -- the documents ------------------------------------------------------------------------------------------


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=1, max_length=128, description="The caller's reference of this subject")
    code: str = Field(min_length=1, max_length=64, description="统一社会信用代码 or resident identity number")


class Requester(BaseModel):
    model_config = ConfigDict(extra="forbid")
    department: str = Field(min_length=1, max_length=256)
    case_no: str = Field(min_length=1, max_length=128)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service_item: str = Field(min_length=1, max_length=128, description="Service item id or Chinese name")
    subjects: list[Subject] = Field(min_length=1, max_length=100)
    requester: Requester
    as_of: dt.date | None = Field(None, description="Date the measures apply on (default today)")


class Measure(BaseModel):
    id: str
    kind: str
    text: str
    basis: str
    department: str
    cause: dict[str, Any]
    valid_to: str | None


class Ignored(BaseModel):
    id: str
    because: str


class Decision(BaseModel):
    cycle_id: int
    pack: str
    version: str
    tier: str


class CheckResultOut(BaseModel):
    ref: str
    code: str
    name: str | None
    verdict: Literal["restricted", "incentive", "no_measure", "needs_review"]
    measures: list[Measure]
    ignored: list[Ignored]
    why: list[str] = Field(description="Why a person has to look (needs_review), in Chinese")
    decisions: list[Decision]


class CheckAnswer(BaseModel):
    check_id: int
    results: list[CheckResultOut]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=1, max_length=128, description="The subject's ref in the check")
    applied: bool = Field(description="Whether the service system applied the measures")
    action: str = Field(min_length=1, max_length=512, description="What it did, e.g. 不予受理政府采购投标")
    operator: str = Field(min_length=1, max_length=128)
    at: dt.datetime = Field(description="When (ISO date and time; without a zone China Standard Time)")


class Acked(BaseModel):
    task_id: int
    measure: str
    department: str
    late: bool


class FeedbackAnswer(BaseModel):
    check_id: int
    ref: str
    acked: list[Acked]
    already_acked: list[int]


class Health(BaseModel):
    status: str
    schema_revision: str | None


class ErrorOut(BaseModel):
    error: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong signature, unknown key, stale timestamp, used nonce"},
    403: {"model": ErrorOut, "description": "Revoked key, or a scope the app lacks"},
}


# -- authentication -----------------------------------------------------------------------------------------


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
        return await run_in_threadpool(service.authenticate, scope, request.method, request.url.path, headers, body)

    return dependency


# -- the application ----------------------------------------------------------------------------------------


def create_app(store: Store, server_key: bytes | None = None, clock: Callable[[], float] = time.time) -> FastAPI:
    """The application on ``store``; the server key from its key file unless given."""
    api = FastAPI(
        title="supervise check service",
        version="1",
        description="联合奖惩嵌入政务服务: which joint measures apply to an applicant, from stored decisions.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    api.state.service = Service(store, server_key if server_key is not None else load_key(store.url), clock)

    @api.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message, **exc.extra}, status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return JSONResponse(
            {"error": "The request is not valid: " + "; ".join(problems), "detail": jsonable_encoder(exc.errors())},
            status_code=422,
        )

    @api.get(f"{PREFIX}/health", response_model=Health, responses={503: {"model": ErrorOut}})
    def health() -> Health:
        """Whether the service and its database answer (no authentication)."""
        try:
            return Health(status="ok", schema_revision=store.revision())
        except StoreError as exc:
            raise ApiError(503, str(exc)) from exc

    @api.post(
        f"{PREFIX}/checks",
        response_model=CheckAnswer,
        responses={**REFUSALS, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    def post_check(body: CheckRequest, app: Annotated[dict[str, Any], Depends(signed("check"))]) -> dict[str, Any]:
        """The measures that apply to each subject applying for the service item, logged before it is answered.
        Fails closed: an unknown service item is 422; a subject not in the register, or without a committed
        decision of a pack that governs the item, is needs_review with the reason."""
        try:
            return service_checks.answer(store, app, body.model_dump())
        except UnknownServiceItem as exc:
            raise ApiError(422, str(exc), service_item=body.service_item) from exc
        except CodeError as exc:
            raise ApiError(422, str(exc)) from exc
        except service_checks.DecisionLogError as exc:
            raise ApiError(503, str(exc)) from exc
        except StoreError as exc:
            raise ApiError(503, f"The check was not answered: {exc}") from exc

    @api.post(
        f"{PREFIX}/checks/{{check_id}}/feedback",
        response_model=FeedbackAnswer,
        responses={**REFUSALS, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}, 422: {"model": ErrorOut}},
    )
    def post_feedback(
        check_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
        body: FeedbackRequest,
        app: Annotated[dict[str, Any], Depends(signed("feedback"))],
    ) -> dict[str, Any]:
        """What the service system did for one subject of a check (抄告反馈): acknowledges the measure tasks of
        the list entries the check cited (as 'supervise measures ack' does), once per ref."""
        try:
            return feedback.record(store, app, check_id, body.model_dump())
        except feedback.FeedbackError as exc:
            raise ApiError(exc.status, str(exc)) from exc
        except ListError as exc:
            raise ApiError(422, str(exc)) from exc
        except StoreError as exc:
            raise ApiError(503, f"The feedback was not recorded: {exc}") from exc

    return api


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` (each worker of ``supervise serve``): the store of ``SUPERVISE_DB``."""
    store = Store(os.environ.get("SUPERVISE_DB") or None)
    store.require_schema()
    return create_app(store)
