"""A pack reads another pack's stored decision as a fact (``source: {decision: tier, pack: ..., period: ...}``):
银税互动 reads the tax grade the tax pack decided and stored (domain §10.3), names the cycle it came from in the
explanation, the stored decision and ``supervise check``, refuses to evaluate without such a cycle, respects the
knowledge date, and replays from the cycles it read. Also the epidemic pack's repair period from 2026-04-01.
SQLite and PostgreSQL where a store is involved."""

from __future__ import annotations

import datetime as dt
import json
import random
import textwrap

import pytest

from cli import cli
from engine.errors import CycleError, PolicyError
from engine.evaluate import Evaluator
from engine.facts import FactCompiler, SourceCycle
from engine.pipeline.check import check
from engine.pipeline.cycles import list_cycles, replay_cycle, resolve_sources, run_cycle, show_cycle
from engine.pipeline.evaluate import evaluate_entity
from engine.store import cycles as qc
from engine.store import entities as qe
from policies import get_pack
from policies.loader import load_pack
from tests.builders_engine import Register, tax, violation

AS_OF = dt.date(2026, 4, 30)
TAX_TIERS = ("A", "B", "M", "N", "C", "D")
TAX_TITLE = get_pack("tax-credit").title


def invoke(store, *args):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, ["--db", store.url, *args])


@pytest.fixture
def world(store):
    reg = Register(store)
    codes = {
        "a": reg.entity(records=[tax(2025, 96)]),
        "b": reg.entity(records=[tax(2025, 80)]),
        "d": reg.entity(records=[tax(2025, 95), violation("2025-05-01", "false_preference_claim")]),
        # A direct D in the 2024 evaluation year: the 2025 grade is D again (carry-over), whatever the 2025 score.
        "carried": reg.entity(
            records=[tax(2024, 95), tax(2025, 95), violation("2024-05-01", "false_preference_claim")]
        ),
        "young": reg.entity(established=dt.date(2025, 9, 1)),
    }
    return store, reg, codes


def tax_cycle(store, as_of=AS_OF, rerun=False) -> int:
    return run_cycle(store, "tax-credit", "2025", as_of=as_of, rerun=rerun)["cycle"]


# -- 银税互动 reads the stored tax grade ----------------------------------------------------------------------


def test_bank_tax_reads_the_tax_grade_with_its_cycle_in_the_explanation(world):
    """税总发〔2015〕96号: 银税互动 pushes A- and B-grade taxpayers on the grade the tax authority decided (domain
    §10.3): the grade is the tax pack's stored decision, and the explanation names the cycle it came from."""
    store, _, codes = world
    cycle = tax_cycle(store)
    tiers = {}
    for who, code in codes.items():
        result, _ = evaluate_entity(store, code, "bank-tax", AS_OF)
        tiers[who] = (result["facts"]["tax_grade"], result["tier"])
        assert result["facts"]["tax_grade_cycle"] == cycle
        assert result["sources"] == {
            "tax-credit@period": {
                "cycle": cycle,
                "pack": "tax-credit",
                "period": "2025",
                "revision": 1,
                "as_of": "2026-04-30",
            }
        }
    assert tiers == {
        "a": ("A", "push"),
        "b": ("B", "push"),
        "d": ("D", "exclude"),
        "carried": ("D", "exclude"),
        "young": ("M", "review"),
    }
    explained = invoke(store, "evaluate", codes["a"], "--policy", "bank-tax", "--as-of", "2026-04-30", "--explain")
    assert explained.exit_code == 0, explained.output
    assert "纳税信用级别为A级，可推送合作银行" in explained.output
    assert f"纳税信用级别取自第{cycle}号评价周期（{TAX_TITLE}，2025年度，第1次，截至2026年4月30日），为A级。" in (
        explained.output
    )
    refused = invoke(store, "evaluate", codes["carried"], "--policy", "bank-tax", "--as-of", "2026-04-30", "--explain")
    assert "纳税信用级别为D级，不属于A级、B级纳税人" in refused.output
    assert f"纳税信用级别取自第{cycle}号评价周期" in refused.output
    assert "不予推送" in refused.output


