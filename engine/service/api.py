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
import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.console import app as console
from engine.errors import CodeError, ListError, StoreError, UnknownServiceItem
from engine.service import bank, feedback, public
from engine.service import checks as service_checks
from engine.service.auth import (
    REFUSALS,
    Admission,
    ApiError,
    ErrorOut,
    RequestBody,
    Service,
    headers_as_declared,
    signed,
    verified,
    verify_signed,
)
from engine.service.keys import load_key
from engine.store import Store

PREFIX = "/api/v1"


# -- the documents ------------------------------------------------------------------------------------------


class Subject(RequestBody):
    model_config = ConfigDict(extra="forbid")
    ref: str = Field(min_length=1, max_length=128, description="The caller's reference of this subject")
    code: str = Field(min_length=1, max_length=64, description="统一社会信用代码 or resident identity number")


class Requester(RequestBody):
    model_config = ConfigDict(extra="forbid")
    department: str = Field(min_length=1, max_length=256)
    case_no: str = Field(min_length=1, max_length=128)


class CheckRequest(RequestBody):
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
    tier: str = Field(description="The tier's code in the pack (A, D, ...)")
    tier_label: str = Field(description="The tier as the pack names it (A级, 守信, ...)")


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


class FeedbackRequest(RequestBody):
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


# -- the application ----------------------------------------------------------------------------------------


def _json_content(value: str | None) -> bool:
    """Whether FastAPI reads a body of this Content-Type as JSON and nothing else does differently: its type
    (before any ``;``, stripped, lower case, as email.message reads it) is application/json."""
    return value is not None and value.partition(";")[0].strip().lower() == "application/json"


def shortcut_route(shortcut: Callable[[Request], Awaitable[Response | None]]) -> type[APIRoute]:
    """A route class whose handler tries ``shortcut(request)`` first and, when it returns None, handles the
    request as FastAPI does (the route's declared parameters, its OpenAPI operation and errors unchanged)."""

    class ShortcutRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            declared = super().get_route_handler()

            async def handler(request: Request) -> Response:
                response = await shortcut(request)
                return response if response is not None else await declared(request)

            return handler

    return ShortcutRoute


def create_app(
    store: Store, server_key: bytes | None = None, clock: Callable[[], float] = time.time, shortcuts: bool = True
) -> FastAPI:
    """The application on ``store``; the server key from its key file unless given. ``shortcuts=False``: every
    request through FastAPI's machinery (the tests compare the two)."""
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

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI answers a body it cannot decode (not UTF-8) with 400 {"detail": ...}: the same 422 {"error"} as
        # any other invalid request, which the routes document; other HTTP errors (404 no such route, 405) in the
        # service's error document.
        if exc.status_code == 400:
            return JSONResponse({"error": "The request body is not JSON in UTF-8."}, status_code=422)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

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

    def answer_check(body: CheckRequest, admission: Admission) -> JSONResponse:
        try:
            service: Service = api.state.service
            answer = service_checks.answer(store, body.model_dump(), lambda conn: service.admit(conn, admission))
            # The document is built by answer() in the shape of CheckAnswer (the OpenAPI schema; the tests hold
            # them together): sent as it is, not validated and serialised again through the model.
            return JSONResponse(answer)
        except UnknownServiceItem as exc:
            raise ApiError(422, str(exc), service_item=body.service_item) from exc
        except CodeError as exc:
            raise ApiError(422, str(exc)) from exc
        except service_checks.DecisionLogError as exc:
            raise ApiError(503, str(exc)) from exc
        except StoreError as exc:
            raise ApiError(503, f"The check was not answered: {exc}") from exc

    def post_check(body: CheckRequest, admission: Annotated[Admission, Depends(verified("check"))]) -> JSONResponse:
        """The measures that apply to each subject applying for the service item, logged before it is answered.
        Fails closed: an unknown service item is 422; a subject not in the register, or without a committed
        decision of a pack that governs the item, is needs_review with the reason."""
        return answer_check(body, admission)

    async def check_shortcut(request: Request) -> Response | None:
        """POST /checks as post_check answers it through FastAPI, for a request FastAPI would take without an
        error (a JSON body that is a valid CheckRequest, the signed headers as declared): the same steps in the
        same order (the signature, then the check in a thread of the pool), without FastAPI's dependency and
        parameter machinery, which cost more of a worker than the check's own Python. Anything else is left to
        FastAPI (None), whose errors (422 with the body's or a header's problems) stay as they are. Nothing is
        stored before the check's transaction, so a request left to FastAPI has changed nothing."""
        raw = await request.body()
        if not raw or not _json_content(request.headers.get("content-type")):
            return None
        headers = headers_as_declared(request)
        if headers is None:
            return None
        try:  # as FastAPI reads and validates the body (Request.json, then the model from Python values)
            body = CheckRequest.model_validate(json.loads(raw), from_attributes=True)
        except Exception:  # not JSON, not UTF-8, not a valid request: FastAPI answers it as before
            return None
        admission = await verify_signed(api.state.service, "check", request, headers, raw)
        return await run_in_threadpool(answer_check, body, admission)

    api.router.add_api_route(
        f"{PREFIX}/checks",
        post_check,
        methods=["POST"],
        response_model=CheckAnswer,
        responses={**REFUSALS, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
        route_class_override=shortcut_route(check_shortcut) if shortcuts else None,
    )

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

    public.add_routes(api, store, PREFIX)  # GET entities/{code}, lists/{list}/changes (scope lists)
    bank.add_routes(api, store)  # 银税互动: /api/v1/bank/... (scope bank)
    console.mount(api, store)  # the credit office's web console: pages outside /api/v1 (engine/console)
    return api


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` (each worker of ``supervise serve``): the store of ``SUPERVISE_DB``."""
    store = Store(os.environ.get("SUPERVISE_DB") or None, serving=True)
    store.require_schema()
    service_checks.warm_up()
    return create_app(store)
