"""Evaluation in worker processes (engine.parallel): the same decisions, lists, simulation and replay as in one
process, errors and dead workers reported, no worker left behind a killed cycle; on SQLite and PostgreSQL.

Registers here are small, so the batch size is lowered (engine.cycles.BATCH is read by the parent, which cuts the
register into batches) and SUPERVISE_WORKERS forces the worker path that large registers take by default.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import pathlib
import signal
import uuid

import pytest
import sqlalchemy as sa

import engine.pipeline.cycles as cycles
from engine.errors import CycleError, StoreError
from engine.pipeline.cycles import replay_cycle, run_cycle, workers_for
from engine.pipeline.parallel import evaluate_batches
from engine.pipeline.simulate import simulate
from engine.store import Store, schema
from engine.store import entities as qe
from engine.store import lists as ql
from policies import get_pack
from tests.builders_engine import DEFAULT_TIER_RULES, mini_pack
from tests.pipeline.test_cycles import bulk_register, counts, killed_run_released, paused_cycle_run, wait_for_exit

AS_OF = dt.date(2026, 4, 30)
N = 3000


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(cycles, "BATCH", 700)  # 3,000 entities: 5 batches, interleaved across workers


def decisions(store: Store, cycle_id: int) -> dict[int, tuple]:
    D, O = schema.decisions, schema.outcomes
    with store.read() as conn:
        rows = conn.execute(
            sa.select(D.c.entity_id, O.c.vector_key, D.c.tier, D.c.ratio, D.c.per_year, D.c.forced, D.c.facts)
            .join(O, O.c.id == D.c.outcome_id)
            .where(D.c.cycle_id == cycle_id)
        )
        return {r[0]: tuple(r[1:]) for r in rows}


def test_a_cycle_evaluated_in_a_worker_stores_what_one_process_stores(store, small_batches, monkeypatch):
    bulk_register(store, N)
    monkeypatch.setenv("SUPERVISE_WORKERS", "1")
    a = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    assert a["workers"] == 1 and a["entities"] == N
    monkeypatch.setenv("SUPERVISE_WORKERS", "0")
    b = run_cycle(store, "tax-credit", "2025-12", as_of=AS_OF)  # same as-of, another period label
    assert b["workers"] == 0
    assert decisions(store, a["cycle"]) == decisions(store, b["cycle"]) and len(decisions(store, a["cycle"])) == N
    # the wall time covers what the cycle process did: every stage in one process, the writes with a worker
    assert b["wall_seconds"] >= sum(b["timings"][k] for k in ("load", "facts", "evaluate", "store", "lists"))
    assert a["wall_seconds"] >= a["timings"]["store"] + a["timings"]["lists"]
    assert [t["entities"] for t in a["tiers"]] == [t["entities"] for t in b["tiers"]]
    # The worker path proposed one entry per list proposal of the stored decisions, listed the red ones at once;
    # the second cycle found them all open.
    with store.read() as conn:
        wanted = {(p["entity_id"], i["list"]) for p in ql.list_proposals(conn, a["cycle"]) for i in p["items"]}
        made = set(
            conn.execute(
                sa.select(schema.list_entries.c.entity_id, schema.list_entries.c.list).where(
                    schema.list_entries.c.cycle_id == a["cycle"]
                )
            ).all()
        )
    assert made == wanted and len(made) > 100
    assert a["lists"]["proposed"] == b["lists"]["already_listed"] and b["lists"]["proposed"] == {}
    assert a["lists"]["listed_at_once"] == {"red": a["lists"]["proposed"]["red"]}


def test_simulate_and_replay_in_two_workers_agree_with_one_process(store, small_batches, monkeypatch):
    bulk_register(store, N)
    cycle = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)["cycle"]
    results = {}
    for workers in ("0", "2"):
        monkeypatch.setenv("SUPERVISE_WORKERS", workers)
        sim = simulate(store, "tax-credit", against=cycle)
        replay = replay_cycle(store, cycle)
        assert sim["workers"] == int(workers) and replay["identical"] and replay["entities"] == N
        sim.pop("wall_seconds"), sim.pop("workers")
        results[workers] = sim
    assert results["0"] == results["2"]
    assert results["2"]["changes"]["unchanged"] == N


def test_tiers_read_batch_by_batch_in_the_workers_decide_as_in_one_process(store, small_batches, monkeypatch, tmp_path):
    """The previous cycle's tiers ('previous: tier') and a decision source's (bank-tax reads tax-credit's) are read
    with each batch where it is evaluated, not handed to the workers whole: two workers decide as one process."""
    bulk_register(store, N)
    pack = mini_pack(
        tmp_path,
        tier_rules=DEFAULT_TIER_RULES
        + '\n      - {id: c-again, tier: C, priority: 60, when: "prev in [C]", basis: {doc: doc1}}',
    )
    pack.write_text(
        pack.read_text(encoding="utf-8").replace(
            "      bad: {",
            "      prev: {label: 上期等级, type: enum, values: [A, B, C], source: {previous: tier}}\n      bad: {",
        ),
        encoding="utf-8",
    )
    first = run_cycle(store, str(pack), "2024", as_of=dt.date(2025, 4, 30))
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    cycles_of = {}
    for workers, period in (("2", "2025"), ("0", "2025-12")):
        monkeypatch.setenv("SUPERVISE_WORKERS", workers)
        mine = run_cycle(store, str(pack), period, as_of=AS_OF)
        assert mine["workers"] == int(workers) and mine["changes"]["previous_cycle"] == first["cycle"]
        bank = run_cycle(store, "bank-tax", "2025", as_of=AS_OF, rerun=workers == "0")
        assert bank["workers"] == int(workers)
        cycles_of[workers] = (mine["cycle"], bank["cycle"])
    for k in (0, 1):
        assert decisions(store, cycles_of["2"][k]) == decisions(store, cycles_of["0"][k])
    mine = decisions(store, cycles_of["2"][0]).values()
    # the previous tiers reached the facts, and held in C some entities that their score alone puts higher
    assert {d[-1].get("prev") for d in mine} == {"A", "B", "C"}
    assert any(d[1] == "C" and d[-1]["prev"] == "C" and d[-1].get("score", 0) >= 50 for d in mine)
    graded = {d[-1].get("tax_grade") for d in decisions(store, cycles_of["2"][1]).values()}
    assert len(graded - {None}) >= 3  # the tax grades reached the bank-tax facts


def test_an_error_in_a_worker_is_raised_with_its_message(store, tmp_path):
    version = get_pack("tax-credit").version_at(AS_OF)
    empty = f"sqlite:///{tmp_path / 'no-schema.db'}"  # the worker reads a database without the schema
    with store.read() as conn, pytest.raises(StoreError, match="supervise init"):
        evaluate_batches(conn, version, AS_OF, [(1, 10)], lambda rows, new: None, workers=1, url=empty)


def test_a_worker_that_dies_stops_the_cycle_and_nothing_is_stored(store, small_batches, monkeypatch):
    bulk_register(store, N)
    monkeypatch.setenv("SUPERVISE_WORKERS", "1")
    real = cycles.evaluate_batches

    def killing(conn, version, as_of, ranges, sink, **kw):
        def sink_that_kills(rows, new):
            for child in multiprocessing.active_children():
                if child.name.startswith("supervise-eval"):
                    os.kill(child.pid, signal.SIGKILL)
            sink(rows, new)

        return real(conn, version, as_of, ranges, sink_that_kills, **kw)

    monkeypatch.setattr(cycles, "evaluate_batches", killing)
    with pytest.raises(CycleError, match="evaluation worker .* stopped"):
        run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    assert counts(store) == {"cycles": 0, "decisions": 0, "outcomes": 0, "list_entries": 0, "list_events": 0}


def _marked(mark: str) -> list[int]:
    """Processes (still running) whose environment carries ``mark``."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if mark.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


@pytest.mark.slow
def test_workers_of_a_killed_cycle_exit_and_a_rerun_succeeds(store, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPERVISE_CYCLE_BATCH", "1000")  # the cycle pauses after the first of three batches
    bulk_register(store, 2500)
    mark = f"SUPERVISE_TEST_MARK={uuid.uuid4().hex}"
    monkeypatch.setenv("SUPERVISE_WORKERS", "1")
    monkeypatch.setenv(*mark.split("=", 1))
    proc = paused_cycle_run(store.url)  # its first batch is stored; the worker is running
    workers = [pid for pid in _marked(mark) if b"spawn_main" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 1, "the evaluation worker is not running while the cycle waits"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the worker and multiprocessing's resource tracker: nothing started by the killed run may outlive it
    wait_for_exit(_marked(mark), "the evaluation worker to exit after its parent was killed")
    assert not _marked(mark)
    killed_run_released(store)
    assert counts(store)["cycles"] == 0 and counts(store)["decisions"] == 0
    monkeypatch.setenv("SUPERVISE_WORKERS", "0")
    assert run_cycle(store, "tax-credit", "2025", as_of=AS_OF)["entities"] == 2500


def test_worker_count_follows_the_register_and_the_setting(store, monkeypatch):
    monkeypatch.delenv("SUPERVISE_WORKERS", raising=False)
    assert workers_for(store, 1000, sink_is_light=False) == 0  # small: one process
    assert workers_for(store, 2_000_000, sink_is_light=False) == min(2, os.cpu_count() or 1)  # a cycle: two too
    assert workers_for(store, 2_000_000, sink_is_light=True) == min(2, os.cpu_count() or 1)
    assert workers_for(Store("sqlite://"), 2_000_000, sink_is_light=True) == 0  # in memory: workers cannot see it
    monkeypatch.setenv("SUPERVISE_WORKERS", "3")
    assert workers_for(store, 10, sink_is_light=False) == 3
    monkeypatch.setenv("SUPERVISE_WORKERS", "two")
    with pytest.raises(Exception, match="SUPERVISE_WORKERS must be a whole number"):
        workers_for(store, 10, sink_is_light=False)


def test_the_batch_size_follows_the_setting_and_refuses_a_bad_one(store, monkeypatch):
    bulk_register(store, 2500)
    monkeypatch.setenv("SUPERVISE_CYCLE_BATCH", "1000")
    result = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    assert result["entities"] == 2500 and len(decisions(store, result["cycle"])) == 2500
    for bad in ("0", "-5", "many", "1e3"):
        monkeypatch.setenv("SUPERVISE_CYCLE_BATCH", bad)
        with pytest.raises(Exception, match=f"SUPERVISE_CYCLE_BATCH must be a whole number .* not '{bad}'"):
            run_cycle(store, "tax-credit", "2025-12", as_of=AS_OF)
    assert counts(store)["cycles"] == 1  # the refused runs stored nothing


def test_batch_ranges_cover_the_register_in_order(store):
    bulk_register(store, 2500)
    with store.read() as conn:
        ranges = qe.batch_ranges(conn, 1000)
        ids = [e["id"] for first, last in ranges for e in qe.entities_between(conn, first, last)]
        everything = [e["id"] for batch in qe.iter_entities(conn, 700) for e in batch]
    assert len(ranges) == 3 and ids == everything and len(ids) == 2500 and ids == sorted(ids)
