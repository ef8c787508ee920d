"""Worked cases from the regulations and one test per precedence rule (engine/decisions.py docstring)."""

import datetime as dt

import pytest

from engine.decisions import decide_tier
from engine.evaluate import Evaluator
from engine.pipeline.evaluate import evaluate_entity
from policies import get_pack, load_file
from tests.builders_engine import Register, mini_pack, tax, violation

AS_OF = dt.date(2026, 4, 30)  # rates 2025 under the 2025 regime


@pytest.fixture
def reg(sqlite_store):
    return Register(sqlite_store)


def grade(store, code, as_of=AS_OF, policy="tax-credit"):
    result, _ = evaluate_entity(store, code, policy, as_of)
    return result


def decisive(result):
    return [r for r in result["reasons"] if r["outcome"] == "decisive"][0]


@pytest.mark.parametrize(
    "established, records, tier, rule, article",
    [
        # score 92 but operating under 3 years: blocked from A -> B (2025 Art.17)
        (dt.date(2024, 3, 1), [tax(2025, 92)], "B", "b-score", "第十七条"),
        # score 95 with a direct-D condition: D (Art.18), the A score rule is ignored
        (dt.date(2010, 1, 1), [tax(2025, 95), violation("2025-05-01")], "D", "d-direct", "第十八条"),
        # new entity (less than one evaluation year): M
        (dt.date(2025, 6, 1), [], "M", "m-new-entity", "第十六条"),
        # no revenue with score 75: M
        (dt.date(2010, 1, 1), [tax(2025, 75, has_revenue=False)], "M", "m-no-revenue", "第十六条"),
        # score 69.9: C
        (dt.date(2010, 1, 1), [tax(2025, 69.9)], "C", "c-score", "第十六条"),
        # score 40: C (40 <= s < 70)
        (dt.date(2010, 1, 1), [tax(2025, 40)], "C", "c-score", "第十六条"),
        # score 39.9: D
        (dt.date(2010, 1, 1), [tax(2025, 39.9)], "D", "d-score", "第十六条"),
        # previous year direct-D: stays D (Art.34)
        (dt.date(2010, 1, 1), [tax(2025, 95), violation("2024-07-01")], "D", "d-carry-over", "第三十四条"),
        # direct-D two years ago: the third year cannot be A
        (dt.date(2010, 1, 1), [tax(2025, 95), violation("2023-07-01")], "B", "b-score", "第十七条"),
        # previous year score-D: cannot be A
        (dt.date(2010, 1, 1), [tax(2024, 30), tax(2025, 96)], "B", "b-score", "第十七条"),
        # score exactly 90 with 3+ years and nothing blocking: A
        (dt.date(2010, 1, 1), [tax(2025, 90)], "A", "a-score", "第十六条"),
        # no evaluation record: not rated (Art.12)
        (dt.date(2010, 1, 1), [], "N", "n-no-record", "第十二条"),
    ],
)
def test_worked_cases_2025(sqlite_store, reg, established, records, tier, rule, article):
    code = reg.entity(established=established, records=records)
    result = grade(sqlite_store, code)
    assert result["tier"] == tier
    d = decisive(result)
    assert d["rule"] == rule
    assert article in d["basis"]
    assert result["policy"] == {"id": "tax-credit", "version": "2025", "content_hash": result["policy"]["content_hash"]}


def test_direct_d_reason_lists_the_ignored_score_rule(sqlite_store, reg):
    code = reg.entity(records=[tax(2025, 95), violation("2025-05-01")])
    result = grade(sqlite_store, code)
    ignored = {r["rule"]: r for r in result["reasons"] if r["outcome"] == "ignored"}
    assert "a-score" in ignored and "d-direct" in ignored["a-score"]["ignored_because"]
    assert "95" in ignored["a-score"]["why"]  # the {score} placeholder was filled


def test_version_in_force_at_as_of(sqlite_store, reg):
    code = reg.entity(records=[tax(2024, 95)])
    result = grade(sqlite_store, code, as_of=dt.date(2025, 4, 30))
    assert result["policy"]["version"] == "2020" and result["period"] == "2024" and result["tier"] == "A"
    assert "第十九条" in decisive(result)["basis"]


# -- precedence table: one row per rule -------------------------------------------------------------


def test_P1_higher_priority_decides(sqlite_store, reg):
    code = reg.entity(records=[tax(2025, 99), violation("2025-01-02")])
    assert grade(sqlite_store, code)["tier"] == "D"


def test_P2_equal_priority_stricter_tier_wins():
    version = get_pack("tax-credit").get_version("2025")
    a = next(r for r in version.tier_rules if r.id == "a-score")
    c = next(r for r in version.tier_rules if r.id == "c-score")
    tier, best, others = decide_tier(version, [a, c])
    assert tier == "C" and best is c and others == [a]


