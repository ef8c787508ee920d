"""The console's read models and sessions over a connection, on SQLite and PostgreSQL: the queue's items and
deadlines (the lifecycle's own), its filters and counts, the authority's scope, the entity page's masking, and
the session rules (hashed token, idle expiry, logout, disabled user)."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.access import AccessRefused, users
from engine.access.offices import Office
from engine.console import entity, queue, sessions
from lists import lifecycle

D = dt.date
TODAY = D(2025, 7, 20)


def _user(store, name):
    with store.read() as conn:
        return users.get(conn, name)


def test_queue_items_carry_the_lifecycles_deadlines(store, world):
    with store.read() as conn:
        rows = queue.items(conn, _user(store, "张经办"), TODAY)
        entry1 = lifecycle.load_one(conn, 1, lock=False)
    kinds = sorted({i["kind"] for i in rows})
    assert kinds == ["objection", "serve", "task"]
    objection = next(i for i in rows if i["kind"] == "objection")
    assert objection["deadline"] == entry1.objection_deadline == D(2025, 5, 21)
    assert objection["days_left"] == (D(2025, 5, 21) - TODAY).days
    assert objection["region_name"] == "福建省福州市" and objection["link"] == f"/objections/{world['objection']}"
    serve = next(i for i in rows if i["kind"] == "serve")
    assert serve["entry_id"] == 2 and serve["deadline"] is None
    tasks = [i for i in rows if i["kind"] == "task"]
    assert tasks and all(i["days_left"] < 0 for i in tasks)  # due 10 working days after listing, not acked


def test_a_refused_repair_application_is_not_in_the_queue(store, world):
    with store.read() as conn:
        entry = lifecycle.load_one(conn, 3, lock=False)
        rows = queue.items(conn, None, TODAY)
    assert entry.event("repair_refused") is not None and entry.pending_application is None
    assert [i for i in rows if i["kind"] == "repair"] == []


def test_queue_filters_and_counts(store, world):
    user = _user(store, "张经办")
    with store.read() as conn:
        every = queue.queue(conn, user, TODAY)
        overdue = queue.queue(conn, user, TODAY, queue.Filters(overdue=True))
        soon = queue.queue(conn, user, D(2025, 5, 12), queue.Filters(within=10))
        black = queue.queue(conn, user, TODAY, queue.Filters(list_name="samr-credit/black"))
        other = queue.queue(conn, user, TODAY, queue.Filters(list_name="samr-credit/red"))
        elsewhere = queue.queue(
            conn, user, TODAY, queue.Filters(office=Office("泉市监", "泉州市市场监督管理局", "3505", ("samr-credit",)))
        )
    counts = {c["kind"]: c["count"] for c in every["counts"]}
    assert counts["objection"] == 1 and counts["serve"] == 1 and sum(counts.values()) == every["total"]
    assert all(i["days_left"] < 0 for i in overdue["items"]) and overdue["total"] == every["total"] - 1
    assert [i["kind"] for i in soon["items"]] == ["objection"]  # 9 days left on 2025-05-12; serve has no deadline
    assert black["total"] == every["total"] and other["total"] == 0 and elsewhere["total"] == 0
    with store.read() as conn:
        first = queue.queue(conn, user, TODAY, limit=2)
    assert [i["deadline"] for i in first["items"]] == [i["deadline"] for i in every["items"][:2]]
    assert first["more"] == every["total"] - 2 and first["counts"] == every["counts"]


def test_queue_shows_only_the_users_authority(store, world):
    with store.read() as conn:
        assert queue.items(conn, _user(store, "泉州经办"), TODAY) == []
        assert len(queue.items(conn, None, TODAY)) == len(queue.items(conn, _user(store, "张经办"), TODAY))


def test_entity_page_refuses_outside_the_region_and_masks_personal_data(store, factory, world):
    with store.read() as conn:
        with pytest.raises(AccessRefused, match="只能办理泉州市登记的主体"):
            entity.entity_page(conn, world["codes"][0], _user(store, "泉州经办"), TODAY)
        page = entity.entity_page(conn, world["codes"][0], _user(store, "张经办"), TODAY)
    assert page["entity"]["region_name"] == "福建省福州市" and not page["entity"]["masked"]
    [e1] = [e for e in page["entries"] if e["id"] == 1]
    whats = [t["what"] for t in e1["timeline"]]
    steps = ["提出列入", "送达列入前告知书", "制发列入名单告知书", "提出异议"]
    assert [w for w in whats if w in steps] == steps  # by date, the notices among the events
    assert any(t["link"] and t["link"].endswith(".pdf") for t in e1["timeline"])
    kinds = {d["kind_name"] for d in page["documents"]}
    assert "列入名单告知书" in kinds and all(d["link"].startswith("/notices/") for d in page["documents"])
    person = {
        "code": factory.person(),
        "name": "张三丰",
        "entity_type": "natural_person",
        "region": "350100",
        "industry": None,
        "established_on": None,
        "legal_rep": None,
    }
    shown = entity.register_view(person, entity.may_see_personal(_user(store, "泉州经办"), "350100"))
    assert shown["masked"] and shown["name"] == "张**" and "*" in shown["code"]
    full = entity.register_view(person, entity.may_see_personal(_user(store, "张经办"), "350100"))
    assert full["name"] == "张三丰" and full["code"] == person["code"]


def test_sessions_store_a_hash_expire_when_idle_and_end_on_logout(store, world, monkeypatch):
    user = _user(store, "张经办")
    at = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    with store.transaction() as conn:
        token, session = sessions.start(conn, user, at)
    assert session.expires_at == at + dt.timedelta(hours=8)
    with store.transaction() as conn:
        later = sessions.resume(conn, token, at + dt.timedelta(hours=7))  # a request moves the expiry on
        assert later is not None and later.user.name == "张经办" and later.csrf == session.csrf
        assert sessions.resume(conn, token, at + dt.timedelta(hours=14)) is not None
        assert sessions.resume(conn, token, at + dt.timedelta(hours=23, minutes=1)) is None  # 8 h idle
        assert sessions.resume(conn, "not-a-token", at) is None and sessions.resume(conn, None, at) is None
    monkeypatch.setenv("SUPERVISE_SESSION_HOURS", "0.5")
    with store.transaction() as conn:
        token, session = sessions.start(conn, user, at)
        assert session.expires_at == at + dt.timedelta(minutes=30)
        assert sessions.end(conn, token, at) and not sessions.end(conn, token, at)
        assert sessions.resume(conn, token, at) is None  # ended: refused
        token2, _ = sessions.start(conn, user, at)
        users.disable(conn, "张经办", "李审核")
        assert sessions.resume(conn, token2, at) is None  # a disabled user's sessions end
    monkeypatch.setenv("SUPERVISE_SESSION_HOURS", "eight")
    with pytest.raises(sessions.SessionSettingError, match="SUPERVISE_SESSION_HOURS='eight'"):
        sessions.idle_hours()


def test_proposals_waiting_on_the_user_come_first_and_a_returned_one_only_to_its_proposer(store, world):
    from lists import acts

    with store.transaction() as conn:
        returned = acts.serve(conn, "张经办", D(2025, 5, 6), entry_id=2)
        acts.send_back(conn, "李审核", returned["proposal_id"], "送达地址有误", D(2025, 5, 6))
        waiting = acts.revoke(conn, "张经办", 3, "处罚决定已被撤销", D(2025, 7, 2))
    with store.read() as conn:
        clerk = queue.items(conn, _user(store, "张经办"), TODAY)
        reviewer = queue.items(conn, _user(store, "李审核"), TODAY)
    assert clerk[0]["kind"] == "returned" and clerk[0]["proposal_id"] == returned["proposal_id"]
    assert [i["kind"] for i in reviewer[:1]] == ["review"] and reviewer[0]["proposal_id"] == waiting["proposal_id"]
    assert "returned" not in {i["kind"] for i in reviewer}  # 李审核 returned it; it is 张经办's to redo
    assert len(reviewer) > 1 and all(i["kind"] not in ("review", "returned") for i in reviewer[1:])
