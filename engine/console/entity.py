"""The entity page's data: the register, the current tiers with why, the list entries with their whole timeline,
the records with their versions.

Nothing is explained twice: the tiers are the stored decisions of each pack's current cycle
(:func:`engine.store.cycles.current_cycles`, as the check service's public view reads them) with the reason and
article of the rule that decided (the stored outcome's ``reasons``, placeholders filled with the decision's facts
as the bank answer does); the entries are :func:`lists.lifecycle.history`; the records
:func:`engine.store.records.history` in the words of :func:`engine.evidence.record_words`.

Personal data (a natural person's identity number and name, a legal representative or operator) is shown only to
a user whose authority covers the entity's region (:func:`may_see_personal`); anyone else sees the form the public
site shows (:func:`engine.register.codes.public_party`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.access import guard
from engine.access.users import User
from engine.errors import EntityNotFound
from engine.evidence import record_words
from engine.regions import region_label
from engine.register.codes import ENTITY_TYPE_LABELS, is_natural_person, public_party
from engine.register.entities import resolve_code
from engine.store import Connection
from engine.store import cycles as qc
from engine.store import entities as qe
from engine.store import notices as qn
from engine.store import records as qr
from engine.templating import cn_date
from engine.values import fill, has_cjk
from lists import approvals, lifecycle
from notices.render import KINDS as NOTICE_KINDS

EVENT_NAMES = {
    "proposed": "提出列入",
    "notified": "送达列入前告知书",
    "objection_filed": "提出异议",
    "objection_rejected": "异议不成立",
    "objection_upheld": "异议成立",
    "listed": "列入",
    "extended": "延长公示",
    "repair_applied": "申请信用修复",
    "repair_refused": "修复申请不符合条件",
    "repair_rejected": "不予修复",
    "repaired": "信用修复，移出",
    "expired": "公示期满，移出",
    "revoked": "撤销",
    "cured": "失信状态消除，移出",
}
STATE_NAMES = {
    "proposed": "拟列入",
    "notified": "已告知",
    "listed": "已列入",
    "expired": "期满移出",
    "repaired": "修复移出",
    "revoked": "已撤销",
}
ACTOR_NAMES = {"system": "系统（到期自动办理）", "demo": "演示数据"}
DECISION_NAMES = {"upheld": "成立", "rejected": "不成立", "approved": "准予修复"}
NOTICE_NAMES = {k.name: k.title for k in NOTICE_KINDS.values()}  # the documents' own titles


def may_see_personal(user: User | None, region: str | None) -> bool:
    """Whether ``user`` sees an entity's personal data unmasked: a clerk, reviewer or admin of an authority that
    covers its region (None: the library itself, e.g. a report run by the operator)."""
    return user is None or (user.role in ("clerk", "reviewer", "admin") and user.covers_region(region))


def find(conn: Connection, raw_code: str, user: User | None) -> dict[str, Any]:
    """The register row of ``raw_code``, after the region rule: EntityNotFound (CodeError for a malformed code),
    AccessRefused outside the user's region."""
    code = resolve_code(raw_code)
    e = qe.get_entity(conn, code)
    if e is None:
        raise EntityNotFound(f"登记库中没有代码为{code if not is_natural_person(None, code) else '该证件号码'}的主体。")
    if user is not None:
        guard.require_region(user, e["region"])
    return e


def register_view(e: dict[str, Any], personal: bool) -> dict[str, Any]:
    shown = public_party(e["name"], e["code"], e["entity_type"], e["legal_rep"])
    person = is_natural_person(e["entity_type"], e["code"])
    return {
        "code": e["code"] if personal else shown["code"],
        "name": e["name"] if personal else shown["name"],
        "entity_type": ENTITY_TYPE_LABELS.get(e["entity_type"] or "", "其他组织"),
        "region_name": region_label(e["region"]),
        "industry": e["industry"] or "未记载",
        "established_on": e["established_on"],
        "legal_rep": (e["legal_rep"] or "未记载")
        if personal
        else (shown["operator"] or ("—" if person else "（不公开）")),
        "person": person,
        "masked": not personal,
    }


def tiers(conn: Connection, entity_id: int, today: dt.date) -> list[dict[str, Any]]:
    """The current tier of the entity in each pack, with the deciding rule's reason and article."""
    out = []
    for pack_id, cycle in sorted(qc.current_cycles(conn, today).items()):
        d = qc.decisions_of(conn, cycle["id"], [entity_id]).get(entity_id)
        if d is None:
            continue
        result = d["result"] or {}
        facts = d["facts"] or {}
        meta = (cycle["pack_body"] or {}).get("pack") or {}
        reasons = [
            {"why": fill(r.get("why") or "", facts), "basis": r.get("basis") or "本政策包默认规则"}
            for r in result.get("reasons") or []
            if r.get("outcome") == "decisive"
        ]
        out.append(
            {
                "pack": pack_id,
                "pack_title": meta.get("title") or pack_id,
                "cycle_id": cycle["id"],
                "period": cycle["period"],
                "as_of": cycle["as_of"],
                "version": cycle["version"],
                "tier": d["tier"],
                "tier_label": result.get("tier_label") or d["tier"],
                "reasons": reasons,
                "measures": [m.get("text") or m.get("id") for m in result.get("measures") or []],
            }
        )
    return out