def test_bank_tax_cycle_records_its_source_cycle_and_check_names_it(world):
    """税总发〔2015〕96号 (domain §10.3): the bank-tax cycle records which tax cycle it read; its stored decisions
    carry the grade and the cycle id, and ``supervise check`` says which cycle the grade came from."""
    store, _, codes = world
    cycle = tax_cycle(store)
    bank = run_cycle(store, "bank-tax", "2025", as_of=AS_OF)
    shown = show_cycle(store, bank["cycle"])
    assert shown.summary["sources"]["tax-credit@period"]["cycle"] == cycle
    text = invoke(store, "cycle", "show", str(bank["cycle"]))
    assert f"Read the decisions of tax-credit cycle {cycle} (period 2025, revision 1, as of 2026-04-30)." in text.output
    with store.read() as conn:
        eid = qe.get_entity(conn, codes["a"])["id"]
        decision = qc.decisions_of(conn, bank["cycle"], [eid])[eid]
    assert decision["facts"]["tax_grade"] == "A" and decision["facts"]["tax_grade_cycle"] == cycle
    (result,) = check(store, [codes["a"]], "bank_tax_loan", AS_OF)
    (bank_decision,) = [d for d in result.decisions if d.pack == "bank-tax"]
    assert bank_decision.sources == [
        f"纳税信用级别取自第{cycle}号评价周期（{TAX_TITLE}，2025年度，第1次，截至2026年4月30日），为A级"
    ]
    out = invoke(store, "check", codes["d"], "--service", "bank_tax_loan", "--as-of", "2026-04-30")
    assert out.exit_code == 0, out.output
    assert f"纳税信用级别取自第{cycle}号评价周期（{TAX_TITLE}，2025年度" in out.output and "为D级" in out.output
    assert "restricted" in out.output


def test_bank_tax_is_refused_without_a_tax_cycle_in_force(world):
    """税总发〔2015〕96号 (domain §10.3): without a committed tax-credit cycle for the evaluation year in force on
    the as-of date the engine refuses to evaluate (it never guesses a grade): the error names the pack, the date
    and the cycle to run, on evaluate (exit code 1), on a cycle (nothing stored) and on a simulation."""
    store, _, codes = world
    result = invoke(store, "evaluate", codes["a"], "--policy", "bank-tax", "--as-of", "2026-04-30")
    assert result.exit_code == 1
    assert "Policy bank-tax reads the tier that policy tax-credit decided (fact tax_grade、tax_grade_cycle)" in (
        result.output
    )
    assert "no committed cycle rating period 2025 in force on 2026-04-30" in result.output
    assert "supervise cycle run --policy tax-credit --period 2025" in result.output
    with pytest.raises(CycleError, match="Run a tax-credit cycle first"):
        run_cycle(store, "bank-tax", "2025", as_of=AS_OF)
    assert list(list_cycles(store)) == []
    # A cycle of another year is not the grade of this one; nor is one whose as-of date is after the evaluation's.
    run_cycle(store, "tax-credit", "2024", as_of=dt.date(2025, 4, 30))
    with pytest.raises(CycleError, match="rating period 2025"):
        evaluate_entity(store, codes["a"], "bank-tax", AS_OF)
    tax_cycle(store)
    with pytest.raises(CycleError, match="in force on 2026-04-29"):
        evaluate_entity(store, codes["a"], "bank-tax", dt.date(2026, 4, 29))
    assert evaluate_entity(store, codes["a"], "bank-tax", AS_OF)[0]["tier"] == "push"


def test_bank_tax_respects_the_knowledge_date(world):
    """税总发〔2015〕96号 with the knowledge date (domain §10.4): an evaluation with --known-at reads the tax cycle
    that had started by then, not a later revision of it."""
    store, reg, codes = world
    first = tax_cycle(store)
    with store.read() as conn:
        known = qc.get_cycle(conn, first)["committed_at"]
    reg.records(codes["b"], [violation("2025-06-01", "false_preference_claim")])  # a direct D reported later
    second = tax_cycle(store, rerun=True)
    now, _ = evaluate_entity(store, codes["b"], "bank-tax", AS_OF)
    assert (now["facts"]["tax_grade"], now["tier"], now["facts"]["tax_grade_cycle"]) == ("D", "exclude", second)
    then, _ = evaluate_entity(store, codes["b"], "bank-tax", AS_OF, known_at=known)
    assert (then["facts"]["tax_grade"], then["tier"], then["facts"]["tax_grade_cycle"]) == ("B", "push", first)
    assert then["sources"]["tax-credit@period"]["revision"] == 1
    with store.read() as conn:
        started = qc.get_cycle(conn, first)["started_at"]
    with pytest.raises(CycleError, match="as known at"):
        evaluate_entity(store, codes["b"], "bank-tax", AS_OF, known_at=started - dt.timedelta(seconds=1))


