"""List lifecycle benchmark (issue 19): ``lists serve`` and ``lists advance`` of a cycle's 100,000 black-list entries.

Builds a register of N market entities (default 100,000), each with one serious penalty in a key field (food, drugs,
quality ...) decided within the year before the as-of date, so the shipped ``market-credit-risk`` pack proposes every
one of them for the 严重违法失信名单 (black list, a pre-listing notice and an objection window); a fifth of them also
have an open abnormal-operation entry (the abnormal list, listed at once). Then, each in one transaction as the CLI
runs it, it times:

1. the cycle (``run_cycle``: decisions and list proposals);
2. ``serve --cycle``: every pre-listing notice served (an event per entry, the notice with its repair instructions
   issued and numbered: context stored, its text rendered for the content hash, in this process on a 2-core
   machine, in worker processes from ``notices.issue.SEAL_PARALLEL_MIN`` notices on one with
   ``SEAL_PARALLEL_CORES`` cores or more while the main process builds the next chunk; ``--serial`` and
   ``--parallel`` choose);
3. ``advance`` past the objection windows: every black entry listed (an event, the joint measures' tasks sent to the
   departments, the 列入决定 issued);
4. ``advance`` past the publication periods: every entry expired (an event, the measures lifted, read ahead a chunk
   at a time, the removal decisions issued).

Each line gives the entries moved, wall seconds, entries/s, the CPU seconds of the main process and of the worker
processes (with the CPU microseconds per entry moved: on a shared machine wall time also counts the time others
held the cores) and the machine's load average (1 min). Target (2-core machine): serve and advance of 100,000
entries under 15 s each.

Example: .venv/bin/python bench/lists_bench.py --entities 100000
Example: .venv/bin/python bench/lists_bench.py --entities 5000 --parallel --db sqlite:////tmp/lists_bench_5000.db
Example: .venv/bin/python bench/lists_bench.py --entities 20000 --db postgresql://postgres@127.0.0.1:5432/supervise_lists_bench

The benchmark owns the database it is given: it is emptied and rebuilt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import resource
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from engine.pipeline.cycles import run_cycle  # noqa: E402
from engine.register.codes import make_uscc  # noqa: E402
from engine.store import Store, schema  # noqa: E402
from lists import lifecycle  # noqa: E402
from notices import issue as notices_issue  # noqa: E402

AS_OF = dt.date(2026, 4, 30)
CHUNK = 20_000
FIELDS = ("food", "drugs", "quality", "special_equipment", "consumer_rights", "competition")


def _reset(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = pathlib.Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            pathlib.Path(str(path) + suffix).unlink(missing_ok=True)
        return
    base, name = url.rsplit("/", 1)
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()


def build(store: Store, n: int) -> dict:
    """N entities, each with a serious key-field penalty of the last year; every fifth with open abnormal operation."""
    t0 = time.perf_counter()
    stamp = dt.datetime.now(dt.UTC)
    regions = ("350503", "350502", "350582", "350524", "350521", "350583")  # 泉州: the pack's authority
    for start in range(0, n, CHUNK):
        rows = [
            {
                "code": make_uscc("91", regions[i % len(regions)], f"L{i:07d}"),
                "code_kind": "uscc",
                "name": f"名单基准{i}有限公司",
                "entity_type": "enterprise",
                "region": regions[i % len(regions)],
                "industry": "制造业",
                "established_on": dt.date(2015, 1, 1),
                "legal_rep": "张三",
                "created_at": stamp,
                "updated_at": stamp,
            }
            for i in range(start, min(n, start + CHUNK))
        ]
        with store.transaction() as conn:
            conn.execute(sa.insert(schema.entities), rows)
    with store.read() as conn:
        ids = list(conn.execute(sa.select(schema.entities.c.id).order_by(schema.entities.c.id)).scalars())
    records = []
    for i, eid in enumerate(ids):
        day = AS_OF - dt.timedelta(days=30 + i % 300)
        data = {
            "date": day.isoformat(),
            "severity": "serious",
            "decision_no": f"泉市监处〔{day.year}〕{i}号",
            "authority": "泉州市市场监督管理局",
            "field": FIELDS[i % len(FIELDS)],
            "amount": 200000.0,
        }
        records.append(
            {
                "entity_id": eid,
                "kind": "penalty",
                "date": day,
                "natural_key": data["decision_no"],
                "data": data,
                "source": "bench",
                "imported_at": stamp,
            }
        )
        if i % 5 == 0:
            opened = AS_OF - dt.timedelta(days=60 + i % 200)
            cause = "通过登记的住所或者经营场所无法联系"
            records.append(
                {
                    "entity_id": eid,
                    "kind": "abnormal_operation",
                    "date": opened,
                    "natural_key": f"{opened}|{cause}",
                    "data": {"date": opened.isoformat(), "cause": cause},
                    "source": "bench",
                    "imported_at": stamp,
                }
            )
        if len(records) >= CHUNK:
            with store.transaction() as conn:
                conn.execute(sa.insert(schema.records), records)
            records = []
    if records:
        with store.transaction() as conn:
            conn.execute(sa.insert(schema.records), records)
    if store.dialect == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return {"entities": n, "seconds": round(time.perf_counter() - t0, 1)}


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process and of its finished worker processes."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def line(what: str, moved: int, seconds: float, cpu: tuple[float, float] | None = None) -> None:
    rate = moved / seconds if seconds else 0.0
    used = (
        f"   cpu {cpu[0]:6.2f} s main + {cpu[1]:6.2f} s workers = {1e6 * sum(cpu) / max(1, moved):5,.0f} us/entry"
        if cpu
        else ""
    )
    print(
        f"{what:<34} {moved:>8,} entries {seconds:8.2f} s {rate:10,.0f} entries/s{used}   "
        f"load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--db", help="database URL (default sqlite:////tmp/supervise_lists_bench_N.db); emptied")
    ap.add_argument(
        "--serial", action="store_true", help="render the notices' text forms in this process only (no workers)"
    )
    ap.add_argument(
        "--parallel", action="store_true", help="render them in worker processes (from the first notice on)"
    )
    args = ap.parse_args()
    if args.serial:
        notices_issue.SEAL_PARALLEL_MIN = 10**12
    elif args.parallel:
        notices_issue.SEAL_PARALLEL_MIN, notices_issue.SEAL_PARALLEL_CORES = 0, 1
    url = args.db or f"sqlite:////tmp/supervise_lists_bench_{args.entities}.db"
    _reset(url)
    store = Store(url)
    store.init()
    print(f"lists bench on {store.display_url()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    built = build(store, args.entities)
    print(f"register: {built['entities']:,} entities with a serious penalty each, built in {built['seconds']} s")

    t = time.perf_counter()
    cycle = run_cycle(store, "market-credit-risk", AS_OF.isoformat(), as_of=AS_OF, actor="bench")
    proposed = (cycle.get("lists") or {}).get("proposed") or {}
    line(f"cycle (proposed {dict(proposed)})", sum(proposed.values()), time.perf_counter() - t)

    def timed(what: str, fn, key: str) -> None:
        c0, t0 = cpu_seconds(), time.perf_counter()
        with store.transaction() as conn:
            out = fn(conn)
        elapsed = time.perf_counter() - t0
        line(what, len(out[key]), elapsed, tuple(b - a for a, b in zip(c0, cpu_seconds())))  # type: ignore[arg-type]

    served_on = AS_OF + dt.timedelta(days=6)
    timed("serve --cycle", lambda c: lifecycle.serve(c, served_on, "bench", cycle_id=cycle["cycle"]), "served")
    timed(
        "advance (objection windows over)",
        lambda c: lifecycle.advance(c, AS_OF + dt.timedelta(days=40), "bench"),
        "listed",
    )
    timed(
        "advance (publication periods over)",
        lambda c: lifecycle.advance(c, AS_OF + dt.timedelta(days=365 * 6), "bench"),
        "expired",
    )
    with store.read() as conn:
        counts = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (schema.list_events, schema.measure_tasks, schema.notices)
        }
    print("stored:", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    store.dispose()


if __name__ == "__main__":
    main()
