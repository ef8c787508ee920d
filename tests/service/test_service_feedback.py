"""POST /api/v1/checks/{check_id}/feedback (issue 16, 抄告反馈): the service system reports what it did for one
subject; that acknowledges the apply tasks of the list entries the check cited (the state `supervise measures
ack` writes), once per ref; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from engine.errors import ListError
from engine.service.api import create_app
from engine.service.apps import add_app
from lists import lifecycle as L
from lists import measures as M
from tests.builders_lists import scenario
from tests.service.conftest import Caller, check_body

D = dt.date


def feedback(ref: str = "r0", **over) -> dict:
    return {
        "ref": ref,
        "applied": True,
        "action": "不予受理政府采购投标",
        "operator": "财政局 王五",
        "at": "2026-06-03T10:00:00",
        **over,
    }


@pytest.fixture
def listed(store, factory, key_file):
    """A black-list entry in effect from 2026-06-01 whose procurement ban is routed to 财政局; a checked answer."""
    s = scenario(store, factory, lists=("black",))
    with store.transaction() as conn:
        L.propose_from_cycle(conn, s["cycle"], None, "t")
    with store.transaction() as conn:
        L.serve(conn, D(2026, 5, 6), "t", entry_id=1)
    with store.transaction() as conn:
        L.advance(conn, D(2026, 6, 1))
    client = TestClient(create_app_after_key(store))
    app = add_app(store, "政府采购平台", "check,feedback", "财政局")
    caller = Caller(client, app["app_key"], app["secret"])
    body = check_body(s["codes"][0], service="government_procurement", as_of="2026-06-02")
    answer = caller.post("/api/v1/checks", body)
    assert answer.status_code == 200, answer.text
    return store, caller, answer.json()


def create_app_after_key(store):
    add_app(store, "公示系统", "lists")  # creates the key file
    return create_app(store)


def pending(store, on: dt.date) -> list:
    with store.read() as conn:
        return M.pending(conn, on, department="财政局").tasks


def test_feedback_acknowledges_the_cited_measure_task_once_per_ref(listed):
    store, caller, answer = listed
    (result,) = answer["results"]
    assert result["verdict"] == "restricted"
    ban = next(m for m in result["measures"] if m["id"] == "black-procurement-ban")
    assert ban["cause"]["type"] == "list"
    # valid_to is the last day the entry is published, the day the public site shows as 公示截止日期
    from lists.publish import public_row

    with store.read() as conn:
        (entry,) = L.load(conn, [ban["cause"]["entry"]])
        shown = public_row(entry, D(2026, 6, 2))["published_until"]
    assert ban["valid_to"] == ban["cause"]["valid_to"] == str(shown)
    assert len(pending(store, D(2026, 6, 2))) == 1
    path = f"/api/v1/checks/{answer['check_id']}/feedback"
    response = caller.post(path, feedback())
    assert response.status_code == 200, response.text
    done = response.json()
    assert [(a["measure"], a["department"], a["late"]) for a in done["acked"]] == [
        ("black-procurement-ban", "财政局", False)
    ]
    assert pending(store, D(2026, 6, 4)) == []  # the same state `supervise measures ack` writes
    with store.read() as conn:
        with pytest.raises(ListError, match="already acknowledged"):
            M.ack(conn, done["acked"][0]["task_id"], "x", D(2026, 6, 5))
    again = caller.post(path, feedback(action="再次反馈"))
    assert again.status_code == 409 and "once per ref" in again.json()["error"]


def test_feedback_names_what_is_wrong(listed):
    store, caller, answer = listed
    path = f"/api/v1/checks/{answer['check_id']}/feedback"
    unknown_ref = caller.post(path, feedback("r9"))
    assert unknown_ref.status_code == 422 and "no subject with ref 'r9' (its refs: r0)" in unknown_ref.json()["error"]
    other = add_app(store, "另一系统", "check,feedback")
    foreign = Caller(caller.client, other["app_key"], other["secret"]).post(path, feedback())
    assert foreign.status_code == 404 and f"No check {answer['check_id']} of app" in foreign.json()["error"]
    checker = add_app(store, "只查询", "check")
    unscoped = Caller(caller.client, checker["app_key"], checker["secret"]).post(path, feedback())
    assert unscoped.status_code == 403 and "lacks the scope 'feedback'" in unscoped.json()["error"]
    early = caller.post(path, feedback(at="2026-05-01T09:00:00"))
    assert early.status_code == 422 and "cannot be acknowledged earlier" in early.json()["error"]
    assert len(pending(store, D(2026, 6, 2))) == 1  # nothing of the refused feedback stayed
    assert caller.post(path, feedback()).status_code == 200  # the ref is still open after the refusals
