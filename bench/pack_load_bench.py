"""Pack load benchmark (issue 15): how long validating each shipped pack takes, and what the table check does.

For every shipped pack (policies/packs/*.yaml), in a fresh process each (no loader cache), it times ``load_pack``
(parse, validate, compile, the exhaustive tier and list table checks) over ``--repeat`` runs and prints the best and
the median; then, per version, the number of facts the tier rules test, the size of the cross product of their value
classes (what the old check enumerated), and the residual states the check visits fact by fact
(``policies.loader._outcomes``), with the time of the table check alone. It prints the machine load (1-minute load
average, CPU count) with the figures: they are indications, not thresholds.

    .venv/bin/python bench/pack_load_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, math, sys, time
sys.path.insert(0, sys.argv[1])
t = time.perf_counter()
from policies.loader import load_pack, fact_classes, _outcomes, _check_tables
from engine import conditions as C
imported = time.perf_counter() - t
path, repeat = sys.argv[2], int(sys.argv[3])
times = []
for _ in range(repeat):
    t = time.perf_counter()
    pack = load_pack(path)
    times.append(time.perf_counter() - t)
versions = []
for v in pack.versions:
    by_fact = {}
    for r in v.tier_rules:
        for a in C.atoms(r.when):
            by_fact.setdefault(a.fact, []).append(a)
    product = 1
    for name, atoms in by_fact.items():
        reps = fact_classes(v.facts[name], atoms)
        product *= len({tuple(a.test(x) for a in atoms) for x in reps})
    states = sum(1 for _ in _outcomes(v, [r.when for r in v.tier_rules]))
    t = time.perf_counter()
    class Found:
        def add(self, *a): pass
    _check_tables(v, ("bench",), Found())
    check = time.perf_counter() - t
    versions.append({"version": v.version, "facts_tested": len(by_fact), "cross_product": product,
                     "outcomes": states, "table_check_s": check})
print(json.dumps({"times": times, "versions": versions}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    load1, _, _ = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f} (1 min); {args.repeat} loads per pack")
    for path in sorted((ROOT / "policies" / "packs").glob("*.yaml")):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(ROOT), str(path), str(args.repeat)],
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(out.stdout)
        times = data["times"]
        print(f"{path.name}: load best {min(times):.3f} s, median {statistics.median(times):.3f} s")
        for v in data["versions"]:
            print(
                f"  version {v['version']}: {v['facts_tested']} facts in the tier rules, cross product "
                f"{v['cross_product']:,} (10^{math.log10(max(v['cross_product'], 1)):.1f}), "
                f"{v['outcomes']} distinct tier outcomes, table check {v['table_check_s']:.3f} s"
            )


if __name__ == "__main__":
    main()
