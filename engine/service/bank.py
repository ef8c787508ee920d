"""银税互动 for partner banks (issue 16): a bank is an app with scope ``bank``.

- ``POST /api/v1/bank/authorisations``: a taxpayer's authorisation of the calling bank (code, the data it covers,
  valid from/to, the authorisation document's reference); ``DELETE /api/v1/bank/authorisations/{id}`` revokes one
  of the bank's own (a revocation row; nothing is changed or deleted);
- ``GET /api/v1/bank/credit/{code}``: the tax grade (the tax pack's current cycle, its latest committed revision),
  the bank-tax pack's push decision (tier, reason, basis) and the indicators its version shares
  (``bank_share:``), only while an authorisation of this bank by the taxpayer is in force on the day; every answer,
  and every refusal for want of an authorisation, is a row of the decision log (``checks``, service item
  ``bank_credit``) written in the transaction that answers (HTTP 503 when it cannot be);
- ``POST /api/v1/bank/loans``: a loan the bank made (amount a decimal string of yuan, stored in fen);
- ``supervise report bank-tax --period P``: the reported loans by tax grade on the loan date and by month.

Routes read stored decisions only; nothing here runs the rules engine. See docs/service.md.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.errors import CodeError, CycleNotFound, StoreError, SupervisionError, UsageProblem
from engine.evidence import cn_date
from engine.register.codes import validate_uscc
from engine.results import DictResult
from engine.service.auth import REFUSALS, ApiError, ErrorOut, RequestBody, Service, signed
from engine.service.checks import DecisionLogError
from engine.service.masking import masked, replacements
from engine.store import Connection, Store, now
from engine.store import bank as qb
from engine.store import cycles as qc
from engine.store import entities as qe
from engine.store import service as qs
from engine.values import CHINA, fill, period_cn

PREFIX = "/api/v1/bank"
TAX_PACK = "tax-credit"  # the pack whose stored tier is the tax grade (纳税信用级别)
BANK_PACK = "bank-tax"  # the pack whose stored tier is the push decision (银税互动推送)
LOG_ITEM = "bank_credit"  # the decision log's service item of a credit answer
DATA = ("grade", "decision", "indicators")  # what an authorisation may cover
AMOUNT = re.compile(r"^(0|[1-9]\d{0,12})(\.\d{1,2})?$")  # yuan, at most two decimals, below 10 万亿元
MAX_ID = 2**31 - 1  # an id a path may carry (the stores' INTEGER)


class BankError(SupervisionError):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.extra = status, extra


def today(service: Service) -> dt.date:
    """The day in China Standard Time on the service's clock."""
    return dt.datetime.fromtimestamp(service.clock(), CHINA).date()


def _uscc(code: str) -> str:
    try:
        return validate_uscc(code).value
    except CodeError as exc:
        raise BankError(422, f"code: {exc}; give the taxpayer's 统一社会信用代码.", code=code) from None


def _entity(conn: Connection, code: str) -> dict[str, Any]:
    entity = qe.get_entity(conn, code)
    if entity is None:
        raise BankError(
            422,
            f"Taxpayer {code} is not in the register; check the code (or import the entity and run its cycles).",
            code=code,
        )
    return entity


