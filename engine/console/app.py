"""The console's routes, mounted on the check service's application (:func:`mount`): server-rendered pages in
Chinese, htmx for the queue's filter.

Every page but ``/login`` and ``/static`` needs a login session (:mod:`engine.console.sessions`): without one a
GET is redirected (303) to ``/login?next=...``. Every POST carries the session's CSRF token (form field ``csrf``
or header ``X-CSRF-Token``) and is refused (403) without it. A page of an entity outside the user's region, or a
list its authority does not run, is a 403 page with the guard's sentence.
"""

from __future__ import annotations

import datetime as dt
import inspect
import pathlib
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.access import AccessRefused, guard
from engine.access import matching as access_matching
from engine.access.offices import offices
from engine.access.users import authenticate
from engine.console import cases, cycles, entity, queue, sessions
from engine.errors import CodeError, CycleNotFound, EntityNotFound, SupervisionError
from engine.pipeline import jobs
from engine.store import Store, audit
from engine.store import console as qs
from engine.store import jobs as jobs_q
from engine.templating import cn_date, environment
from engine.values import today
from lists import acts, approvals, lifecycle
from lists import attachments as list_attachments
from notices import issue as notices_issue

STATIC = pathlib.Path(__file__).parent / "static"
MATCH_STATES = {
    "open": "待核对",
    "linked": "已核对为同一主体，记录已入库",
    "closed": "已核对：都不是同一主体，记录未入库",
}
JOB_STATES = {"queued": "排队中", "running": "处理中", "done": "已完成", "failed": "失败"}


class LoginNeeded(Exception):
    def __init__(self, path: str):
        self.path = path


class PageError(Exception):
    """A page that cannot be shown: the status and the sentence the error page says."""

    def __init__(self, status: int, message: str, title: str = ""):
        super().__init__(message)
        self.status, self.message, self.title = status, message, title


def _safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only (never another host)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 33 or ord(c) == 127 for c in target)  # a browser drops a tab: "/\t/host" is "//host"
    ):
        return "/"
    return target


