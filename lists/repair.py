"""Credit repair (信用修复): eligibility against the list's ``repair`` block, applications and decisions.

Conditions checked on the application date (each reported with met/unmet, a sentence and, where time alone
fixes it, the earliest date it is met):

=====================  ===========================================================================
repair_allowed         the list allows repair at all (``repair.allowed``)
min_period             ``repair.min_months`` (else the list's ``min_months``) served since listing
obligations_fulfilled  every penalty behind the entry has ``fulfilled_on`` on or before the date
commitment             a non-empty 信用承诺书 file
no_repeat_same_kind    no penalty / tax violation of the same kind (same penalty ``field``) since listing;
                       unmet, it rules out repair of this entry (like ``repair_allowed``)
no_heavier_penalty_    no new 较重 (heavier) penalty in any field since listing (Order 44 Art.20(三)): a penalty
since_listing          of severity general or serious dated from the listing date to the application date, not
                       annulled by then, other than the entry's own basis; a minor one (警告, small fine) does
                       not bar. Unmet, it rules out early removal of this entry; the reason names the penalty
training               a training certificate file (``--training``)
credit_report          a credit report file (``--credit-report``)
max_repairs            fewer than ``max_repairs.count`` approved repairs of the entity in ``years`` years
cooldown               ``cooldown_months`` since the entity's last approved repair
=====================  ===========================================================================

``obligations_fulfilled`` to ``credit_report`` apply when named in ``repair.requires``; ``max_repairs`` and
``cooldown`` when configured (they count the entity's approved repairs on every list). A refused application is stored
too (``repair_applications`` with its eligibility JSON, and a ``repair_refused`` event), so the refusal and its
reasons stay in the entry's history; it needs no decision. An eligible one waits for ``repair decide``; approval
re-checks the conditions on the decision date, ends the entry (``repaired``), lifts its measures and issues the
removal notice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from engine import deadlines
from engine.errors import ListError
from engine.store import lists as q
from engine.store import records as records_q
from engine.values import add_months, parse_moment
from lists.lifecycle import Entry, _append, _date, _require_state, catch_up, file_ref, jsonable, load_one
from lists.results import RepairApplied, RepairDecided

# Unmet, these rule out repair of the entry whatever the applicant does later.
BLOCKING = ("repair_allowed", "no_repeat_same_kind", "no_heavier_penalty_since_listing")
# Penalty severities that are 较重 (heavier) for Order 44 Art.20(三); ``minor`` (警告, small fine) is not.
HEAVIER_SEVERITIES = ("general", "serious")
FILE_CONDITIONS = {
    "commitment": "信用承诺书 (--commitment FILE)",
    "training": "training certificate (--training FILE)",
    "credit_report": "credit report (--credit-report FILE)",
}


def _kind_key(record: dict[str, Any]) -> tuple[str, str | None]:
    return record["kind"], (record.get("field") if record["kind"] == "penalty" else None)


def _cn_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _penalty_cn(record: dict[str, Any]) -> str:
    """A penalty as the party reads it: its decision number, date and authority."""
    data = record["data"] or {}
    who = f"，{data['authority']}作出" if data.get("authority") else ""
    return f"{data.get('decision_no') or '行政处罚'}（{_cn_date(record['date'])}{who}）"


def eligibility(conn, entry: Entry, on: dt.date, files: dict[str, dict | None]) -> dict[str, Any]:
    """Check every repair condition of the entry's list on ``on``; ``files`` maps commitment / training /
    credit_report to a file reference (or None)."""
    ldef = entry.list_def
    repair = ldef.get("repair") or {}
    requires = set(repair.get("requires") or [])
    conditions: list[dict[str, Any]] = []

    def check(name: str, met: bool, detail: str, earliest: dt.date | None = None) -> None:
        conditions.append({"condition": name, "met": met, "detail": detail, "earliest": earliest})

    if not repair.get("allowed"):
        check(
            "repair_allowed",
            False,
            f"list {entry.list} ({entry.title}) does not allow credit repair "
            f"(repair.allowed is not true in pack {entry.row['pack_id']})",
        )
    listed_from = entry.listed_from
    assert listed_from is not None  # asked of listed entries only (apply and decide check the state)
    months = int(repair.get("min_months", ldef.get("min_months") or 0))
    min_end = deadlines.repair_earliest(ldef, listed_from)
    check(
        "min_period",
        on >= min_end,
        f"listed from {listed_from}; the minimum publication period of {months} months ends on {min_end}",
        min_end,
    )

    # The latest version of each record known on the application date (a payment recorded later counts later); a
    # record not yet recorded then (an application dated before the import) is read as it stands now.
    entity_id = entry.row["entity_id"]
    records = {r["id"]: r for r in records_q.record_rows(conn, [entity_id], until=on).get(entity_id, [])}
    known = records_q.record_rows(conn, [entity_id], until=on, known_at=parse_moment(on)).get(entity_id, [])
    records.update({r["id"]: r for r in known})
    basis = entry.data.get("records") or []
    if "obligations_fulfilled" in requires:
        open_ = []
        for ref in basis:
            current = records.get(ref["id"])
            if current is None or current["kind"] != "penalty":
                continue
            data = current["data"] or {}
            if (_date(data.get("annulled_on")) or dt.date.max) <= on:
                continue  # annulled: nothing to fulfil (the entry itself should be revoked)
            fulfilled = _date(data.get("fulfilled_on"))
            if fulfilled is None or fulfilled > on:
                open_.append(ref.get("ref") or f"record {ref['id']}")
        check(
            "obligations_fulfilled",
            not open_,
            f"penalty {', '.join(open_)} not fulfilled on {on} (no fulfilled_on on or before that date)"
            if open_
            else f"all {sum(1 for r in basis if r['kind'] == 'penalty')} penalties behind the entry are fulfilled",
        )
    if "no_repeat_same_kind" in requires:
        kinds = {_kind_key(r) for r in basis} or {("penalty", None), ("tax_violation", None)}
        loose = {k for k, f in kinds if f is None}
        based = {r["id"] for r in basis}
        repeats = [
            r
            for r in records.values()
            if r["id"] not in based
            and listed_from < r["date"] <= on
            and (r["kind"] in loose or _kind_key({"kind": r["kind"], **(r["data"] or {})}) in kinds)
        ]
        check(
            "no_repeat_same_kind",
            not repeats,
            "new violation of the same kind since listing: "
            + ", ".join(
                f"{r['kind']} {(r['data'] or {}).get('decision_no') or r['id']} of {r['date']}" for r in repeats
            )
            if repeats
            else f"no violation of the same kind since {listed_from}",
        )
    if "no_heavier_penalty_since_listing" in requires:
        based = {r["id"] for r in basis}
        heavier = sorted(
            (
                r
                for r in records.values()
                if r["kind"] == "penalty"
                and r["id"] not in based
                and listed_from <= r["date"] <= on
                and (r["data"] or {}).get("severity") in HEAVIER_SEVERITIES
                and (_date((r["data"] or {}).get("annulled_on")) or dt.date.max) > on
            ),
            key=lambda r: (r["date"], r["id"]),
        )
        check(
            "no_heavier_penalty_since_listing",
            not heavier,
            f"自{_cn_date(listed_from)}列入以来受到较重行政处罚："
            + "；".join(_penalty_cn(r) for r in heavier)
            + "，不符合提前移出条件"
            if heavier
            else f"自{_cn_date(listed_from)}列入以来未受到较重行政处罚",
        )
    for name, what in FILE_CONDITIONS.items():
        if name in requires:
            ref = files.get(name)
            check(
                name,
                bool(ref and ref["size"]),
                f"{what} given: {ref['name']}"
                if ref and ref["size"]
                else f"{what} {'is empty' if ref else 'is required'}",
            )

    history = [d for d in q.approved_repairs(conn, entry.row["entity_id"]) if d <= on]
    limit = repair.get("max_repairs") or {}
    if limit:
        count, years = int(limit.get("count", 0)), int(limit.get("years", 0))
        window_start = add_months(on, -12 * years)
        recent = [d for d in history if d > window_start]
        ok = len(recent) < count
        earliest = None if ok else add_months(recent[len(recent) - count], 12 * years)
        check(
            "max_repairs",
            ok,
            f"{len(recent)} approved repairs in the {years} years before {on}; at most {count} "
            f"allowed" + ("" if ok else f" (the oldest counted drops out on {earliest})"),
            earliest,
        )
    cooldown = int(repair.get("cooldown_months") or 0)
    if cooldown and history:
        ready = add_months(history[-1], cooldown)
        check(
            "cooldown",
            on >= ready,
            f"last approved repair on {history[-1]}; the next may succeed {cooldown} months later, from {ready}",
            ready,
        )

    unmet = [c for c in conditions if not c["met"]]
    timed = [c["earliest"] for c in unmet if c["earliest"] is not None]
    untimed = [c["condition"] for c in unmet if c["earliest"] is None and c["condition"] not in BLOCKING]
    earliest = max(timed) if timed else (on if unmet else None)
    until = entry.until_on(on)
    never = any(c["condition"] in BLOCKING for c in unmet) or (
        earliest is not None and until is not None and earliest >= until
    )
    return jsonable(
        {
            "eligible": not unmet,
            "checked_on": on,
            "conditions": conditions,
            "unmet": [c["condition"] for c in unmet],
            "earliest_on": None if never else earliest,
            "also_needs": untimed,
            "publication_ends": until,
        }
    )


def explain_refusal(entry: Entry, result: dict[str, Any]) -> str:
    """The sentence shown for an ineligible application: every unmet condition and the earliest date."""
    e = result["eligibility"]
    lines = [
        f"{entry.label} cannot be repaired on {e['checked_on']}; application {result['application_id']} is "
        f"stored as refused. Unmet conditions:"
    ]
    lines += [f"  - {c['condition']}: {c['detail']}" for c in e["conditions"] if not c["met"]]
    if e["earliest_on"]:
        extra = (
            f" once {', '.join(e['also_needs'])} {'is' if len(e['also_needs']) == 1 else 'are'} met"
            if e["also_needs"]
            else ""
        )
        lines.append(f"The earliest date an application could succeed is {e['earliest_on']}{extra}.")
    elif e["publication_ends"] and not set(BLOCKING) & set(e["unmet"]):
        lines.append(
            f"Publication ends on {e['publication_ends']} before the conditions can be met; the entry will expire then."
        )
    else:
        ends = f"; it ends when its publication period does ({e['publication_ends']})" if e["publication_ends"] else ""
        lines.append(f"This entry cannot be repaired{ends}.")
    return "\n".join(lines)


def apply(
    conn,
    entry_id: int,
    on: dt.date,
    applicant: str,
    commitment: Any,
    evidence: Sequence[Any] = (),
    training: Any = None,
    credit_report: Any = None,
) -> dict[str, Any]:
    """Apply for credit repair of a listed entry. Returns ``status`` 'pending' (eligible, awaiting a decision)
    or 'refused' (stored with its unmet conditions; see :func:`explain_refusal`)."""
    files = {
        "commitment": file_ref(commitment, "commitment") if commitment else None,
        "training": file_ref(training, "training certificate") if training else None,
        "credit_report": file_ref(credit_report, "credit report") if credit_report else None,
    }
    refs = [file_ref(p, "evidence") for p in evidence]
    entry = load_one(conn, entry_id)
    catch_up(conn, entry, on)
    _require_state(
        entry,
        ("listed",),
        "credit repair can be applied for",
        "Before listing, file an objection instead (supervise objection file)."
        if entry.state in ("proposed", "notified")
        else "",
    )
    if entry.pending_application:
        raise ListError(
            f"{entry.label} already has repair application {entry.pending_application} waiting for a "
            f"decision (supervise repair decide {entry.pending_application} --approve|--reject)."
        )
    result = eligibility(conn, entry, on, files)
    stored = [{**r, "role": "evidence"} for r in refs] + [
        {**f, "role": k} for k, f in files.items() if f and k != "commitment"
    ]
    application_id = q.insert_application(conn, entry.id, on, applicant, files["commitment"], stored, result)
    decide_by = None
    if result["eligible"]:
        decide_by = deadlines.repair_decide_by(entry.timing, entry.list_def, on)
        _append(
            conn,
            entry,
            "repair_applied",
            on,
            applicant,
            "credit repair applied for",
            {"application_id": application_id, "decide_by": decide_by},
        )
    else:
        _append(
            conn,
            entry,
            "repair_refused",
            on,
            applicant,
            "not eligible: " + ", ".join(result["unmet"]),
            {"application_id": application_id, "unmet": result["unmet"], "earliest_on": result["earliest_on"]},
        )
    out = RepairApplied(
        {
            "application_id": application_id,
            "entry_id": entry.id,
            "status": "pending" if result["eligible"] else "refused",
            "decide_by": decide_by.isoformat() if decide_by else None,
            "eligibility": result,
        }
    )
    if not result["eligible"]:
        out["message"] = explain_refusal(entry, out)
    return out


def decide(
    conn, application_id: int, approve: bool, reason: str, on: dt.date, actor: str, signed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Approve (the entry ends as repaired, publication stops, measures are lifted) or reject an application."""
    app = q.get_application(conn, application_id)
    if app is None:
        raise ListError(f"There is no repair application {application_id}; see 'supervise lists history CODE'.")
    if app["decision"]:
        raise ListError(
            f"Repair application {application_id} was already {app['decision']} on {app['decided_on']} "
            f"by {app['decided_by']}."
        )
    if not app["eligibility"].get("eligible"):
        raise ListError(
            f"Repair application {application_id} was refused on {app['applied_on']} (unmet: "
            f"{', '.join(app['eligibility'].get('unmet') or [])}); there is nothing to decide. "
            f"Apply again once the conditions are met."
        )
    if on < app["applied_on"]:
        raise ListError(
            f"Repair application {application_id} was made on {app['applied_on']}; it cannot be decided earlier ({on})."
        )
    entry = load_one(conn, app["entry_id"])
    catch_up(conn, entry, on)
    if entry.state != "listed":
        raise ListError(
            f"{entry.label} is {entry.state} since {entry.since}, so repair application {application_id} "
            f"lapsed; there is nothing to decide."
        )
    if approve:
        again = eligibility(conn, entry, on, {"commitment": app["commitment"], **_stored_files(app)})
        if not again["eligible"]:
            unmet = [f"{c['condition']}: {c['detail']}" for c in again["conditions"] if not c["met"]]
            raise ListError(
                f"Repair application {application_id} can no longer be approved on {on}: "
                f"{'; '.join(unmet)}. Reject it with --reject and the reason."
            )
    decision = "approved" if approve else "rejected"
    q.insert_repair_decision(conn, application_id, decision, reason, on, actor)
    _append(
        conn,
        entry,
        "repaired" if approve else "repair_rejected",
        on,
        actor,
        reason,
        {"application_id": application_id, **({"signed": signed} if signed else {})},
    )
    return RepairDecided(
        {
            "application_id": application_id,
            "entry_id": entry.id,
            "decision": decision,
            "state": entry.state,
            "on": on.isoformat(),
        }
    )


def _stored_files(app: dict[str, Any]) -> dict[str, dict | None]:
    """Training certificate and credit report of an application, as stored among its evidence."""
    out: dict[str, dict | None] = {"training": None, "credit_report": None}
    for ref in app.get("evidence") or []:
        if ref.get("role") in out:
            out[ref["role"]] = ref
    return out
