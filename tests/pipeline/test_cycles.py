"""Cycles: all-or-nothing, immutable, --rerun, SIGKILL, concurrent runs (both databases), replay."""

import datetime as dt
import json
import os
import select
import selectors
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from cli import cli
from engine.errors import CycleError
from engine.pipeline.cycles import PAUSE_AFTER_BATCH, PAUSED_LINE, list_cycles, replay_cycle, run_cycle, show_cycle
from engine.register.codes import make_uscc
from engine.store import Store, schema
from engine.store import cycles as qc
from engine.store import entities as qe
from tests.builders_engine import Register, tax, violation


def bulk_register(store: Store, n: int, seed: int = 1) -> None:
    """n entities with a 2024 and a 2025 tax evaluation each (written in bulk through the store layer)."""
    import random

    rnd = random.Random(seed)
    stamp = dt.datetime.now(dt.UTC)
    with store.transaction() as conn:
        rows = [
            {
                "code": make_uscc("91", "350503", f"B{i:07d}"),
                "code_kind": "uscc",
                "name": f"批量{i}公司",
                "entity_type": "enterprise",
                "region": rnd.choice(["350502", "350503", "350505"]),
                "industry": "制造",
                "established_on": dt.date(2010 + i % 14, 1 + i % 12, 1),
                "legal_rep": "李四",
            }
            for i in range(n)
        ]
        for i in range(0, n, 5000):
            qe.upsert_entities(conn, rows[i : i + 5000])
        ids = qe.entity_ids(conn, [r["code"] for r in rows])
        recs = []
        for r in rows:
            for year in (2024, 2025):
                score = round(rnd.uniform(20, 100), 1)
                recs.append(
                    {
                        "entity_id": ids[r["code"]],
                        "kind": "tax_evaluation",
                        "date": dt.date(year, 12, 31),
                        "natural_key": str(year),
                        "data": {"year": year, "score": score, "has_revenue": True},
                        "source": "bulk",
                        "imported_at": stamp,
                    }
                )
        for i in range(0, len(recs), 10000):
            conn.execute(sa.insert(schema.records), recs[i : i + 10000])


def counts(store: Store) -> dict:
    with store.read() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (schema.cycles, schema.decisions, schema.outcomes, schema.list_entries, schema.list_events)
        }


def test_run_stores_one_decision_per_entity(store):
    reg = Register(store)
    codes = [reg.entity(records=[tax(2025, s)]) for s in (95, 80, 55, 20)]
    reg.entity(records=[tax(2025, 99), violation("2025-03-03")])
    result = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    assert result["entities"] == 5 and result["version"] == "2025"
    tiers = {t["tier"]: t["entities"] for t in result["tiers"]}
    assert tiers == {"A": 1, "B": 1, "C": 1, "D": 2}
    assert counts(store)["decisions"] == 5
    d_row = next(t for t in result["tiers"] if t["tier"] == "D")
    assert d_row["expected_inspections"] == 2  # D: 100%
    assert len(codes) == 4


def test_committed_cycle_is_immutable_and_rerun_keeps_both(store):
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    first = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    before = counts(store)
    with pytest.raises(CycleError, match="--rerun"):
        run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    assert counts(store) == before
    second = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30), rerun=True)
    assert second["revision"] == 2 and second["supersedes"] == first["cycle"]
    assert show_cycle(store, first["cycle"]).status == "superseded"
    assert show_cycle(store, second["cycle"]).status == "committed"
    assert [c["status"] for c in list_cycles(store)] == ["superseded", "committed"]


def test_failed_cycle_leaves_nothing(store):
    with pytest.raises(CycleError, match="no entity"):
        run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    assert counts(store)["cycles"] == 0


def test_replay_across_a_pack_version_change(store):
    reg = Register(store)
    for s in (95, 85, 60, 30):
        reg.entity(records=[tax(2024, s), tax(2025, min(100, s + 3))])
    reg.entity(established=dt.date(2025, 8, 1))
    reg.entity(records=[tax(2024, 91), violation("2024-06-01")])
    old = run_cycle(store, "tax-credit", "2024", as_of=dt.date(2025, 4, 30))
    new = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    assert old["version"] == "2020" and new["version"] == "2025"
    assert new["changes"]["previous_cycle"] == old["cycle"]
    # Records arriving later (even dated in the past) do not change what a replay reproduces.
    reg.records(reg_code(store, 1), [violation("2024-01-15", "tax_crime")])
    for cid in (old["cycle"], new["cycle"]):
        replay = replay_cycle(store, cid)
        assert replay["identical"], replay["differences"]
        assert replay["entities"] == 6


