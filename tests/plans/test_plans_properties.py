"""Property tests of the pure draw: sampling ratios hold within rounding and no constraint is ever broken,
for random registers and inspector pools (Hypothesis; modest example counts so the file runs in seconds)."""

from __future__ import annotations

import hashlib
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import plans

REGIONS = ["350502", "350503", "350504"]
INSPECTOR_REGIONS = ["35", "3505", "350500", "350502", "350503", "350504", "350100"]
RATIOS = [0.0, 0.01, 0.05, 0.1, 0.2, 1 / 3, 0.6, 0.99, 1.0]
SPECIALTIES = ["食品安全", "价格", "广告"]
TOWNSHIPS = [None, "350503001", "350503002", "350502001"]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def registers(draw, max_size: int = 80):
    n = draw(st.integers(0, max_size))
    ratios = {t: draw(st.sampled_from(RATIOS)) for t in "ABCD"}
    out = []
    for i in range(n):
        tier = draw(st.sampled_from("ABCD"))
        out.append(
            plans.Candidate(
                f"E{i:05d}",
                i + 1,
                tier,
                ratios[tier],
                draw(st.booleans()) and draw(st.booleans()),
                draw(st.sampled_from(REGIONS)),
                draw(st.sampled_from(TOWNSHIPS)),
            )
        )
    return out


@st.composite
def pools(draw, codes: list[str]):
    n = draw(st.integers(0, 14))
    out = []
    for i in range(n):
        out.append(
            plans.Inspector(
                f"I{i:03d}",
                f"人员{i}",
                draw(st.sampled_from(["市场监管", "税务"])),
                draw(st.sampled_from(INSPECTOR_REGIONS)),
                tuple(draw(st.lists(st.sampled_from(SPECIALTIES), max_size=2, unique=True))),
                draw(st.integers(0, 25)),
                tuple(draw(st.lists(st.sampled_from(codes), max_size=4, unique=True))) if codes else (),
                draw(st.sampled_from(TOWNSHIPS)),
            )
        )
    return out


@FAST
@given(candidates=registers(), seed=st.text(min_size=1, max_size=8), data=st.data())
def test_sampling_ratios_hold_within_rounding(candidates, seed, data):
    codes = [c.code for c in candidates]
    excluded = frozenset(data.draw(st.lists(st.sampled_from(codes), unique=True)) if codes else [])
    chosen, strata, excluded_out, kept = plans.select_entities(candidates, seed, excluded)
    picked = Counter()
    for c, reason, rank in chosen:
        assert rank == hashlib.sha256(f"{seed}|{plans.ALGORITHM}|{c.code}".encode()).hexdigest()
        if reason == "sampled":
            picked[(c.tier, c.ratio)] += 1
        else:
            assert reason == "forced" and c.forced
    chosen_codes = {c.code for c, _r, _k in chosen}
    assert len(chosen_codes) == len(chosen)
    for s in strata:
        members = [c for c in candidates if (c.tier, c.ratio) == (s["tier"], s["ratio"])]
        eligible = [c for c in members if c.code not in excluded or c.forced]
        size = len(eligible)
        assert s["population"] == len(members) and s["candidates"] == size
        assert s["drawn"] == picked[(s["tier"], s["ratio"])]
        # ceil(ratio * size): at least the ratio, less than one entity more (exact for 0% and 100%).
        assert s["drawn"] >= s["ratio"] * size - 1e-9
        assert s["drawn"] < s["ratio"] * size + 1 or size == 0
        if s["ratio"] == 1.0:
            assert s["drawn"] == size
        # The sampled ones are exactly the best-ranked of the stratum.
        ranked = sorted(eligible, key=lambda c: hashlib.sha256(f"{seed}|{plans.ALGORITHM}|{c.code}".encode()).digest())
        assert {c.code for c in ranked[: s["drawn"]]} <= chosen_codes
    assert {c.code for c in candidates if c.forced} <= chosen_codes
    assert not ({c.code for c in candidates if c.code in excluded and not c.forced} & chosen_codes)
    assert set(excluded_out) == {c.code for c in candidates if c.code in excluded and not c.forced}
    assert len(kept) == len(candidates) - len(excluded_out)


@FAST
@given(
    data=st.data(),
    candidates=registers(60),
    per_check=st.integers(1, 3),
    recusal=st.booleans(),
    with_items=st.booleans(),
)
def test_assignments_never_break_a_constraint(data, candidates, per_check, recusal, with_items):
    inspectors = data.draw(pools([c.code for c in candidates]))
    items = (plans.Item("food", "食品安全", specialty="食品安全", tiers=("C", "D")),) if with_items else ()
    options = plans.DrawOptions(recusal_same_township=recusal, items=items)
    try:
        result = plans.draw(candidates, inspectors, "seed", per_check, options)
    except plans.InspectorShortage as exc:
        assert exc.shortfalls and all(s["slots"] > 0 for s in exc.shortfalls)
        assert "nothing was stored" in str(exc)
        return
    by_code = {i.code: i for i in inspectors}
    entity = {c.code: c for c in candidates}
    load = Counter()
    for check in result.checks:
        cand = entity[check.code]
        assert len(check.inspectors) >= per_check and len(set(check.inspectors)) == len(check.inspectors)
        for code in check.inspectors:
            insp = by_code[code]
            load[code] += 1
            assert plans.covers(insp.region, cand.region)
            assert cand.code not in insp.conflicts
            if recusal and cand.township and insp.home_region:
                assert insp.home_region[:9] != cand.township[:9]
        if with_items and cand.tier in ("C", "D"):
            assert any("食品安全" in by_code[c].specialties for c in check.inspectors)
    for code, n in load.items():
        assert n <= by_code[code].max_checks
    again = plans.draw(candidates, inspectors, "seed", per_check, options)
    assert again.plan_fingerprint == result.plan_fingerprint and again.checks == result.checks


@FAST
@given(candidates=registers(60), per_check=st.integers(1, 3), seeds=st.tuples(st.text(max_size=4), st.text(max_size=4)))
def test_an_ample_pool_always_staffs_the_draw_evenly(candidates, per_check, seeds):
    # Enough city-wide inspectors without conflicts: the draw never fails and loads differ by at most one.
    n_checks = len(candidates)
    inspectors = [
        plans.Inspector(f"I{i}", "n", "市场监管", "350500", max_checks=max(1, n_checks)) for i in range(per_check + 3)
    ]
    for seed in seeds:
        result = plans.draw(candidates, inspectors, "s" + seed, per_check)
        load = Counter(code for c in result.checks for code in c.inspectors)
        counts = [load.get(i.code, 0) for i in inspectors]
        assert max(counts) - min(counts) <= 1
        assert all(len(c.inspectors) == per_check for c in result.checks)
