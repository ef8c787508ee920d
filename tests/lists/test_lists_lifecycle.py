"""List entry lifecycle: proposals from a cycle, notice service, objections, advance, revoke, extend, history."""

from __future__ import annotations

import datetime as dt
import pathlib
import re

import pytest
import sqlalchemy as sa

from engine.errors import CycleNotFound, EntityNotFound, ListError, UsageProblem
from engine.store import Store, schema
from lists import lifecycle as L
from notices import issue
from tests.builders_lists import add_cycle, add_entity, all_append_only_rows, event_rows, scenario
from tests.conftest import Factory

D = dt.date


def propose(store, cycle_id, as_of=None):
    with store.transaction() as conn:
        return L.propose_from_cycle(conn, cycle_id, as_of, "tester")


def run(store, func, *args, **kwargs):
    with store.transaction() as conn:
        return func(conn, *args, **kwargs)


def entry(store, entry_id) -> L.Entry:
    with store.read() as conn:
        return L.load_one(conn, entry_id, lock=False)


def states(store, entry_id) -> list[tuple[str, str, dt.date]]:
    return [(e["event"], e["state"], e["valid_from"]) for e in entry(store, entry_id).events]


def test_propose_from_cycle_creates_dated_entries_with_provenance(store, factory):
    s = scenario(store, factory)
    summary = propose(store, s["cycle"])
    assert [p["list"] for p in summary["proposed"]] == ["black", "black", "red"]
    assert summary["counts"] == {"black": 2, "red": 1}
    assert summary["listed"] == [3]  # red list: no objection window, listed at once
    e = entry(store, 1)
    assert e.state == "proposed" and e.row["cycle_id"] == s["cycle"] and e.row["decision_id"]
    assert e.row["rule_id"] == "black-serious-penalty" and "第44号" in e.row["basis"]
    assert e.row["authority"] == "泉州市市场监督管理局"
    assert e.row["reason"] == "近三年受到2次从重行政处罚，情节严重"  # {fact} filled from the decision's facts
    assert e.list_def["objection_days"] == 15 and "list_def" not in e.data  # the regime by reference
    assert e.data["policy_version_id"] and e.data["pack_version"] == "2026"
    assert e.measures["black-procurement-ban"]["department"] == "财政局"
    assert e.measures["black-procurement-ban"]["basis"].endswith("第二十条")
    assert [r["ref"] for r in e.data["records"]] == ["泉市监罚〔2026〕100号"]
    assert states(store, 3) == [("proposed", "proposed", D(2026, 4, 30)), ("listed", "listed", D(2026, 4, 30))]
    assert entry(store, 3).until_on() == D(2027, 4, 30)


def test_propose_twice_and_open_entries_are_skipped(store, factory):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    again = propose(store, s["cycle"])
    assert again["proposed"] == [] and {x["why"] for x in again["skipped"]} == {"already proposed by this cycle"}
    with store.transaction() as conn:
        later = add_cycle(conn, D(2027, 4, 30), [(s["entities"][0], ["black"])])
    third = propose(store, later)
    assert third["proposed"] == []
    assert third["skipped"] == [
        {"entity_id": s["entities"][0], "list": "black", "why": "already listed", "entry_id": 1, "state": "proposed"}
    ]


def test_relisting_after_an_entry_ended_creates_a_new_entry(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.revoke, 1, "处罚决定被撤销", D(2026, 5, 2), "tester")
    with store.transaction() as conn:
        later = add_cycle(conn, D(2027, 4, 30), [(s["entities"][0], ["black"])])
    r = propose(store, later)
    assert [p["entry_id"] for p in r["proposed"]] == [2]
    assert entry(store, 2).data["relisting_of"] == 1


def test_propose_refuses_uncommitted_cycle_and_unknown_list(store, factory):
    with store.transaction() as conn:
        eid = add_entity(conn, factory.uscc(), "某公司")
        superseded = add_cycle(conn, D(2026, 4, 30), [(eid, ["black"])], status="superseded")
        unknown = add_cycle(conn, D(2026, 4, 30), [(eid, ["blak"])])
    with pytest.raises(ListError, match=f"Cycle {superseded} is superseded; only a committed cycle"):
        propose(store, superseded)
    with pytest.raises(ListError, match=r"proposes list 'blak'.*did you mean 'black'"):
        propose(store, unknown)
    with pytest.raises(CycleNotFound, match="No cycle with id 999; 'supervise cycle list'"):
        propose(store, 999)


