"""The Spark engine (engine.pipeline.spark) on local[2]: the same decisions, outcomes, list entries, summary,
simulation and replay as the local engine on identical copies of a register; a task that dies is retried with the
same result; a driver killed mid-run leaves no partial cycle.

The register is cut into several batches (engine.cycles.BATCH lowered), each one Spark partition, so each of the
two Python workers runs several tasks one after the other: the cross-task case. Without pyspark or Java these
tests skip (the ``spark_master`` fixture), unless REQUIRE_PG=1.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest
import sqlalchemy as sa

import engine.pipeline.cycles as cycles
from engine.errors import CycleError
from engine.pipeline import spark as spark_engine
from engine.pipeline.cycles import replay_cycle, run_cycle
from engine.pipeline.simulate import simulate
from engine.store import Store, schema
from policies import get_pack
from tests.builders_engine import DEFAULT_TIER_RULES, mini_pack
from tests.pipeline.test_cycles import bulk_register, counts, paused_cycle_run, wait_for_exit
from tests.pipeline.test_workers import decisions

AS_OF = dt.date(2026, 4, 30)
N = 3000
# What differs between two runs of the same cycle however it is evaluated: clocks, and how the work was spread.
VOLATILE = {"timings", "wall_seconds", "workers", "durable_evaluations", "engine"}


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(cycles, "BATCH", 700)  # 3,000 entities: 5 batches, 5 Spark tasks on 2 workers


@pytest.fixture
def twin_registers(tmp_path: pathlib.Path):
    """Two identical SQLite registers of N entities (one file, copied): one for each engine."""
    first = tmp_path / "local.db"
    store = Store(f"sqlite:///{first}")
    store.init()
    bulk_register(store, N)
    store.dispose()
    shutil.copy(first, tmp_path / "spark.db")
    stores = Store(f"sqlite:///{first}"), Store(f"sqlite:///{tmp_path / 'spark.db'}")
    yield stores
    for s in stores:
        s.dispose()


def stored(store: Store) -> dict[str, list[tuple]]:
    """Every row the cycles wrote, in id order, without the clock columns."""
    out = {}
    with store.read() as conn:
        for table in (schema.decisions, schema.outcomes, schema.list_entries, schema.list_events):
            cols = [c for c in table.c if not isinstance(c.type, sa.DateTime)]
            out[table.name] = [tuple(r) for r in conn.execute(sa.select(*cols).order_by(table.c.id))]
        cycles_ = schema.cycles
        out["cycles"] = [
            (r.id, r.pack_id, r.period, r.revision, r.entity_count, r.status, _steady(r.summary))
            for r in conn.execute(sa.select(cycles_).order_by(cycles_.c.id))
        ]
    return out


def _steady(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in VOLATILE}


@pytest.mark.spark
@pytest.mark.slow
def test_the_spark_engine_stores_what_the_local_engine_stores(twin_registers, small_batches, spark_master):
    local, on_spark = twin_registers
    a = run_cycle(local, "tax-credit", "2025", as_of=AS_OF)
    b = run_cycle(on_spark, "tax-credit", "2025", as_of=AS_OF, spark=spark_master)
    assert b["engine"] == {"name": "spark", "master": "local[2,4]", "partitions": 5} and "engine" not in a
    assert b["entities"] == a["entities"] == N
    assert _steady(dict(b)) == _steady(dict(a))
    # bank-tax reads the tax grade that cycle decided (a decision source: its tiers go to the tasks as a column).
    bank_a = run_cycle(local, "bank-tax", "2025", as_of=AS_OF)
    bank_b = run_cycle(on_spark, "bank-tax", "2025", as_of=AS_OF, spark=spark_master)
    assert (
        _steady(dict(bank_b)) == _steady(dict(bank_a)) and bank_a["sources"]["tax-credit@period"]["cycle"] == a["cycle"]
    )
    assert len({t["tier"] for t in bank_a["tiers"] if t["entities"]}) > 1
    # A second period reads the first one's tiers as the previous ones; its list proposals find open entries.
    a2 = run_cycle(local, "tax-credit", "2026", as_of=dt.date(2027, 4, 30))
    b2 = run_cycle(on_spark, "tax-credit", "2026", as_of=dt.date(2027, 4, 30), spark=spark_master)
    assert _steady(dict(b2)) == _steady(dict(a2)) and a2["changes"]["previous_cycle"] == a["cycle"]
    want, got = stored(local), stored(on_spark)
    assert len(want["decisions"]) == 3 * N and len(want["list_entries"]) > 100
    for table in want:
        assert got[table] == want[table], table
    # Replay and simulation on Spark agree with the local engine's.
    assert replay_cycle(on_spark, b["cycle"], spark=spark_master)["identical"]
    sim_a = dict(simulate(local, "tax-credit", against=a["cycle"]))
    sim_b = dict(simulate(on_spark, "tax-credit", against=b["cycle"], spark=spark_master))
    for k in ("wall_seconds", "workers"):
        sim_a.pop(k), sim_b.pop(k)
    assert sim_b == sim_a


@pytest.mark.spark
@pytest.mark.slow
def test_previous_tiers_reach_the_tasks(twin_registers, small_batches, spark_master, tmp_path):
    """A pack with a 'previous: tier' fact: its second cycle reads the first one's tiers on Spark as locally."""
    pack = mini_pack(
        tmp_path,
        tier_rules=DEFAULT_TIER_RULES
        + '\n      - {id: c-again, tier: C, priority: 60, when: "prev in [C]", basis: {doc: doc1}}',
    )
    text = pack.read_text(encoding="utf-8").replace(
        "      bad: {",
        "      prev: {label: 上期等级, type: enum, values: [A, B, C], source: {previous: tier}}\n      bad: {",
    )
    pack.write_text(text, encoding="utf-8")
    local, on_spark = twin_registers
    for period, as_of in (("2024", dt.date(2025, 4, 30)), ("2025", AS_OF)):
        a = run_cycle(local, str(pack), period, as_of=as_of)
        b = run_cycle(on_spark, str(pack), period, as_of=as_of, spark=spark_master)
        assert _steady(dict(b)) == _steady(dict(a))
    assert a["changes"]["tier_up"] + a["changes"]["tier_down"] > 0  # the first cycle's C tiers held some in C
    assert stored(on_spark) == stored(local)


