"""Inspection results: parse and import the results of a plan's checks."""

from __future__ import annotations

import pathlib
import re
from typing import Any

from engine import values
from engine.errors import CodeError, did_you_mean
from engine.plans.algorithm import OUTCOMES
from engine.plans.inspectors import _aliased
from engine.register import intake
from engine.register.codes import normalize_code
from engine.register.intake import ProgressFn
from engine.register.records import RecordKind
from engine.store import Connection, Store
from engine.store import plans as q
from engine.store import records as rq
from engine.store.cycles import get_cycle

# -- results import --------------------------------------------------------------------------------

RESULT_ALIASES = {
    "plan_id": "plan",
    "计划": "plan",
    "计划编号": "plan",
    "抽查计划": "plan",
    "check_seq": "check",
    "seq": "check",
    "序号": "check",
    "检查序号": "check",
    "检查编号": "check_id",
    "entity": "code",
    "entity_code": "code",
    "result": "outcome",
    "结果": "outcome",
    "检查结果": "outcome",
    "penalty": "penalty_ref",
    "处罚决定书文号": "penalty_ref",
    "处罚文号": "penalty_ref",
    "处罚决定书": "penalty_ref",
    "date": "inspected_on",
    "检查日期": "inspected_on",
    "inspection_date": "inspected_on",
    "备注": "note",
    "说明": "note",
}
# A plan as import_results reads it: (plan row or None when there is no such plan, checks by seq, checks by code,
# checks by check id, ids of the checks that already have a result).
_PlanInfo = tuple[dict | None, dict[int, dict], dict[str, dict], dict[int, dict], set[int]]


def _outcome(raw: Any) -> str | None:
    text = re.sub(r"\s+", "", str(raw)).replace("（", "(").replace("）", ")")
    return OUTCOMES.get(text) or OUTCOMES.get(text.lower())


def parse_result(row: intake.Row) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one result row's own fields (plan, check, code, outcome, penalty_ref, inspected_on)."""
    if "__error__" in row.data:
        return None, [("-", row.data["__error__"])]
    data = _aliased(row.data, RESULT_ALIASES)
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {"plan": None, "check": None, "check_id": None, "code": None}
    for name in ("plan", "check", "check_id"):
        if not values.is_blank(data.get(name)):
            try:
                out[name] = values.parse_int(data[name])
            except ValueError as exc:
                errors.append((name, f"{exc}; give the {'plan id' if name == 'plan' else 'check number'}"))
    if out["plan"] is None and out["check_id"] is None and "plan" not in dict(errors):
        errors.append(("plan", "plan is required (the plan id shown by 'supervise plan draw')"))
    if out["check"] is None and out["check_id"] is None and values.is_blank(data.get("code")):
        errors.append(("check", "give the check number (seq in the plan) or the entity code"))
    if not values.is_blank(data.get("code")):
        try:
            out["code"] = normalize_code(str(data["code"])).value
        except CodeError as exc:
            errors.append(("code", str(exc)))
    if values.is_blank(data.get("outcome")):
        errors.append(
            (
                "outcome",
                "outcome is required: clean, problems, not_found or refused (未发现问题, 发现问题, 查无下落, 拒绝检查)",
            )
        )
    else:
        outcome = _outcome(data["outcome"])
        if outcome is None:
            hint = did_you_mean(str(data["outcome"]), OUTCOMES)
            errors.append(
                (
                    "outcome",
                    f"'{data['outcome']}' is not an outcome{hint}; use clean, problems, not_found "
                    f"or refused (未发现问题, 发现问题, 查无下落, 拒绝检查)",
                )
            )
        out["outcome"] = outcome
    penalty = None if values.is_blank(data.get("penalty_ref")) else str(data["penalty_ref"]).strip()
    if out.get("outcome") == "problems" and penalty is None:
        errors.append(
            (
                "penalty_ref",
                "penalty_ref is required when problems were found (the penalty decision "
                "number, e.g. 泉市监罚〔2025〕12号)",
            )
        )
    out["penalty_ref"] = penalty
    if values.is_blank(data.get("inspected_on")):
        errors.append(("inspected_on", "inspected_on is required (the date of the inspection, YYYY-MM-DD)"))
    else:
        try:
            out["inspected_on"] = values.parse_date(data["inspected_on"])
        except ValueError as exc:
            errors.append(("inspected_on", str(exc)))
    out["note"] = None if values.is_blank(data.get("note")) else str(data["note"]).strip()
    return (None, errors) if errors else (out, [])


