"""Credit repair: eligibility from the pack's repair block and the entity's records, refusals, decisions."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.errors import ListError
from engine.store import schema
from lists import lifecycle as L
from lists import repair as R
from lists.publish import published_rows
from tests.builders_lists import add_cycle, add_penalty, pack_body, scenario

D = dt.date


def run(store, func, *args, **kwargs):
    with store.transaction() as conn:
        return func(conn, *args, **kwargs)


@pytest.fixture
def files(tmp_path):
    out = {}
    for name in ("commitment", "training", "credit_report", "evidence"):
        p = tmp_path / f"{name}.pdf"
        p.write_bytes(f"%PDF {name}".encode())
        out[name] = str(p)
    return out


def listed_black(store, factory, body=None, lists=("black",)):
    """Entries listed on 2026-05-22 (notice served 2026-05-06, 15-day window)."""
    s = scenario(store, factory, lists=lists, body=body)
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=s["cycle"])
    run(store, L.advance, D(2026, 6, 1))
    return s


def apply(store, files, entry_id, on, training=True, report=True):
    return run(
        store,
        R.apply,
        entry_id,
        on,
        "申请人",
        files["commitment"],
        [files["evidence"]],
        files["training"] if training else None,
        files["credit_report"] if report else None,
    )


def test_too_early_is_refused_with_every_unmet_condition_and_the_earliest_date(store, factory, files):
    listed_black(store, factory)
    r = apply(store, files, 1, D(2026, 7, 1), training=False)
    assert r["status"] == "refused"
    e = r["eligibility"]
    assert e["unmet"] == ["min_period", "obligations_fulfilled", "training"]
    assert e["earliest_on"] == "2027-05-22" and e["also_needs"] == ["obligations_fulfilled", "training"]
    assert "the minimum publication period of 12 months ends on 2027-05-22" in r["message"]
    assert "penalty 泉市监罚〔2026〕100号 not fulfilled on 2026-07-01" in r["message"]
    assert (
        "The earliest date an application could succeed is 2027-05-22 once obligations_fulfilled, training are met"
        in r["message"]
    )
    # the refusal is kept: application row with its eligibility JSON, and an event in the entry's history
    with store.read() as conn:
        app = conn.execute(sa.select(schema.repair_applications)).mappings().one()
        assert app["eligibility"]["eligible"] is False and app["eligibility"]["unmet"][0] == "min_period"
        assert app["commitment"]["name"] == "commitment.pdf"
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.repair_decisions)).scalar_one() == 0
        ev = L.load_one(conn, 1, lock=False).last
    assert ev["event"] == "repair_refused" and ev["state"] == "listed" and ev["data"]["earliest_on"] == "2027-05-22"
    with pytest.raises(
        ListError,
        match=r"Repair application 1 was refused on 2026-07-01 \(unmet: min_period, "
        r"obligations_fulfilled, training\); there is nothing to decide",
    ):
        run(store, R.decide, 1, True, "x", D(2026, 7, 2), "科长")


def test_only_time_missing_gives_a_plain_date(store, factory, files):
    listed_black(store, factory)
    r = apply(store, files, 1, D(2027, 1, 4))
    assert r["eligibility"]["unmet"] == ["min_period"]
    assert r["message"].endswith("The earliest date an application could succeed is 2027-05-22.")


def test_approval_ends_the_entry_lifts_measures_and_stops_publication(store, factory, files):
    listed_black(store, factory, lists=("black", "black"))
    r = apply(store, files, 1, D(2027, 5, 24))
    assert r["status"] == "pending" and r["decide_by"] == "2027-06-07"  # 10 working days
    with pytest.raises(ListError, match="already has repair application 1 waiting for a decision"):
        apply(store, files, 1, D(2027, 5, 25))
    with store.read() as conn:
        assert [x["entry_id"] for x in published_rows(conn, D(2027, 6, 1))] == [1, 2]
    d = run(store, R.decide, 1, True, "材料齐全，符合修复条件", D(2027, 6, 1), "科长")
    assert d == {"application_id": 1, "entry_id": 1, "decision": "approved", "state": "repaired", "on": "2027-06-01"}
    with store.read() as conn:
        assert [x["entry_id"] for x in published_rows(conn, D(2027, 5, 31))] == [1, 2]
        assert [x["entry_id"] for x in published_rows(conn, D(2027, 6, 1))] == [2]
        lifts = (
            conn.execute(
                sa.select(schema.measure_tasks.c.measure_id).where(
                    schema.measure_tasks.c.entry_id == 1, schema.measure_tasks.c.action == "lift"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(lifts) == ["black-bidding-limit", "black-honours", "black-more-inspections", "black-procurement-ban"]
    with pytest.raises(ListError, match="was already approved on 2027-06-01 by 科长"):
        run(store, R.decide, 1, False, "x", D(2027, 6, 2), "科长")


def test_rejection_keeps_the_entry_listed_and_allows_a_new_application(store, factory, files):
    listed_black(store, factory)
    apply(store, files, 1, D(2027, 5, 24))
    d = run(store, R.decide, 1, False, "承诺书未公示", D(2027, 5, 28), "科长")
    assert d["state"] == "listed" and d["decision"] == "rejected"
    assert apply(store, files, 1, D(2027, 6, 1))["status"] == "pending"


def test_new_violation_of_the_same_kind_blocks_repair_other_kinds_do_not(store, factory, files):
    s = listed_black(store, factory, lists=("black", "black"))
    with store.transaction() as conn:
        add_penalty(
            conn,
            s["entities"][0],
            D(2026, 10, 1),
            "泉市监罚〔2026〕300号",
            field="食品安全",
            fulfilled_on=D(2026, 10, 5),
        )
        add_penalty(
            conn, s["entities"][1], D(2026, 10, 1), "泉市监罚〔2026〕301号", field="广告", fulfilled_on=D(2026, 10, 5)
        )
    r1 = apply(store, files, 1, D(2027, 6, 1))
    assert r1["eligibility"]["unmet"] == ["no_repeat_same_kind"]
    assert "penalty 泉市监罚〔2026〕300号 of 2026-10-01" in r1["message"]
    assert r1["eligibility"]["earliest_on"] is None
    assert r1["message"].endswith(
        "This entry cannot be repaired; it ends when its publication period does (2029-05-22)."
    )
    assert apply(store, files, 2, D(2027, 6, 1))["status"] == "pending"


def test_approval_rechecks_on_the_decision_date(store, factory, files):
    s = listed_black(store, factory)
    apply(store, files, 1, D(2027, 5, 24))
    with store.transaction() as conn:
        add_penalty(conn, s["entities"][0], D(2027, 5, 26), "泉市监罚〔2027〕9号", field="食品安全")
    with pytest.raises(
        ListError,
        match=r"Repair application 1 can no longer be approved on 2027-06-01: "
        r"no_repeat_same_kind: .*Reject it with --reject",
    ):
        run(store, R.decide, 1, True, "x", D(2027, 6, 1), "科长")
    assert run(store, R.decide, 1, False, "申请后再次违法", D(2027, 6, 1), "科长")["decision"] == "rejected"


def test_lists_without_repair_cannot_be_repaired(store, factory, files):
    s = scenario(store, factory, lists=("red",))
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    r = apply(store, files, 1, D(2026, 12, 1))
    assert "repair_allowed" in r["eligibility"]["unmet"] and r["eligibility"]["earliest_on"] is None
    assert r["message"].endswith(
        "This entry cannot be repaired; it ends when its publication period does (2027-04-30)."
    )


def test_state_errors(store, factory, files):
    s = scenario(store, factory, lists=("black",))
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    with pytest.raises(
        ListError,
        match=r"is proposed \(since 2026-04-30\); credit repair can be applied for only "
        r"while it is listed\. Before listing, file an objection instead",
    ):
        apply(store, files, 1, D(2026, 5, 1))
    with pytest.raises(ListError, match="There is no repair application 7"):
        run(store, R.decide, 7, True, "x", D(2026, 5, 1), "科长")
    with pytest.raises(ListError, match="commitment file .*nope.pdf does not exist"):
        run(store, R.apply, 1, D(2026, 5, 1), "x", "nope.pdf")


def test_application_lapses_when_the_entry_expires_first(store, factory, files):
    listed_black(store, factory, body=pack_body(black={"max_months": 13}))
    assert apply(store, files, 1, D(2027, 6, 1))["status"] == "pending"
    with pytest.raises(ListError, match=r"is expired since 2027-06-22, so repair application 1 lapsed"):
        run(store, R.decide, 1, True, "x", D(2027, 7, 1), "科长")


def test_earliest_date_after_the_end_of_publication(store, factory, files):
    listed_black(store, factory, body=pack_body(black={"max_months": 12}))
    r = apply(store, files, 1, D(2026, 12, 1))
    assert r["eligibility"]["earliest_on"] is None
    assert "Publication ends on 2027-05-22 before the conditions can be met" in r["message"]


def _repair_watch(store, entity_id, cycle_as_of, serve_on, apply_on, decide_on, files, body):
    with store.transaction() as conn:
        cycle = add_cycle(conn, cycle_as_of, [(entity_id, ["watch"])], body=body)
        (p,) = L.propose_from_cycle(conn, cycle, None, "t")["proposed"]
    run(store, L.serve, serve_on, "t", entry_id=p["entry_id"])
    r = run(store, R.apply, p["entry_id"], apply_on, "x", files["commitment"])
    if r["status"] == "pending":
        run(store, R.decide, r["application_id"], True, "ok", decide_on, "科长")
    return r


@pytest.mark.parametrize(
    "cooldown, statuses, unmet, earliest",
    [
        # at most 2 repairs in 5 years: the third is refused until the first drops out of the window
        (0, ["pending", "pending", "refused"], ["max_repairs"], "2031-06-01"),
        # none within 12 months of the last one
        (12, ["pending", "refused"], ["cooldown"], "2027-06-01"),
    ],
)
def test_local_limits_on_repeated_repairs(store, factory, files, cooldown, statuses, unmet, earliest):
    from tests.builders_lists import add_entity

    body = pack_body(
        watch={
            "max_months": 72,  # long enough for the limits, not the expiry, to decide
            "repair": {
                "allowed": True,
                "min_months": 3,
                "requires": ["commitment"],
                "max_repairs": {"count": 2, "years": 5},
                "cooldown_months": cooldown,
            },
        }
    )
    with store.transaction() as conn:
        eid = add_entity(conn, factory.uscc(), "屡改屡犯有限公司")
    rounds = [
        (D(2026, 1, 1), D(2026, 5, 1), D(2026, 6, 1)),
        (D(2026, 6, 2), D(2026, 10, 1), D(2026, 10, 1)),
        (D(2026, 10, 2), D(2027, 2, 1), D(2027, 2, 1)),
    ]
    results = [
        _repair_watch(store, eid, proposed, proposed + dt.timedelta(days=1), applied, decided, files, body)
        for proposed, applied, decided in rounds[: len(statuses)]
    ]
    assert [r["status"] for r in results] == statuses
    assert results[-1]["eligibility"]["unmet"] == unmet and results[-1]["eligibility"]["earliest_on"] == earliest


def test_decide_by_counts_working_days():
    from engine import deadlines

    ldef = {"repair": {"decide_days": 10}}
    assert deadlines.repair_decide_by({}, ldef, D(2027, 5, 24)) == D(2027, 6, 7)  # Monday + 10 working days
    assert deadlines.repair_decide_by({}, {"repair": {"decide_days": 1}}, D(2027, 5, 28)) == D(2027, 5, 31)
    # 2026-04-30 + 10 working days: 劳动节 1-5 May off, Saturday 9 May a working day (调休)
    assert deadlines.repair_decide_by({}, ldef, D(2026, 4, 30)) == D(2026, 5, 18)