@pytest.mark.spark
@pytest.mark.pg
@pytest.mark.slow
def test_on_postgresql_the_spark_engine_decides_as_the_local_engine(pg_url, small_batches, spark_master):
    """One register, two period labels with the same as-of date (as tests/pipeline/test_workers.py does): the same
    decision for every entity, and the same outcomes."""
    store = Store(pg_url)
    store.init()
    try:
        bulk_register(store, N)
        a = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
        b = run_cycle(store, "tax-credit", "2025-12", as_of=AS_OF, spark=spark_master)
        assert decisions(store, b["cycle"]) == decisions(store, a["cycle"]) and len(decisions(store, a["cycle"])) == N
        assert b["tiers"] == a["tiers"] and b["distinct_vectors"] == a["distinct_vectors"]
        assert b["lists"]["already_listed"] == a["lists"]["proposed"]  # the first cycle's entries, found open
    finally:
        store.dispose()


@pytest.mark.spark
@pytest.mark.slow
def test_a_task_that_dies_once_is_retried_and_the_cycle_is_the_same(
    twin_registers, small_batches, spark_master, tmp_path, monkeypatch
):
    local, on_spark = twin_registers
    died = tmp_path / "died"
    monkeypatch.setenv(spark_engine.DIE_ONCE, str(died))
    b = run_cycle(on_spark, "tax-credit", "2025", as_of=AS_OF, spark=spark_master)
    assert died.exists()  # a task's Python worker exited; Spark ran the task again
    a = run_cycle(local, "tax-credit", "2025", as_of=AS_OF)
    assert _steady(dict(b)) == _steady(dict(a))
    assert stored(on_spark) == stored(local)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


