"""Notices benchmark: issue N HTML notices for a synthetic committed cycle through the real code path.

Measured: reading the cycle, building each render context, numbering (locked counter), storing the notices with
their contexts, rendering the text form (content hash) and the HTML (or PDF), and writing one file per notice.
Building the synthetic cycle is not measured. Prints notices/s, CPU seconds, peak RSS and the load average.
Targets (issue 19, a 2-core machine): 100,000 HTML notices in under 20 s; PDF at 200 notices/s or better.

``--format pdf --pdf-engine typst|weasyprint|both`` issues PDFs with one engine or with each in turn (each on a
cycle of its own, so both really typeset); pages/s counts the pages of a sample of the files (pdfinfo).

Example: .venv/bin/python bench/notices_bench.py --notices 100000
         .venv/bin/python bench/notices_bench.py --notices 1000 --format pdf --pdf-engine both
         .venv/bin/python bench/notices_bench.py --notices 20000 --db postgresql://postgres@127.0.0.1/bench --empty-db
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.store import Store  # noqa: E402
from notices import issue  # noqa: E402
from notices.render import PDF_ENGINES  # noqa: E402
from tests.builders_notices import bulk_cycle  # noqa: E402


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds() -> tuple[float, float]:
    """CPU time of this process and of its (finished) worker processes: on a shared machine wall time also
    counts the time other work held the cores."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def pdf_pages(files: list[pathlib.Path]) -> float:
    """Pages a PDF of ``files`` has on average (pdfinfo)."""
    counts = []
    for f in files:
        info = subprocess.run(["pdfinfo", str(f)], capture_output=True, text=True, check=True).stdout
        counts += [int(line.split()[-1]) for line in info.splitlines() if line.startswith("Pages:")]
    return sum(counts) / max(1, len(counts))


def measure(args: argparse.Namespace, store: Store, cycle_id: int, out: pathlib.Path, engine: str | None) -> None:
    """Issue the cycle's notices into ``out`` and print the figures."""
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())

    if args.serial:
        issue.PARALLEL_MIN = issue.PARALLEL_MIN_PDF = 10**12
    c0, t0 = cpu_seconds(), time.perf_counter()
    report = issue.issue_for_cycle(
        store, cycle_id, out=out, formats=(args.format,), as_of=dt.date(2025, 3, 3), pdf_engine=engine
    )
    elapsed = time.perf_counter() - t0
    main_cpu, workers_cpu = (b - a for a, b in zip(c0, cpu_seconds()))
    cpu = main_cpu + workers_cpu
    n = len(report.issued)
    files = sum(1 for _ in out.iterdir())
    print(
        f"issued: {n:,} {args.format.upper()} notices{f' ({engine})' if engine else ''} ({files:,} files) "
        f"in {elapsed:.1f} s "
        f"= {n / elapsed:,.0f} notices/s; "
        f"numbers {report.issued[0]['number']} .. {report.issued[-1]['number']}"
    )
    print(
        f"cpu: {cpu:.1f} s = {main_cpu:.1f} s main process + {workers_cpu:.1f} s workers "
        f"({n / cpu:,.0f} notices per CPU second); "
        f"load average before/after: {load_before} / {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    if args.reissue:
        t0 = time.perf_counter()
        again = issue.issue_for_cycle(
            store,
            cycle_id,
            out=out.with_name(out.name + "-again"),
            formats=(args.format,),
            as_of=dt.date(2025, 3, 3),
            pdf_engine=engine,
        )
        elapsed2 = time.perf_counter() - t0
        print(
            f"re-issue: {len(again.already):,} already issued, re-rendered from stored contexts in {elapsed2:.1f} s "
            f"= {len(again.already) / elapsed2:,.0f} notices/s; changed: {len(again.changed)}"
        )
    if engine:
        pages = pdf_pages(sorted(out.iterdir())[:20])
        print(
            f"pages: {pages:.2f} a notice (pdfinfo on 20 files) = {n * pages / elapsed:,.0f} pages/s, "
            f"{n * pages / cpu:,.0f} pages per CPU second ({engine})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notices", type=int, default=100_000, help="How many notices (default 100000).")
    parser.add_argument(
        "--db",
        help="Database URL (default: a fresh SQLite file in a temporary directory). "
        "A PostgreSQL database is emptied first (needs --empty-db).",
    )
    parser.add_argument("--empty-db", action="store_true", help="Allow emptying the PostgreSQL database of --db.")
    parser.add_argument("--format", default="html", choices=["html", "txt", "pdf"], help="File format (default html).")
    parser.add_argument(
        "--pdf-engine",
        default="typst",
        choices=[*PDF_ENGINES, "both"],
        help="With --format pdf: the engine, or both in turn (default typst).",
    )
    parser.add_argument("--reissue", action="store_true", help="Also time re-issuing (re-render from stored contexts).")
    parser.add_argument("--serial", action="store_true", help="Render and write in this process only (no workers).")
    parser.add_argument(
        "--dir",
        help="Where to put the database and the files (default: a new temporary directory; "
        "/dev/shm takes the disk out of the measurement).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="notices-bench-", dir=args.dir))
    url = args.db or f"sqlite:///{work / 'bench.db'}"
    if url.startswith(("postgres://", "postgresql")):
        if not args.empty_db:
            parser.error(f"--db {url} would be emptied (DROP SCHEMA public CASCADE); add --empty-db if that is meant")
        import sqlalchemy as sa

        from engine.store import normalize_url

        engine = sa.create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    store = Store(url)
    store.init()
    engines = (PDF_ENGINES if args.pdf_engine == "both" else (args.pdf_engine,)) if args.format == "pdf" else (None,)
    for n_run, engine in enumerate(engines):
        t0 = time.perf_counter()
        cycle_id = bulk_cycle(store, args.notices, period=f"{2024 - n_run}", code_offset=n_run * args.notices)
        setup = time.perf_counter() - t0
        print(f"setup: cycle {cycle_id} with {args.notices:,} decisions in {setup:.1f} s ({store.dialect})")
        measure(args, store, cycle_id, work / f"out-{engine or args.format}", engine)
    print(
        f"peak RSS: {peak_rss_mb():,.0f} MB (main process), {peak_rss_mb(resource.RUSAGE_CHILDREN):,.0f} MB "
        f"(largest worker)"
    )
    store.dispose()
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