def import_results(
    store: Store,
    path: str | pathlib.Path,
    kinds: dict[str, RecordKind],
    skip_invalid: bool = False,
    actor: str = "cli",
    progress: ProgressFn | None = None,
) -> intake.ImportReport:
    """Record inspection results in one transaction; each becomes an ``inspection_result`` record (and a
    ``not_found`` result also an ``abnormal_operation`` record, cause unreachable_address), of ``kinds``."""
    result_kind, abnormal_kind = kinds["inspection_result"], kinds["abnormal_operation"]
    source = pathlib.Path(path).name
    plans: dict[int, _PlanInfo] = {}
    seen: dict[int, int] = {}

    def plan_info(conn: Connection, plan_id: int) -> _PlanInfo:
        if plan_id not in plans:
            plan = q.get_plan(conn, plan_id)
            if plan is None:
                plans[plan_id] = (None, {}, {}, {}, set())
            else:
                index = q.check_index(conn, plan_id)
                done = q.checks_with_results(conn, [c["id"] for c in index.values()])
                cycle = get_cycle(conn, plan["cycle_id"])  # a plan's cycle exists (foreign key)
                plan["as_of_date"] = cycle.get("as_of")
                plans[plan_id] = (
                    plan,
                    index,
                    {c["code"]: c for c in index.values()},
                    {c["id"]: c for c in index.values()},
                    done,
                )
        return plans[plan_id]

    def with_checks(conn: Connection, chunk: list[tuple[intake.Row, Any]], reject: intake.RejectFn) -> list[Any]:
        """(result, its records) for each row whose check is found and free."""
        batch: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for row, r in chunk:
            plan_id = r["plan"]
            if plan_id is None:  # check_id alone
                found = q.check_by_id(conn, r["check_id"])
                if found is None:
                    reject(
                        row,
                        "check_id",
                        f"no check with id {r['check_id']}; use the check_id from "
                        f"'supervise plan show' or give plan and check",
                    )
                    continue
                plan_id = found["plan_id"]
            plan, index, by_code, by_id, done = plan_info(conn, plan_id)
            if plan is None:
                known = q.plan_ids(conn)
                reject(row, "plan", f"no plan {plan_id}; known plans: {', '.join(map(str, known)) or 'none'}")
                continue
            check = None
            if r["check_id"] is not None:
                check = by_id.get(r["check_id"])
                if check is None:
                    reject(row, "check_id", f"check id {r['check_id']} is not in plan {plan_id}")
                    continue
            elif r["check"] is not None:
                check = index.get(r["check"])
                if check is None:
                    reject(
                        row,
                        "check",
                        f"check {r['check']} is not in plan {plan_id} (it has checks 1 to "
                        f"{len(index)}); a result can only be recorded for a drawn check",
                    )
                    continue
            if r["code"] is not None:
                if check is None:
                    check = by_code.get(r["code"])
                    if check is None:
                        reject(
                            row,
                            "code",
                            f"entity {r['code']} has no check in plan {plan_id}; a result can "
                            f"only be recorded for a drawn entity",
                        )
                        continue
                elif check["code"] != r["code"]:
                    reject(
                        row,
                        "code",
                        f"check {check['seq']} of plan {plan_id} is for entity {check['code']}, "
                        f"not {r['code']}; fix the check number or the code",
                    )
                    continue
            assert check is not None  # parse_result requires a check number, a check id or an entity code
            if check["id"] in done:
                reject(
                    row,
                    "check",
                    f"check {check['seq']} of plan {plan_id} already has a result; a check has one result",
                )
                continue
            if check["id"] in seen:
                reject(
                    row,
                    "check",
                    f"check {check['seq']} of plan {plan_id} already has a result in row "
                    f"{seen[check['id']]} of this file; a check has one result",
                )
                continue
            as_of = plan.get("as_of_date")
            if as_of is not None and r["inspected_on"] < as_of:
                reject(
                    row,
                    "inspected_on",
                    f"{r['inspected_on']} is before the cycle's as-of date {as_of}; "
                    f"an inspection of this plan cannot predate its cycle",
                )
                continue
            # The records a result becomes are checked like imported ones (a future inspected_on is refused).
            made = [
                (
                    result_kind,
                    {
                        "date": r["inspected_on"],
                        "outcome": r["outcome"],
                        "plan_id": plan_id,
                        "check_id": check["id"],
                        "penalty_ref": r["penalty_ref"],
                    },
                )
            ]
            if r["outcome"] == "not_found":
                made.append((abnormal_kind, {"date": r["inspected_on"], "cause": "unreachable_address"}))
            checked = [(kind, kind.validate(fields)) for kind, fields in made]
            errs = [e for _, (*_, kind_errs) in checked for e in kind_errs]
            if errs:
                reject(
                    row,
                    "inspected_on" if errs[0][0] == "date" else errs[0][0],
                    "; ".join(reason for _, reason in errs),
                )
                continue
            seen[check["id"]] = row.number
            result = {
                "check_id": check["id"],
                "outcome": r["outcome"],
                "penalty_ref": r["penalty_ref"],
                "inspected_on": r["inspected_on"],
                "note": r["note"],
            }
            records = [
                {"entity_id": check["entity_id"], "kind": kind.name, "date": date, "natural_key": key, "data": payload}
                for kind, (date, key, payload, _) in checked
            ]
            batch.append((result, records))
        return batch

    def write(conn: Connection, batch: list[Any]) -> tuple[int]:
        inserted = q.insert_results(conn, [result for result, _ in batch])
        rq.insert_records(conn, [record for _, records in batch for record in records], source=source)
        return (inserted,)

    return intake.run_import(
        store,
        path,
        parse_result,
        write,
        action="plan_results_import",
        counts=("inserted",),
        resolve=with_checks,
        skip_invalid=skip_invalid,
        actor=actor,
        progress=progress,
    )
