"""The demo's 双随机、一公开 stage: an inspector directory, a drawn and verified plan, inspection notices,
some results imported back into the register, and the public plan and results."""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
import random
import tempfile
from typing import Any

from . import plans
from .demo import GIVEN, REGIONS, SURNAMES
from .store import Store

DEPARTMENTS = ["综合执法大队", "食品安全监管科", "市场秩序科", "质量监管科", "网络交易监管科"]
SPECIALTIES = ["食品安全", "产品质量", "价格监督", "广告监管", "特种设备"]


def write_inspectors(path: pathlib.Path, rnd: random.Random, per_region: int = 24, max_checks: int = 60) -> int:
    """An inspector directory: per district a team, plus a city-wide squad covering every 3505 district."""
    rows = []
    n = 0
    for region in REGIONS:
        for _ in range(per_region):
            n += 1
            rows.append({"code": f"JC{n:05d}", "name": rnd.choice(SURNAMES) + "".join(rnd.sample(GIVEN, 2)),
                         "department": f"{REGIONS[region][0]}市场监督管理局{rnd.choice(DEPARTMENTS)}",
                         "region": region, "specialties": "、".join(rnd.sample(SPECIALTIES, 2)),
                         "max_checks": max_checks, "conflicts": "", "home_region": f"{region}{rnd.randint(1, 12):03d}"})
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def plan_stage(store: Store, cycle_id: int, seed: int, as_of: dt.date, out: pathlib.Path | None) -> dict[str, Any]:
    rnd = random.Random(seed)
    work = out if out is not None else pathlib.Path(tempfile.mkdtemp(prefix="supervise-demo-"))
    inspectors_csv = work / "inspectors.csv"
    count = write_inspectors(inspectors_csv, rnd)
    plans.import_inspectors(store, inspectors_csv, actor="demo")
    draw_seed = f"{as_of.isoformat()}-demo-{seed}"
    drawn = plans.draw_plan(store, cycle_id, draw_seed, per_check=2, actor="demo")
    plan_id = drawn["plan_id"]
    verified = plans.verify_plan(store, plan_id)
    strata = ", ".join(f"{s['tier']} {s.get('drawn', s.get('count', ''))}/{s.get('population', '')}"
                       for s in drawn["strata"])
    lines = [f"{count} inspectors imported from {inspectors_csv}",
             f"plan {plan_id} drawn from cycle {cycle_id} with seed {draw_seed!r}: {drawn['checks']:,} checks "
             f"({strata}), {drawn['inspectors_used']} inspectors used",
             f"plan verify: {'identical' if verified['verified'] else 'DIFFERENT'}"]
    if out is not None:
        from notices.issue import issue_for_plan

        (out / "plan").mkdir(parents=True, exist_ok=True)
        plans.export_plan(store, plan_id, "csv", out / "plan" / f"plan-{plan_id}.csv")
        public = plans.publish_plan(store, plan_id, out / "plan", on=as_of + dt.timedelta(days=3), actor="demo")
        notices = issue_for_plan(store, plan_id, out=out / "notices" / "inspection", formats=("html", "txt"),
                                 as_of=as_of + dt.timedelta(days=3), actor="demo")
        lines.append(f"public plan: {public['files'][0]}; {len(notices.issued):,} inspection notices "
                     f"in {out / 'notices' / 'inspection'}")
        # The first checks come back: mostly clean, some problems, a few entities not found at their address.
        details = plans.plan_details(store, plan_id, as_of)
        checks = details.get("checks") or []
        results = work / "results.csv"
        done = as_of + dt.timedelta(days=40)
        with results.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["plan", "check", "code", "outcome", "penalty_ref", "inspected_on"])
            for i, check in enumerate(checks[:200]):
                outcome = "未发现问题" if i % 10 < 7 else "发现问题" if i % 10 < 9 else "查无下落"
                ref = f"泉市监罚〔{done.year}〕{500 + i}号" if outcome == "发现问题" else ""
                writer.writerow([plan_id, check["seq"], check["code"], outcome, ref, done.isoformat()])
        imported = plans.import_results(store, results, actor="demo")
        published = plans.publish_results(store, plan_id, out / "plan", on=done + dt.timedelta(days=10), actor="demo")
        lines.append(f"{imported.inserted} results imported from {results} (they feed the next cycle); "
                     f"results published {published['published_on']} in {published['files'][0]}, "
                     f"{len(published.get('late') or [])} late")
    return {"name": "plan", "title": "双随机、一公开 inspection plan", "lines": lines, "plan": plan_id}
