"""The objection and repair case pages' data: the case, its entry, the materials, the eligibility check (repair),
and the proposals (初审 / 审核) made on it (:func:`lists.approvals.of_entry`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.access import guard
from engine.access.users import User
from engine.errors import ListError
from engine.regions import region_label
from engine.store import Connection, Store
from engine.store import console as qs
from engine.store import lists as ql
from engine.templating import cn_date
from lists import approvals, lifecycle
from notices import issue as notices_issue

FILE_CONDITIONS = {"commitment": "信用承诺书", "training": "信用修复培训证明", "credit_report": "信用报告"}
CONDITION_NAMES = {
    "repair_allowed": "名单允许信用修复",
    "min_period": "已满最短公示期",
    "obligations_fulfilled": "已履行行政处罚等义务",
    "commitment": "提交信用承诺书",
    "no_repeat_same_kind": "未再发生同类违法行为",
    "no_heavier_penalty_since_listing": "列入后未受到较重行政处罚",
    "training": "参加信用修复培训",
    "credit_report": "提交信用报告",
    "max_repairs": "未超过修复次数上限",
    "cooldown": "距上次修复已满间隔期",
}


class _RolledBack(Exception):
    """Raised inside a preview's transaction so that everything the approval wrote is rolled back."""

    def __init__(self, notices: list[dict[str, Any]]):
        super().__init__("preview")
        self.notices = notices


def _condition_text(c: dict[str, Any]) -> str:
    """A condition's result in Chinese (lists.repair words its details in English: they stay the record)."""
    earliest = c.get("earliest")
    day = cn_date(earliest) if earliest else None
    if c["met"]:
        return "已满足" + (f"（{day}起）" if day and c["condition"] == "min_period" else "")
    if c["condition"] in FILE_CONDITIONS:
        return f"未提交{FILE_CONDITIONS[c['condition']]}"
    return "未满足" + (f"，最早于{day}满足" if day else "")


def preview(store: Store, user: User, proposal_id: int, today: dt.date) -> list[dict[str, Any]]:
    """The notices approving proposal ``proposal_id`` would issue today, rendered as HTML: the approval is carried
    out by :func:`lists.approvals.approve` itself (the same rules, the same documents) in a transaction that is
    then rolled back, so nothing is stored, numbered or audited. Raises what the approval would (AccessRefused for
    the proposer or a clerk, ListError for a proposal reviewed already)."""
    try:
        with store.transaction() as conn:
            before = qs.last_notice_id(conn)
            approvals.approve(conn, user, proposal_id, today)
            rows = qs.notices_after(conn, before)
            raise _RolledBack(
                [
                    {
                        "number": r["number"],
                        "kind": r["kind"],
                        "issued_on": r["issued_on"],
                        "html": notices_issue.render_notice(r, "html"),
                    }
                    for r in rows
                ]
            )
    except _RolledBack as done:
        return done.notices
    return []  # pragma: no cover - the block always raises


def _entry(conn: Connection, entry_id: int, user: User | None) -> lifecycle.Entry:
    entry = lifecycle.load_one(conn, entry_id, lock=False)
    if user is not None:
        guard.require_region(user, entry.row.get("entity_region"))
        guard.require_pack(user, entry.row["pack_id"])
    return entry


def _entry_view(entry: lifecycle.Entry) -> dict[str, Any]:
    r = entry.row
    return {
        "id": entry.id,
        "list": entry.list,
        "list_title": entry.title,
        "pack_id": r["pack_id"],
        "code": r["code"],
        "name": r.get("entity_name") or "未记载",
        "region_name": region_label(r.get("entity_region")),
        "state": entry.state,
        "reason": r["reason"],
        "basis": r["basis"],
        "authority": r.get("authority") or "",
        "served_on": entry.served_on,
        "objection_deadline": entry.objection_deadline,
        "listed_from": entry.listed_from,
    }


def _proposals(conn: Connection, entry_id: int, kind: str, target_id: int) -> list[dict[str, Any]]:
    return [p for p in approvals.of_entry(conn, entry_id) if p["kind"] == kind and p["target_id"] == target_id]


def objection_case(conn: Connection, objection_id: int, user: User | None, today: dt.date) -> dict[str, Any]:
    """An objection with its entry, materials and proposals."""
    o = ql.get_objection(conn, objection_id)
    if o is None:
        raise ListError(f"没有第{objection_id}号异议。")
    entry = _entry(conn, o["entry_id"], user)
    proposals = _proposals(conn, entry.id, "objection", objection_id)
    pending = next((p for p in proposals if p["status"] == "pending"), None)
    deadline = entry.objection_deadline if entry.state == "notified" else None
    return {
        "objection": o,
        "entry": _entry_view(entry),
        "materials": list(o.get("evidence") or []),
        "proposals": proposals,
        "pending": pending,
        "open": not o["decision"] and entry.state in lifecycle.PRE_LISTING,
        "deadline": deadline,
        "days_left": (deadline - today).days if deadline else None,
        "today": today,
    }


def repair_case(conn: Connection, application_id: int, user: User | None, today: dt.date) -> dict[str, Any]:
    """A repair application with its entry, materials, eligibility (each condition, what is unmet and the
    earliest date) and proposals."""
    a = ql.get_application(conn, application_id)
    if a is None:
        raise ListError(f"没有第{application_id}号信用修复申请。")
    entry = _entry(conn, a["entry_id"], user)
    eligibility = a.get("eligibility") or {}
    conditions = [
        {**c, "name": CONDITION_NAMES.get(c["condition"], c["condition"]), "text": _condition_text(c)}
        for c in eligibility.get("conditions") or []
    ]
    materials = ([{**a["commitment"], "role": "commitment"}] if a.get("commitment") else []) + list(
        a.get("evidence") or []
    )
    proposals = _proposals(conn, entry.id, "repair", application_id)
    decide_by = None
    for ev in entry.events:
        data = ev.get("data") or {}
        if ev["event"] == "repair_applied" and data.get("application_id") == application_id and data.get("decide_by"):
            decide_by = dt.date.fromisoformat(str(data["decide_by"])[:10])
    return {
        "application": a,
        "entry": _entry_view(entry),
        "eligible": bool(eligibility.get("eligible")),
        "conditions": conditions,
        "earliest_on": eligibility.get("earliest_on"),
        "materials": materials,
        "proposals": proposals,
        "pending": next((p for p in proposals if p["status"] == "pending"), None),
        "open": bool(eligibility.get("eligible")) and not a["decision"] and entry.state == "listed",
        "deadline": decide_by,
        "days_left": (decide_by - today).days if decide_by else None,
        "today": today,
    }
