"""Import benchmark: write N entities and M records as CSV, import them through the real code path.

Prints rows/s for each import, the CPU seconds it took and per row (wall time on a busy machine overstates the
cost), peak RSS, the load average beside each figure, and the two imports' wall time together. Target on a 2-core
machine (issue 19): 1,000,000 entities plus 2,000,000 records under 60 s in total, on SQLite and on PostgreSQL.
A large file is read and parsed in a worker process while this one writes (engine.register.intake.run_import): its
CPU is printed apart. On PostgreSQL the server's work (COPY, indexes, foreign keys) is printed as the CPU of the
import's backend when the server runs on this host (read from /proc).

Example: .venv/bin/python bench/import_bench.py --entities 100000 --records 200000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import pathlib
import random
import resource
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.register import entities as register  # noqa: E402
from engine.register.codes import make_uscc  # noqa: E402
from engine.store import Store  # noqa: E402
from policies import base_limits, record_kinds  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from cycle_bench import _ensure_database  # noqa: E402

REGIONS = ["350502", "350503", "350504", "350505", "350521", "350524", "350581", "350582", "350102", "350203"]
INDUSTRIES = ["批发和零售业", "制造业", "住宿和餐饮业", "建筑业", "交通运输业", "信息技术服务业"]
RECORD_COLUMNS = [
    "code",
    "kind",
    "year",
    "score",
    "has_revenue",
    "date",
    "severity",
    "decision_no",
    "authority",
    "field",
    "amount",
    "due_on",
    "kept",
    "matter",
    "cause",
    "list",
    "title",
]


def entity_code(i: int) -> str:
    # Subject body = the row number: unique, deterministic, all digits (valid GB 11714 characters).
    return make_uscc("91" if i % 3 else "92", REGIONS[i % len(REGIONS)], f"{i:08d}")


def write_entities(path: pathlib.Path, n: int) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["统一社会信用代码", "企业名称", "行政区划", "所属行业", "成立日期", "法定代表人"])
        for i in range(n):
            code = entity_code(i)
            established = dt.date(2000, 1, 1) + dt.timedelta(days=rng.randrange(9000))
            w.writerow(
                [
                    code,
                    f"泉州市测试{i}贸易有限公司",
                    code[2:8],
                    INDUSTRIES[i % len(INDUSTRIES)],
                    established.isoformat(),
                    "张三",
                ]
            )


def write_records(path: pathlib.Path, m: int, n_entities: int) -> None:
    """Mixed kinds; natural keys are unique per entity so every row is a new record."""
    rng = random.Random(2)
    kinds = ["tax_evaluation", "penalty", "commitment", "abnormal_operation", "external_list", "honour"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        w = csv.DictWriter(handle, RECORD_COLUMNS)
        w.writeheader()
        for j in range(m):
            entity, serial = j % n_entities, j // n_entities  # serial: this entity's record number
            kind = kinds[(entity + serial) % len(kinds)]
            day = (dt.date(2023, 1, 1) + dt.timedelta(days=serial * 37 + rng.randrange(30))).isoformat()
            row = {"code": entity_code(entity), "kind": kind}
            if kind == "tax_evaluation":
                row |= {"year": 2020 + serial, "score": rng.randrange(30, 100), "has_revenue": "true"}
            elif kind == "penalty":
                row |= {
                    "date": day,
                    "severity": rng.choice(["minor", "general", "serious"]),
                    "decision_no": f"泉市监罚〔2025〕{j}号",
                    "authority": "泉州市市场监督管理局",
                    "field": "food",
                    "amount": rng.randrange(1000, 100000),
                }
            elif kind == "commitment":
                row |= {"date": day, "due_on": "2026-12-31", "kept": "", "matter": f"告知承诺{serial}"}
            elif kind == "abnormal_operation":
                row |= {"date": day, "cause": "annual_report_missing"}
            elif kind == "external_list":
                row |= {"date": day, "list": "court_dishonest", "authority": "泉州市中级人民法院"}
            else:
                row |= {"date": day, "title": f"守合同重信用企业{serial}", "authority": "泉州市市场监督管理局"}
            w.writerow(row)


def cpu_seconds() -> float:
    # User + system CPU of this process: unlike wall time, not inflated by other work on a shared machine.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker_cpu_seconds() -> float:
    # User + system CPU of the finished child processes: the import's reading and parsing worker.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def server_cpu_seconds(store: Store) -> float | None:
    """User + system CPU of the PostgreSQL backend the imports use (the pool hands the bench its one connection), read
    from /proc when the server runs on this host; None on SQLite or when it cannot be read."""
    if store.dialect != "postgresql":
        return None
    try:
        with store.engine.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=1_000_000, help="entities to import (default 1,000,000)")
    parser.add_argument("--records", type=int, default=2_000_000, help="records to import (default 2,000,000)")
    parser.add_argument(
        "--db",
        help="URL of an empty database, which the bench does not clear; a PostgreSQL database that does not exist "
        "is created (default: a SQLite file in a temporary directory)",
    )
    parser.add_argument("--dir", help="where to write the CSV files, kept afterwards (default: a temporary directory)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="supervise-bench-") as tmp:
        work = pathlib.Path(args.dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        url = args.db or f"sqlite:///{work / 'bench.db'}"
        if not args.db:  # a kept --dir may hold the last run's database
            for suffix in ("", "-wal", "-shm"):
                (work / f"bench.db{suffix}").unlink(missing_ok=True)
        entities_csv, records_csv = work / "bench_entities.csv", work / "bench_records.csv"
        t = time.perf_counter()
        write_entities(entities_csv, args.entities)
        write_records(records_csv, args.records, args.entities)
        print(
            f"wrote {args.entities:,} entities and {args.records:,} records as CSV in {time.perf_counter() - t:.1f} s"
        )

        _ensure_database(url)
        store = Store(url)
        store.init()
        kinds = record_kinds()
        imports_wall = imports_cpu = imports_worker = imports_server = 0.0
        for label, run in (
            ("entities", lambda: register.import_entities(store, entities_csv, base_limits())),
            ("records", lambda: register.import_records(store, records_csv, kinds)),
        ):
            t, cpu, worker, server = time.perf_counter(), cpu_seconds(), worker_cpu_seconds(), server_cpu_seconds(store)
            report = run()
            took, cpu, worker = time.perf_counter() - t, cpu_seconds() - cpu, worker_cpu_seconds() - worker
            after = server_cpu_seconds(store)
            served = f"{after - server:.1f} s CPU in the PostgreSQL backend; " if server is not None and after else ""
            imports_server += after - server if server is not None and after else 0.0
            imports_wall, imports_cpu, imports_worker = imports_wall + took, imports_cpu + cpu, imports_worker + worker
            print(
                f"import {label}: {report.rows:,} rows, {report.inserted:,} inserted in {took:.1f} s "
                f"= {report.rows / took:,.0f} rows/s ({cpu:.1f} s CPU in this process, "
                f"{cpu / max(report.rows, 1) * 1e6:.1f} us per row; {worker:.1f} s CPU in the worker process; {served}peak RSS so far {peak_rss_mb():,.0f} MB; "
                f"load {load()})"
            )
        store.dispose()
    print(
        f"database: {store.display_url() if args.db else 'temporary SQLite file'}; "
        f"both imports {imports_wall:.1f} s wall, {imports_cpu:.1f} s CPU in this process and "
        f"{imports_worker:.1f} s in the worker"
        f"{f', {imports_server:.1f} s in the PostgreSQL backend' if imports_server else ''} "
        f"(target: 1,000,000 + 2,000,000 rows under 60 s); "
        f"total wall time with writing the CSVs {time.perf_counter() - start:.1f} s; peak RSS {peak_rss_mb():,.0f} MB; "
        f"load {load()}"
    )
    return 0


def load() -> str:
    # The 1, 5 and 15 minute load averages: on a shared machine the wall times above are inflated by the others.
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    sys.exit(main())
