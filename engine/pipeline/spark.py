"""Evaluating the register on Apache Spark (``--engine spark``): the same batches, evaluation and writes as the
local engine (engine.pipeline.parallel), with the evaluate step run in Spark tasks.

1. Export (driver, inside the cycle's transaction): each batch of the register, loaded by the local engine's load
   step (:meth:`BatchEvaluator.load`: the same entities and records, as of the same date and knowledge date), is
   written as one Parquet file: one row per entity, its records nested in a list column, its previous tier and the
   tiers of the cycles the pack's decision facts read as columns. The files go to a temporary directory under
   ``SUPERVISE_SPARK_DIR`` (default: the system's), which every executor must be able to read (a shared disk on
   a cluster); it is removed afterwards.
2. Job: Spark reads the files and runs :func:`_evaluate_partition` per partition with ``mapInArrow``. An executor's
   Python worker rebuilds the pack version from its stored body, checks that it hashes to the cycle's, and keeps one
   :class:`BatchEvaluator` (one durable-rules host, engine.rules) per worker process and thread. Each task evaluates
   its rows with the local engine's pure evaluate step and a fresh ``known`` memo, so it reports the outcome of
   every vector key its rows use: a task's result depends on its rows only, never on which tasks the same worker
   ran before, on the partitioning, or on a retried task. Results (pickled rows and outcomes per chunk of a batch)
   are written to Parquet, partitioned by batch.
3. Write (driver, same transaction): the results are read back one batch at a time, in entity order, and handed
   to the caller's sink, the local engine's write path; outcomes already met are skipped there as in the local
   engine, so the decisions, outcomes, list proposals and summary are those of the local engine.

A task that dies is retried by Spark (``spark.task.maxFailures`` 4; ``local[N]`` becomes ``local[N,4]``, since
local mode does not retry otherwise). A failed job raises a CycleError: the cycle's transaction is rolled back and
nothing is stored, as when the local engine fails. pyspark and pyarrow are imported only here, when the Spark
engine runs (the extra ``supervise[spark]``).

Test hook: with ``SUPERVISE_SPARK_DIE_ONCE=FILE`` the first task to start creates FILE and kills its Python worker
(``os._exit``); Spark retries the task.
"""

from __future__ import annotations

import datetime as dt
import functools
import glob
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from engine.errors import CycleError, UsageProblem
from engine.facts import SourceCycle
from engine.model import PackVersion
from engine.pipeline.parallel import BatchEvaluator, Row, Sink, collector_paused, feed
from policies.loader import version_from_body

DIE_ONCE = "SUPERVISE_SPARK_DIE_ONCE"
WORK_DIR = "SUPERVISE_SPARK_DIR"
TASK_FAILURES = 4
# The entity columns the load step reads (engine.store.entities.entities_between), with their Arrow types.
STRING_COLUMNS = ("code", "code_kind", "name", "entity_type", "region", "industry")
ENTITY_COLUMNS = ("id", *STRING_COLUMNS, "established_on")
# The driver JVM's logging (Spark's default prints every WARN of its start and of each retried task).
QUIET_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


def master_with_retries(master: str) -> str:
    """``local[N]`` (and ``local``, ``local[*]``) as ``local[N,4]``: local mode retries a failed task only when the
    master names a number of failures; other masters (spark://, yarn, k8s://) use spark.task.maxFailures."""
    m = re.fullmatch(r"local(?:\[(\d+|\*)\])?", master.strip())
    if m:
        return f"local[{m.group(1) or 1},{TASK_FAILURES}]"
    return master.strip()


def _pyspark() -> Any:
    try:
        import pyspark  # noqa: F401 - heavy optional package, imported only when the Spark engine runs
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise UsageProblem(
            f"--engine spark needs pyspark and pyarrow ({exc}); install them with "
            f"pip install 'supervise[spark]' (and Java 17), or use --engine local."
        ) from None
    return SparkSession