def test_bank_tax_replay_reads_the_recorded_tax_cycle(world):
    """税总发〔2015〕96号: a bank-tax cycle replays identically from the tax cycle it recorded, even after a new
    revision of that tax cycle changed a grade (the replay of a decision uses what the decision used)."""
    store, reg, codes = world
    first = tax_cycle(store)
    bank = run_cycle(store, "bank-tax", "2025", as_of=AS_OF)["cycle"]
    reg.records(codes["a"], [violation("2025-06-01", "false_preference_claim")])
    second = tax_cycle(store, rerun=True)
    replay = replay_cycle(store, bank)
    assert replay["identical"], replay["differences"]
    assert replay["entities"] == len(codes)
    version = get_pack("bank-tax").version_at(AS_OF)
    with store.read() as conn:  # what the register says now: the new revision, with another grade
        assert resolve_sources(conn, version, AS_OF)["tax-credit@period"].id == second != first
    rerun = run_cycle(store, "bank-tax", "2025", as_of=AS_OF, rerun=True)
    assert show_cycle(store, rerun["cycle"]).summary["sources"]["tax-credit@period"]["cycle"] == second
    assert replay_cycle(store, rerun["cycle"])["identical"]


def test_bank_tax_cycle_in_a_worker_process_reads_the_same_grades(world, monkeypatch):
    """税总发〔2015〕96号: the grades reach the evaluation worker processes (rule evaluation is never done in the
    caller's thread for a large register): the same tiers as in one process."""
    store, _, codes = world
    tax_cycle(store)
    here = run_cycle(store, "bank-tax", "2025", as_of=AS_OF)
    monkeypatch.setenv("SUPERVISE_WORKERS", "1")
    there = run_cycle(store, "bank-tax", "2025", as_of=AS_OF, rerun=True)
    assert there["workers"] == 1
    assert [(t["tier"], t["entities"]) for t in there["tiers"]] == [(t["tier"], t["entities"]) for t in here["tiers"]]
    assert replay_cycle(store, there["cycle"])["identical"]


# -- the rules of the bank-tax pack ----------------------------------------------------------------------------


def _bank_outcome(grade: str | None, **facts) -> str:
    version = get_pack("bank-tax").version_at(AS_OF)
    cycle = SourceCycle(7, "tax-credit", "2025", 1, AS_OF, {1: grade} if grade else {})
    ev = Evaluator(version, AS_OF, {"tax-credit@period": cycle})
    values = ev.facts.compute({"id": 1}, facts.pop("records", []))
    values.update(facts)
    return ev.outcome(values)[1]["tier"]


@pytest.mark.parametrize("grade", TAX_TIERS + (None,))
def test_push_grade_a_b(grade):
    """税总发〔2015〕96号: only A- and B-grade taxpayers are pushed; M only where the province admits it (a pack
    choice, off by default: status team_choice); C and D (a carried-over D included) never; no grade: review."""
    tier = _bank_outcome(grade)
    assert tier == {"A": "push", "B": "push", "C": "exclude", "D": "exclude"}.get(str(grade), "review")
    rule = next(r for r in get_pack("bank-tax").version_at(AS_OF).raw["tier_rules"] if r["id"] == "push-grade-a-b")
    assert rule["status"] == "team_choice" and "M级" in rule["note"]


@pytest.mark.parametrize("grade", TAX_TIERS)
def test_exclude_grade_c_d(grade):
    """税总发〔2015〕96号 and 公告2025年第12号 Art.34 (domain §10.3): a D grade, carried over or not, is never pushed;
    a major tax dishonest or court dishonest entity is not pushed whatever its grade."""
    assert (_bank_outcome(grade) == "exclude") == (grade in ("C", "D"))
    assert _bank_outcome(grade, major_dishonest=1) == "exclude"
    assert _bank_outcome(grade, court_dishonest=1) == "exclude"