def _cn_moment(moment: dt.datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S") + " (China Standard Time)"


# -- authorisations -----------------------------------------------------------------------------------------


def _authorisation_out(a: dict[str, Any], day: dt.date) -> dict[str, Any]:
    return {
        "id": a["id"],
        "code": a["code"],
        "name": a["name"],
        "scope": list(a["scope"]),
        "valid_from": a["valid_from"].isoformat(),
        "valid_to": a["valid_to"].isoformat(),
        "document_ref": a["document_ref"],
        "recorded_at": a["recorded_at"].isoformat(),
        "revoked_at": a["revoked_at"].isoformat() if a["revoked_at"] else None,
        "in_force": _state(a, day)[0] == "in_force",
    }


def _state(a: dict[str, Any], day: dt.date) -> tuple[str, str]:
    """(in_force | revoked | expired | not_yet_valid, why in words) of one authorisation on ``day``."""
    if a["revoked_at"] is not None:
        return "revoked", f"authorisation {a['id']} was revoked on {_cn_moment(a['revoked_at'])}"
    if day > a["valid_to"]:
        return "expired", f"authorisation {a['id']} expired on {a['valid_to'].isoformat()}"
    if day < a["valid_from"]:
        return "not_yet_valid", f"authorisation {a['id']} is not yet valid (valid from {a['valid_from'].isoformat()})"
    return "in_force", f"authorisation {a['id']} is in force until {a['valid_to'].isoformat()}"


def record_authorisation(store: Store, app: dict[str, Any], body: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """Append a taxpayer's authorisation of the calling bank; the stored authorisation (with its id)."""
    code = _uscc(body["code"])
    if body["valid_to"] <= body["valid_from"]:
        raise BankError(
            422,
            f"valid_to {body['valid_to'].isoformat()} is not after valid_from {body['valid_from'].isoformat()}: "
            "an authorisation is valid from one day to a later one.",
        )
    with store.transaction() as conn:
        entity = _entity(conn, code)
        row = {
            "app_id": app["id"],
            "entity_id": entity["id"],
            "scope": list(dict.fromkeys(body["scope"])),
            "valid_from": body["valid_from"],
            "valid_to": body["valid_to"],
            "document_ref": body["document_ref"],
        }
        authorisation_id = qb.insert_authorisation(conn, row)
        stored = qb.get_authorisation(conn, authorisation_id)
    assert stored is not None
    return _authorisation_out(stored, day)


def revoke_authorisation(store: Store, app: dict[str, Any], authorisation_id: int, day: dt.date) -> dict[str, Any]:
    """Revoke one of the bank's own authorisations (a row of ``bank_revocations``); a second revocation is 409."""
    with store.transaction() as conn:
        a = qb.get_authorisation(conn, authorisation_id)
        if a is None or a["app_id"] != app["id"]:
            raise BankError(404, f"No authorisation {authorisation_id} of bank {app['app_key']} ('{app['name']}').")
        if a["revoked_at"] is not None:
            raise BankError(
                409, f"Authorisation {authorisation_id} was already revoked on {_cn_moment(a['revoked_at'])}."
            )
        at = now()
        if not qb.revoke(conn, authorisation_id, at):
            raise BankError(409, f"Authorisation {authorisation_id} was already revoked.")
    return _authorisation_out({**a, "revoked_at": at}, day)


# -- the credit answer --------------------------------------------------------------------------------------


def _refusal(app: dict[str, Any], code: str, authorisations: list[dict[str, Any]], day: dt.date) -> tuple[str, str]:
    """(reason code, message) when no authorisation is in force: the newest authorisation's state names the
    reason; the message lists each (newest first)."""
    bank = f"Bank {app['app_key']} ('{app['name']}')"
    if not authorisations:
        return "none", (
            f"{bank} has no authorisation of taxpayer {code}: a bank reads a taxpayer's tax credit only with its "
            "authorisation (POST /api/v1/bank/authorisations)."
        )
    states = [_state(a, day) for a in reversed(authorisations)]
    return states[0][0], f"{bank} has no authorisation of taxpayer {code} in force on {day.isoformat()}: " + "; ".join(
        why for _, why in states[:5]
    ) + (f"; and {len(states) - 5} older" if len(states) > 5 else "") + "."


def _decisive(result: dict[str, Any], facts: dict[str, Any]) -> tuple[str, str]:
    """(reason, basis) of the rule that decided the tier, its placeholders filled with the decision's facts."""
    for r in result.get("reasons") or []:
        if r.get("outcome") == "decisive":
            return fill(r.get("why") or "", facts), r.get("basis") or ""
    return "", ""


def _shown(body: dict[str, Any], value: Any) -> str:
    if value is None:
        return "无"
    if isinstance(value, bool):
        return "是" if value else "否"
    labels = body.get("value_labels") or {}
    if value in labels:
        return str(labels[value])
    source = body.get("source")
    if isinstance(source, dict) and "open" in source and isinstance(value, int):
        # a count of records still in force, under a label that says what they are: 否 / 是（2条）
        return "否" if value == 0 else f"是（{value}条）"
    return str(value)


def _decision(
    conn: Connection,
    current: dict[str, dict],
    pack: str,
    title: str,
    missing: str,
    entity: dict[str, Any],
    day: dt.date,
    why: list[str],
) -> tuple[dict | None, dict | None]:
    """(the pack's current cycle, the entity's decision in it); when either is missing, why (in Chinese) on ``why``."""
    cycle = current.get(pack)
    if cycle is None:
        why.append(f"{title}（{pack}）尚无截至{cn_date(day)}已提交的评价周期，{missing}。")
        return None, None
    d = qc.decisions_of(conn, cycle["id"], [entity["id"]]).get(entity["id"])
    if d is None:
        why.append(f"{title}第{cycle['id']}号评价周期（{period_cn(cycle['period'])}）未评价该纳税人。")
    return cycle, d


def _credit(conn: Connection, entity: dict[str, Any], scope: list[str], day: dt.date) -> dict[str, Any]:
    """The grade, the push decision and the shared indicators of ``entity`` on ``day`` (parts in ``scope``), from
    the current cycles (latest committed revisions); ``status`` needs_review with ``why`` when one is missing."""
    current = qc.current_cycles(conn, day)
    why: list[str] = []
    out: dict[str, Any] = {"grade": None, "decision": None, "indicators": []}
    tax, d = _decision(conn, current, TAX_PACK, "纳税信用评价", "无法提供纳税信用级别", entity, day, why)
    if tax is not None and d is not None:
        out["grade"] = {
            "grade": d["tier"],
            "label": (d["result"] or {}).get("tier_label") or d["tier"],
            "cycle_id": tax["id"],
            "period": tax["period"],
            "revision": tax["revision"],
            "cycle_as_of": tax["as_of"].isoformat(),
        }
    bank, d = _decision(conn, current, BANK_PACK, "银税互动推送", "无法给出推送决定", entity, day, why)
    if bank is not None and d is not None:
        facts = d.get("facts") or {}
        result = d["result"] or {}
        reason, basis = _decisive(result, facts)
        out["decision"] = {
            "tier": d["tier"],
            "label": result.get("tier_label") or d["tier"],
            "reason": reason,
            "basis": basis,
            "cycle_id": bank["id"],
            "period": bank["period"],
            "revision": bank["revision"],
            "version": bank["version"],
        }
        version = (bank["pack_body"] or {}).get("version") or {}
        declared = version.get("facts") or {}
        for name in (version.get("bank_share") or {}).get("facts") or []:
            fact = declared.get(name) or {}
            value = facts.get(name)
            out["indicators"].append(
                {"fact": name, "label": fact.get("label") or name, "value": value, "shown": _shown(fact, value)}
            )
        cited_cycles = [  # the facts that record which stored cycle a decision fact came from
            facts.get(n)
            for n, f in declared.items()
            if isinstance(f, dict) and isinstance(f.get("source"), dict) and f["source"].get("decision") == "cycle"
        ]
        for source in [c for c in cited_cycles if isinstance(c, int)]:  # never a grade of a superseded revision
            try:
                cited = qc.get_cycle(conn, source)
            except CycleNotFound:
                cited = None
            if cited is None:
                why.append(
                    f"推送决定所依据的纳税信用评价第{source}号评价周期不存在，须重新运行银税互动推送的评价周期。"
                )
            elif cited["status"] == "superseded":
                why.append(
                    f"推送决定所依据的纳税信用评价第{source}号评价周期已被第{cited['superseded_by']}号更正，"
                    f"须重新运行银税互动推送的评价周期后再作推送决定。"
                )
    withheld = [part for part in DATA if part not in scope]
    for part in withheld:
        out[part] = [] if part == "indicators" else None
    return {**out, "status": "needs_review" if why else "answered", "why": why, "withheld": withheld}


def credit(store: Store, app: dict[str, Any], raw_code: str, day: dt.date) -> dict[str, Any]:
    """The credit answer for a bank, logged in the transaction that answers; a refusal for want of an
    authorisation in force is logged too and raised as BankError 403 (``reason``: none, expired, revoked,
    not_yet_valid). Raises DecisionLogError when the log cannot be written (nothing answered)."""
    code = _uscc(raw_code)
    requested_at = now()
    refused: tuple[str, str] | None = None
    try:
        with store.transaction() as conn:
            entity = _entity(conn, code)
            authorisations = qb.authorisations_of(conn, app["id"], entity["id"])
            in_force = [a for a in authorisations if _state(a, day)[0] == "in_force"]
            request = {"route": "GET /api/v1/bank/credit/{code}", "code": code, "as_of": day.isoformat()}
            if not in_force:
                refused = _refusal(app, code, authorisations, day)
                answer: dict[str, Any] = {"refused": {"status": 403, "reason": refused[0], "error": refused[1]}}
            else:
                scope = [part for part in DATA if any(part in a["scope"] for a in in_force)]
                answer = {
                    "code": code,
                    "name": entity["name"],
                    "as_of": day.isoformat(),
                    "authorisations": [a["id"] for a in in_force],
                    "scope": scope,
                    **_credit(conn, entity, scope, day),
                }
            replace = replacements([entity])
            row = {
                "app_id": app["id"],
                "department": app["department"] or app["name"],
                "case_no": None,
                "service_item": LOG_ITEM,
                "as_of": day,
                "requested_at": requested_at,
                "request": masked(request, replace),
                "answer": masked({"credit": answer} if refused is None else answer, replace),
            }
            credit_id = qs.insert_check(conn, row)
    except StoreError as exc:
        raise DecisionLogError(
            f"{str(exc).rstrip('.')}; the credit request was not answered. Try again later."
        ) from exc
    if refused is not None:
        raise BankError(403, refused[1], reason=refused[0], credit_id=credit_id)
    return {"credit_id": credit_id, **answer}


# -- loans --------------------------------------------------------------------------------------------------


def report_loan(store: Store, app: dict[str, Any], body: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """Append a loan the bank made; a loan reference it reported before is 409 (nothing written)."""
    code = _uscc(body["code"])
    if body["loan_date"] > day:
        raise BankError(422, f"loan_date {body['loan_date'].isoformat()} is after today ({day.isoformat()}).")
    fen = int(Decimal(body["amount"]) * 100)
    with store.transaction() as conn:
        entity = _entity(conn, code)
        row = {
            "app_id": app["id"],
            "entity_id": entity["id"],
            "loan_ref": body["loan_ref"],
            "amount_fen": fen,
            "loan_date": body["loan_date"],
            "term_months": body["term_months"],
            "product": body["product"],
        }
        loan_id = qb.insert_loan(conn, row)
        if loan_id is None:
            before = qb.loan_by_ref(conn, app["id"], body["loan_ref"])
            raise BankError(
                409,
                f"Loan reference '{body['loan_ref']}' was reported before by this bank"
                + (f" (loan {before['id']} of {before['loan_date'].isoformat()})" if before else "")
                + "; a loan is reported once.",
                loan_id=before["id"] if before else None,
            )
    return {
        "loan_id": loan_id,
        "loan_ref": body["loan_ref"],
        "code": code,
        "amount": qb.yuan(fen),
        "amount_fen": fen,
        "loan_date": body["loan_date"].isoformat(),
        "term_months": body["term_months"],
        "product": body["product"],
    }


# -- the report ---------------------------------------------------------------------------------------------


def _quarter(year: int, q: int) -> tuple[dt.date, dt.date]:
    start = dt.date(year, 3 * q - 2, 1)
    return start, _month_end(year, 3 * q)


def _month_end(year: int, month: int) -> dt.date:
    return (dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)) - dt.timedelta(days=1)


def _one_period(text: str) -> tuple[dt.date, dt.date] | None:
    p = text.strip().upper()
    if m := re.fullmatch(r"(\d{4})", p):
        y = int(m[1])
        return dt.date(y, 1, 1), dt.date(y, 12, 31)
    if m := re.fullmatch(r"(\d{4})-H([12])", p):
        y, h = int(m[1]), int(m[2])
        return (dt.date(y, 1, 1), dt.date(y, 6, 30)) if h == 1 else (dt.date(y, 7, 1), dt.date(y, 12, 31))
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", p):
        return _quarter(int(m[1]), int(m[2]))
    if (m := re.fullmatch(r"(\d{4})-(\d{2})", p)) and 1 <= int(m[2]) <= 12:
        y, mo = int(m[1]), int(m[2])
        return dt.date(y, mo, 1), _month_end(y, mo)
    return None


def parse_period(text: str) -> tuple[dt.date, dt.date, str]:
    """(first day, last day, label in Chinese) of ``2025``, ``2025-H1``, ``2025-Q3``, ``2025-06`` or a span
    ``2025-Q1..2025-Q3`` (from the start of the first to the end of the second)."""
    parts = (text or "").split("..")
    spans = [_one_period(p) for p in parts] if 1 <= len(parts) <= 2 else [None]
    if any(s is None for s in spans) or (len(spans) == 2 and spans[0][0] > spans[1][1]):  # type: ignore[index]
        raise UsageProblem(
            f"--period '{text}' is not a period: give 2025, 2025-H1, 2025-Q3, 2025-06, or a span such as "
            "2025-Q1..2025-Q3 (its first part not after its last)."
        )
    first, last = spans[0], spans[-1]
    assert first is not None and last is not None
    label = period_cn(parts[0].strip().upper()) + (
        f"至{period_cn(parts[1].strip().upper())}" if len(parts) == 2 else ""
    )
    return first[0], last[1], label


class BankTaxReport(DictResult):
    """``supervise report bank-tax``: the loans banks reported in a period, by tax grade and by month."""

    def lines(self) -> list[str]:
        t = self["total"]
        head = f"银税互动贷款 {self['label']}（{self['from']} 至 {self['to']}）"
        if not t["loans"]:
            return [f"{head}：本期没有合作银行报送的贷款。"]
        out = [
            f"{head}，据{self['banks']}家合作银行报送：",
            f"  合计 {t['loans']:,} 笔，金额 {t['amount_wan']} 万元（{t['amount_yi']} 亿元）"
            # the press-release form (465.6万笔，1.198万亿元) only where it says it shorter than the line above
            + (f"，即{t['shown']}" if t["loans"] >= 10_000 or "亿" in t["shown"] else ""),
            "  按贷款发放日的纳税信用级别：",
        ]
        for g in self["by_grade"]:
            out.append(
                f"    {g['label']:<8} {g['loans']:>8,} 笔  {g['amount_wan']:>16} 万元  {g['amount_yi']:>12} 亿元"
            )
        out.append("  按月：")
        for m in self["by_month"]:
            out.append(f"    {m['month']}  {m['loans']:>8,} 笔  {m['amount_wan']:>16} 万元  {m['amount_yi']:>12} 亿元")
        return out


def loan_report(store: Store, period: str) -> BankTaxReport:
    """The figures of ``supervise report bank-tax --period P`` (and of a bank-tax cycle's report)."""
    start, end, label = parse_period(period)
    store.require_schema()
    with store.read() as conn:
        return BankTaxReport(qb.loan_document(conn, TAX_PACK, start, end, period, label))


# -- the documents and routes -------------------------------------------------------------------------------


class AuthorisationRequest(RequestBody):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64, description="The taxpayer's 统一社会信用代码")
    scope: list[Literal["grade", "decision", "indicators"]] = Field(
        min_length=1, max_length=3, description="The data the taxpayer authorised the bank to read"
    )
    valid_from: dt.date
    valid_to: dt.date = Field(description="The last day it is valid (after valid_from)")
    document_ref: str = Field(min_length=1, max_length=128, description="The authorisation document's reference")


class AuthorisationOut(BaseModel):
    id: int
    code: str
    name: str
    scope: list[str]
    valid_from: str
    valid_to: str
    document_ref: str
    recorded_at: str
    revoked_at: str | None
    in_force: bool = Field(description="Whether it is in force today (China Standard Time)")


class Grade(BaseModel):
    grade: str
    label: str
    cycle_id: int
    period: str
    revision: int
    cycle_as_of: str


class PushDecision(BaseModel):
    tier: str
    label: str
    reason: str
    basis: str
    cycle_id: int
    period: str
    revision: int
    version: str


class Indicator(BaseModel):
    fact: str
    label: str
    value: Any
    shown: str


class CreditAnswer(BaseModel):
    credit_id: int = Field(description="The decision log's row (supervise checks show ID)")
    code: str
    name: str
    as_of: str
    authorisations: list[int]
    scope: list[str]
    status: Literal["answered", "needs_review"]
    why: list[str] = Field(description="Why a person has to look (needs_review), in Chinese")
    grade: Grade | None
    decision: PushDecision | None
    indicators: list[Indicator]
    withheld: list[str] = Field(description="Parts the authorisations in force do not cover")


class CreditRefusal(BaseModel):
    error: str
    reason: Literal["none", "expired", "revoked", "not_yet_valid"] | None = None
    credit_id: int | None = None


class LoanRequest(RequestBody):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64, description="The borrower's 统一社会信用代码")
    amount: str = Field(description='Yuan as a decimal string, at most two decimals: "1500000.00"')
    loan_date: dt.date
    term_months: int = Field(ge=1, le=600)
    product: str = Field(min_length=1, max_length=128, description="The loan product, e.g. 税易贷")
    loan_ref: str = Field(min_length=1, max_length=128, description="The bank's own loan reference (unique)")

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(
                'give the amount in yuan as a decimal string, e.g. "1500000.00" (a JSON number may lose precision)'
            )
        if not AMOUNT.fullmatch(value) or Decimal(value) <= 0:
            raise ValueError(
                f"'{value[:40]}' is not an amount: give yuan above zero with at most two decimals, e.g. \"1500000.00\""
            )
        return value


