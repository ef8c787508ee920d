"""The 待办 queue, the console's home page: what the user's authority has to do, with its statutory deadline.

Kinds of item (:data:`KINDS`), each read from what the lists already store and compute, never recomputed here:

* ``serve`` — entries awaiting their pre-listing notice (state ``proposed`` on a list with an objection window);
* ``objection`` — objections not yet decided, with the last day of the entry's objection window as fixed when the
  notice was served (:attr:`lists.lifecycle.Entry.objection_deadline`);
* ``repair`` — eligible repair applications not yet decided, with the decide-by date stored with the
  ``repair_applied`` event (:func:`engine.deadlines.repair_decide_by` for an event stored without it);
* ``task`` — overdue measure feedback (:func:`lists.measures.pending`);
* ``review`` — proposals awaiting review (:func:`lists.approvals.pending`);
* ``returned`` — proposals a reviewer returned, with the reason (:func:`lists.approvals.returned`).

Only what the user's authority covers (region prefix and packs) is shown; the filters narrow that further.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from engine import deadlines
from engine.access.offices import Office
from engine.access.users import User
from engine.regions import region_label
from engine.store import Connection
from engine.store import lists as ql
from engine.templating import cn_date
from lists import approvals, lifecycle, measures

KINDS = {
    "serve": "待送达列入前告知书",
    "objection": "待处理异议",
    "repair": "待决定信用修复",
    "task": "逾期未反馈措施",
    "review": "待审核",
    "returned": "被退回",
}


@dataclasses.dataclass(frozen=True)
class Filters:
    """What the queue is narrowed to: a list (``black`` or ``PACK/black``), an office, and a deadline (``overdue``
    only, or due within ``within`` days)."""

    list_name: str | None = None
    office: Office | None = None
    overdue: bool = False
    within: int | None = None


def _days(deadline: dt.date | None, today: dt.date) -> int | None:
    return None if deadline is None else (deadline - today).days


def _item(kind: str, row: dict[str, Any], today: dt.date, **values: Any) -> dict[str, Any]:
    deadline = values.pop("deadline", None)
    return {
        "kind": kind,
        "kind_name": KINDS[kind],
        "entry_id": row["entry_id"],
        "list": row["list"],
        "list_title": row.get("list_title") or row["list"],
        "pack_id": row["pack_id"],
        "code": row["code"],
        "name": row.get("name") or "未记载",
        "region": row.get("region"),
        "region_name": region_label(row.get("region")),
        "deadline": deadline,
        "days_left": _days(deadline, today),
        **values,
    }


def _entry_row(entry: lifecycle.Entry) -> dict[str, Any]:
    r = entry.row
    return {
        "entry_id": entry.id,
        "list": entry.list,
        "list_title": entry.title,
        "pack_id": r["pack_id"],
        "code": r["code"],
        "name": r.get("entity_name"),
        "region": r.get("entity_region"),
    }


def _decide_by(entry: lifecycle.Entry, application_id: int, applied_on: dt.date) -> dt.date:
    for ev in entry.events:
        data = ev.get("data") or {}
        if ev["event"] == "repair_applied" and data.get("application_id") == application_id and data.get("decide_by"):
            return dt.date.fromisoformat(str(data["decide_by"])[:10])
    return deadlines.repair_decide_by(entry.timing, entry.list_def, applied_on)


def _proposal_link(p: dict[str, Any]) -> str:
    if p["kind"] == "objection":
        return f"/objections/{p['target_id']}"
    if p["kind"] == "repair":
        return f"/repairs/{p['target_id']}"
    return f"/entities/{p['code']}#entry-{p['entry_id']}"


def items(conn: Connection, user: User | None, today: dt.date) -> list[dict[str, Any]]:
    """Every queue item within ``user``'s authority (every item for None), most urgent first."""
    out: list[dict[str, Any]] = []
    open_ids = ql.entry_ids(conn, states=list(lifecycle.OPEN))
    entries = lifecycle.load(conn, open_ids)
    objection_ids = [i for e in entries for i in e.pending_objections]
    objections = {o["id"]: o for o in ql.objections_for(conn, [e.id for e in entries if e.pending_objections])}
    applications = {a["id"]: a for a in ql.applications_for(conn, [e.id for e in entries if e.pending_application])}
    pending = approvals.pending(conn, user)
    awaiting = {(p["kind"], p["target_id"]): p for p in pending}
    for e in entries:
        row = _entry_row(e)
        if e.state == "proposed" and e.objection_days > 0:
            p = awaiting.get(("listing", e.id))
            out.append(
                _item(
                    "serve",
                    row,
                    today,
                    what=f"{e.title}：自{cn_date(e.since)}起待送达列入前告知书" if e.since else e.title,
                    since=e.since,
                    link=f"/entities/{e.row['code']}#entry-{e.id}",
                    proposed_by=p["proposed_by"] if p else None,
                )
            )
        for oid in e.pending_objections:
            o = objections.get(oid)
            if o is None or oid not in objection_ids:
                continue
            p = awaiting.get(("objection", oid))
            out.append(
                _item(
                    "objection",
                    row,
                    today,
                    deadline=e.objection_deadline if e.state == "notified" else None,
                    what=f"异议（{cn_date(o['filed_on'])}提出）：{o['reason']}",
                    since=o["filed_on"],
                    link=f"/objections/{oid}",
                    proposed_by=p["proposed_by"] if p else None,
                )
            )
        app_id = e.pending_application
        if app_id is not None and app_id in applications:
            a = applications[app_id]
            p = awaiting.get(("repair", app_id))
            out.append(
                _item(
                    "repair",
                    row,
                    today,
                    deadline=_decide_by(e, app_id, a["applied_on"]),
                    what=f"信用修复申请（{cn_date(a['applied_on'])}，申请人{a['applicant']}）",
                    since=a["applied_on"],
                    link=f"/repairs/{app_id}",
                    proposed_by=p["proposed_by"] if p else None,
                )
            )
    overdue_tasks = [t for t in measures.pending(conn, today).tasks if t["overdue_days"] > 0]
    task_entries = ql.get_entries(conn, {t["entry_id"] for t in overdue_tasks})
    for t in overdue_tasks:
        r = task_entries[t["entry_id"]]
        row = {
            "entry_id": t["entry_id"],
            "list": t["list"],
            "list_title": t["list"],
            "pack_id": r["pack_id"],
            "code": t["code"],
            "name": t["name"],
            "region": r.get("entity_region"),
        }
        action = "实施" if t["action"] == "apply" else "解除"
        out.append(
            _item(
                "task",
                row,
                today,
                deadline=dt.date.fromisoformat(t["due_on"]),
                what=f"{t['department']}应反馈{action}措施：{t['text'] or t['measure_id']}",
                since=dt.date.fromisoformat(t["created_on"]),
                link=f"/entities/{t['code']}#entry-{t['entry_id']}",
                proposed_by=None,
            )
        )
    returned = approvals.returned(conn, user)
    if user is not None and user.role != "admin":  # a returned proposal is its proposer's to redo
        returned = [p for p in returned if p["proposed_by"] == user.name]
    for kind, rows in (("review", pending), ("returned", returned)):
        for p in rows:
            row = {**p, "name": p.get("entity_name")}
            if kind == "review":
                what = f"{p['kind_name']}：{p['proposed_by']}于{cn_date(p['proposed_on'])}提出，理由：{p['reason']}"
            else:
                what = (
                    f"{p['kind_name']}：{p['reviewed_by']}于{cn_date(p['reviewed_on'])}退回，理由：{p['review_reason']}"
                )
            out.append(
                _item(
                    kind,
                    row,
                    today,
                    what=what,
                    since=p["proposed_on"] if kind == "review" else p["reviewed_on"],
                    link=_proposal_link(p),
                    proposal_id=p["id"],
                    proposed_by=p["proposed_by"],
                )
            )
    if user is not None:
        out = [i for i in out if user.covers_region(i["region"]) and user.runs_pack(i["pack_id"])]
    titles = _list_titles(conn)
    for i in out:
        i["list_title"] = titles.get((i["pack_id"], i["list"]), i["list_title"])
    order = list(KINDS)
    # A proposal awaiting this user's review and one returned to it come first (they wait on this user and have no
    # statutory deadline of their own), then everything else by deadline.
    reviews = user is None or user.role in ("reviewer", "admin")

    def waits_on_user(i: dict[str, Any]) -> bool:
        if i["kind"] == "returned":
            return True
        return i["kind"] == "review" and reviews and (user is None or i["proposed_by"] != user.name)

    return sorted(
        out,
        key=lambda i: (
            not waits_on_user(i),
            i["deadline"] is None,
            i["deadline"] or dt.date.max,
            order.index(i["kind"]),
            i["entry_id"],
        ),
    )


