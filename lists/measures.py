"""Joint measures routing (联合奖惩, 抄告反馈): one task per measure for the department that applies it.

Listing an entry creates an ``apply`` task for every measure of its list; removing it (expired, repaired,
revoked) creates a ``lift`` task for every measure that was applied. A department acknowledges a task once
(``measure_acks``); a task not acknowledged by its due date is overdue. The due date is ``ack_days`` after the
task was sent (the day the listing or removal was recorded), working or calendar days as the pack's ``deadlines.ack``
rule says (:func:`engine.deadlines.ack_due`).
"""

from __future__ import annotations

import datetime as dt
import difflib
from typing import Any, Protocol

from engine import deadlines
from engine.errors import ListError
from engine.store import lists as q
from lists.results import PendingTasks, TaskAcked

DEFAULT_ACK_DAYS = deadlines.DEFAULT_ACK_DAYS


class ListedEntry(Protocol):
    """What the routing reads of a list entry (a ``lists.lifecycle.Entry``; named here by shape so that this
    module, which the lifecycle imports, does not import the lifecycle back)."""

    @property
    def id(self) -> int: ...
    @property
    def list(self) -> str: ...
    @property
    def list_def(self) -> dict[str, Any]: ...
    @property
    def measures(self) -> dict[str, dict[str, Any]]: ...
    @property
    def timing(self) -> dict[str, Any]: ...

    regime: dict[str, Any] | None


def task_data(list_name: str, measure: dict[str, Any]) -> dict[str, Any]:
    """What a task records of its measure (the department has its own column)."""
    return {
        "text": measure.get("text"),
        "basis": measure.get("basis"),
        "kind": measure.get("kind"),
        "services": measure.get("services") or [],
        "list": list_name,
    }


def task_rows(
    conn, entry: ListedEntry, action: str, on: dt.date, applied: set[str] | None = None
) -> list[dict[str, Any]]:
    """The apply (on listing) or lift (on removal: only the measures that were applied) task rows of an entry,
    sent on ``on``; ``lists.lifecycle`` stores them with the event that calls for them. ``applied``: the measures
    applied to the entry, stored or waiting in the caller's batch (looked up when not given)."""
    measures = entry.measures
    if action == "lift":
        if applied is None:
            applied = q.applied_measures(conn, [entry.id])[entry.id]
        measures = {mid: m for mid, m in measures.items() if mid in applied}
    due = deadlines.ack_due(entry.timing, entry.list_def, on)
    shared = (entry.regime or {}).get("task_data") or {}  # one object per measure for every entry of the list
    return [
        {
            "entry_id": entry.id,
            "measure_id": mid,
            "department": m.get("department") or "未指定部门",
            "action": action,
            "created_on": on,
            "due_on": due,
            "data": shared.get(mid) or task_data(entry.list, m),
        }
        for mid, m in measures.items()
    ]


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    acked = task.get("acked_on")
    return {
        "task_id": task["id"],
        "entry_id": task["entry_id"],
        "list": task["list"],
        "code": task["code"],
        "name": task["entity_name"],
        "measure_id": task["measure_id"],
        "action": task["action"],
        "department": task["department"],
        "text": (task.get("data") or {}).get("text"),
        "created_on": task["created_on"].isoformat(),
        "due_on": task["due_on"].isoformat(),
        "acked_on": acked.isoformat() if acked else None,
        "acked_by": task.get("acked_by"),
    }


def departments(conn) -> list[str]:
    """Departments that have measure tasks, or that a stored pack version's measures name."""
    names = q.task_departments(conn)
    for body in q.latest_pack_bodies(conn):
        for m in ((body.get("version") or {}).get("measures") or {}).values():
            if (m or {}).get("department"):
                names.add(m["department"])
    return sorted(n for n in names if n)


def pending(conn, as_of: dt.date, department: str | None = None) -> PendingTasks:
    """Tasks created on or before ``as_of`` and not acknowledged by then; overdue ones counted per department.
    A department no task or measure names is an error (with the closest names), not "0 pending"."""
    if department is not None:
        known = departments(conn)
        if department not in known:
            close = difflib.get_close_matches(department, known, n=3, cutoff=0.4)  # short Chinese names
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise ListError(
                f"No department '{department}' has measure tasks or appears in a stored pack's measures"
                f"{hint}; departments: {', '.join(known) or 'none yet'}. "
                f"Give --department exactly as the pack's measures name it."
            )
    tasks: list[dict[str, Any]] = []
    overdue: dict[str, int] = {}
    for task in q.tasks(conn, department=department, unacked_on=as_of):
        view = task_view({**task, "acked_on": None, "acked_by": None})  # an ack after as_of: pending on as_of
        view["overdue_days"] = max(0, (as_of - task["due_on"]).days)
        if view["overdue_days"]:
            overdue[task["department"]] = overdue.get(task["department"], 0) + 1
        tasks.append(view)
    return PendingTasks(
        as_of=as_of.isoformat(),
        department=department,
        tasks=tasks,
        overdue=sum(overdue.values()),
        overdue_by_department=overdue,
    )


def ack(conn, task_id: int, by: str, on: dt.date, note: str | None = None) -> dict[str, Any]:
    """Record that the department applied (or lifted) the measure."""
    task = q.get_task(conn, task_id)
    if task is None:
        raise ListError(f"There is no measure task {task_id}; see 'supervise measures pending'.")
    if task["acked_on"] is not None:
        raise ListError(
            f"Measure task {task_id} ({task['measure_id']}, {task['department']}) was already "
            f"acknowledged on {task['acked_on']} by {task['acked_by']}."
        )
    if on < task["created_on"]:
        raise ListError(
            f"Measure task {task_id} was created on {task['created_on']}; it cannot be acknowledged earlier ({on})."
        )
    q.insert_ack(conn, task_id, on, by, note)
    view = TaskAcked(task_view({**task, "acked_on": on, "acked_by": by}))
    view["late"] = on > task["due_on"]
    return view