@pytest.mark.spark
@pytest.mark.slow
def test_a_driver_killed_mid_run_leaves_no_partial_cycle(sqlite_store, spark_master, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERVISE_CYCLE_BATCH", "1000")  # three batches: the driver is killed after writing the first
    bulk_register(sqlite_store, 2500)
    monkeypatch.setenv(spark_engine.WORK_DIR, str(tmp_path))  # the killed driver cannot remove its Parquet files
    proc = paused_cycle_run(sqlite_store.url, "--engine", "spark", "--master", spark_master)
    jvms = _children(proc.pid)  # the driver's JVM (Spark's gateway), which ends with its Python process
    assert jvms
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_for_exit(jvms, "the driver's JVM to end")
    assert counts(sqlite_store)["cycles"] == 0 and counts(sqlite_store)["decisions"] == 0
    result = run_cycle(sqlite_store, "tax-credit", "2025", as_of=AS_OF)  # the run lock went with the process
    assert result["entities"] == 2500


def test_a_pack_version_that_hashes_otherwise_on_an_executor_is_refused():
    version = get_pack("tax-credit").version_at(AS_OF)
    job = spark_engine._Job(version.stored_body(), "0" * 64, AS_OF, (), None)
    with pytest.raises(CycleError, match="rebuilt on a Spark executor hashes to .* not 000000000000"):
        spark_engine._evaluator(job, ())
    # The job's own message reaches the user, wrapped once.
    error = spark_engine._job_error(RuntimeError("Task failed: engine.errors.CycleError: The pack version rebuilt"))
    assert str(error).startswith("The Spark job failed: The pack version rebuilt; nothing was stored.")


def test_local_masters_retry_failed_tasks():
    assert spark_engine.master_with_retries("local[2]") == "local[2,4]"
    assert spark_engine.master_with_retries("local") == "local[1,4]"
    assert spark_engine.master_with_retries("local[*]") == "local[*,4]"
    assert spark_engine.master_with_retries("spark://host:7077") == "spark://host:7077"


def test_the_module_imports_without_pyspark():
    code = (
        "import sys, engine.pipeline.spark, engine.pipeline.cycles; "
        "assert not {'pyspark', 'pyarrow'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=pathlib.Path(__file__).resolve().parents[2])


def test_a_tasks_result_depends_on_its_rows_only(twin_registers, small_batches, spark_master):
    """The executor's function run in this process: a batch evaluated after others in the same worker reports
    the same rows and outcomes as in a fresh worker (the outcome memo is kept, the reported keys are not)."""
    import pyarrow as pa

    local, _ = twin_registers
    version = get_pack("tax-credit").version_at(AS_OF)
    be = spark_engine.BatchEvaluator(version, AS_OF)
    schema_ = spark_engine._input_schema(pa, 0)
    with local.read() as conn:
        ranges = cycles.qe.batch_ranges(conn, 700)
        tables = [
            spark_engine._input_table(pa, schema_, n, *be.load(conn, first, last), None, [])
            for n, (first, last) in enumerate(ranges)
        ]
    job = spark_engine._Job(version.stored_body(), version.content_hash, AS_OF, (), None)

    def run(n: int) -> tuple:
        (out,) = spark_engine._evaluate_partition(iter(tables[n].to_batches(max_chunksize=300)), job)
        rows, new, read, _stats = spark_engine.pickle.loads(out.column("payload")[0].as_py())
        return rows, new, read

    spark_engine._EVALUATORS.clear()
    fresh = run(3)
    for n in (0, 1, 2):
        run(n)
    assert run(3) == fresh and fresh[1]  # every key its rows use, reported again
    assert {r[1] for r in fresh[0]} == set(fresh[1])


def test_master_needs_the_spark_engine(runner, sqlite_url, monkeypatch):
    from cli import cli

    monkeypatch.setenv("SUPERVISE_DB", sqlite_url)
    result = runner.invoke(cli, ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--master", "local[2]"])
    assert result.exit_code == 2 and "--master needs --engine spark" in result.output