class Console:
    """The store and the templates the routes share."""

    def __init__(self, store: Store):
        self.store = store
        self.env = environment("engine.console", trim=True)  # the common filters; nothing registered here

    def page(self, template: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        session: sessions.Session | None = getattr(request.state, "session", None)
        html = self.env.get_template(template).render(
            session=session,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            path=request.url.path,
            job_kinds=jobs.KIND_NAMES,
            job_states=JOB_STATES,
            **context,
        )
        return HTMLResponse(html, status_code=status)


def _token(request: Request) -> str | None:
    return request.cookies.get(sessions.COOKIE)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def logged_in(request: Request) -> sessions.Session:
    """The request's live session; LoginNeeded (a redirect to /login) otherwise."""
    console: Console = request.app.state.console
    with console.store.transaction() as conn:
        session = sessions.resume(conn, _token(request))
    if session is None:
        if request.method != "GET":  # a form's target is no page to come back to
            raise LoginNeeded("/")
        query = f"?{request.url.query}" if request.url.query else ""
        raise LoginNeeded(request.url.path + query)
    request.state.session = session
    return session


async def posted(request: Request) -> sessions.Session:
    """A POST of a live session carrying its CSRF token (form field or header); 403 without it."""
    session = await _in_thread(logged_in, request)
    given = request.headers.get(sessions.CSRF_HEADER)
    if not given:
        form = await request.form()
        value = form.get(sessions.CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not sessions.same(session.csrf, given):
        raise PageError(403, "请求缺少有效的安全令牌（CSRF），已拒绝。请从页面上的表单重新提交。", "请求被拒绝")
    return session


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(func, *args)


Current = Annotated[sessions.Session, Depends(logged_in)]
Posted = Annotated[sessions.Session, Depends(posted)]


def _refused(exc: SupervisionError) -> PageError:
    if isinstance(exc, AccessRefused):
        return PageError(403, str(exc), "无权办理")
    if isinstance(exc, (EntityNotFound, CycleNotFound)):
        return PageError(404, str(exc), "未找到")
    if isinstance(exc, CodeError):
        return PageError(404, f"代码有误：{exc}", "未找到")
    return PageError(422, str(exc), "无法办理")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def router(console: Console) -> APIRouter:
    r = APIRouter(include_in_schema=False)
    store = console.store

    # -- login -------------------------------------------------------------------------------------------------

    def login_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        token = request.cookies.get(sessions.LOGIN_COOKIE) or sessions.new_token()
        context.setdefault("errors", {})
        context.setdefault("name", "")
        context.setdefault("next", _safe_next(request.query_params.get("next")))
        hours = sessions.idle_hours()
        context["hours"] = int(hours) if hours.is_integer() else hours
        response = console.page("login.html", request, status, login_csrf=token, **context)
        _cookie(response, request, sessions.LOGIN_COOKIE, token)
        return response

    @r.get("/login")
    def get_login(request: Request) -> HTMLResponse:
        return login_page(request)

    @r.post("/login")
    def post_login(
        request: Request,
        name: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        if not sessions.same(request.cookies.get(sessions.LOGIN_COOKIE), csrf):
            raise PageError(403, "登录表单缺少有效的安全令牌（CSRF），已拒绝。请刷新登录页后重新登录。", "请求被拒绝")
        errors: dict[str, str] = {}
        if not name.strip():
            errors["name"] = "请输入用户名。"
        if not password:
            errors["password"] = "请输入密码。"
        if errors:
            return login_page(request, 422, errors=errors, name=name, next=_safe_next(next))
        try:
            with store.transaction() as conn:
                user = authenticate(conn, name.strip(), password)
                token, _session = sessions.start(conn, user)
                audit(conn, user.name, "console.login", f"user {user.name}")
        except AccessRefused as exc:
            return login_page(request, 422, errors={"password": str(exc)}, name=name, next=_safe_next(next))
        response = RedirectResponse(_safe_next(next), status_code=303)
        _cookie(response, request, sessions.COOKIE, token)
        response.delete_cookie(sessions.LOGIN_COOKIE, path="/")
        return response

    @r.post("/logout")
    def post_logout(request: Request, session: Posted) -> Response:
        with store.transaction() as conn:
            sessions.end(conn, _token(request))
            audit(conn, session.user.name, "console.logout", f"user {session.user.name}")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(sessions.COOKIE, path="/")
        return response

    # -- the queue ---------------------------------------------------------------------------------------------

    @r.get("/")
    def home(
        request: Request,
        session: Current,
        list: str = "",
        office: str = "",
        deadline: str = "",
        days: str = "",
    ) -> HTMLResponse:
        errors: dict[str, str] = {}
        known = offices()
        chosen = next((o for o in known if o.id == office), None)
        if office and chosen is None:
            errors["office"] = "没有这个机关，请从列表中选择。"
        within = None
        if deadline == "within":
            within = _int(days)
            if within is None or not 0 <= within <= 366:
                errors["days"] = "请输入0至366之间的天数。"
                within = None
        elif deadline not in ("", "overdue"):
            errors["deadline"] = "请选择“已逾期”或“N日内到期”。"
        filters = queue.Filters(list_name=list or None, office=chosen, overdue=deadline == "overdue", within=within)
        with store.read() as conn:
            data = queue.queue(conn, session.user, today(), filters)
        user = session.user
        shown_offices = [o for o in known if user.authority is None or o.id == user.authority.id]
        partial = bool(request.headers.get("HX-Request"))
        return console.page(
            "_queue.html" if partial else "queue.html",
            request,
            422 if errors and not partial else 200,  # htmx swaps only a 2xx answer: the errors are in the table
            q=data,
            offices=shown_offices,
            form={"list": list, "office": office, "deadline": deadline, "days": days},
            errors=errors,
        )

    # -- entities ----------------------------------------------------------------------------------------------

    def entity_response(
        request: Request, code: str, status: int = 200, forms: dict[int, dict[str, Any]] | None = None
    ) -> HTMLResponse:
        try:
            with store.read() as conn:
                data = entity.entity_page(conn, code, request.state.session.user, today())
        except SupervisionError as exc:
            raise _refused(exc) from exc
        return console.page("entity.html", request, status, forms=forms or {}, today_iso=today().isoformat(), **data)

    @r.get("/entities/{code}")
    def entity_page(request: Request, session: Current, code: str) -> HTMLResponse:
        return entity_response(request, code)

    def entry_code(entry_id: int) -> str:
        try:
            with store.read() as conn:
                return str(lifecycle.load_one(conn, entry_id, lock=False).row["code"])
        except SupervisionError as exc:
            raise _refused(exc) from exc

    def day_field(raw: str, errors: dict[str, str], field: str) -> dt.date:
        """A date typed in a form (empty: today); never later than today."""
        if not raw.strip():
            return today()
        try:
            day = dt.date.fromisoformat(raw.strip())
        except ValueError:
            errors[field] = "日期格式应为2025-05-10。"
            return today()
        if day > today():
            errors[field] = f"日期不能晚于今天（{cn_date(today())}）：办理日期只能是今天或以前。"
        return day

    def read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes]]:
        return [(f.filename or "附件", f.file.read()) for f in files if f.filename]

    @r.post("/entries/{entry_id}/serve")
    def serve_entry(request: Request, session: Posted, entry_id: int) -> Response:
        code = entry_code(entry_id)
        try:
            with store.transaction() as conn:
                acts.serve(conn, session.user, today(), entry_id=entry_id)
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            return entity_response(request, code, 422, {entry_id: {"errors": {"serve": str(exc)}, "form": {}}})
        return RedirectResponse(f"/entities/{code}#entry-{entry_id}", status_code=303)

    @r.post("/entries/{entry_id}/objections")
    def file_objection(
        request: Request,
        session: Posted,
        entry_id: int,
        reason: Annotated[str, Form()] = "",
        filed_on: Annotated[str, Form()] = "",
        files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 (FastAPI's form default)
    ) -> Response:
        code = entry_code(entry_id)
        errors: dict[str, str] = {}
        if not reason.strip():
            errors["objection_reason"] = "请写明异议的事实和理由。"
        on = day_field(filed_on, errors, "filed_on")
        form = {"objection_reason": reason, "filed_on": filed_on}
        if errors:
            return entity_response(request, code, 422, {entry_id: {"errors": errors, "form": form}})
        uploads = read_uploads(files)
        try:
            with store.transaction() as conn:
                refs = [list_attachments.store_upload(conn, session.user.name, n, b) for n, b in uploads]
                filed = acts.file_objection(conn, session.user, entry_id, reason.strip(), refs, on)
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            field = "objection_files" if uploads and "文件" in str(exc) else "objection_reason"
            return entity_response(request, code, 422, {entry_id: {"errors": {field: str(exc)}, "form": form}})
        return RedirectResponse(f"/objections/{filed['objection_id']}", status_code=303)

    @r.post("/entries/{entry_id}/repairs")
    def apply_repair(
        request: Request,
        session: Posted,
        entry_id: int,
        applicant: Annotated[str, Form()] = "",
        applied_on: Annotated[str, Form()] = "",
        commitment: Annotated[UploadFile | None, File()] = None,
        training: Annotated[UploadFile | None, File()] = None,
        credit_report: Annotated[UploadFile | None, File()] = None,
        files: Annotated[list[UploadFile], File()] = [],  # noqa: B006 (FastAPI's form default)
    ) -> Response:
        code = entry_code(entry_id)
        errors: dict[str, str] = {}
        if not applicant.strip():
            errors["applicant"] = "请填写申请人（主体或其代理人）。"
        on = day_field(applied_on, errors, "applied_on")
        form = {"applicant": applicant, "applied_on": applied_on}
        if errors:
            return entity_response(request, code, 422, {entry_id: {"errors": errors, "form": form}})
        named = {
            role: read_uploads([f] if f is not None else [])
            for role, f in (("commitment", commitment), ("training", training), ("credit_report", credit_report))
        }
        uploads = read_uploads(files)
        promise = [x for files_of_role in named.values() for x in files_of_role]
        try:
            with store.transaction() as conn:

                def kept(role: str) -> Any:
                    # the lifecycle takes an uploaded attachment's reference where the CLI gives a path (file_ref)
                    got = named[role]
                    return list_attachments.store_upload(conn, session.user.name, *got[0]) if got else None

                refs = [list_attachments.store_upload(conn, session.user.name, n, b) for n, b in uploads]
                applied = acts.apply_repair(
                    conn,
                    session.user,
                    entry_id,
                    on,
                    kept("commitment"),
                    refs,
                    training=kept("training"),
                    credit_report=kept("credit_report"),
                )
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            field = "repair_files" if (promise or uploads) and "文件" in str(exc) else "applicant"
            return entity_response(request, code, 422, {entry_id: {"errors": {field: str(exc)}, "form": form}})
        return RedirectResponse(f"/repairs/{applied['application_id']}", status_code=303)

    @r.get("/find")
    def find(request: Request, session: Current, code: str = "") -> Response:
        if not code.strip():
            return console.page("find.html", request, 422, errors={"code": "请输入统一社会信用代码或身份证号码。"})
        return RedirectResponse(f"/entities/{urllib.parse.quote(code.strip())}", status_code=303)

    # -- the match review queue ---------------------------------------------------------------------------------

    @r.get("/matching")
    def matching_queue(request: Request, session: Current) -> HTMLResponse:
        found = access_matching.queue(store, session.user)
        questions = found["questions"]
        return console.page("matching.html", request, questions=questions, held=sum(len(q["rows"]) for q in questions))

    def match_page(request: Request, review_id: int, status: int = 200, **extra: Any) -> HTMLResponse:
        try:
            q = access_matching.question(store, request.state.session.user, review_id)
        except SupervisionError as exc:
            raise _refused(exc) from exc
        extra.setdefault("errors", {})
        extra.setdefault("form", {})
        return console.page(
            "match_review.html",
            request,
            status,
            q=q,
            state=q["state"],
            state_name=MATCH_STATES[q["state"]],
            kind_titles={name: kind.title for name, kind in lifecycle.record_kinds().items()},
            **extra,
        )

    @r.get("/matching/{review_id}")
    def matching_review(request: Request, session: Current, review_id: int) -> HTMLResponse:
        return match_page(request, review_id)

    @r.post("/matching/{review_id}/judge")
    def matching_judge(
        request: Request,
        session: Posted,
        review_id: int,
        choice: Annotated[str, Form()] = "",
        code: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
    ) -> Response:
        form = {"choice": choice, "code": code, "note": note}
        verdict, _, chosen = choice.partition(":")
        if verdict not in ("same", "not_same"):
            return match_page(request, review_id, 422, errors={"verdict": "请选择核对意见。"}, form=form)
        if chosen == "other":
            chosen = code.strip()
            if not chosen:
                return match_page(
                    request, review_id, 422, errors={"verdict": "请填写该主体的统一社会信用代码。"}, form=form
                )
        if len(note) > 2000:
            return match_page(request, review_id, 422, errors={"verdict": "说明不超过2000字。"}, form=form)
        try:
            access_matching.judge(store, session.user, review_id, verdict, chosen or None, note.strip() or None)
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            return match_page(request, review_id, 422, errors={"verdict": str(exc)}, form=form)
        return RedirectResponse(f"/matching/{review_id}", status_code=303)

    # -- cases -------------------------------------------------------------------------------------------------

    def case(request: Request, kind: str, target_id: int, status: int = 200, **extra: Any) -> HTMLResponse:
        try:
            with store.read() as conn:
                if kind == "objection":
                    data = cases.objection_case(conn, target_id, request.state.session.user, today())
                else:
                    data = cases.repair_case(conn, target_id, request.state.session.user, today())
        except SupervisionError as exc:
            raise _refused(exc) from exc
        extra.setdefault("errors", {})
        extra.setdefault("form", {})
        url = f"/objections/{target_id}" if kind == "objection" else f"/repairs/{target_id}"
        return console.page(f"{kind}.html", request, status, c=data, case_url=url, **extra)

    @r.get("/objections/{objection_id}")
    def objection_page(request: Request, session: Current, objection_id: int) -> HTMLResponse:
        return case(request, "objection", objection_id)

    @r.get("/repairs/{application_id}")
    def repair_page(request: Request, session: Current, application_id: int) -> HTMLResponse:
        return case(request, "repair", application_id)

    def propose(request: Request, session: sessions.Session, kind: str, target_id: int, choice: str, reason: str):
        errors: dict[str, str] = {}
        options = {"objection": ("uphold", "reject"), "repair": ("approve", "reject")}[kind]
        if choice not in options:
            errors["choice"] = "请选择处理意见。"
        if not reason.strip():
            errors["reason"] = "请写明理由（所依据的事实和规定）。"
        elif len(reason) > 2000:
            errors["reason"] = "理由不超过2000字。"
        form = {"choice": choice, "reason": reason}
        if errors:
            return case(request, kind, target_id, 422, errors=errors, form=form)
        decision = {"uphold": choice == "uphold"} if kind == "objection" else {"approve": choice == "approve"}
        try:
            with store.transaction() as conn:
                approvals.propose(conn, session.user, kind, target_id, decision, reason, today())
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            return case(request, kind, target_id, 422, errors={"choice": str(exc)}, form=form)
        return RedirectResponse(f"/objections/{target_id}" if kind == "objection" else f"/repairs/{target_id}", 303)

    @r.post("/objections/{objection_id}/propose")
    def propose_objection(
        request: Request,
        session: Posted,
        objection_id: int,
        choice: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        return propose(request, session, "objection", objection_id, choice, reason)

    @r.post("/repairs/{application_id}/propose")
    def propose_repair(
        request: Request,
        session: Posted,
        application_id: int,
        choice: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
    ) -> Response:
        return propose(request, session, "repair", application_id, choice, reason)

    @r.post("/proposals/{proposal_id}/review")
    def review(
        request: Request,
        session: Posted,
        proposal_id: int,
        outcome: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        back: Annotated[str, Form()] = "/",
    ) -> Response:
        back = _safe_next(back)
        kind, target = _case_of(back)
        errors: dict[str, str] = {}
        if outcome not in ("approve", "return"):
            errors["outcome"] = "请选择“审核通过”或“退回”。"
        if outcome == "return" and not reason.strip():
            errors["review_reason"] = "退回时请写明理由。"
        if errors:
            if kind:
                return case(request, kind, target, 422, errors=errors, form={"review_reason": reason})
            raise PageError(422, "；".join(errors.values()), "无法办理")
        try:
            with store.transaction() as conn:
                if outcome == "approve":
                    approvals.approve(conn, session.user, proposal_id, today())
                else:
                    approvals.send_back(conn, session.user, proposal_id, reason, today())
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            if kind:
                return case(request, kind, target, 422, errors={"outcome": str(exc)}, form={"review_reason": reason})
            raise _refused(exc) from exc
        return RedirectResponse(back, status_code=303)

    @r.get("/proposals/{proposal_id}/preview")
    def proposal_preview(request: Request, session: Current, proposal_id: int) -> HTMLResponse:
        """The notices approving the proposal would issue (htmx swaps them into the case page)."""
        try:
            notices = cases.preview(store, session.user, proposal_id, today())
        except SupervisionError as exc:
            raise _refused(exc) from exc
        return console.page("_preview.html", request, notices=notices)

    # -- notices -----------------------------------------------------------------------------------------------

    @r.get("/notices/{notice_id}.pdf")
    def notice_pdf(request: Request, session: Current, notice_id: int) -> Response:
        with store.read() as conn:
            row = qs.notice_by_id(conn, notice_id)
        if row is None:
            raise PageError(404, f"没有第{notice_id}号文书。", "未找到")
        try:
            guard.require_region(session.user, row["entity_region"])
            pdf = notices_issue.render_notice(row, "pdf")
        except SupervisionError as exc:
            raise _refused(exc) from exc
        filename = urllib.parse.quote(f"{row['number']}.pdf")
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f"inline; filename*=UTF-8''{filename}"},
        )

    # -- cycles ------------------------------------------------------------------------------------------------

    @r.get("/cycles")
    def cycles_page(request: Request, session: Current) -> HTMLResponse:
        with store.read() as conn:
            rows = cycles.cycles(conn, session.user)
        return console.page("cycles.html", request, rows=rows)

    @r.get("/cycles/{cycle_id}")
    def cycle_page(request: Request, session: Current, cycle_id: int) -> HTMLResponse:
        return cycle_with_work(request, session, cycle_id)

    def cycle_with_work(request: Request, session: sessions.Session, cycle_id: int, status: int = 200, **extra: Any):
        try:
            data = cycles.cycle(store, cycle_id, session.user)
        except SupervisionError as exc:
            raise _refused(exc) from exc
        with store.read() as conn:
            seeds = jobs_q.announcements(conn, cycle_id)
            recent = [j for j in jobs_q.recent_jobs(conn) if j["params"].get("cycle_id") in (cycle_id, None)]
        may = session.user.role in guard.MAY["simulate_and_plan"]
        extra.setdefault("errors", {})
        extra.setdefault("form", {})
        return console.page("cycle.html", request, status, c=data, seeds=seeds, jobs=recent[:10], may_plan=may, **extra)

    @r.post("/cycles/{cycle_id}/simulate")
    async def simulate_draft(
        request: Request, session: Posted, cycle_id: int, draft: Annotated[UploadFile | None, File()] = None
    ) -> Response:
        content = await draft.read() if draft is not None else b""
        name = list_attachments.clean_name(draft.filename or "draft.yaml") if draft is not None else ""

        def work() -> Response:
            errors: dict[str, str] = {}
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text, errors["draft"] = "", f"文件“{name}”不是UTF-8编码的YAML文本。"
            if not errors:
                try:
                    with store.transaction() as conn:
                        job_id = jobs.submit(
                            conn, session.user, "simulate", {"draft_yaml": text, "filename": name, "against": cycle_id}
                        )
                except AccessRefused as exc:
                    raise _refused(exc) from exc
                except SupervisionError as exc:
                    errors["draft"] = str(exc)
            if errors:
                return cycle_with_work(request, session, cycle_id, 422, errors=errors)
            jobs.spawn(store, job_id)
            return RedirectResponse(f"/jobs/{job_id}", status_code=303)

        return await _in_thread(work)

    @r.post("/cycles/{cycle_id}/seeds")
    def announce(
        request: Request,
        session: Posted,
        cycle_id: int,
        seed: Annotated[str, Form()] = "",
        source: Annotated[str, Form()] = "",
    ) -> Response:
        try:
            with store.transaction() as conn:
                jobs.announce_seed(conn, session.user, cycle_id, seed, source)
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            field = "source" if "出处" in str(exc) else "seed"
            form = {"seed": seed, "source": source}
            return cycle_with_work(request, session, cycle_id, 422, errors={field: str(exc)}, form=form)
        return RedirectResponse(f"/cycles/{cycle_id}#plans", status_code=303)

    @r.post("/cycles/{cycle_id}/plans")
    def draw(
        request: Request,
        session: Posted,
        cycle_id: int,
        seed: Annotated[str, Form()] = "",
        per_check: Annotated[str, Form()] = "2",
    ) -> Response:
        try:
            with store.transaction() as conn:
                job_id = jobs.submit(
                    conn, session.user, "plan_draw", {"cycle_id": cycle_id, "seed": seed, "per_check": _int(per_check)}
                )
        except AccessRefused as exc:
            raise _refused(exc) from exc
        except SupervisionError as exc:
            return cycle_with_work(request, session, cycle_id, 422, errors={"plan": str(exc)})
        jobs.spawn(store, job_id)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    @r.post("/plans/{plan_id}/verify")
    def verify(request: Request, session: Posted, plan_id: int) -> Response:
        try:
            with store.transaction() as conn:
                job_id = jobs.submit(conn, session.user, "plan_verify", {"plan_id": plan_id})
        except SupervisionError as exc:
            raise _refused(exc) from exc
        jobs.spawn(store, job_id)
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)

    @r.get("/jobs/{job_id}")
    def job_page(request: Request, session: Current, job_id: int) -> HTMLResponse:
        try:
            with store.read() as conn:
                job = jobs.get(conn, session.user, job_id)
        except SupervisionError as exc:
            raise _refused(exc) from exc
        template = "_job.html" if request.headers.get("HX-Request") else "job.html"
        return console.page(template, request, job=job, kind_name=jobs.KIND_NAMES[job["kind"]])

    @r.get("/cycles/{cycle_id}/report")
    def cycle_report(request: Request, session: Current, cycle_id: int) -> HTMLResponse:
        try:
            return HTMLResponse(cycles.report_html(store, cycle_id, session.user))
        except SupervisionError as exc:
            raise _refused(exc) from exc

    return r