def test_serve_objection_window_and_advance_is_idempotent(store, factory):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    served = run(store, L.serve, D(2026, 5, 6), "clerk", cycle_id=s["cycle"])
    assert [x["entry_id"] for x in served["served"]] == [1, 2]
    assert served["served"][0]["objection_deadline"] == "2026-05-21"
    assert served["skipped"] == [{"entry_id": 3, "state": "listed"}]
    assert run(store, L.advance, D(2026, 5, 21))["listed"] == []  # last day of the window
    first = run(store, L.advance, D(2026, 5, 22))
    assert first["listed"] == [1, 2]
    assert entry(store, 1).listed_from == D(2026, 5, 22) and entry(store, 1).until_on() == D(2029, 5, 22)
    with store.read() as conn:
        before = all_append_only_rows(conn)
    second = run(store, L.advance, D(2026, 5, 22))
    assert second["listed"] == [] and second["expired"] == []
    with store.read() as conn:
        assert all_append_only_rows(conn) == before


def test_advance_late_uses_the_legal_dates_and_expires(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    r = run(store, L.advance, D(2030, 1, 1))  # nobody ran advance for years
    assert r["listed"] == [1] and r["expired"] == [1]
    assert states(store, 1)[-2:] == [("listed", "listed", D(2026, 5, 22)), ("expired", "expired", D(2029, 5, 22))]


def test_serve_errors(store, factory):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    with pytest.raises(UsageProblem, match="exactly one of --entry ID or --cycle ID"):
        run(store, L.serve, D(2026, 5, 6), "clerk")
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    with pytest.raises(
        ListError,
        match=r"Entry 1 \(black, .*\) is notified \(since 2026-05-06\); the pre-listing "
        r"notice can be served only while it is proposed. It was served on 2026-05-06",
    ):
        run(store, L.serve, D(2026, 5, 7), "clerk", entry_id=1)
    with pytest.raises(ListError, match="cannot take effect earlier"):
        run(store, L.serve, D(2026, 4, 1), "clerk", entry_id=2)
    with pytest.raises(ListError, match="There is no list entry 99"):
        run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=99)


def test_objection_suspends_then_upheld_revokes_and_rejected_resumes(store, factory, tmp_path):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", cycle_id=s["cycle"])
    proof = tmp_path / "receipt.pdf"
    proof.write_bytes(b"%PDF receipt")
    o1 = run(store, L.file_objection, 1, "罚款已在处罚前缴清", [str(proof)], D(2026, 5, 10), "甲公司")
    o2 = run(store, L.file_objection, 2, "处罚畸重", [], D(2026, 5, 20), "乙公司")
    with pytest.raises(ListError, match="already has objection"):
        run(store, L.file_objection, 2, "again", [], D(2026, 5, 20), "乙公司")
    # pending objections hold both entries past the end of the window
    assert run(store, L.advance, D(2026, 6, 1))["listed"] == []
    assert run(store, L.advance, D(2026, 6, 1))["waiting"] == {"objection pending": 2}
    up = run(store, L.decide_objection, o1["objection_id"], True, "经核实罚款已缴清", D(2026, 6, 2), "科长")
    assert up["state"] == "revoked"
    down = run(store, L.decide_objection, o2["objection_id"], False, "异议理由不成立", D(2026, 6, 3), "科长")
    # the window ended on 2026-05-21, so the rejection lets the listing take effect on the decision date
    assert down["state"] == "listed"
    assert states(store, 2)[-2:] == [
        ("objection_rejected", "notified", D(2026, 6, 3)),
        ("listed", "listed", D(2026, 6, 3)),
    ]
    assert [e for e, _, _ in states(store, 1)] == ["proposed", "notified", "objection_filed", "objection_upheld"]
    with store.read() as conn:
        ob = (
            conn.execute(sa.select(schema.objections).where(schema.objections.c.id == o1["objection_id"]))
            .mappings()
            .one()
        )
    assert ob["evidence"][0]["name"] == "receipt.pdf" and len(ob["evidence"][0]["sha256"]) == 64
    with pytest.raises(ListError, match=f"Objection {o1['objection_id']} was already upheld on 2026-06-02"):
        run(store, L.decide_objection, o1["objection_id"], False, "x", D(2026, 6, 4), "科长")


