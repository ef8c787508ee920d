"""A worker killed (SIGKILL) while checks are being answered: no answered check is missing from the decision log,
no row is half-written, and the service keeps answering.

PostgreSQL: `supervise serve --workers 2`; one worker is killed under load, uvicorn starts another, the other
worker goes on answering. SQLite serves with one process, so killing it kills the service: it is started again on
the same database file, which must be intact (WAL recovery) and answer at once.

Synchronisation is on what the test observes (answers counted by the client threads, worker processes listed in
/proc), never on a sleep.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from engine.service.apps import add_app
from engine.store import schema
from tests.service.conftest import check_body, sign
from tests.service.test_service_serve import free_port, wait_for_health

pytestmark = pytest.mark.slow


class Load:
    """Client threads sending signed single-subject checks until stopped; what each answered is kept."""

    def __init__(self, base: str, app: dict, codes: list[str], threads: int = 4):
        self.base, self.app, self.codes = base, app, codes
        self.answers: dict[int, dict] = {}  # check_id -> the answer as delivered
        self.failures: list[str] = []
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _run(self, i: int) -> None:
        client = httpx.Client(base_url=self.base, timeout=30)
        n = 0
        while not self.stop.is_set():
            body = check_body(self.codes[(i + n) % len(self.codes)])
            n += 1
            raw = json.dumps(body, ensure_ascii=False).encode()
            stamp, nonce = str(int(time.time())), uuid.uuid4().hex
            headers = {
                "Content-Type": "application/json",
                "X-App-Key": self.app["app_key"],
                "X-Timestamp": stamp,
                "X-Nonce": nonce,
                "X-Signature": sign(self.app["secret"], "POST", "/api/v1/checks", stamp, nonce, raw),
            }
            try:
                r = client.post("/api/v1/checks", content=raw, headers=headers)
            except httpx.TransportError as exc:  # in flight on the killed worker, or the server is down
                with self.cond:
                    self.failures.append(type(exc).__name__)
                    self.cond.notify_all()
                client.close()
                client = httpx.Client(base_url=self.base, timeout=30)
                continue
            with self.cond:
                if r.status_code == 200:
                    answer = r.json()
                    self.answers[answer["check_id"]] = answer
                else:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
                self.cond.notify_all()
        client.close()

    def wait_for(self, predicate, what: str, timeout: float = 120) -> None:
        with self.cond:
            if not self.cond.wait_for(predicate, timeout=timeout):
                raise AssertionError(f"timed out waiting for {what}: {len(self.answers)} answers, {self.failures[-5:]}")


def worker_pids(pid: int) -> set[int]:
    out = set()
    for child in pathlib.Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            cmdline = pathlib.Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            out.add(int(child))
    return out


def until(proc: subprocess.Popen, predicate, what: str, timeout: float = 60) -> None:
    """Wait for something observable about the server (its processes), noticing if it dies."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        try:  # the pause between looks, which also notices a server that died
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"supervise serve exited with {proc.returncode} while waiting for {what}")


def serve(store, key_file, port: int, workers: int, log_path: pathlib.Path) -> subprocess.Popen:
    supervise = pathlib.Path(sys.executable).with_name("supervise")
    return subprocess.Popen(
        [str(supervise), "--db", store.url, "serve", "--port", str(port), "--workers", str(workers)],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "SUPERVISE_SERVICE_KEY": str(key_file)},
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def assert_log_has_every_answer(store, app_key: str, answers: dict[int, dict]) -> None:
    C, A = schema.checks, schema.apps
    with store.read() as conn:
        rows = {
            r["id"]: r
            for r in conn.execute(
                sa.select(C.c.id, C.c.request, C.c.answer).join(A, A.c.id == C.c.app_id).where(A.c.app_key == app_key)
            ).mappings()
        }
    missing = sorted(set(answers) - set(rows))
    assert not missing, f"answered but not in the decision log: {missing}"
    for check_id, delivered in answers.items():  # the logged answer is the delivered one (enterprises: unmasked)
        assert rows[check_id]["answer"]["results"] == delivered["results"]
    # Rows whose answer was lost with the killed process are whole rows too.
    assert all(r["request"] and r["answer"] and r["answer"]["results"] for r in rows.values())


@pytest.mark.pg
@pytest.mark.parametrize("any_db_url", ["postgresql"], indirect=True)  # several workers need PostgreSQL
def test_a_worker_killed_under_load_loses_no_logged_answer_and_the_service_goes_on(world, key_file, tmp_path):
    store, codes = world
    app = add_app(store, "政务服务平台", "check")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(store, key_file, port, 2, tmp_path / "serve.log")
    try:
        wait_for_health(proc, base, time.monotonic() + 60)
        until(proc, lambda: len(worker_pids(proc.pid)) >= 2, "both workers to start")
        with Load(base, app, [codes["good"], codes["bad"], codes["plain"]]) as load:
            load.wait_for(lambda: len(load.answers) >= 30, "30 answers before the kill")
            victim = min(worker_pids(proc.pid))
            os.kill(victim, signal.SIGKILL)
            before = len(load.answers)
            load.wait_for(lambda: len(load.answers) >= before + 30, "30 answers after the kill")
            load.wait_for(
                lambda: len(worker_pids(proc.pid) - {victim}) >= 2,
                "uvicorn to start a worker in the killed one's place",
            )
            after = len(load.answers)
            load.wait_for(lambda: len(load.answers) >= after + 10, "answers once the new worker runs")
        assert proc.poll() is None, "the server stopped"
        assert all(f.startswith(("Remote", "Read", "Connect", "HTTP 503")) for f in load.failures), load.failures
        assert_log_has_every_answer(store, app["app_key"], load.answers)
    finally:
        stop(proc)


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)  # SQLite serves with one process
def test_the_sqlite_service_killed_under_load_restarts_on_an_intact_database(world, key_file, tmp_path):
    store, codes = world
    app = add_app(store, "政务服务平台", "check")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = serve(store, key_file, port, 1, tmp_path / "serve.log")
    try:
        wait_for_health(proc, base, time.monotonic() + 60)
        with Load(base, app, [codes["good"], codes["bad"], codes["plain"]]) as load:
            load.wait_for(lambda: len(load.answers) >= 30, "30 answers before the kill")
            os.killpg(proc.pid, signal.SIGKILL)  # the one process that serves and writes
            proc.wait(timeout=60)
            failed = len(load.failures)
            load.wait_for(lambda: len(load.failures) > failed, "a request refused by the dead server")
            with store.read() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            proc = serve(store, key_file, port, 1, tmp_path / "serve.log")
            wait_for_health(proc, base, time.monotonic() + 60)
            again = len(load.answers)
            load.wait_for(lambda: len(load.answers) >= again + 20, "answers after the restart")
        assert_log_has_every_answer(store, app["app_key"], load.answers)
    finally:
        stop(proc)
