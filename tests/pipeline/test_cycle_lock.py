"""Two `cycle run` processes at once: one wins, the other stops with the documented message and stores nothing
(README: "Two runs started at once: one wins, the other stops with a message"), on SQLite and PostgreSQL.

The processes are real; they are synchronised on what the winner says (``SUPERVISE_TEST_HOLD``: it prints a line on
stderr once it holds the lock, and waits for a line on stdin), never on a sleep: the winner holds its transaction
until the loser has finished.
"""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from engine.pipeline.cycles import HOLD_LOCK, PAUSED_LINE
from engine.store import Store, schema
from tests.builders_engine import Register, tax
from tests.pipeline.test_cycles import read_stderr_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ("cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30")


def _cli(db_url: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        env={**os.environ, "SUPERVISE_DB": db_url, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _cycles(store: Store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.cycles)).scalar_one()


def test_the_second_of_two_concurrent_runs_stops_with_the_documented_message(store):
    reg = Register(store)
    for score in (95, 80, 55, 20):
        reg.entity(records=[tax(2025, score)])
    winner = _cli(store.url, *ARGS, **{HOLD_LOCK: "1"})
    try:
        read_stderr_until(winner, PAUSED_LINE)
        # the winner holds its transaction (SQLite: the write lock; PostgreSQL: the run lock) until we let go
        loser = _cli(store.url, *ARGS, SUPERVISE_LOCK_WAIT="1")
        out, err = loser.communicate(timeout=120)
        assert loser.returncode == 1, (out, err)
        message = " ".join(err.split())
        assert "Another run of policy tax-credit for period 2025 is in progress" in message, message
        assert "database is locked" not in message and "Traceback" not in message, message
        if store.dialect == "sqlite":
            assert "stored nothing" in message and "after 1 s" in message, message
        assert winner.poll() is None  # the loser did not wait for the winner to finish
        assert _cycles(store) == 0
    finally:
        out, err = winner.communicate("go on\n", timeout=300)
    assert winner.returncode == 0, err
    assert _cycles(store) == 1
    # once the winner has committed, a second run is told the cycle exists (and how to get a new revision)
    late = _cli(store.url, *ARGS)
    out, err = late.communicate(timeout=120)
    assert late.returncode == 1 and "already holds policy tax-credit for period 2025" in err and "--rerun" in err
    assert _cycles(store) == 1


def test_a_schema_check_does_not_leave_the_next_transaction_without_the_write_lock(sqlite_store):
    """`cycle run` checks the schema first; that read must not make the cycle's transaction a deferred one (its
    first write would then fail at once with 'database is locked' instead of waiting for the lock)."""
    sqlite_store.require_schema()
    with sqlite_store.engine.connect() as conn:
        assert conn.info.get("write", True) is True
    with sqlite_store.read() as conn:
        pass
    with sqlite_store.transaction() as conn:
        # BEGIN IMMEDIATE was used: this connection holds the write lock before writing anything
        other = sa.create_engine(sqlite_store.url, connect_args={"timeout": 0})
        with other.connect() as oc:
            try:
                oc.exec_driver_sql("BEGIN IMMEDIATE")
                took = True
                oc.exec_driver_sql("ROLLBACK")
            except sa.exc.OperationalError as exc:
                took = "locked" not in str(exc)
        other.dispose()
        assert not took
        conn.execute(sa.select(1))