def test_objection_rejected_inside_the_window_lists_after_the_window(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    o = run(store, L.file_objection, 1, "x", [], D(2026, 5, 7), "甲")
    r = run(store, L.decide_objection, o["objection_id"], False, "不成立", D(2026, 5, 8), "科长")
    assert r["state"] == "notified" and r["listable_on"] == "2026-05-22"


def test_objection_errors_name_entry_state_and_fix(store, factory):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    with pytest.raises(
        ListError,
        match=r"Entry 3 \(red, .*\) is listed \(since 2026-04-30\); an objection can be filed "
        r"only while it is proposed or notified\. .*credit repair",
    ):
        run(store, L.file_objection, 3, "x", [], D(2026, 5, 1), "someone")
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    with pytest.raises(ListError, match=r"Entry 1 .* is listed \(since 2026-05-22\)"):  # caught up: window passed
        run(store, L.file_objection, 1, "late", [], D(2026, 5, 25), "甲")
    with pytest.raises(ListError, match="There is no objection 42"):
        run(store, L.decide_objection, 42, True, "x", D(2026, 6, 1), "科长")
    with pytest.raises(ListError, match="evidence file .*missing.pdf does not exist"):
        run(store, L.file_objection, 2, "x", ["missing.pdf"], D(2026, 5, 7), "乙")


def test_objection_before_service_is_allowed(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    o = run(store, L.file_objection, 1, "提前提出异议", [], D(2026, 5, 2), "甲")
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    assert run(store, L.advance, D(2026, 7, 1))["listed"] == []
    run(store, L.decide_objection, o["objection_id"], False, "不成立", D(2026, 7, 2), "科长")
    assert entry(store, 1).state == "listed" and entry(store, 1).listed_from == D(2026, 7, 2)


def test_revoke_lifts_measures_and_revoking_twice_fails(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    r = run(store, L.revoke, 1, "行政处罚决定已被复议机关撤销", D(2026, 9, 1), "科长")
    assert r == {"entry_id": 1, "was": "listed", "state": "revoked", "on": "2026-09-01"}
    with store.read() as conn:
        tasks = conn.execute(sa.select(schema.measure_tasks.c.action, schema.measure_tasks.c.created_on)).all()
    assert sorted(a for a, _ in tasks) == ["apply"] * 4 + ["lift"] * 4
    assert {d for a, d in tasks if a == "lift"} == {D(2026, 9, 1)}
    with pytest.raises(ListError, match=r"is revoked \(since 2026-09-01\); it can be revoked only while"):
        run(store, L.revoke, 1, "again", D(2026, 9, 2), "科长")


def test_revoke_before_listing_creates_no_measure_tasks(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.revoke, 1, "处罚被撤销", D(2026, 5, 3), "科长")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.measure_tasks)).scalar_one() == 0


def test_extend_where_the_pack_allows(store, factory):
    s = scenario(store, factory, lists=("watch", "black"))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", cycle_id=s["cycle"])
    run(store, L.advance, D(2026, 6, 1))
    assert entry(store, 1).until_on() == D(2027, 5, 14)
    r = run(store, L.extend, 1, 4, "整改期间再次违法", D(2027, 1, 1), "科长")
    assert r == {"entry_id": 1, "until": "2027-09-14", "previous_until": "2027-05-14"}
    assert entry(store, 1).until_on(D(2026, 12, 31)) == D(2027, 5, 14)  # as known before the extension
    with pytest.raises(ListError, match=r"at most 6 months of extension .* 4 already used; give --months 2 or less"):
        run(store, L.extend, 1, 3, "x", D(2027, 2, 1), "科长")
    with pytest.raises(ListError, match="list black does not allow extensions"):
        run(store, L.extend, 2, 3, "x", D(2027, 2, 1), "科长")
    assert run(store, L.advance, D(2027, 9, 14))["expired"] == [1]


def test_history_tells_the_whole_story(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", entry_id=1)
    run(store, L.advance, D(2026, 6, 1))
    with store.read() as conn:
        h = L.history(conn, s["codes"][0].lower())
    assert h.code == s["codes"][0]
    (e,) = h.entries
    assert [ev["event"] for ev in e["events"]] == ["proposed", "notified", "listed"]
    assert len(e["measure_tasks"]) == 4
    with store.read() as conn, pytest.raises(EntityNotFound, match="No entity with code 91350100M000100Y43"):
        L.history(conn, "91350100M000100Y43")


def test_show_lists_in_effect_on_a_date(store, factory):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", cycle_id=s["cycle"])
    run(store, L.advance, D(2026, 6, 1))
    with store.read() as conn:
        assert [e["id"] for e in L.show(conn, "black", D(2026, 5, 21)).entries] == []
        assert [e["id"] for e in L.show(conn, "black", D(2026, 5, 22)).entries] == [1, 2]
        assert [e["state"] for e in L.show(conn, "black", D(2026, 5, 10), state="all").entries] == ["notified"] * 2
        assert [e["id"] for e in L.show(conn, "red", D(2027, 4, 29)).entries] == [3]
        assert L.show(conn, "red", D(2027, 4, 30)).entries == []  # past the maximum period, advance or not
        with pytest.raises(ListError, match=r"There is no list 'blak' \(did you mean 'black'\?\)"):
            L.show(conn, "blak", D(2026, 6, 1))


def test_active_entries_carry_measures_for_service_checks(store, factory):
    s = scenario(store, factory)
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "clerk", cycle_id=s["cycle"])
    run(store, L.advance, D(2026, 6, 1))
    with store.read() as conn:
        assert L.active_entries(conn, s["entities"][0], D(2026, 5, 21)) == []
        (a,) = L.active_entries(conn, s["entities"][0], D(2026, 6, 1))
    assert a["list"] == "black" and a["kind"] == "sanction" and a["force_inspection"] is True
    assert a["pack_id"] == "samr-credit" and a["listed_from"] == "2026-05-22"
    ban = next(m for m in a["measures"] if m["id"] == "black-procurement-ban")
    assert ban["services"] == ["government_procurement"] and ban["department"] == "财政局"


def test_events_are_never_rewritten_and_no_update_or_delete_reaches_the_tables(store, factory, tmp_path):
    s = scenario(store, factory)
    statements: list[str] = []

    def capture(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        snapshots = []
        steps = [
            lambda c: L.propose_from_cycle(c, s["cycle"], None, "t"),
            lambda c: L.serve(c, D(2026, 5, 6), "t", cycle_id=s["cycle"]),
            lambda c: L.file_objection(c, 1, "x", [], D(2026, 5, 7), "t"),
            lambda c: L.decide_objection(c, 1, False, "x", D(2026, 5, 8), "t"),
            lambda c: L.advance(c, D(2026, 6, 1)),
            lambda c: L.revoke(c, 2, "x", D(2026, 7, 1), "t"),
            lambda c: L.advance(c, D(2031, 1, 1)),
        ]
        for step in steps:
            with store.transaction() as conn:
                step(conn)
            with store.read() as conn:
                snapshots.append(event_rows(conn))
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    for earlier, later in zip(snapshots, snapshots[1:]):
        assert later[: len(earlier)] == earlier  # only appended
    tables = (
        "list_entries",
        "list_events",
        "objections",
        "objection_decisions",
        "repair_applications",
        "repair_decisions",
        "measure_tasks",
        "measure_acks",
    )
    bad = [st for st in statements if re.match(r"\s*(UPDATE|DELETE)\b", st, re.I) and any(t in st for t in tables)]
    assert bad == []


def test_store_module_has_no_update_or_delete():
    source = (pathlib.Path(__file__).resolve().parents[2] / "engine" / "store" / "lists.py").read_text()
    assert not re.search(r"sa\.(update|delete)\(|\.(update|delete)\(|\b(UPDATE|DELETE)\s", source)


def test_failed_action_stores_nothing(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    with store.read() as conn:
        before = all_append_only_rows(conn)
    with pytest.raises(ListError):
        run(store, L.decide_objection, 1, True, "x", D(2026, 5, 8), "t")
    with pytest.raises(ListError):  # catch-up would list it, then the revoke date is too early: all rolled back
        run(store, L.extend, 1, 1, "x", D(2026, 5, 8), "t")
    with store.read() as conn:
        assert all_append_only_rows(conn) == before


def test_notice_hook_is_called_for_manual_events_and_before_serving(store, factory, monkeypatch):
    """A cycle's proposals leave their documents to 'notices issue --cycle' (bulk); serving issues the
    pre-listing notice first if it is still missing (dated the proposal); later events issue their own."""
    calls = []

    def issue_for_list_events(conn, events, **kw):  # records (entry, event, seq, valid_from) instead of issuing
        for entry_id, seq in events:
            ev = conn.execute(
                sa.select(schema.list_events.c.event, schema.list_events.c.valid_from).where(
                    schema.list_events.c.entry_id == entry_id, schema.list_events.c.seq == seq
                )
            ).one()
            calls.append((entry_id, ev.event, seq, ev.valid_from))

    monkeypatch.setattr(L.notices_issue, "issue_for_list_events", issue_for_list_events)
    s = scenario(store, factory, lists=("black", "black", "red"))
    propose(store, s["cycle"])
    assert calls == []
    run(store, L.revoke, 2, "撤销", D(2026, 5, 1), "t")  # never listed: no removal notice
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    run(store, L.advance, D(2026, 6, 1))
    run(store, L.revoke, 1, "撤销", D(2026, 7, 1), "t")
    assert calls == [
        (1, "proposed", 1, D(2026, 4, 30)),
        (1, "listed", 3, D(2026, 5, 22)),
        (1, "revoked", 4, D(2026, 7, 1)),
    ]


def test_cycle_proposals_get_their_notices_from_notices_issue_and_serving_issues_none_twice(store, factory):
    """Bulk proposals issue no document inline; 'notices issue --cycle' issues the commendation for the entry
    listed at once and leaves the pre-listing notice (with its repair instructions, 两书同达) to its service, whose
    date its objection deadline counts from; serving issues them, and issuing the cycle again adds none."""
    from notices import issue

    s = scenario(store, factory, lists=("black", "red"))
    propose(store, s["cycle"])
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.notices)).scalar_one() == 0
    report = issue.issue_for_cycle(store, s["cycle"], as_of=D(2026, 4, 30))
    assert any("supervise lists serve --entry 1" in k["reason"] for k in report.skipped)

    def by_entry():
        out = {}
        with store.read() as conn:
            for entry_id, kind in conn.execute(
                sa.select(schema.notices.c.entry_id, schema.notices.c.kind).where(
                    schema.notices.c.entry_id.is_not(None)
                )
            ):
                out.setdefault(entry_id, set()).add(kind)
        return out

    assert by_entry() == {2: {"commendation"}}
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=s["cycle"])
    assert by_entry() == {1: {"pre_listing", "repair_instructions"}, 2: {"commendation"}}
    again = issue.issue_for_cycle(store, s["cycle"], as_of=D(2026, 5, 7))
    assert again.issued == [] and len(again.already) == 3


