"""The durable-rules adapter: every known hazard of durable-rules 2.0.28 is made impossible or an error."""

import datetime as dt
import json
import random
import threading

import pytest

from engine import conditions as C
from engine.errors import RuleEngineError
from engine.evaluate import Evaluator
from engine.rules import RuleEngine
from policies import get_pack, list_packs


def small_rules():
    a = C.parse("x >= 1")
    b = C.parse({"any": ["y == true", "x >= 5"]})
    atoms = list(dict.fromkeys(list(C.atoms(a)) + list(C.atoms(b))))
    index = {atom: i for i, atom in enumerate(atoms)}
    return {"ra": a, "rb": b}, index


def test_no_timer_threads_are_started():
    before = threading.active_count()
    eng = RuleEngine()
    rules, index = small_rules()
    rs = eng.ruleset("no-threads", rules, index)
    for vec in ([True, False, False], [True, True, True]):
        rs.fire(vec)
    assert threading.active_count() == before


def test_more_evaluations_than_facts_and_sessions_limits():
    """~46k kept facts and 1,024 live sessions break durable; we keep none between evaluations."""
    eng = RuleEngine()
    rules, index = small_rules()
    rs = eng.ruleset("many", rules, index)
    rnd = random.Random(1)
    for _ in range(60_000):
        vec = [rnd.random() < 0.5 for _ in index]
        rs.fire(vec)  # cross-checked against the plain-Python evaluation inside fire()
    assert rs.evaluations == 60_000


def test_or_branches_fire_a_rule_once():
    eng = RuleEngine()
    rules, index = small_rules()
    rs = eng.ruleset("or-once", rules, index)
    assert rs.fire([True, True, True]) == ["ra", "rb"]


def test_action_exception_is_raised_not_swallowed():
    eng = RuleEngine()
    from engine.rules import CATCH_ALL, RuleSet

    def boom(c):
        raise ValueError("kaputt")

    eng.host.set_rulesets(
        {
            "boom": {
                "r": {"all": [{"m": {"k": "eval"}}], "run": boom},
                CATCH_ALL: {"all": [{"m": {"k": "eval"}}], "run": eng._action(CATCH_ALL)},
            }
        }
    )
    rs = RuleSet(eng, "boom", {"r": ("const", True)}, {})
    with pytest.raises(RuleEngineError, match="kaputt"):
        eng._fire(rs, [])


def test_lost_action_is_an_error():
    """If the catch-all action does not run in the caller's thread, the evaluation is void."""
    eng = RuleEngine()
    from engine.rules import CATCH_ALL, RuleSet

    eng.host.set_rulesets({"lost": {CATCH_ALL: {"all": [{"m": {"k": "eval"}}], "run": lambda c: None}}})
    with pytest.raises(RuleEngineError, match="lost or delayed"):
        eng._fire(RuleSet(eng, "lost", {}, {}), [])


def test_use_from_another_thread_is_refused():
    eng = RuleEngine()
    rules, index = small_rules()
    rs = eng.ruleset("threads", rules, index)
    errors = []

    def worker():
        try:
            rs.fire([True, False, False])
        except RuleEngineError as exc:
            errors.append(str(exc))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors and "thread" in errors[0]


def test_ruleset_registered_once_per_name():
    eng = RuleEngine()
    rules, index = small_rules()
    assert eng.ruleset("same", rules, index) is eng.ruleset("same", rules, index)


def test_compiled_conditions_never_use_exists_operators():
    """durable's $ex/$nex hang its engine here; the compiler must never emit them."""
    for pack in list_packs():
        for v in pack.versions:
            index = {a: i for i, a in enumerate(v.atoms1 + v.atoms2)}
            for r in v.tier_rules + v.list_rules + v.measure_rules + v.notice_rules:
                text = json.dumps(C.to_durable(r.when, index))
                assert "$ex" not in text and "$nex" not in text