def _list_titles(conn: Connection) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for body in ql.latest_pack_bodies(conn):
        pack_id = (body.get("pack") or {}).get("id", "")
        for name, ldef in ((body.get("version") or {}).get("lists") or {}).items():
            out[(pack_id, name)] = (ldef or {}).get("title") or name
    return out


def filtered(rows: list[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    """The items that pass the filters."""
    out = rows
    if filters.list_name:
        pack, _, name = filters.list_name.rpartition("/")
        out = [i for i in out if i["list"] == name and (not pack or i["pack_id"] == pack)]
    if filters.office is not None:
        office = filters.office
        out = [i for i in out if office.covers(i["region"]) and i["pack_id"] in office.packs]
    if filters.overdue:
        out = [i for i in out if i["days_left"] is not None and i["days_left"] < 0]
    elif filters.within is not None:
        out = [i for i in out if i["days_left"] is not None and i["days_left"] <= filters.within]
    return out


def counts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per kind (every kind, in :data:`KINDS` order): the number of items and how many are past their deadline."""
    return [
        {
            "kind": kind,
            "kind_name": name,
            "count": sum(1 for i in rows if i["kind"] == kind),
            "overdue": sum(1 for i in rows if i["kind"] == kind and (i["days_left"] or 0) < 0),
        }
        for kind, name in KINDS.items()
    ]


PAGE = 200  # items a page lists (the counts are of all of them): a filter narrows the rest down


def queue(
    conn: Connection, user: User | None, today: dt.date, filters: Filters | None = None, limit: int = PAGE
) -> dict[str, Any]:
    """The queue page's data: the filtered items (the most urgent ``limit`` of them), the counts per kind (of
    every filtered item), the lists the filter form offers."""
    every = items(conn, user, today)
    shown = filtered(every, filters or Filters())
    lists_offered = sorted({(i["pack_id"], i["list"], i["list_title"]) for i in every})
    return {
        "today": today,
        "items": shown[:limit],
        "counts": counts(shown),
        "total": len(shown),
        "more": max(0, len(shown) - limit),
        "lists": [{"value": f"{p}/{n}", "label": f"{t}（{p}）"} for p, n, t in lists_offered],
    }