def test_serving_issues_the_pre_listing_notice_dated_the_service_with_its_deadline(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(schema.notices.c.kind, schema.notices.c.issued_on, schema.notices.c.context)
            .where(schema.notices.c.entry_id == 1)
            .order_by(schema.notices.c.kind)
        ).all()
    assert [tuple(r[:2]) for r in rows] == [("pre_listing", D(2026, 5, 6)), ("repair_instructions", D(2026, 5, 6))]
    assert rows[0][2]["objection"]["deadline"] == "2026-05-21"


def test_an_entry_keeps_the_regime_it_was_proposed_under_when_a_later_version_changes_the_list(store, factory):
    from tests.builders_lists import add_cycle, pack_body

    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    stricter = pack_body(black={"objection_days": 30, "max_months": 60, "ack_days": 3, "measures": ["black-honours"]})
    stricter["version"]["version"] = "2027"
    with store.transaction() as conn:
        later = add_cycle(conn, D(2027, 4, 30), [], body=stricter)  # the newer version is stored and in force
    assert later
    e = entry(store, 1)
    assert e.data["pack_version"] == "2026"
    assert e.objection_days == 15 and e.list_def["max_months"] == 36
    assert sorted(e.measures) == [
        "black-bidding-limit",
        "black-honours",
        "black-more-inspections",
        "black-procurement-ban",
    ]
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    run(store, L.advance, D(2026, 6, 1))
    e = entry(store, 1)
    assert e.listed_from == D(2026, 5, 22) and e.until_on() == D(2029, 5, 22)  # 36 months, not 60
    with store.read() as conn:
        due = (
            conn.execute(sa.select(schema.measure_tasks.c.due_on).where(schema.measure_tasks.c.entry_id == 1))
            .scalars()
            .all()
        )
    # ack_days 10 of the 2026 version, not 3: working days from the advance of 2026-06-01 that sent them
    assert len(due) == 4 and set(due) == {D(2026, 6, 15)}