def _timeline(item: dict[str, Any]) -> list[dict[str, Any]]:
    """Events, objections, repair applications and decisions, notices and measure tasks of one entry, by date."""
    rows: list[dict[str, Any]] = []
    for ev in item["events"]:
        signed = (ev.get("data") or {}).get("signed") or {}
        who = ev["actor"]
        if signed.get("approved_by") and not signed.get("single_step"):
            who = f"初审 {signed['proposed_by']}，审核 {signed['approved_by']}"
        detail = ev.get("reason") or ""
        if detail and not has_cjk(detail):  # the lifecycle's own English notes (proposals of a cycle, repairs)
            data = ev.get("data") or {}
            detail = (
                f"由第{data['cycle_id']}号监管周期提出" if ev["event"] == "proposed" and data.get("cycle_id") else ""
            )
        rows.append(
            {
                "on": ev["valid_from"],
                "what": EVENT_NAMES.get(ev["event"], ev["event"]),
                "state": STATE_NAMES.get(ev["state"], ev["state"]),
                "detail": detail,
                "who": ACTOR_NAMES.get(who, who),
                "link": None,
            }
        )
    for n in item["notices"]:
        rows.append(
            {
                "on": n["issued_on"],
                "what": f"制发{NOTICE_NAMES.get(n['kind'], n['kind'])}",
                "state": "",
                "detail": n["number"],
                "who": "",
                "link": f"/notices/{n['id']}.pdf",
            }
        )
    for t in item["measure_tasks"]:
        action = "实施" if t["action"] == "apply" else "解除"
        acked = (
            f"，{t['acked_by']}于{cn_date(t['acked_on'])}反馈"
            if t.get("acked_on")
            else f"，应于{cn_date(t['due_on'])}前反馈，尚未反馈"
        )
        rows.append(
            {
                "on": t["created_on"],
                "what": f"抄告{t['department']}{action}措施",
                "state": "",
                "detail": f"{(t.get('data') or {}).get('text') or t['measure_id']}{acked}",
                "who": "",
                "link": None,
            }
        )
    return sorted(rows, key=lambda r: str(r["on"]))


def entries(conn: Connection, code: str) -> list[dict[str, Any]]:
    """The entity's list entries with their timeline, objections, repair applications and proposals."""
    found = lifecycle.history(conn, code)
    out = []
    for item in found.entries:
        out.append(
            {
                **item,
                "state_name": STATE_NAMES.get(item["state"], item["state"]),
                "timeline": _timeline(item),
                "proposals": approvals.of_entry(conn, item["id"]),
                "objection_rows": [
                    {**o, "decision_name": DECISION_NAMES.get(o.get("decision") or "", "待决定")}
                    for o in item["objections"]
                ],
                "repair_rows": [
                    {
                        **a,
                        "eligible": bool((a.get("eligibility") or {}).get("eligible")),
                        "decision_name": DECISION_NAMES.get(a.get("decision") or "", "")
                        or ("待决定" if (a.get("eligibility") or {}).get("eligible") else "不符合条件"),
                    }
                    for a in item["repair_applications"]
                ],
            }
        )
    return out


def records(conn: Connection, entity_id: int) -> list[dict[str, Any]]:
    """The entity's records, each with every version (newest first), in words."""
    kinds = lifecycle.record_kinds()
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for r in qr.history(conn, entity_id):
        kind = kinds.get(r["kind"])
        key = (r["kind"], r["natural_key"])
        slot = grouped.setdefault(
            key, {"kind": r["kind"], "kind_title": kind.title if kind else r["kind"], "versions": []}
        )
        slot["versions"].append(
            {
                "version": r["version"],
                "date": r["date"],
                "words": record_words(kind, r["date"], r["data"] or {}),
                "status": "有效" if r["status"] == "valid" else "录入错误，已作废",
                "recorded_at": r["recorded_at"],
                "superseded_at": r["superseded_at"],
                "actor": r["actor"] or "导入",
                "reason": r["reason"] or "",
            }
        )
    out = []
    for slot in grouped.values():
        slot["versions"].sort(key=lambda v: -v["version"])
        slot["current"] = slot["versions"][0]
        out.append(slot)
    return sorted(out, key=lambda s: (str(s["current"]["date"]), s["kind"]), reverse=True)


def documents(conn: Connection, code: str) -> list[dict[str, Any]]:
    """Every notice issued to the entity (of its list entries, its tiers and its inspections), newest first."""
    rows = qn.list_notices(conn, entity_code=code)
    return [
        {
            "id": n["id"],
            "number": n["number"],
            "kind_name": NOTICE_NAMES.get(n["kind"], n["kind"]),
            "issued_on": n["issued_on"],
            "link": f"/notices/{n['id']}.pdf",
        }
        for n in reversed(rows)
    ]


def entity_page(conn: Connection, raw_code: str, user: User | None, today: dt.date) -> dict[str, Any]:
    """Everything the entity page shows (AccessRefused outside the user's region)."""
    e = find(conn, raw_code, user)
    personal = may_see_personal(user, e["region"])
    return {
        "entity": register_view(e, personal),
        "tiers": tiers(conn, e["id"], today),
        "entries": entries(conn, e["code"]),
        "records": records(conn, e["id"]),
        "documents": documents(conn, e["code"]),
        "today": today,
    }