def test_exclude_major_tax_dishonest():
    """发改财金〔2016〕2798号 (joint sanctions on major tax violations: 限制融资授信): an A grade is not pushed
    while the entity is on the major tax dishonest list."""
    listed = ("external_list", dt.date(2026, 1, 5), {"list": "major_tax_dishonest", "ended_on": None})
    assert _bank_outcome("A", records=[listed]) == "exclude"
    ended = ("external_list", dt.date(2025, 1, 5), {"list": "major_tax_dishonest", "ended_on": "2026-01-01"})
    assert _bank_outcome("A", records=[ended]) == "push"


def test_exclude_court_dishonest():
    """失信被执行人 限制融资 (a team choice: the memo's text was not found; status team_choice with a note): an
    entity on the court's list is not pushed."""
    listed = ("external_list", dt.date(2026, 1, 5), {"list": "court_dishonest", "ended_on": None})
    assert _bank_outcome("B", records=[listed]) == "exclude"
    rule = next(
        r for r in get_pack("bank-tax").version_at(AS_OF).raw["tier_rules"] if r["id"] == "exclude-court-dishonest"
    )
    assert rule["status"] == "team_choice" and rule["note"]


# -- the fact source itself ----------------------------------------------------------------------------------


def test_both_compile_paths_agree_on_decision_facts():
    """engine.facts: the single pass (FactCompiler.compute) and the per-fact reference (compile_fact) give the
    same decision facts, with the tier of the entity's id, the cycle id, and the default for an undecided entity."""
    version = get_pack("bank-tax").version_at(AS_OF)
    rnd = random.Random(5)
    tiers = {i: rnd.choice(TAX_TIERS) for i in range(1, 200) if rnd.random() < 0.8}
    for decided in ({"tax-credit@period": SourceCycle(3, "tax-credit", "2025", 2, AS_OF, tiers)}, {}, None):
        fc = FactCompiler(version, AS_OF, decided)
        for i in range(1, 250):
            entity = {"id": i} if i < 240 else {}
            one, each = fc.compute(entity, []), fc.compute_each(entity, [])
            assert repr(one) == repr(each)
            want = tiers.get(i) if decided and entity else None
            assert one["tax_grade"] == want
            assert one["tax_grade_cycle"] == (3 if decided else None)
            assert ("tax_grade" in fc.compute_stored(entity, [])) == (want is not None)


STREAK = """
id: streak
title: 连续评价测试
authority: 测试局
jurisdiction: 测试市
versions:
  - version: "1"
    effective_from: 2020-01-01
    period: year
    basis:
      doc1: {title: 测试办法（测试〔2020〕1号）}
    facts:
      score: {label: 得分, type: number, min: 0, max: 100, source: {record: tax_evaluation, field: score, window: period}}
      prev1: {label: 上一年度等级, type: enum, source: {decision: tier, pack: streak, period: period-1, missing: none}}
      prev2: {label: 前两年度等级, type: enum, source: {decision: tier, pack: streak, period: period-2, missing: none}}
    tiers: {order: [S, A, B]}
    tier_rules:
      - {id: s, tier: S, priority: 20, when: {all: ["score >= 80", "prev1 == A", "prev2 == A"]}, basis: {doc: doc1}}
      - {id: a, tier: A, priority: 10, when: "score >= 80", basis: {doc: doc1}}
      - {id: b, tier: B, priority: 0, when: true, basis: {doc: doc1}}
    supervision:
      S: {ratio: 0.01, per_year: 1}
      A: {ratio: 0.05, per_year: 1}
      B: {ratio: 0.2, per_year: 1}
"""