def session(master: str) -> Any:
    """The Spark session for ``master`` (an active one with the same master is reused): no UI, quiet logs, task
    retries; every file of the export is one partition."""
    SparkSession = _pyspark()
    wanted = master_with_retries(master)
    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master == wanted:
        return active
    if active is not None:
        active.stop()
    # The executors' Python is this one (the package and pyarrow are installed in it), unless set otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if "PYSPARK_SUBMIT_ARGS" not in os.environ:  # errors only, unless one's own spark-submit options say otherwise
        log4j = os.path.join(tempfile.gettempdir(), f"supervise-spark-log4j2-{os.getuid()}.properties")
        with open(log4j, "w", encoding="utf-8") as handle:
            handle.write(QUIET_LOG4J)
        os.environ["PYSPARK_SUBMIT_ARGS"] = (
            f"--driver-java-options -Dlog4j2.configurationFile=file:{log4j} pyspark-shell"
        )
    try:
        spark = (
            SparkSession.builder.master(wanted)
            .appName("supervise")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.task.maxFailures", str(TASK_FAILURES))
            # One partition per exported file (one batch): files are never packed together or split.
            .config("spark.sql.files.openCostInBytes", str(1 << 34))
            .config("spark.sql.files.maxPartitionBytes", str(1 << 34))
            .getOrCreate()
        )
    except Exception as exc:  # no Java, a master that cannot be reached: Py4J and Spark raise their own types
        raise CycleError(
            f"Spark could not start with master {wanted}: {type(exc).__name__}: {str(exc)[:500]}. "
            f"The Spark engine needs Java 17 (java -version) and a reachable master; nothing was stored."
        ) from exc
    spark.sparkContext.setLogLevel("ERROR")  # quiet from here on (the JVM's start-up lines are printed before)
    return spark


@dataclass(frozen=True)
class _Job:
    """What every task needs besides its rows (pickled into the task)."""

    body: dict
    digest: str
    as_of: dt.date
    # Per decision source: its key, cycle id, pack, period, revision and as-of date.
    sources: tuple[tuple[str, int, str, str, int, dt.date], ...]
    die_once: str | None