def test_expiries_count_periods_that_ended_in_the_window_not_early_removals(store, factory):
    s = scenario(store, factory)  # black, black, red (the red entry listed at once on 2026-04-30 for 12 months)
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=s["cycle"])
    run(store, L.advance, D(2026, 6, 1))  # both black entries listed on 2026-05-22 for 36 months
    run(store, L.revoke, 2, "处罚决定被撤销", D(2026, 7, 1), "t")
    with store.read() as conn:
        assert L.expiries(conn, "samr-credit", D(2026, 4, 30), D(2027, 4, 29)) == {}
        assert L.expiries(conn, "samr-credit", D(2026, 4, 30), D(2027, 4, 30)) == {"red": 1}
        assert L.expiries(conn, "samr-credit", D(2027, 4, 30), D(2030, 1, 1)) == {"black": 1}  # entry 2 revoked
        assert L.expiries(conn, "other-pack", D(2020, 1, 1), D(2030, 1, 1)) == {}
    run(store, L.advance, D(2030, 1, 1))  # the expiry recorded as an event counts the same
    with store.read() as conn:
        assert L.expiries(conn, "samr-credit", D(2026, 4, 30), D(2030, 1, 1)) == {"black": 1, "red": 1}


def test_serving_and_advancing_many_entries_issue_what_one_entry_at_a_time_would(store, factory):
    from notices import issue

    s = scenario(store, factory, lists=("black", "black", "watch", "red"))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=s["cycle"])  # one batch: three entries served
    run(store, L.advance, D(2026, 6, 1))  # one batch: three listed (两书同达)
    with store.read() as conn:
        kinds = sorted(conn.execute(sa.select(schema.notices.c.kind)).scalars())
        entries = L.load(conn, L.q.entry_ids(conn))
    assert kinds == ["pre_listing"] * 3 + ["repair_instructions"] * 6  # listing: repair instructions again
    # The one-event path finds every notice the batches issued, and adds none. (The red entry was listed when
    # proposed: its commendation comes from 'notices issue --cycle', as for every proposal.)
    with store.transaction() as conn:
        for e in entries:
            if e.list == "red":
                continue
            for ev in e.events:
                again = issue.issue_for_list_event(conn, e.id, ev["event"], seq=ev["seq"], as_of=ev["valid_from"])
                assert again["issued"] == []