def test_missing_none_reads_own_earlier_periods_as_null(store, tmp_path):
    """公告2025年第12号 Art.33 (green channel after 3 consecutive A years, domain §10.1): a pack reads its own
    earlier periods' stored tiers (period-1, period-2); with ``missing: none`` a period without a cycle is null,
    not an error, and only three A years in a row give the streak tier."""
    path = tmp_path / "streak.yaml"
    path.write_text(textwrap.dedent(STREAK).lstrip(), encoding="utf-8")
    reg = Register(store)
    code = reg.entity(records=[tax(2023, 90), tax(2024, 90), tax(2025, 90)])
    result, _ = evaluate_entity(store, code, str(path), AS_OF)
    assert (result["tier"], result["facts"]["prev1"], result["facts"]["prev2"]) == ("A", None, None)
    assert result["sources"] == {"streak@period-1": None, "streak@period-2": None}
    first = run_cycle(store, str(path), "2023", as_of=dt.date(2024, 4, 30))
    second = run_cycle(store, str(path), "2024", as_of=dt.date(2025, 4, 30))
    assert show_cycle(store, second["cycle"]).summary["sources"]["streak@period-1"]["cycle"] == first["cycle"]
    assert show_cycle(store, second["cycle"]).summary["sources"]["streak@period-2"] is None
    result, _ = evaluate_entity(store, code, str(path), AS_OF)
    assert (result["tier"], result["facts"]["prev1"], result["facts"]["prev2"]) == ("S", "A", "A")
    third = run_cycle(store, str(path), "2025", as_of=AS_OF)
    assert [(t["tier"], t["entities"]) for t in third["tiers"]] == [("S", 1)]
    assert replay_cycle(store, third["cycle"])["identical"]
    # Before the first cycle's as-of date, neither earlier period has a cycle in force.
    early, _ = evaluate_entity(store, code, str(path), dt.date(2025, 4, 29))
    assert (early["facts"]["prev1"], early["facts"]["prev2"]) == ("A", None)


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("values: [A, B, M, N, C, D]", "values: [A, B, Q]", "'Q' is not a tier of pack tax-credit"),
        (
            "period: period}\n      tax_grade_cycle",
            "period: period, missing: maybe}\n      tax_grade_cycle",
            "missing is",
        ),
        (
            "pack: tax-credit, period: period}\n      tax_grade_cycle",
            "pack: bank-tax, period: period}\n      tax_grade_cycle",
            "reads its own decisions of earlier periods only",
        ),
        (
            "type: int\n        source: {decision: cycle",
            "type: enum\n        source: {decision: cycle",
            "a decision cycle is a cycle id",
        ),
        ("{decision: tier, pack: tax-credit", "{decision: grade, pack: tax-credit", "decision is 'tier'"),
        ("        values: [A, B, M, N, C, D]\n", "", "list the tiers of pack tax-credit"),
    ],
)
def test_decision_source_is_validated_at_load(tmp_path, old, new, problem):
    """docs/policy-format.md (decision facts): the source names a pack and a period shift, its values are tiers of
    the referenced pack (checked when that pack is in the pack directories), and ``missing`` is error or none."""
    from policies import PACKS_DIR

    text = (PACKS_DIR / "bank-tax.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "bank-tax.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(PolicyError, match=problem):
        load_pack(path)


# -- epidemic conduct: the 2026 national repair rule ---------------------------------------------------------


def test_epidemic_black_list_repair_period_from_2026_04_01(store):
    """NDRC 信用修复管理办法 (in force 2026-04-01; domain §4.1, §10.3): serious dishonesty is published at least
    1 year and at most 3 years and repaired after at least 1 year; the local 6-month minimum stays in the version
    that ends on 2026-03-31. A cycle on each side decides with its own version."""
    pack = get_pack("epidemic-conduct")
    before, after = pack.version_at(dt.date(2026, 3, 31)), pack.version_at(dt.date(2026, 4, 1))
    assert (before.version, before.effective_to, after.version, after.effective_from) == (
        "2020",
        dt.date(2026, 3, 31),
        "2026",
        dt.date(2026, 4, 1),
    )
    old, new = before.lists["black"], after.lists["black"]
    assert (old["min_months"], old["max_months"], old["repair"]["min_months"]) == (6, 36, 6)
    assert (new["min_months"], new["max_months"], new["repair"]["min_months"]) == (12, 36, 12)
    assert set(new["repair"]["requires"]) == {"obligations_fulfilled", "commitment"}
    assert "ndrc-repair-2026" in after.basis
    reg = Register(store)
    reg.entity()
    for day, version in ((dt.date(2026, 3, 31), "2020"), (dt.date(2026, 4, 1), "2026")):
        assert run_cycle(store, "epidemic-conduct", day.isoformat(), as_of=day)["version"] == version


def test_cli_evaluate_json_shows_the_sources(world):
    """税总发〔2015〕96号: ``evaluate --json`` carries the cycle each decision fact read."""
    store, _, codes = world
    cycle = tax_cycle(store)
    out = invoke(store, "evaluate", codes["young"], "--policy", "bank-tax", "--as-of", "2026-04-30", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["sources"]["tax-credit@period"]["cycle"] == cycle and data["tier"] == "review"
    assert "纳税信用级别不属于A级、B级（M级" in data["reasons"][0]["why"] and data["facts"]["tax_grade"] == "M"
