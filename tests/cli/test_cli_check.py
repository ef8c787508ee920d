"""`supervise check` and engine.check: fails closed (unknown service item, no decision yet, not in the register),
Chinese service names from pack data, only the latest revision of a cycle counts; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from cli import cli
from engine.errors import PolicyError, UnknownServiceItem
from engine.pipeline.check import check, service_items
from engine.pipeline.cycles import run_cycle
from policies import get_pack, pack_files
from policies.loader import load_pack
from tests.builders_engine import Register, mini_pack, tax, violation

AS_OF = dt.date(2026, 4, 30)
NOT_REGISTERED = "91350100M000100Y43"  # a valid code no test registers


@pytest.fixture
def world(store):
    reg = Register(store)
    codes = {
        "good": reg.entity(records=[tax(2025, 96)]),  # tax A: incentive for invoice_supply
        "bad": reg.entity(records=[tax(2025, 95), violation("2025-05-01", "false_preference_claim")]),  # tax D
        "plain": reg.entity(records=[tax(2025, 80)]),
    }  # tax B: no measure on invoice_supply
    return store, reg, codes


def one(store, code, service, as_of=AS_OF):
    (result,) = check(store, [code], service, as_of)
    return result


def cli_check(store, runner, *args):
    return runner.invoke(cli, ["--db", store.url, "check", *args, "--as-of", AS_OF.isoformat()])


def test_unknown_service_item_is_an_error_with_did_you_mean(world, runner):
    store, _, codes = world
    with pytest.raises(UnknownServiceItem, match=r"did you mean 'government_procurement'\?"):
        check(store, [codes["good"]], "goverment_procurement", AS_OF)
    with pytest.raises(UnknownServiceItem, match=r"did you mean '政府采购'\?"):
        check(store, [codes["good"]], "政府采", AS_OF)
    result = cli_check(store, runner, codes["good"], "--service", "goverment_procurement")
    assert result.exit_code == 1
    assert "Unknown service item 'goverment_procurement' (did you mean 'government_procurement'?)" in result.output
    assert "government_procurement（政府采购）" in result.output  # the list of known items names them in Chinese
    as_json = cli_check(store, runner, codes["good"], "--service", "goverment_procurement", "--json")
    assert as_json.exit_code == 1 and as_json.stdout == ""
    error = json.loads(as_json.stderr)
    assert error["where"] == "supervise check" and "did you mean 'government_procurement'" in error["error"]


def test_chinese_name_is_an_alias_of_the_id(world, runner):
    store, _, codes = world
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    by_name, by_id = one(store, codes["bad"], "发票领用"), one(store, codes["bad"], "invoice_supply")
    assert by_name == by_id
    assert (by_name.service, by_name.service_name, by_name.verdict) == ("invoice_supply", "发票领用", "restricted")
    text = cli_check(store, runner, codes["bad"], "--service", "发票领用")
    assert text.exit_code == 0, text.output
    assert "applying for 发票领用 (invoice_supply) on 2026-04-30: restricted" in text.output


def test_every_service_item_of_the_shipped_packs_has_a_chinese_name():
    items = service_items()
    used = {
        s
        for pack_id in pack_files()
        for v in get_pack(pack_id).versions
        for m in v.measures.values()
        for s in m["services"]
    }
    assert used and used <= set(items)
    assert all(items[s].name for s in used), {s: items[s] for s in used if not items[s].name}
    assert items["government_procurement"].name == "政府采购"
    assert set(items["government_procurement"].packs) == {"tax-credit", "market-credit-risk", "epidemic-conduct"}


def test_a_pack_that_declares_services_must_declare_every_one_its_measures_use(tmp_path):
    path = mini_pack(tmp_path, default="    services: {licnce: 行政许可}")
    with pytest.raises(PolicyError) as err:
        load_pack(path)
    assert any(
        "measures.m-inc.services" in p and "'licence' is not declared under services (did you mean 'licnce'?)" in p
        for p in err.value.problems
    ), err.value.problems
    ok = load_pack(mini_pack(tmp_path, default="    services: {licence: 行政许可}", name="ok.yaml"))
    assert ok.versions[0].services == {"licence": "行政许可"}


def test_no_cycle_yet_needs_review_never_no_measure(world, runner):
    store, _, codes = world
    result = one(store, codes["plain"], "invoice_supply")
    assert result.verdict == "needs_review" and result.measures == [] and result.decisions == []
    assert [(r.why, r.pack) for r in result.reviews] == [("no_cycle", "tax-credit")]
    assert "尚无截至2026-04-30已提交的评价周期" in result.reviews[0].reason
    # Three packs govern government procurement for an enterprise: each one missing is named.
    procurement = one(store, codes["plain"], "government_procurement")
    assert procurement.verdict == "needs_review"
    assert {r.pack for r in procurement.reviews} == {"tax-credit", "market-credit-risk", "epidemic-conduct"}
    text = cli_check(store, runner, codes["plain"], "--service", "invoice_supply")
    assert text.exit_code == 0 and ": needs_review" in text.output and "needs review: 纳税缴费信用评价" in text.output
    assert "no joint measure applies" not in text.output


def test_not_in_the_register_needs_review(world, runner):
    store, _, codes = world
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    result = one(store, NOT_REGISTERED, "invoice_supply")
    assert (result.verdict, result.name, [r.why for r in result.reviews]) == ("needs_review", None, ["not_in_register"])
    data = json.loads(cli_check(store, runner, NOT_REGISTERED, "--service", "invoice_supply", "--json").output)
    assert data["verdict"] == "needs_review" and "不在主体名录中" in data["reviews"][0]["reason"]


def test_entity_registered_after_the_cycle_needs_review(world):
    store, reg, _ = world
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    late = reg.entity(records=[tax(2025, 99)])
    result = one(store, late, "invoice_supply")
    assert result.verdict == "needs_review"
    assert [(r.why, r.pack, r.cycle) for r in result.reviews] == [("not_evaluated", "tax-credit", 1)]


def test_decided_by_every_governing_pack(world, runner):
    store, _, codes = world
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    results = check(store, [codes["good"], codes["bad"], codes["plain"], NOT_REGISTERED], "invoice_supply", AS_OF)
    assert [r.verdict for r in results] == ["incentive", "restricted", "no_measure", "needs_review"]
    assert [r.uscc for r in results] == [codes["good"], codes["bad"], codes["plain"], NOT_REGISTERED]
    good, bad, plain, _ = results
    assert [m.measure for m in good.measures] == ["a-invoice-3-months"]
    assert [m.measure for m in bad.measures] == ["d-invoice-limit"] and bad.measures[0].basis
    assert [(d.pack, d.cycle, d.revision, d.tier) for d in plain.decisions] == [("tax-credit", 1, 1, "B")]
    text = cli_check(store, runner, codes["plain"], "--service", "invoice_supply")
    assert "no joint measure applies" in text.output and "decided by tax-credit@2025 cycle 1" in text.output


def test_a_sanction_restricts_even_while_another_pack_has_not_decided(world):
    store, _, codes = world
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    result = one(store, codes["bad"], "government_procurement")
    assert result.verdict == "restricted"
    assert {m.measure for m in result.measures} == {"d-share-result"}
    assert {r.pack for r in result.reviews} == {"market-credit-risk", "epidemic-conduct"}  # still named
    fine = one(store, codes["good"], "government_procurement")
    assert fine.verdict == "needs_review"  # tax-credit has no measure, but two packs are still to decide
    run_cycle(store, "market-credit-risk", AS_OF.isoformat(), as_of=AS_OF)
    run_cycle(store, "epidemic-conduct", AS_OF.isoformat(), as_of=AS_OF)
    decided = one(store, codes["good"], "government_procurement")
    assert decided.verdict == "no_measure" and decided.reviews == []
    assert {d.pack for d in decided.decisions} == {"tax-credit", "market-credit-risk", "epidemic-conduct"}


def test_only_the_latest_revision_counts(world, runner):
    store, reg, codes = world
    first = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    assert one(store, codes["good"], "invoice_supply").verdict == "incentive"
    reg.records(codes["good"], [violation("2025-08-01", "false_preference_claim")])  # a D case, known late
    # The new revision has an earlier as-of date than the one it supersedes: it still speaks for the period.
    second = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 3, 31), rerun=True)
    assert second["supersedes"] == first["cycle"]
    result = one(store, codes["good"], "invoice_supply")
    assert result.verdict == "restricted"
    assert [(d.cycle, d.revision, d.tier) for d in result.decisions] == [(second["cycle"], 2, "D")]
    assert {m.cause["cycle"] for m in result.measures if m.cause["type"] == "tier"} == {second["cycle"]}
    # On a date before the new revision's as-of date the period has no decision yet (the superseded one is void).
    before = one(store, codes["good"], "invoice_supply", as_of=dt.date(2026, 3, 1))
    assert before.verdict == "needs_review" and before.decisions == []
    text = cli_check(store, runner, codes["good"], "--service", "invoice_supply")
    assert f"in cycle {second['cycle']} (revision 2)" in text.output