def test_an_entry_listed_and_expired_in_one_advance_gets_its_lift_tasks(store, factory):
    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "t", entry_id=1)
    result = run(store, L.advance, D(2030, 1, 1))  # listed on 2026-05-22 and expired on 2029-05-22
    assert result["listed"] == [1] and result["expired"] == [1]
    with store.read() as conn:
        tasks = conn.execute(sa.select(schema.measure_tasks.c.action, schema.measure_tasks.c.measure_id)).all()
    applied = sorted(m for a, m in tasks if a == "apply")
    assert len(applied) == 4 and sorted(m for a, m in tasks if a == "lift") == applied


def test_an_entity_whose_listing_ended_by_the_next_cycle_is_proposed_again(store, factory):
    from tests.builders_lists import add_cycle

    s = scenario(store, factory, lists=("red",))  # listed at once on 2026-04-30 until 2027-04-30
    propose(store, s["cycle"])
    entity = s["entities"][0]
    with store.transaction() as conn:
        mid = add_cycle(conn, D(2026, 10, 31), [(entity, ["red"])])
        later = add_cycle(conn, D(2027, 4, 30), [(entity, ["red"])])
    early = propose(store, mid)  # still in its publication period
    assert early["proposed"] == [] and early["skipped"][0]["why"] == "already listed"
    again = propose(store, later)  # the period ended on the as-of date; 'advance' has not recorded it yet
    assert [p["list"] for p in again["proposed"]] == ["red"] and again["listed"] == [again["proposed"][0]["entry_id"]]
    new = entry(store, again["proposed"][0]["entry_id"])
    assert new.data["relisting_of"] == 1 and new.listed_from == D(2027, 4, 30) and new.until_on() == D(2028, 4, 30)
    with store.read() as conn:  # published without a gap and without overlap
        day = D(2027, 4, 30)
        assert [e.id for e in L.load(conn, [1, new.id]) if e.in_effect_on(day)] == [new.id]
        assert [e.id for e in L.load(conn, [1, new.id]) if e.in_effect_on(day - dt.timedelta(days=1))] == [1]