def reg_code(store, entity_id):
    with store.read() as conn:
        return conn.execute(sa.select(schema.entities.c.code).where(schema.entities.c.id == entity_id)).scalar_one()


def test_replay_detects_a_tampered_decision(sqlite_store):
    reg = Register(sqlite_store)
    reg.entity(records=[tax(2025, 95)])
    c = run_cycle(sqlite_store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    with sqlite_store.engine.begin() as conn:
        conn.execute(sa.update(schema.decisions).values(tier="B"))
    replay = replay_cycle(sqlite_store, c["cycle"])
    assert not replay["identical"] and replay["differences"][0]["stored"][0] == "B"


def _cli(db_url: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "SUPERVISE_DB": db_url, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )


def read_stderr_until(proc: subprocess.Popen, line_start: str, limit: float = 600.0) -> str:
    """What ``proc`` wrote on stderr up to and including the first line starting with ``line_start``, waiting for
    its output (select on the pipe), not for a time; the process ending first, or ``limit`` passing (which only
    bounds a hung test), fails the test with what it wrote."""
    assert proc.stderr is not None
    fd, seen = proc.stderr.fileno(), b""
    deadline = time.monotonic() + limit
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not any(line.startswith(line_start.encode()) for line in seen.splitlines()):
            remaining = deadline - time.monotonic()
            assert remaining > 0 and selector.select(remaining), f"no '{line_start}' line: {seen.decode()}"
            chunk = os.read(fd, 65536)
            assert chunk, f"the process ended before printing '{line_start}': {seen.decode()}"
            seen += chunk
    return seen.decode()


def wait_for_exit(pids: list[int], what: str, limit: float = 600.0) -> None:
    """Wait until every process of ``pids`` has ended, on a pidfd each (the kernel says when; no polling), also for
    processes that are not our children; ``limit`` only bounds a hung test."""
    fds = []
    for pid in pids:
        try:
            fds.append(os.pidfd_open(pid))
        except ProcessLookupError:  # already gone
            pass
    try:
        poller, left = select.poll(), set(fds)
        for fd in fds:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + limit
        while left:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"gave up waiting for {what}"
            for fd, _ in poller.poll(remaining * 1000):
                left.discard(fd)
                poller.unregister(fd)
    finally:
        for fd in fds:
            os.close(fd)


def paused_cycle_run(db_url: str, *args: str) -> subprocess.Popen:
    """Start 'cycle run' in a process of its own and return it once it has stored its first batch of decisions
    (inside its open transaction) and waits there for a line on its stdin (engine.cycles test hook
    SUPERVISE_TEST_PAUSE_AFTER_BATCH: it says so on stderr)."""
    proc = _cli(
        db_url,
        "cycle",
        "run",
        "--policy",
        "tax-credit",
        "--period",
        "2025",
        "--as-of",
        "2026-04-30",
        *args,
        env={PAUSE_AFTER_BATCH: "1"},
    )
    read_stderr_until(proc, PAUSED_LINE)
    return proc


def killed_run_released(store: Store, pack_id: str = "tax-credit", period: str = "2025") -> None:
    """Wait until the killed run's PostgreSQL backend has rolled back and released its run lock, by waiting for
    that lock in the server (the wait ends when it is released; statement_timeout only bounds a hung test). SQLite:
    the killed process's lock went with it."""
    if store.engine.dialect.name != "postgresql":
        return
    with store.engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL statement_timeout = '600s'"))
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": qc.run_lock_key(pack_id, period)})
        conn.rollback()


@pytest.mark.slow
def test_sigkill_leaves_no_partial_cycle_and_rerun_succeeds(store, tmp_path, monkeypatch):
    monkeypatch.setenv("SUPERVISE_CYCLE_BATCH", "1000")  # the process is killed after the first of three batches
    bulk_register(store, 2500)
    proc = paused_cycle_run(store.url)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_run_released(store)
    assert counts(store)["cycles"] == 0 and counts(store)["decisions"] == 0
    result = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    assert result["entities"] == 2500 and counts(store)["decisions"] == 2500


def test_pause_hook_resumes_when_told(sqlite_store, tmp_path):
    """The hook the kill tests rely on: the run really waits once it has said so on stderr (nothing committed), and
    finishes once told to go on through its stdin."""
    reg = Register(sqlite_store)
    reg.entity(records=[tax(2025, 95)])
    proc = paused_cycle_run(sqlite_store.url)
    assert counts(sqlite_store)["cycles"] == 0  # stored, not committed
    out, err = proc.communicate(input="go on\n", timeout=600)
    assert proc.returncode == 0, err
    assert "Cycle 1: tax-credit@2025" in out and counts(sqlite_store)["decisions"] == 1


@pytest.mark.slow
def test_two_concurrent_runs_one_wins(store):
    bulk_register(store, 8000)
    args = ("cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30")
    procs = [_cli(store.url, *args) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    loser = next(err for p, (out, err) in zip(procs, outs) if p.returncode == 1)
    assert ("in progress" in loser or "already holds" in loser) and "database is locked" not in loser, loser
    assert counts(store)["cycles"] == 1 and counts(store)["decisions"] == 8000


def test_cli_cycle_commands(store, runner):
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    reg.entity(records=[tax(2025, 30)])
    base = ["--db", store.url]
    run = runner.invoke(
        cli, base + ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30"]
    )
    assert run.exit_code == 0, run.output
    assert "Cycle 1: tax-credit@2025" in run.output and "expected checks" in run.output
    again = runner.invoke(
        cli, base + ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30"]
    )
    assert again.exit_code == 1 and "--rerun" in again.output
    rerun = runner.invoke(
        cli,
        base
        + ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30", "--rerun", "--json"],
    )
    assert rerun.exit_code == 0 and json.loads(rerun.output)["revision"] == 2
    listed = runner.invoke(cli, base + ["cycle", "list"])
    assert "superseded" in listed.output and "committed" in listed.output
    diff = runner.invoke(cli, base + ["cycle", "diff", "1", "2", "--json"])
    assert diff.exit_code == 0 and json.loads(diff.output)["transitions"]
    show = runner.invoke(cli, base + ["cycle", "show", "99"])
    assert show.exit_code == 1 and "No cycle with id 99" in show.output
    replay = runner.invoke(cli, base + ["cycle", "replay", "2"])
    assert replay.exit_code == 0 and "identical" in replay.output
    bad = runner.invoke(cli, base + ["cycle", "run", "--policy", "tax-credit", "--period", "20x5"])
    assert bad.exit_code == 2 and "is not a period" in bad.output


def test_rerun_keeps_the_as_of_date_of_the_revision_it_supersedes(store, runner):
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    first = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    again = run_cycle(store, "tax-credit", "2025", rerun=True)
    assert (again["revision"], again["as_of"], again["as_of_from"]) == (2, "2026-04-30", "revision 1")
    assert again["supersedes"] == first["cycle"]
    moved = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 5, 31), rerun=True)
    assert (moved["as_of"], moved["as_of_from"]) == ("2026-05-31", "option")
    base = ["--db", store.url, "cycle", "run", "--policy", "tax-credit", "--period", "2025", "--rerun"]
    text = runner.invoke(cli, base)
    assert text.exit_code == 0, text.output
    assert "as of 2026-05-31 (kept from revision 3; --as-of sets another date), revision 4" in text.output
    fresh = run_cycle(store, "tax-credit", "2024")  # no cycle yet: the end of the period
    assert (fresh["as_of"], fresh["as_of_from"]) == ("2024-12-31", "period_end")
    shown = runner.invoke(cli, ["--db", store.url, "cycle", "show", str(fresh["cycle"])])
    assert "as of 2024-12-31 (the end of the period)" in shown.output


def test_cycle_show_prints_the_stored_wall_time(store, runner):
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    run = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    shown = show_cycle(store, run["cycle"])
    stored = shown.summary["wall_seconds"]
    assert 0 < stored <= run["wall_seconds"]  # the stored time is taken just before the commit
    text = runner.invoke(cli, ["--db", store.url, "cycle", "show", str(run["cycle"])])
    assert text.exit_code == 0 and f"in {stored:.1f}s." in text.output
    # A cycle stored without it (before this was kept): from its start and commit times.
    with store.transaction() as conn:
        summary = {k: v for k, v in shown.summary.items() if k != "wall_seconds"}
        conn.execute(sa.update(schema.cycles).where(schema.cycles.c.id == run["cycle"]).values(summary=summary))
        started, committed = conn.execute(
            sa.select(schema.cycles.c.started_at, schema.cycles.c.committed_at).where(
                schema.cycles.c.id == run["cycle"]
            )
        ).one()
    old = show_cycle(store, run["cycle"]).summary["wall_seconds"]
    assert old == round((committed - started).total_seconds(), 3) and old > 0