def evaluate_on_spark(
    conn: Any,
    version: PackVersion,
    as_of: dt.date,
    ranges: Sequence[tuple[int, int]],
    sink: Sink,
    *,
    master: str,
    previous: int | None = None,
    known_at: dt.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    decided: dict[str, SourceCycle | None] | None = None,
) -> dict[str, Any]:
    """:func:`engine.pipeline.parallel.evaluate_batches` on Spark: the same sink calls, in the same order, with the
    same rows and outcomes. Returns the same statistics; ``timings`` has ``session`` (Spark's start, or 0 when the
    session was running), ``load`` and ``export`` (the register read
    and the Parquet written, in the driver), ``job`` (Spark), ``convert`` (Arrow to Python), ``facts`` and ``evaluate`` (summed over the tasks),
    ``results`` (read back) and ``sink``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    clock = time.perf_counter
    t0 = clock()
    spark = session(master)
    started = clock() - t0
    be = BatchEvaluator(version, as_of, previous, known_at, decided)
    keys = sorted(k for k, c in (decided or {}).items() if c is not None)
    job = _Job(
        version.stored_body(),
        version.content_hash,
        as_of,
        tuple((k, c.id, c.pack, c.period, c.revision, c.as_of) for k in keys for c in [(decided or {})[k]] if c),
        os.environ.get(DIE_ONCE) or None,
    )
    # Null decision sources (``missing: none``) stay None on the executors too.
    absent = tuple(k for k, c in (decided or {}).items() if c is None)
    job_fn = functools.partial(_evaluate_partition, job=job, absent=absent)
    work = tempfile.mkdtemp(prefix="supervise-spark-", dir=os.environ.get(WORK_DIR) or None)
    timings = {
        "session": started,
        "load": 0.0,
        "export": 0.0,
        "job": 0.0,
        "convert": 0.0,
        "facts": 0.0,
        "evaluate": 0.0,
        "results": 0.0,
        "sink": 0.0,
    }
    try:
        schema = _input_schema(pa, len(keys))
        # The tiers of the previous cycle and of the decision sources: those of each batch, read by be.load (only a
        # pack with a 'previous: tier' fact reads the previous cycle's).
        prev_get = be.prev_get
        tiers_get = [c.tiers.get for k in keys for c in [(decided or {})[k]] if c is not None]
        os.makedirs(os.path.join(work, "in"))
        for n, (first, last) in enumerate(ranges):
            batch, records = be.load(conn, first, last)
            t1 = clock()
            pq.write_table(
                _input_table(pa, schema, n, batch, records, prev_get, tiers_get),
                os.path.join(work, "in", f"batch-{n:07d}.parquet"),
            )
            timings["export"] += clock() - t1
        timings["load"] = be.timings["load"]
        t1 = clock()
        out = os.path.join(work, "out")
        frame = spark.read.parquet(os.path.join(work, "in"))
        result = frame.mapInArrow(job_fn, "batch int, first long, payload binary")
        try:
            result.write.mode("overwrite").partitionBy("batch").parquet(out)
        except Exception as exc:  # a failed job: Py4JJavaError, or pyspark's own exception types
            raise _job_error(exc) from exc
        timings["job"] = clock() - t1
        stats: dict[str, Any] = {"durable_evaluations": 0}

        def batches() -> Iterator[tuple[list[Row], dict[str, dict], int]]:
            for n in range(len(ranges)):
                t2 = clock()
                merged = _merged(pq, out, n, stats, timings)
                timings["results"] += clock() - t2
                yield merged

        with collector_paused():
            count, distinct, timings["sink"] = feed(batches(), sink, progress)
        return {
            "entities": count,
            "distinct_vectors": distinct,
            "durable_evaluations": stats["durable_evaluations"],
            "workers": spark.sparkContext.defaultParallelism,
            "engine": "spark",
            "master": spark.sparkContext.master,
            "partitions": len(ranges),
            "timings": timings,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _input_schema(pa: Any, sources: int) -> Any:
    record = pa.struct([("kind", pa.string()), ("date", pa.date32()), ("data", pa.string())])
    fields = [("batch", pa.int32()), ("id", pa.int64())]
    fields += [(c, pa.string()) for c in STRING_COLUMNS]
    fields += [("established_on", pa.date32()), ("previous", pa.string())]
    fields += [(f"decided_{i}", pa.string()) for i in range(sources)]
    fields += [("records", pa.list_(record))]
    return pa.schema(fields)


def _input_table(
    pa: Any,
    schema: Any,
    n: int,
    batch: list[dict],
    records: dict[int, list],
    prev_get: Callable[[int], str | None] | None,
    tiers_get: Sequence[Callable[[int], str | None]],
) -> Any:
    """One batch as an Arrow table: the entities as the load step read them, their records nested (the data as
    JSON text, encoded once per shared dict: the load step decodes each distinct text once)."""
    if batch and set(batch[0]) != set(ENTITY_COLUMNS):
        raise CycleError(
            f"The Spark export knows the entity columns {', '.join(ENTITY_COLUMNS)} but the register read gives "
            f"{', '.join(batch[0])}; add the new columns to engine/pipeline/spark.py (ENTITY_COLUMNS)."
        )
    ids = [e["id"] for e in batch]
    columns: dict[str, list] = {"batch": [n] * len(batch), "id": ids}
    for c in (*STRING_COLUMNS, "established_on"):
        columns[c] = [e[c] for e in batch]
    columns["previous"] = [prev_get(i) for i in ids] if prev_get else [None] * len(batch)
    for k, get in enumerate(tiers_get):
        columns[f"decided_{k}"] = [get(i) for i in ids]
    texts: dict[int, str] = {}
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    nested = []
    none: list = []
    for i in ids:
        items = []
        for kind, date, value in records.get(i, none):
            text = texts.get(id(value))
            if text is None:
                text = texts[id(value)] = dumps(value)
            items.append({"kind": kind, "date": date, "data": text})
        nested.append(items)
    columns["records"] = nested
    return pa.Table.from_pydict(columns, schema=schema)


def _merged(pq: Any, out: str, n: int, stats: dict, timings: dict) -> tuple[list[Row], dict[str, dict], int]:
    """Batch ``n``'s result: its chunks (one per task that had rows of it, normally one) in entity order, their
    outcomes in order of first use."""
    files = sorted(glob.glob(os.path.join(out, f"batch={n}", "*.parquet")))
    chunks: list[tuple[int, bytes]] = []
    for f in files:
        t = pq.read_table(f, columns=["first", "payload"])
        chunks.extend(zip(t.column("first").to_pylist(), t.column("payload").to_pylist()))
    if not chunks:
        raise CycleError(
            f"The Spark job returned no result for batch {n} of the register; nothing was stored. Run it again."
        )
    rows: list[Row] = []
    new: dict[str, dict] = {}
    read = 0
    for _first, payload in sorted(chunks, key=lambda c: c[0]):
        part_rows, part_new, part_read, part_stats = pickle.loads(payload)
        rows.extend(part_rows)
        for key, outcome in part_new.items():
            new.setdefault(key, outcome)
        read += part_read
        stats["durable_evaluations"] += part_stats["durable_evaluations"]
        timings["facts"] += part_stats["facts"]
        timings["evaluate"] += part_stats["evaluate"]
        timings["convert"] += part_stats["convert"]
    return rows, new, read


def _job_error(exc: BaseException) -> CycleError:
    """A CycleError for a failed Spark job: an error of ours raised in a task keeps its message."""
    text = str(exc)
    ours = re.search(r"(engine\.errors\.\w+|CycleError|RuleEngineError): (.+)", text)
    detail = ours.group(2).strip() if ours else f"{type(exc).__name__}: {text.strip().splitlines()[0][:500]}"
    return CycleError(f"The Spark job failed: {detail}; nothing was stored. Run the command again.")


# -- in the executors ------------------------------------------------------------------------------------------

# One evaluator per Python worker process and thread (a durable-rules host belongs to the thread that made it),
# per pack version, date and decision sources. Only the pure part is kept between tasks: the outcome of a
# predicate vector; what a task reports is computed from its own rows (a fresh ``known`` per chunk).
_EVALUATORS: dict[tuple, tuple[BatchEvaluator, dict[str, dict[int, str]]]] = {}


def _evaluator(job: _Job, absent: tuple[str, ...]) -> tuple[BatchEvaluator, dict[str, dict[int, str]]]:
    key = (os.getpid(), threading.get_ident(), job.digest, job.as_of, job.sources, absent)
    found = _EVALUATORS.get(key)
    if found is None:
        version = version_from_body(job.body)
        if version.content_hash != job.digest:
            raise CycleError(
                f"The pack version rebuilt on a Spark executor hashes to {version.content_hash[:12]}, not "
                f"{job.digest[:12]} as in the cycle; the executors run another version of the package or its "
                f"packs. Install the same supervise on every executor, then run again."
            )
        # The tiers of the decision sources: refilled for each chunk from its own rows (the fact reads tiers.get).
        tiers: dict[str, dict[int, str]] = {k: {} for k, *_ in job.sources}
        decided: dict[str, SourceCycle | None] = {
            k: SourceCycle(cid, pack, period, revision, as_of, tiers[k])
            for k, cid, pack, period, revision, as_of in job.sources
        }
        decided.update({k: None for k in absent})
        found = _EVALUATORS[key] = (BatchEvaluator(version, job.as_of, None, None, decided or None), tiers)
    return found


def _evaluate_partition(batches: Iterator[Any], job: _Job, absent: tuple[str, ...] = ()) -> Iterator[Any]:
    """mapInArrow: the input rows (sorted by batch and id within a file) -> one result row per run of rows of one
    batch: (batch, first entity id, pickled (rows, new outcomes, entities read, statistics))."""
    import pyarrow as pa

    if job.die_once:
        try:
            with open(job.die_once, "x", encoding="utf-8") as handle:
                handle.write(str(os.getpid()))
        except FileExistsError:
            pass
        else:
            os._exit(3)  # the test hook: this Python worker dies once, Spark retries its task
    be, tiers = _evaluator(job, absent)
    sources = list(tiers)
    decoded: dict[str, Any] = {}
    current: int | None = None
    entities: list[dict] = []
    records: dict[int, list] = {}
    previous: dict[int, str] = {}
    chunk_tiers: list[dict[int, str]] = [{} for _ in sources]
    clock = time.perf_counter
    spent = {"convert": 0.0}  # Arrow rows to the load step's entities and records, since the last chunk

    def flush() -> Any:
        for k, name in enumerate(sources):
            tiers[name].clear()
            tiers[name].update(chunk_tiers[k])
        before = be.durable_evaluations
        f0, e0 = be.timings["facts"], be.timings["evaluate"]
        rows, new, read = be.evaluate(entities, records, known={}, previous=previous)
        extra = {
            "durable_evaluations": be.durable_evaluations - before,
            "convert": spent["convert"],
            "facts": be.timings["facts"] - f0,
            "evaluate": be.timings["evaluate"] - e0,
        }
        spent["convert"] = 0.0
        payload = pickle.dumps((rows, new, read, extra), protocol=pickle.HIGHEST_PROTOCOL)
        return pa.RecordBatch.from_pydict(
            {"batch": [current], "first": [entities[0]["id"]], "payload": [payload]},
            schema=pa.schema([("batch", pa.int32()), ("first", pa.int64()), ("payload", pa.binary())]),
        )

    for rb in batches:
        t1 = clock()
        converted = list(_rows(rb, len(sources), decoded))
        spent["convert"] += clock() - t1
        for n, eid, entity, prev, decided, group in converted:
            if n != current:
                if entities:
                    yield flush()
                current, entities, records, previous = n, [], {}, {}
                chunk_tiers = [{} for _ in sources]
            entities.append(entity)
            if prev is not None:
                previous[eid] = prev
            for k, tier in enumerate(decided):
                if tier is not None:
                    chunk_tiers[k][eid] = tier
            if group:
                records[eid] = group
    if entities:
        yield flush()


def _rows(rb: Any, sources: int, decoded: dict[str, Any]) -> Iterator[tuple]:
    """An Arrow record batch of the export as (batch, entity id, entity, previous tier, decision tiers, records),
    the entity and its records as the load step gives them (each distinct JSON text decoded once). The nested
    records are read a column at a time (kinds, dates, texts of the whole batch) and cut by the list offsets."""
    names = set(rb.schema.names) - {"records"}
    cols = {name: rb.column(name).to_pylist() for name in names}
    nested = rb.column("records")
    offsets = nested.offsets.to_pylist()
    flat = nested.flatten()  # the records of these rows only (the batch may be a slice)
    kinds, dates = flat.field("kind").to_pylist(), flat.field("date").to_pylist()
    values = []
    for text in flat.field("data").to_pylist():
        value = decoded.get(text)
        if value is None:
            value = decoded[text] = json.loads(text)
        values.append(value)
    base = offsets[0]
    entity_cols = [cols[c] for c in ENTITY_COLUMNS]
    tier_cols = [cols[f"decided_{k}"] for k in range(sources)]
    for j in range(rb.num_rows):
        lo, hi = offsets[j] - base, offsets[j + 1] - base
        yield (
            cols["batch"][j],
            cols["id"][j],
            dict(zip(ENTITY_COLUMNS, [c[j] for c in entity_cols])),
            cols["previous"][j],
            [c[j] for c in tier_cols],
            list(zip(kinds[lo:hi], dates[lo:hi], values[lo:hi])),
        )