def _case_of(path: str) -> tuple[str | None, int]:
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0] in ("objections", "repairs") and parts[1].isdigit():
        return ("objection" if parts[0] == "objections" else "repair"), int(parts[1])
    return None, 0


async def _answer(result: Response | Awaitable[Response]) -> Response:
    return await result if inspect.isawaitable(result) else result


def mount(api: FastAPI, store: Store) -> None:
    """Add the console's pages, its static files and its error pages to the application."""
    console = Console(store)
    api.state.console = console

    @api.exception_handler(LoginNeeded)
    async def _login(request: Request, exc: LoginNeeded) -> Response:
        target = "/login?" + urllib.parse.urlencode({"next": exc.path})
        if request.headers.get("HX-Request"):  # htmx would swap the login page into the table: reload instead
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    # The check API answers its errors in JSON (engine.service.api); a person's browser outside /api gets a page.
    api_http = api.exception_handlers[StarletteHTTPException]
    api_invalid = api.exception_handlers[RequestValidationError]

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return await _answer(api_http(request, exc))
        if exc.status_code == 404:
            return console.page("error.html", request, 404, title="未找到", message="没有这个页面，请从导航栏进入。")
        if exc.status_code == 405:
            return console.page("error.html", request, 405, title="无法办理", message="该地址不接受这种请求方式。")
        return console.page("error.html", request, exc.status_code, title="出错了", message="请求无法处理。")

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return await _answer(api_invalid(request, exc))
        return console.page(
            "error.html", request, 404, title="未找到", message="地址中的编号有误，请从页面上的链接进入。"
        )

    @api.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> Response:
        return console.page("error.html", request, exc.status, title=exc.title or "出错了", message=exc.message)

    api.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    api.include_router(router(console))
