"""Spark engine benchmark (issue 19): the same cycle on the local engine and on Spark, on the same register.

Builds (or with ``--reuse`` keeps) the register of bench/cycle_bench.py (N entities, about 2 records each, the
realistic mix), then runs the cycle of one pack twice, each in a fresh child process through
``engine.pipeline.cycles.run_cycle``: once with the local engine (its default: a worker process evaluates from
100,000 entities while the cycle process writes), once with ``spark=MASTER`` (default ``local[2]``), each on its own
copy of the register's SQLite file, so both write into the same empty tables.

Printed per engine: wall time (with the commit) and its stages from the cycle summary (local: load, facts, evaluate
in the worker, store and lists in the cycle process; Spark: session start, load and Parquet export in the driver,
the job, facts and evaluate summed over the tasks, reading the results back, store and lists), entities/s, peak RSS
of the cycle process, the load average before and after; then the scaling factor (Spark wall / local wall) and
whether the two stored the same decisions (a digest of every decision row: entity, vector key, tier, ratio, per
year, forced, facts).

Example: .venv/bin/python bench/spark_bench.py                      # 100,000 entities, local[2]
Example: .venv/bin/python bench/spark_bench.py --entities 1000000 --reuse
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cycle_bench as cb  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from engine.store import Store, schema  # noqa: E402


def default_db(n: int) -> str:
    return f"sqlite:////tmp/supervise_spark_bench_{n}.db"


def digest(store: Store, cycle_id: int) -> str:
    """A digest of every decision of the cycle in entity order, and of the outcome keys they point to."""
    D, O = schema.decisions, schema.outcomes
    h = hashlib.sha256()
    with store.read() as conn:
        rows = conn.execute(
            sa.select(D.c.entity_id, O.c.vector_key, D.c.tier, D.c.ratio, D.c.per_year, D.c.forced, D.c.facts)
            .join(O, O.c.id == D.c.outcome_id)
            .where(D.c.cycle_id == cycle_id)
            .order_by(D.c.entity_id)
            .execution_options(yield_per=50000)
        )
        for r in rows:
            h.update(repr(tuple(r)).encode())
    return h.hexdigest()[:16]


def child(url: str, pack: str, master: str | None) -> dict:
    from engine.pipeline.cycles import run_cycle

    period, as_of = cb.PACKS[pack]
    store = Store(url)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    result = run_cycle(store, pack, period, as_of=as_of, rerun=True, actor="bench", spark=master)
    wall = time.perf_counter() - t0
    out = {
        "engine": f"spark {master}" if master else "local",
        "cycle": result["cycle"],
        "entities": result["entities"],
        "wall": wall,
        "timings": result["timings"],
        "workers": result.get("workers"),
        "partitions": (result.get("engine") or {}).get("partitions"),
        "tiers": {t["tier"]: t["entities"] for t in result["tiers"]},
        "lists": result["lists"]["proposed"],
        "rss_peak_mb": round(cb.rss_mb(), 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    out["digest"] = digest(store, result["cycle"])
    store.dispose()
    return out


def run_child(url: str, pack: str, master: str | None) -> dict:
    args = [sys.executable, __file__, "--child", "spark" if master else "local", "--db", url, "--pack", pack]
    if master:
        args += ["--master", master]
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISE_WORKERS"}  # each engine's default
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(r: dict) -> None:
    n = r["entities"]
    lb, la = r["load_before"], r["load_after"]
    print(
        f"{r['engine']:<22} wall {r['wall']:7.1f} s  {n / r['wall']:9,.0f} entities/s  peak RSS {r['rss_peak_mb']:6.0f} MB"
        f"  load {lb[0]:.2f} -> {la[0]:.2f} (1 min), {la[1]:.2f} (5 min)"
    )
    stages = "  ".join(f"{k} {v:.1f}" for k, v in r["timings"].items())
    extra = f"workers {r['workers']}" + (f", {r['partitions']} partitions" if r["partitions"] else "")
    print(f"{'':<22} stages (s): {stages}  [{extra}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--db", help="SQLite database URL (default: a file in /tmp named by --entities)")
    ap.add_argument("--pack", choices=list(cb.PACKS), default="tax-credit")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    ap.add_argument("--reuse", action="store_true", help="keep an existing register of the same size")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", choices=["local", "spark"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    url = a.db or default_db(a.entities)
    if not url.startswith("sqlite:///"):
        raise SystemExit("--db: a SQLite file (each engine runs on a copy of it)")
    if a.child:
        print(json.dumps(child(url, a.pack, a.master if a.child == "spark" else None)))
        return
    print(f"Spark engine benchmark: {a.entities:,} entities, pack {a.pack}, {url}, {os.cpu_count()} cores")
    size = cb.register_size(url) if a.reuse else None
    if size and size[0] == a.entities:
        print(f"register kept: {size[0]:,} entities, {size[1]:,} records")
    else:
        built = cb.build(url, a.entities, a.seed)
        print(
            f"register built: {built['entities']:,} entities, {built['records']:,} records "
            f"({built['entities_s'] + built['records_s']:.0f} s)"
        )
    base = sa.engine.make_url(url).database
    copies = {}
    for engine in ("local", "spark"):
        path = f"{base}.{engine}"
        shutil.copyfile(base, path)
        copies[engine] = f"sqlite:///{path}"
    try:
        local = run_child(copies["local"], a.pack, None)
        report(local)
        spark = run_child(copies["spark"], a.pack, a.master)
        report(spark)
    finally:
        for u in copies.values():
            os.remove(sa.engine.make_url(u).database)
    same = local["digest"] == spark["digest"] and local["tiers"] == spark["tiers"] and local["lists"] == spark["lists"]
    print(
        f"scaling factor (Spark wall / local wall): {spark['wall'] / local['wall']:.2f}; "
        f"same decisions: {'yes' if same else 'NO'} (digest {local['digest']} / {spark['digest']}); "
        f"at {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