def test_a_list_of_another_pack_with_the_same_name_does_not_block_a_proposal(store, factory):
    from tests.builders_lists import add_cycle, pack_body

    s = scenario(store, factory, lists=("black",))
    propose(store, s["cycle"])  # samr-credit 'black': proposed, open
    other = pack_body()
    other["pack"] = {**other["pack"], "id": "other-pack"}
    with store.transaction() as conn:
        cycle = add_cycle(conn, D(2026, 5, 31), [(s["entities"][0], ["black"])], body=other)
    result = propose(store, cycle)
    assert [p["list"] for p in result["proposed"]] == ["black"] and result["skipped"] == []


def _stored_lifecycle(store) -> dict[str, list[dict]]:
    """Every notice, list event and measure task as stored, in id order, less the clock's timestamps."""
    out = {}
    with store.read() as conn:
        for table, drop in (
            (schema.notices, {"issued_at"}),
            (schema.list_events, {"recorded_at"}),
            (schema.measure_tasks, {"created_at"}),
            (schema.doc_counters, set()),
        ):
            order = table.c.id if "id" in table.c else table.c.key
            rows = conn.execute(sa.select(table).order_by(order)).mappings()
            out[table.name] = [{k: v for k, v in r.items() if k not in drop} for r in rows]
    return out


def _serve_and_advance(store, factory) -> dict[str, list[dict]]:
    s = scenario(store, factory, lists=("black",) * 9 + ("red",))
    propose(store, s["cycle"])
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=s["cycle"])
    run(store, L.advance, D(2026, 6, 1))  # objection windows over: listed (两书同达)
    run(store, L.advance, D(2031, 6, 1))  # publication periods over: expired, removal decisions
    return _stored_lifecycle(store)


def test_serve_and_advance_pause_the_cyclic_collector_and_restore_it(store, factory):
    """Serving and advancing many entries run with the cyclic garbage collector paused (its full passes over the
    run's objects were a fifth of the time); it is running again afterwards, also when the step fails, and a caller
    that paused it finds it paused."""
    import gc

    s = scenario(store, factory, lists=("black",) * 3)
    propose(store, s["cycle"])
    seen: list[bool] = []

    def progress(n: int) -> None:
        seen.append(gc.isenabled())

    assert gc.isenabled()
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=s["cycle"], progress=progress)
    run(store, L.advance, D(2026, 6, 1), progress=progress)
    assert seen and not any(seen) and gc.isenabled()
    entry_id = entry(store, 1).id
    with pytest.raises(ListError, match="the pre-listing notice can be served"):
        run(store, L.serve, D(2026, 6, 2), "t", entry_id=entry_id)  # listed already: refused
    assert gc.isenabled()
    gc.disable()
    try:
        run(store, L.advance, D(2031, 6, 1), progress=progress)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_large_serve_and_advance_store_what_the_serial_path_stores(store, tmp_path, monkeypatch):
    """From SEAL_PARALLEL_MIN notices on, serve and advance render the notices' text forms (the content hash) in
    worker processes while the next chunk is built: the notices (numbers, order, contexts, hashes), events and
    tasks stored are those of the serial path, chunk boundaries and all."""
    monkeypatch.setattr(L, "ENTRY_CHUNK", 3)
    monkeypatch.setattr(issue, "SEAL_PARALLEL_MIN", 10**9)
    serial_store = Store(f"sqlite:///{tmp_path / 'serial.db'}")
    serial_store.init()
    serial = _serve_and_advance(serial_store, Factory())
    serial_store.dispose()
    monkeypatch.setattr(issue, "SEAL_PARALLEL_MIN", 0)
    monkeypatch.setattr(issue, "SEAL_PARALLEL_CORES", 1)  # workers whatever the machine
    monkeypatch.setattr(issue, "_SEAL_BATCH", 2)
    monkeypatch.setattr(issue, "_SEAL_AHEAD", 1)
    parallel = _serve_and_advance(store, Factory())
    assert len(serial["notices"]) > 30 and len(serial["list_events"]) > 30
    assert {n["kind"] for n in serial["notices"]} >= {"pre_listing", "repair_instructions", "removal_decision"}
    assert parallel == serial