class LoanOut(BaseModel):
    loan_id: int
    loan_ref: str
    code: str
    amount: str
    amount_fen: int
    loan_date: str
    term_months: int
    product: str


BankApp = Annotated[dict[str, Any], Depends(signed("bank"))]  # the calling bank (an app with scope bank)


def _api(exc: BankError) -> ApiError:
    return ApiError(exc.status, str(exc), **exc.extra)


def add_routes(api: FastAPI, store: Store) -> None:
    """The bank routes on ``api`` (scope ``bank``)."""
    service: Service = api.state.service
    errors: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 409: {"model": ErrorOut}}
    unprocessable: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut}, 503: {"model": ErrorOut}}

    @api.post(f"{PREFIX}/authorisations", response_model=AuthorisationOut, responses={**REFUSALS, **unprocessable})
    def post_authorisation(body: AuthorisationRequest, app: BankApp) -> dict[str, Any]:
        """Record a taxpayer's authorisation of the calling bank to read its tax credit."""
        try:
            return record_authorisation(store, app, body.model_dump(), today(service))
        except BankError as exc:
            raise _api(exc) from exc
        except StoreError as exc:
            raise ApiError(503, f"The authorisation was not recorded: {exc}") from exc

    @api.delete(
        f"{PREFIX}/authorisations/{{authorisation_id}}",
        response_model=AuthorisationOut,
        responses={**REFUSALS, **errors, 503: {"model": ErrorOut}},
    )
    def delete_authorisation(authorisation_id: Annotated[int, Path(ge=1, le=MAX_ID)], app: BankApp) -> dict[str, Any]:
        """Revoke one of the bank's authorisations (recorded as a revocation; the history stays)."""
        try:
            return revoke_authorisation(store, app, authorisation_id, today(service))
        except BankError as exc:
            raise _api(exc) from exc
        except StoreError as exc:
            raise ApiError(503, f"The authorisation was not revoked: {exc}") from exc

    @api.get(
        f"{PREFIX}/credit/{{code}}",
        response_model=CreditAnswer,
        responses={
            **REFUSALS,
            403: {"model": CreditRefusal, "description": "Revoked key, missing scope, or no authorisation in force"},
            **unprocessable,
        },
    )
    def get_credit(code: Annotated[str, Path(max_length=64)], app: BankApp) -> dict[str, Any]:
        """The taxpayer's tax grade, the push decision and the indicators the bank-tax pack shares, while an
        authorisation of this bank is in force; logged (also a refusal) before it is answered."""
        try:
            return credit(store, app, code, today(service))
        except BankError as exc:
            raise _api(exc) from exc
        except DecisionLogError as exc:
            raise ApiError(503, str(exc)) from exc

    @api.post(
        f"{PREFIX}/loans", response_model=LoanOut, responses={**REFUSALS, 409: {"model": ErrorOut}, **unprocessable}
    )
    def post_loan(body: LoanRequest, app: BankApp) -> dict[str, Any]:
        """Report a loan the bank made to a taxpayer (银税互动贷款)."""
        try:
            return report_loan(store, app, body.model_dump(), today(service))
        except BankError as exc:
            raise _api(exc) from exc
        except StoreError as exc:
            raise ApiError(503, f"The loan was not recorded: {exc}") from exc
