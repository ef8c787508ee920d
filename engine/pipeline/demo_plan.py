"""The demo's 双随机、一公开 stage: an inspector directory, a drawn and verified plan, inspection notices,
some results imported back into the register, and the public plan and results."""

from __future__ import annotations

import datetime as dt
import math
import pathlib
import random
import tempfile
from typing import Any

from engine import plans
from engine.exports import write_csv
from engine.pipeline.demo_names import GIVEN, REGIONS, SURNAMES
from engine.store import Store
from engine.store import plans as q
from notices.issue import issue_for_plan
from policies import base_record_kinds

DEPARTMENTS = ["综合执法大队", "食品安全监管科", "市场秩序科", "质量监管科", "网络交易监管科"]
SPECIALTIES = ["食品安全", "产品质量", "价格监督", "广告监管", "特种设备"]


MAX_CHECKS = 60  # checks one inspector can take in a period
MIN_PER_REGION = 6  # enough for 2 per check after same-township recusal, whatever the seed
HEADROOM = 1.3  # capacity over the expected inspector slots of a region


def department_of(region: str) -> str:
    """The district bureau: 泉州市鲤城区市场监督管理局, 晋江市市场监督管理局, 惠安县市场监督管理局."""
    district, _short, city = REGIONS[region]
    return f"{city}市{district}市场监督管理局" if district.endswith("区") else f"{district}市场监督管理局"


def team_sizes(demand: dict[str, float], per_check: int = 2, max_checks: int = MAX_CHECKS) -> dict[str, int]:
    """Inspectors per district for the expected checks of each (``demand``: region -> expected checks, the sum
    of the decisions' ratios, forced ones counting 1): ``max(MIN_PER_REGION, ceil(HEADROOM x per_check x
    demand / max_checks))``. The sample of a region varies around its expectation by about its square root,
    at most a few checks more per stratum from rounding up; 30 % headroom covers that from about 100 expected
    checks up, and the minimum team (360 slots) covers anything below. The formula is linear in the register,
    so it holds for 1,000,000 entities as for 100 (about 127,000 checks, some 5,500 inspectors)."""
    return {
        region: max(MIN_PER_REGION, math.ceil(HEADROOM * per_check * demand.get(region, 0.0) / max_checks))
        for region in REGIONS
    }


def expected_checks(store: Store, cycle_id: int) -> dict[str, float]:
    """region -> expected checks of a cycle (sum of ratios; forced decisions count 1)."""
    demand: dict[str, float] = {}
    with store.read() as conn:
        for part in q.iter_candidates(conn, cycle_id):
            for _code, _eid, _tier, ratio, forced, region, _township in part:
                demand[region] = demand.get(region, 0.0) + (1.0 if forced else float(ratio))
    return demand


def write_inspectors(
    path: pathlib.Path, rnd: random.Random, sizes: dict[str, int] | None = None, max_checks: int = MAX_CHECKS
) -> int:
    """An inspector directory (执法检查人员名录库): per district a team of ``sizes[region]`` inspectors of the
    district bureau, their home streets spread round-robin over the district's 12 demo townships."""
    rows = []
    n = 0
    for region in REGIONS:
        for k in range((sizes or {}).get(region, 24)):
            n += 1
            rows.append(
                {
                    "code": f"JC{n:06d}",
                    "name": rnd.choice(SURNAMES) + "".join(rnd.sample(GIVEN, 2)),
                    "department": f"{department_of(region)}{rnd.choice(DEPARTMENTS)}",
                    "region": region,
                    "specialties": "、".join(rnd.sample(SPECIALTIES, 2)),
                    "max_checks": max_checks,
                    "conflicts": "",
                    "home_region": f"{region}{k % 12 + 1:03d}",
                }
            )
    return write_csv(path, list(rows[0]), [list(r.values()) for r in rows])


def plan_stage(store: Store, cycle_id: int, seed: int, as_of: dt.date, out: pathlib.Path | None) -> dict[str, Any]:
    rnd = random.Random(seed)
    work = out if out is not None else pathlib.Path(tempfile.mkdtemp(prefix="supervise-demo-"))
    inspectors_csv = work / "inspectors.csv"
    count = write_inspectors(inspectors_csv, rnd, team_sizes(expected_checks(store, cycle_id)))
    plans.import_inspectors(store, inspectors_csv, actor="demo")
    draw_seed = f"{as_of.isoformat()}-demo-{seed}"
    drawn = plans.draw_plan(store, cycle_id, draw_seed, per_check=2, actor="demo")
    plan_id = drawn["plan_id"]
    verified = plans.verify_plan(store, plan_id)
    strata = ", ".join(
        f"{t['tier']} {t['checks']}/{t['population']}" + (f" ({t['forced']} forced)" if t["forced"] else "")
        for t in drawn["tiers"]
    )
    lines = [
        f"{count} inspectors imported from {inspectors_csv}",
        f"plan {plan_id} drawn from cycle {cycle_id} with seed {draw_seed!r}: {drawn['checks']:,} checks "
        f"({strata}), {drawn['inspectors_used']} inspectors used",
        f"plan verify: {'identical' if verified['verified'] else 'DIFFERENT'}",
    ]
    if out is not None:
        (out / "plan").mkdir(parents=True, exist_ok=True)
        # The inspection teams' working list (unmasked) stays out of the public folder.
        (out / "plan-internal").mkdir(parents=True, exist_ok=True)
        for fmt in ("csv", "xlsx"):
            plans.export_plan(store, plan_id, fmt, out / "plan-internal" / f"plan-{plan_id}.{fmt}")
        public = plans.publish_plan(store, plan_id, out / "plan", on=as_of + dt.timedelta(days=3), actor="demo")
        notices = issue_for_plan(
            store,
            plan_id,
            out=out / "notices" / "inspection",
            formats=("html", "txt"),
            as_of=as_of + dt.timedelta(days=3),
            actor="demo",
        )
        lines.append(
            f"public plan: {public['files'][0]}; working list (not public): "
            f"{out / 'plan-internal' / f'plan-{plan_id}.xlsx'}; {len(notices.issued):,} inspection notices "
            f"in {out / 'notices' / 'inspection'}"
        )
        # The first checks come back: mostly clean, some problems, a few entities not found at their address.
        details = plans.plan_details(store, plan_id, as_of)
        checks = details.get("checks") or []
        results = work / "results.csv"
        done = as_of + dt.timedelta(days=40)
        rows = []
        for i, check in enumerate(checks[:200]):
            outcome = "未发现问题" if i % 10 < 7 else "发现问题" if i % 10 < 9 else "查无下落"
            ref = f"泉市监罚〔{done.year}〕{500 + i}号" if outcome == "发现问题" else ""
            rows.append([plan_id, check["seq"], check["code"], outcome, ref, done.isoformat()])
        write_csv(results, ["plan", "check", "code", "outcome", "penalty_ref", "inspected_on"], rows)
        imported = plans.import_results(store, results, base_record_kinds(), actor="demo")
        published = plans.publish_results(store, plan_id, out / "plan", on=done + dt.timedelta(days=10), actor="demo")
        lines.append(
            f"{imported.inserted} results imported from {results} (they feed the next cycle); "
            f"results published {published['published_on']} in {published['files'][0]}, "
            f"{len(published.get('late') or [])} late"
        )
    return {"name": "plan", "title": "双随机、一公开 inspection plan", "lines": lines, "plan": plan_id}