def _proposals_stored(store, cycle_id: int, chunk: int, facts_as_text: bool) -> dict:
    """What proposing a cycle in chunks of ``chunk`` stores (rolled back after): entries, events and measure tasks
    in id order (entry ids as their rank among the new entries: PostgreSQL's sequences do not roll back), the
    summary and the audit row. ``facts_as_text``: the decisions' facts given as their JSON text, as a cycle run
    gives them."""
    import json

    from engine.store import lists as ql

    def rank(value):
        return ("new", new[value]) if value in new else value

    le, ev, mt, log = schema.list_entries, schema.list_events, schema.measure_tasks, schema.audit_log
    with store.engine.connect() as conn:
        tx = conn.begin()
        before = conn.execute(sa.select(sa.func.coalesce(sa.func.max(le.c.id), 0))).scalar_one()
        proposals = list(ql.list_proposals(conn, cycle_id))
        if facts_as_text:
            proposals = [{**p, "facts": json.dumps(p["facts"])} for p in proposals]
        proposer = L.Proposer(conn, cycle_id, None, "tester", chunk=chunk)
        proposer.add(proposals)
        summary = proposer.finish()
        entries = conn.execute(sa.select(le).where(le.c.id > before).order_by(le.c.id)).mappings().all()
        new = {r["id"]: i for i, r in enumerate(entries)}
        events = conn.execute(sa.select(ev).where(ev.c.entry_id.in_(list(new))).order_by(ev.c.id)).mappings().all()
        tasks = conn.execute(sa.select(mt).where(mt.c.entry_id.in_(list(new))).order_by(mt.c.id)).mappings().all()
        audit = conn.execute(sa.select(log.c.actor, log.c.target, log.c.detail).where(log.c.action == "lists_propose"))
        out = {
            "entries": [{k: v for k, v in r.items() if k not in ("id", "created_at")} for r in entries],
            "events": [
                {**{k: v for k, v in r.items() if k not in ("id", "recorded_at")}, "entry_id": rank(r["entry_id"])}
                for r in events
            ],
            "tasks": [
                {**{k: v for k, v in r.items() if k not in ("id", "created_at")}, "entry_id": rank(r["entry_id"])}
                for r in tasks
            ],
            "summary": {
                **summary,
                "proposed": [{**p, "entry_id": rank(p["entry_id"])} for p in summary["proposed"]],
                "listed": [rank(i) for i in summary["listed"]],
            },
            "audit": [tuple(r) for r in audit],
        }
        tx.rollback()
    return out


def test_proposals_in_chunks_store_what_proposing_entry_by_entry_stores(store, factory):
    """A chunk's new entries of a list take the rows its first one made through _append and catch_up (the
    course): the entries, events (ids and order included), measure tasks, summary and audit are those of proposing
    every entry on its own, whatever the chunk size, with the facts given as a dict or as their JSON text."""
    from tests.builders_lists import add_penalty, pack_body

    body = pack_body(red={"measures": ["red-fast-track", "black-more-inspections"]}, watch={"objection_days": 0})
    lists = [("black",), ("red",), ("watch",), ("black", "watch"), ("red", "watch"), ()]
    with store.transaction() as conn:
        ids = [add_entity(conn, factory.uscc(), f"泉州样本{i}有限公司") for i in range(36)]
        for i, entity_id in enumerate(ids):
            if i % 3 == 0:
                add_penalty(conn, entity_id, D(2026, 3, 1), f"泉市监罚〔2026〕{200 + i}号", fulfilled_on=D(2026, 8, 1))
        earlier = add_cycle(conn, D(2025, 4, 30), [(e, ["black"]) for e in ids[:4]], body=body)
        cycle = add_cycle(conn, D(2026, 4, 30), [(e, lists[i % len(lists)]) for i, e in enumerate(ids)], body=body)
    first = propose(store, earlier)
    run(store, L.revoke, first["proposed"][0]["entry_id"], "处罚决定被撤销", D(2025, 6, 1), "tester")

    one_by_one = _proposals_stored(store, cycle, chunk=1, facts_as_text=False)
    assert len(one_by_one["entries"]) > 30 and len(one_by_one["tasks"]) > 20
    assert {e["event"] for e in one_by_one["events"]} == {"proposed", "listed"}
    assert one_by_one["summary"]["listed"] and {s["why"] for s in one_by_one["summary"]["skipped"]} == {
        "already listed"
    }
    assert any(e["data"]["relisting_of"] for e in one_by_one["entries"])
    assert any(e["data"]["records"] for e in one_by_one["entries"])
    assert "近三年受到2次从重行政处罚，情节严重" in {e["reason"] for e in one_by_one["entries"]}  # a fact filled in
    for chunk in (2, 7, L.PROPOSAL_CHUNK):
        for facts_as_text in (False, True):
            assert _proposals_stored(store, cycle, chunk, facts_as_text) == one_by_one, (chunk, facts_as_text)
