"""Plan benchmark: draw a 双随机 plan for a committed cycle of N entities with M inspectors, through the real code
path (``engine.plans.draw_plan``), then verify it.

The cycle (entities, policy version, cycle, outcomes, decisions) and the inspectors are written in bulk straight
into a temporary SQLite file by tests/builders_plans.py, in a child process, so the peak RSS printed is the
draw's own. Prints the time of each stage, the checks drawn and the peak RSS. Target on a 2-core machine:
1,000,000 entities and 2,000 inspectors drawn in under 30 s.

Example: .venv/bin/python bench/plan_bench.py --entities 1000000 --inspectors 2000
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.register.codes import make_uscc  # noqa: E402
from engine.store import Store  # noqa: E402

REGIONS = ("350502", "350503", "350504", "350505", "350521", "350524", "350525", "350526", "350581", "350582", "350583")
# Default mix: a realistic city plan (about 9% of the register drawn, 90 checks per inspector).
# --stress: the heavy mix of tests/builders_plans.py (5/20/60/100%, about 26% drawn).
RATIOS = {"A": 0.03, "B": 0.05, "C": 0.2, "D": 1.0}
WEIGHTS = {"A": 0.4, "B": 0.45, "C": 0.12, "D": 0.03}
STRESS_RATIOS = {"A": 0.05, "B": 0.2, "C": 0.6, "D": 1.0}
STRESS_WEIGHTS = {"A": 0.3, "B": 0.5, "C": 0.15, "D": 0.05}
ITEMS = {
    "public-info": {"title": "企业公示信息的检查"},
    "food-safety": {"title": "食品经营许可和经营行为的检查", "specialty": "食品安全", "tiers": ["C", "D"]},
}


def build(
    url: str, n: int, m: int, max_checks: int, forced_share: float, items: bool, recusal: bool, stress: bool
) -> None:
    """Write the cycle and the inspector pool (runs in a child process)."""
    from tests import builders_plans as b

    store = Store(url)
    store.init()
    rng = random.Random(7)
    t0 = time.perf_counter()
    ratios, weights = (STRESS_RATIOS, STRESS_WEIGHTS) if stress else (RATIOS, WEIGHTS)
    tier_rng = random.Random(1)
    tiers = [
        (t, ratios[t], tier_rng.random() < forced_share)
        for t in tier_rng.choices(list(weights), weights=list(weights.values()), k=n)
    ]
    chunk = 50000
    with store.transaction() as conn:
        for start in range(0, n, chunk):
            rows = []
            for i in range(start, min(n, start + chunk)):
                region = REGIONS[i % len(REGIONS)]
                rows.append(
                    {
                        "code": make_uscc("91" if i % 3 else "92", region, f"{i:08d}"),
                        "name": f"测试{i}有限公司",
                        "region": region,
                        "extra": {"township": f"{region}{rng.randrange(1, 12):03d}"},
                    }
                )
            b.insert_entities_only(conn, rows)
        ids = b.entity_ids_in_order(conn)
        decisions = [(eid, t, r, f) for eid, (t, r, f) in zip(ids, tiers)]
        inspection = {"recusal_same_township": recusal}
        if items:
            inspection["items"] = ITEMS
        b.insert_cycle(conn, decisions, b.pack_body(inspection=inspection))
    t1 = time.perf_counter()
    pool = b.inspector_rows(
        m,
        regions=REGIONS,
        max_checks=max_checks,
        seed=3,
        specialties=("食品安全", "企业公示", "价格", "广告"),
        departments=("泉州市市场监督管理局", "泉州市税务局"),
    )
    codes = [make_uscc("91", REGIONS[i % len(REGIONS)], f"{i:08d}") for i in rng.sample(range(n), min(n, 3 * m))]
    for i, p in enumerate(pool):
        p["conflicts"] = sorted(set(codes[3 * i : 3 * i + 3]))
        district = p["region"] if p["region"] != "350500" else REGIONS[i % len(REGIONS)]
        p["home_region"] = f"{district}{rng.randrange(1, 12):03d}"
    b.add_inspectors(store, pool)
    print(
        f"build: {n:,} entities, cycle and {m:,} inspectors written in {t1 - t0:.1f}s "
        f"(+{time.perf_counter() - t1:.1f}s inspectors)",
        flush=True,
    )
    store.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=1_000_000)
    ap.add_argument("--inspectors", type=int, default=2000)
    ap.add_argument("--per-check", type=int, default=2)
    ap.add_argument("--max-checks", type=int, help="Capacity of each inspector (default 150; 300 with --stress).")
    ap.add_argument("--stress", action="store_true", help="Heavy tier mix: about 26%% of the register drawn.")
    ap.add_argument("--forced-share", type=float, default=0.002)
    ap.add_argument("--no-items", action="store_true", help="No inspection items (no specialty needs).")
    ap.add_argument("--no-recusal", action="store_true", help="Without the same-township recusal rule.")
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--db", help="Use this SQLite file (kept) instead of a temporary one; built when missing.")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.max_checks is None:
        args.max_checks = 300 if args.stress else 150
    if args.build_only:
        build(
            f"sqlite:///{args.db}",
            args.entities,
            args.inspectors,
            args.max_checks,
            args.forced_share,
            not args.no_items,
            not args.no_recusal,
            args.stress,
        )
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(args.db) if args.db else pathlib.Path(tmp) / "plan_bench.db"
        if not path.exists():
            cmd = [
                sys.executable,
                __file__,
                "--build-only",
                "--db",
                str(path),
                "--entities",
                str(args.entities),
                "--inspectors",
                str(args.inspectors),
                "--max-checks",
                str(args.max_checks),
                "--forced-share",
                str(args.forced_share),
            ]
            cmd += ["--no-items"] if args.no_items else []
            cmd += ["--no-recusal"] if args.no_recusal else []
            cmd += ["--stress"] if args.stress else []
            subprocess.run(cmd, check=True)
        from engine import plans

        store = Store(f"sqlite:///{path}")
        timings: dict[str, float] = {}
        t0, c0 = time.perf_counter(), time.process_time()
        result = plans.draw_plan(store, 1, "2025-07-01-4711", per_check=args.per_check, timings=timings)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"draw: plan {result['plan_id']}: {result['checks']:,} checks from {args.entities:,} entities, "
            f"{result['inspectors_used']:,} of {result['inspectors_in_pool']:,} inspectors used, "
            f"{args.per_check}+ per check, in {wall:.1f}s wall, {cpu:.1f}s CPU"
        )
        for s in result["strata"]:
            print(
                f"  tier {s['tier']}: population {s['population']:,}, ratio {s['ratio']:g}, drawn {s['drawn']:,}, "
                f"forced added {s['forced_added']:,}"
            )
        order = ["load", "exclusions", "inspectors", "sample", "assign", "fingerprint", "draw", "save"]
        print(
            "  stages: "
            + ", ".join(f"{k} {timings[k]:.2f}s" for k in order if k in timings)
            + "  (sample/assign/fingerprint are parts of draw)"
        )
        if not args.no_verify:
            t1, c1 = time.perf_counter(), time.process_time()
            v = plans.verify_plan(store, result["plan_id"])
            print(
                f"verify: {'verified' if v['verified'] else 'DIFFERENCES: ' + '; '.join(v['differences'][:3])} "
                f"in {time.perf_counter() - t1:.1f}s wall, {time.process_time() - c1:.1f}s CPU"
            )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        load = open("/proc/loadavg").read().split()[0] if pathlib.Path("/proc/loadavg").exists() else "?"
        print(
            f"peak RSS {peak_mb:,.0f} MB; draw wall time {wall:.1f}s "
            f"({'under' if wall < 30 else 'OVER'} the 30 s target); load average {load} on "
            f"{os.cpu_count()} CPUs (wall time stretches when other work shares the machine)"
        )
        store.dispose()


if __name__ == "__main__":
    main()
