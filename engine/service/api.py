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
import os
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.console import app as console
from engine.errors import CodeError, ListError, StoreError, UnknownServiceItem
from engine.service import bank, feedback, public
from engine.service import checks as service_checks
from engine.service.auth import REFUSALS, Admission, ApiError, ErrorOut, RequestBody, Service, signed, verified
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

    @api.post(
        f"{PREFIX}/checks",
        response_model=CheckAnswer,
        responses={**REFUSALS, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    def post_check(body: CheckRequest, admission: Annotated[Admission, Depends(verified("check"))]) -> JSONResponse:
        """The measures that apply to each subject applying for the service item, logged before it is answered.
        Fails closed: an unknown service item is 422; a subject not in the register, or without a committed
        decision of a pack that governs the item, is needs_review with the reason."""
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
