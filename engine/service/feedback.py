"""Feedback on a check (抄告反馈): ``POST /api/v1/checks/{check_id}/feedback`` closes the acknowledgement of the
measure tasks the check's list entries carry (the state ``supervise measures ack`` writes), once per subject."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.errors import SupervisionError
from engine.store import Store
from engine.store import lists as ql
from engine.store import service as qs
from engine.values import CHINA
from lists import measures


class FeedbackError(SupervisionError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def record(store: Store, app: dict[str, Any], check_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Acknowledge, for subject ``ref`` of check ``check_id``, the apply tasks of the measures its list entries
    carry (of the app's department when it has one) and store the feedback, in one transaction."""
    at: dt.datetime = body["at"] if body["at"].tzinfo else body["at"].replace(tzinfo=CHINA)
    state = "已执行" if body["applied"] else "未执行"
    with store.transaction() as conn:
        row = qs.get_check(conn, check_id)
        if row is None or row["app_id"] != app["id"]:
            raise FeedbackError(404, f"No check {check_id} of app {app['app_key']} in the decision log.")
        results = {r["ref"]: r for r in row["answer"].get("results") or []}  # a bank credit row has none
        result = results.get(body["ref"])
        if result is None:
            raise FeedbackError(
                422, f"Check {check_id} has no subject with ref '{body['ref']}' (its refs: {', '.join(results)})."
            )
        cited = {
            (m["cause"]["entry"], m["id"]) for m in result["measures"] if (m.get("cause") or {}).get("type") == "list"
        }
        tasks = ql.tasks(conn, entry_ids=sorted({entry for entry, _ in cited})) if cited else []
        acked, already = [], []
        for task in tasks:
            if (task["entry_id"], task["measure_id"]) not in cited or task["action"] != "apply":
                continue
            if app["department"] and task["department"] != app["department"]:
                continue
            if task["acked_on"] is not None:
                already.append(task["id"])
                continue
            note = f"检查第{check_id}号反馈（{body['ref']}）：{state}，{body['action']}"
            done = measures.ack(conn, task["id"], body["operator"], at.astimezone(CHINA).date(), note)
            acked.append(
                {
                    "task_id": task["id"],
                    "measure": task["measure_id"],
                    "department": task["department"],
                    "late": bool(done["late"]),
                }
            )
        feedback = {
            "check_id": check_id,
            "ref": body["ref"],
            "applied": body["applied"],
            "action": body["action"],
            "operator": body["operator"],
            "at": at,
            "acked_tasks": [a["task_id"] for a in acked],
        }
        if not qs.insert_feedback(conn, feedback):
            raise FeedbackError(409, f"Check {check_id} already has feedback for ref '{body['ref']}' (once per ref).")
    return {"check_id": check_id, "ref": body["ref"], "acked": acked, "already_acked": already}