def test_P3_no_rule_gives_default_tier(tmp_path):
    rules = '      - {id: a, tier: A, priority: 10, when: "score >= 80", basis: {doc: doc1}}'
    pack = load_file(mini_pack(tmp_path, tier_rules=rules, list_rules="      []", default="    default_tier: B"))
    ev = Evaluator(pack.versions[0], AS_OF)
    _, outcome = ev.outcome({"score": 10.0, "bad": 0.0})
    assert outcome["tier"] == "B" and outcome["decisive_rule"] == "default_tier"


def test_P4_same_list_from_two_rules_is_one_proposal(tmp_path):
    lists = (
        '      - {id: black-1, list: black, when: "bad >= 1", basis: {doc: doc1}}\n'
        '      - {id: black-2, list: black, when: "bad >= 2", basis: {doc: doc1}}'
    )
    pack = load_file(mini_pack(tmp_path, list_rules=lists))
    _, outcome = Evaluator(pack.versions[0], AS_OF).outcome({"score": 90.0, "bad": 3.0})
    assert [x["rule"] for x in outcome["lists"]] == ["black-1"]
    assert any(r["rule"] == "black-2" and r["outcome"] == "ignored" for r in outcome["reasons"])


def test_P5_incentive_list_dropped_with_sanction_list(tmp_path):
    lists = (
        '      - {id: red-hi, list: red, when: "score >= 80", basis: {doc: doc1}}\n'
        '      - {id: black-bad, list: black, when: "bad >= 2", basis: {doc: doc1}}'
    )
    rules = (
        '      - {id: a, tier: A, priority: 10, when: "score >= 80", basis: {doc: doc1}}\n'
        '      - {id: b, tier: B, priority: 10, when: {any: ["score < 80", "score == null"]}, basis: {doc: doc1}}'
    )
    pack = load_file(mini_pack(tmp_path, tier_rules=rules, list_rules=lists))
    _, outcome = Evaluator(pack.versions[0], AS_OF).outcome({"score": 90.0, "bad": 2.0})
    assert [x["list"] for x in outcome["lists"]] == ["black"]
    red = next(r for r in outcome["reasons"] if r["rule"] == "red-hi")
    assert red["outcome"] == "ignored" and red["ignored_because"]


def test_P6_forced_inspection_from_list(tmp_path):
    pack = load_file(mini_pack(tmp_path))
    _, outcome = Evaluator(pack.versions[0], AS_OF).outcome({"score": 60.0, "bad": 2.0})
    assert outcome["tier"] == "C"  # c-bad (priority 50) beats b
    assert outcome["inspection"] == {
        "ratio": 1.0,
        "per_year": 2.0,
        "forced": True,
        "note": outcome["inspection"]["note"],
    }


def test_P7_sanction_beats_incentive_on_same_service(tmp_path):
    measures = (
        '      - {id: give, when: "score >= 80", apply: [m-inc]}\n      - {id: take, when: "bad >= 1", apply: [m-san]}'
    )
    rules = (
        '      - {id: a, tier: A, priority: 10, when: "score >= 80", basis: {doc: doc1}}\n'
        '      - {id: b, tier: B, priority: 10, when: {any: ["score < 80", "score == null"]}, basis: {doc: doc1}}'
    )
    pack = load_file(mini_pack(tmp_path, tier_rules=rules, list_rules="      []", measure_rules=measures))
    _, outcome = Evaluator(pack.versions[0], AS_OF).outcome({"score": 90.0, "bad": 1.0})
    assert [m["id"] for m in outcome["measures"]] == ["m-san"]
    assert any(r["outcome"] == "ignored" and "licence" in r["ignored_because"] for r in outcome["reasons"])


def test_identical_vectors_share_one_evaluation():
    version = get_pack("tax-credit").get_version("2025")
    ev = Evaluator(version, AS_OF)
    base = {
        "score": 95.0,
        "has_revenue": True,
        "years_operating": 10.0,
        "direct_d": 0.0,
        "direct_d_prev": 0.0,
        "direct_d_prev2": 0.0,
        "score_prev": 92.0,
        "zero_vat": 0.0,
        "bad_books": 0.0,
        "major_dishonest": 0.0,
    }
    k1, o1 = ev.outcome(base)
    k2, o2 = ev.outcome({**base, "score": 97.5, "years_operating": 20.0})
    assert k1 == k2 and o1 is o2 and ev.distinct == 1
    k3, _ = ev.outcome({**base, "score": 85.0})
    assert k3 != k1 and ev.distinct == 2
