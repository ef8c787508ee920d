"""Cycles: all-or-nothing, immutable, --rerun, SIGKILL, concurrent runs (both databases), replay."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from cli import cli
from engine.codes import make_uscc
from engine.cycles import list_cycles, replay_cycle, run_cycle, show_cycle
from engine.errors import CycleError
from engine.store import Store, schema
from engine.store import entities as qe

from .builders_engine import Register, tax, violation


def bulk_register(store: Store, n: int, seed: int = 1) -> None:
    """n entities with a 2024 and a 2025 tax evaluation each (written in bulk through the store layer)."""
    import random

    rnd = random.Random(seed)
    stamp = dt.datetime.now(dt.timezone.utc)
    with store.transaction() as conn:
        rows = [{"code": make_uscc("91", "350503", f"B{i:07d}"), "code_kind": "uscc", "name": f"批量{i}公司",
                 "entity_type": "enterprise", "region": rnd.choice(["350502", "350503", "350505"]),
                 "industry": "制造", "established_on": dt.date(2010 + i % 14, 1 + i % 12, 1), "legal_rep": "李四"}
                for i in range(n)]
        for i in range(0, n, 5000):
            qe.upsert_entities(conn, rows[i:i + 5000])
        ids = qe.entity_ids(conn, [r["code"] for r in rows])
        recs = []
        for r in rows:
            for year in (2024, 2025):
                score = round(rnd.uniform(20, 100), 1)
                recs.append({"entity_id": ids[r["code"]], "kind": "tax_evaluation", "date": dt.date(year, 12, 31),
                             "natural_key": str(year), "data": {"year": year, "score": score, "has_revenue": True},
                             "source": "bulk", "imported_at": stamp})
        for i in range(0, len(recs), 10000):
            conn.execute(sa.insert(schema.records), recs[i:i + 10000])


def counts(store: Store) -> dict:
    with store.read() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (schema.cycles, schema.decisions, schema.outcomes, schema.list_entries, schema.list_events)}


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
    assert show_cycle(store, first["cycle"])["status"] == "superseded"
    assert show_cycle(store, second["cycle"])["status"] == "committed"
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
    assert old["version"] == "2014" and new["version"] == "2025"
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


def _cli(db_url: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "SUPERVISE_DB": db_url}
    return subprocess.Popen([sys.executable, "-m", "cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))


@pytest.mark.slow
def test_sigkill_leaves_no_partial_cycle_and_rerun_succeeds(store):
    bulk_register(store, 30000)
    proc = _cli(store.url, "cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30")
    time.sleep(2.5)
    assert proc.poll() is None, "the cycle finished before it could be killed; enlarge the register"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert counts(store)["cycles"] == 0 and counts(store)["decisions"] == 0
    result = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    assert result["entities"] == 30000 and counts(store)["decisions"] == 30000


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
    run = runner.invoke(cli, base + ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30"])
    assert run.exit_code == 0, run.output
    assert "Cycle 1: tax-credit@2025" in run.output and "expected checks" in run.output
    again = runner.invoke(cli, base + ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30"])
    assert again.exit_code == 1 and "--rerun" in again.output
    rerun = runner.invoke(cli, base + ["cycle", "run", "--policy", "tax-credit", "--period", "2025",
                                       "--as-of", "2026-04-30", "--rerun", "--json"])
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
