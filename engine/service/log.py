"""``supervise checks log`` and ``supervise checks show``: the decision log, read back (it is never changed)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any

from engine.outpaths import write_atomically
from engine.results import DictResult
from engine.service.keys import ServiceError
from engine.store import Store
from engine.store import service as qs


class CheckShown(DictResult):
    def lines(self) -> list[str]:
        head = (
            f"Check {self['id']} at {self['requested_at']} by app {self['app_key']} ('{self['app_name']}'): "
            f"service item {self['service_item']} as of {self['as_of']}, requester {self['department'] or '-'} "
            f"case {self['case_no'] or '-'}"
        )
        answer = self["answer"]
        if "results" not in answer:  # a bank credit request (engine.service.bank): answered or refused
            credit, refused = answer.get("credit"), answer.get("refused") or {}
            decision = (credit or {}).get("decision") or {}
            said = (
                f"{credit['status']}, push decision {decision.get('tier') or '-'}" if credit else refused.get("error")
            )
            return [head, f"  bank credit of {self['request'].get('code')}: {said}"]
        rows = [
            f"  {r['ref']} {r['code']} {r['name'] or '(not in the register)'}: {r['verdict']}"
            for r in answer["results"]
        ]
        return [head, *rows]


class LogExported(DictResult):
    def lines(self) -> list[str]:
        return [f"Wrote {self['checks']} check(s) of the decision log to {self['out']}."]


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    """A log row as the export and ``checks show`` give it: ids, app, requester, times, request, answer."""
    return {
        "id": row["id"],
        "app_key": row["app_key"],
        "app_name": row["app_name"],
        "department": row["department"],
        "case_no": row["case_no"],
        "service_item": row["service_item"],
        "as_of": row["as_of"].isoformat(),
        "requested_at": row["requested_at"].isoformat(),
        "request": row["request"],
        "answer": row["answer"],
    }


def show_check(store: Store, check_id: int) -> CheckShown:
    store.require_schema()
    with store.read() as conn:
        row = qs.get_check(conn, check_id)
    if row is None:
        raise ServiceError(f"No check {check_id} in the decision log; 'supervise checks log --out FILE' lists them.")
    return CheckShown(row_json(row))


def export_log(store: Store, out: str, since: dt.datetime | None = None, app_key: str | None = None) -> LogExported:
    """Write the log rows (from ``since``, of one app) as JSON lines to ``out``, atomically."""
    store.require_schema()
    with store.read() as conn:
        rows = [row_json(r) for r in qs.list_checks(conn, since, app_key)]
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    path = pathlib.Path(out)
    write_atomically(path, text.encode("utf-8"))
    return LogExported({"out": str(path), "checks": len(rows)})
