"""Joint measures routing: apply tasks on listing, lift tasks on removal, acknowledgements, overdue reports."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.errors import ListError
from lists import lifecycle as L
from lists import measures as M
from tests.builders_lists import scenario

D = dt.date


def run(store, func, *args, **kwargs):
    with store.transaction() as conn:
        return func(conn, *args, **kwargs)


def read(store, func, *args, **kwargs):
    with store.read() as conn:
        return func(conn, *args, **kwargs)


def test_listing_routes_one_task_per_measure_to_its_department(store, factory):
    s = scenario(store, factory, lists=("black", "red"))
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    red = read(store, M.pending, D(2026, 4, 30))
    assert [(t["measure_id"], t["department"], t["due_on"]) for t in red.tasks] == [
        ("red-fast-track", "行政审批服务局", "2026-05-18")
    ]  # 10 working days: 劳动节 1-5 May, Saturday 9 May works
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    run(store, L.advance, D(2026, 6, 1))
    # listed from 2026-05-22 (the window's end) but recorded, so sent, by the advance of 2026-06-01: the
    # department gets its 10 working days from then, not a task overdue on its first day
    assert read(store, M.pending, D(2026, 5, 25), department="财政局").tasks == []
    p = read(store, M.pending, D(2026, 6, 2), department="财政局")
    (task,) = p.tasks
    assert task["measure_id"] == "black-procurement-ban" and task["action"] == "apply"
    assert task["created_on"] == "2026-06-01" and task["due_on"] == "2026-06-15" and task["overdue_days"] == 0
    assert task["code"] == s["codes"][0] and task["text"] == "依法限制参加政府采购活动"


def test_overdue_acknowledgements_are_reported_and_ack_is_once(store, factory):
    s = scenario(store, factory, lists=("black",))
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    run(store, L.advance, D(2026, 6, 1))
    assert read(store, M.pending, D(2026, 6, 2)).overdue == 0  # the day after listing: nothing overdue yet
    late = read(store, M.pending, D(2026, 6, 19))
    assert late.overdue == 4 and late.overdue_by_department["财政局"] == 1
    assert {t["overdue_days"] for t in late.tasks} == {4}  # due 2026-06-15
    task_id = next(t["task_id"] for t in late.tasks if t["department"] == "财政局")
    r = run(store, M.ack, task_id, "财政局 王五", D(2026, 6, 17), "已在采购平台限制")
    assert r["acked_by"] == "财政局 王五" and r["late"] is True
    assert read(store, M.pending, D(2026, 6, 19)).overdue == 3
    # as of a date before the acknowledgement the task was still pending
    assert len(read(store, M.pending, D(2026, 6, 16), department="财政局").tasks) == 1
    with pytest.raises(
        ListError, match=f"Measure task {task_id} .* was already acknowledged on 2026-06-17 by 财政局 王五"
    ):
        run(store, M.ack, task_id, "someone", D(2026, 6, 4))
    with pytest.raises(ListError, match="There is no measure task 999"):
        run(store, M.ack, 999, "someone", D(2026, 6, 4))
    other = next(t["task_id"] for t in late.tasks if t["department"] == "文明办")
    with pytest.raises(ListError, match="was created on 2026-06-01; it cannot be acknowledged earlier"):
        run(store, M.ack, other, "文明办", D(2026, 5, 1))


def test_removal_lifts_only_the_measures_that_were_applied(store, factory):
    s = scenario(store, factory, lists=("black",))
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    run(store, L.advance, D(2029, 6, 1))  # listed 2026-05-22, expired 2029-05-22
    lifts = [t for t in read(store, M.pending, D(2029, 6, 1)).tasks if t["action"] == "lift"]
    assert len(lifts) == 4 and {t["created_on"] for t in lifts} == {"2029-06-01"}  # sent when the expiry is recorded