def oracle_2025(f):
    """Independent reading of the 2025 grade rules (domain.md §1.1-1.3, §10.1: Art.16-18, Art.34(4) carry-over
    except items (十)/(十一)), written without the pack. The facts are the adjusted ones (the -11 deduction is
    the fact compiler's, tests/rules/test_tax_articles.py)."""
    new = f["years_operating"] is not None and f["years_operating"] < 1
    now = f["direct_d"] >= 1 or f["direct_d_state"] >= 1 or f["major_dishonest_year"] >= 1
    prev = f["direct_d_prev"] >= 1 or f["direct_d_state_prev"] >= 1 or f["major_dishonest_prev"] >= 1
    prev_kept = f["direct_d_prev_kept"] >= 1 or f["direct_d_state_prev"] >= 1 or f["major_dishonest_prev"] >= 1
    prev2_kept = f["direct_d_prev2_kept"] >= 1 or f["direct_d_state_prev2"] >= 1 or f["major_dishonest_prev2"] >= 1
    if now or prev_kept:
        return "D"
    if new:
        return "M"
    s = f["score"]
    if s is not None and s >= 70 and f["has_revenue"] is False:
        return "M"
    if s is None:
        return "N"
    years = f["years_operating"]
    rated_prev = years is None or years >= 2  # a new entity's first, partial year was M, not a score-D
    prev_d = prev or prev2_kept or (f["score_prev"] is not None and f["score_prev"] < 40 and rated_prev)
    blocked = (
        (f["years_operating"] is not None and f["years_operating"] < 3)
        or prev_d
        or f["zero_vat"] >= 1
        or f["bad_books"] >= 1
    )
    if s >= 90:
        return "B" if blocked else "A"
    if s >= 70:
        return "B"
    if s >= 40:
        return "C"
    return "D"


def random_facts(rnd):
    def score():
        return (
            None
            if rnd.random() < 0.1
            else round(rnd.choice([rnd.uniform(0, 100), rnd.choice([40, 70, 90, 39.99, 69.99, 89.99, 100])]), 2)
        )

    def some(p):
        return float(rnd.random() < p)

    prev, prev2 = some(0.05), some(0.05)
    return {
        "score": score(),
        "score_prev": score(),
        "has_revenue": rnd.random() < 0.8,
        "years_operating": None if rnd.random() < 0.05 else float(rnd.randint(0, 12)),
        "direct_d": some(0.05),
        "direct_d_state": some(0.03),
        "major_dishonest_year": some(0.02),
        "direct_d_prev": prev,
        "direct_d_prev_kept": prev if rnd.random() < 0.6 else 0.0,  # items (十)/(十一) are not kept
        "direct_d_state_prev": some(0.03),
        "major_dishonest_prev": some(0.02),
        "direct_d_prev2": prev2,
        "direct_d_prev2_kept": prev2 if rnd.random() < 0.6 else 0.0,
        "direct_d_state_prev2": some(0.03),
        "major_dishonest_prev2": some(0.02),
        "zero_vat": some(0.05),
        "bad_books": some(0.05),
        "major_dishonest": some(0.02),
    }


@pytest.mark.slow
def test_200k_varied_entities_match_an_independent_oracle():
    version = get_pack("tax-credit").get_version("2025")
    ev = Evaluator(version, dt.date(2026, 4, 30))
    rnd = random.Random(2026)
    mismatches = []
    for _ in range(200_000):
        facts = random_facts(rnd)
        _, outcome = ev.outcome(facts)
        if outcome["tier"] != oracle_2025(facts) and len(mismatches) < 5:
            mismatches.append((facts, outcome["tier"], oracle_2025(facts)))
    assert not mismatches
    assert ev.distinct > 50  # many distinct vectors actually went through durable-rules


@pytest.mark.slow
def test_200k_direct_evaluations_lose_no_action():
    """Without memoisation: 200,000 single-fact evaluations through durable, each checked in fire()."""
    version = get_pack("tax-credit").get_version("2025")
    ev = Evaluator(version, dt.date(2026, 4, 30))
    rnd = random.Random(7)
    for _ in range(200_000):
        v1, _ = ev.vector(random_facts(rnd))
        ev.rs1.fire(v1)
    assert ev.rs1.evaluations >= 200_000
