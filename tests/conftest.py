"""Shared fixtures: a fresh store on SQLite (file) and on PostgreSQL, an entity factory, a CLI runner.

PostgreSQL: SUPERVISE_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test). Each xdist worker gets its own
database created from that server. Without the server the PostgreSQL cases skip with the reason; with
REQUIRE_PG=1 they fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.register.codes import make_person_id, make_uscc
from engine.store import Store, normalize_url

PG_URL = os.environ.get("SUPERVISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("REQUIRE_PG") == "1"
_pg_state: dict = {}


def _worker_pg_url(worker: str) -> str:
    """Create (once per worker) a database of our own on the test server and return its URL."""
    if "url" in _pg_state or "error" in _pg_state:
        if "error" in _pg_state:
            raise RuntimeError(_pg_state["error"])
        return _pg_state["url"]
    base = sa.engine.make_url(normalize_url(PG_URL))
    # Unique per test run (xdist gives every run a uid): two runs on one server never share a database.
    run = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex)[:10]
    name = f"supervise_test_{run}_{worker}"
    try:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    except Exception as exc:  # server not there
        _pg_state["error"] = f"PostgreSQL at {base.render_as_string(hide_password=True)} is not reachable: {exc}"
        raise RuntimeError(_pg_state["error"]) from exc
    _pg_state["url"] = base.set(database=name).render_as_string(hide_password=False)
    _pg_state["admin"] = base.render_as_string(hide_password=False)
    _pg_state["name"] = name
    return _pg_state["url"]


def pytest_sessionfinish(session, exitstatus):
    """Drop this run's PostgreSQL database."""
    if "name" not in _pg_state:
        return
    try:
        admin = sa.create_engine(_pg_state["admin"], isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{_pg_state["name"]}" WITH (FORCE)')
        admin.dispose()
    except Exception:
        pass


def _reset_pg(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def pg_url_or_skip(worker_id: str) -> str:
    try:
        return _worker_pg_url(worker_id)
    except RuntimeError as exc:
        if REQUIRE_PG:
            pytest.fail(f"REQUIRE_PG=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request, tmp_path: pathlib.Path, worker_id: str) -> str:
    """A URL to an empty database, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = pg_url_or_skip(worker_id)
    _reset_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def pg_url(worker_id: str) -> str:
    url = pg_url_or_skip(worker_id)
    _reset_pg(url)
    return url


@pytest.fixture
def store(db_url: str):
    """An initialised Store on each database."""
    s = Store(db_url)
    s.init()
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str):
    s = Store(sqlite_url)
    s.init()
    yield s
    s.dispose()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


class Factory:
    """Tiny builder of valid codes and entity rows for tests."""

    def __init__(self, seed: int = 0):
        self.n = seed

    def uscc(self, dept_type: str = "91", region: str = "350100") -> str:
        self.n += 1
        body = f"{self.n:08d}"
        return make_uscc(dept_type, region, body)

    def person(self, region: str = "350102", birth: dt.date = dt.date(1985, 6, 1)) -> str:
        self.n += 1
        return make_person_id(region, birth, self.n)

    def entity(self, **over) -> dict:
        code = over.pop("code", None) or self.uscc()
        row = {
            "code": code,
            "name": f"测试企业{self.n}有限公司",
            "established_on": "2015-01-01",
            "industry": "零售业",
            "legal_rep": "张三",
        }
        row.update(over)
        return row


@pytest.fixture
def factory() -> Factory:
    return Factory()


def cli_run(store: Store, *args: str, ok: bool = True):
    """``supervise --db <store> ARGS`` through click's runner; asserts exit 0 unless ``ok`` is false."""
    from cli import cli

    result = CliRunner().invoke(cli, ["--db", store.url, *args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def cli_json(store: Store, *args: str):
    """``cli_run`` with ``--json``, parsed."""
    import json

    return json.loads(cli_run(store, *args, "--json").output)


def write_csv(path: pathlib.Path, rows: list[dict], encoding: str = "utf-8") -> pathlib.Path:
    import csv

    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    with path.open("w", encoding=encoding, newline="") as handle:
        w = csv.DictWriter(handle, columns)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    return path


# Hypothesis: no per-example deadline and no "too slow" health check, both measured in wall time (a loaded
# machine would fail them). Tests that set their own settings still inherit these unless they override them.
try:
    from hypothesis import HealthCheck
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("supervise", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    _hypothesis_settings.load_profile("supervise")
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    pass


@pytest.fixture
def spark_master() -> str:
    """The Spark master of the Spark engine's tests: local[2]. Without pyspark, pyarrow or Java they skip with the
    reason; with REQUIRE_PG=1 (CI, where ``make test`` installs supervise[spark]) they fail instead."""
    import importlib.util
    import shutil

    missing = [m for m in ("pyspark", "pyarrow") if importlib.util.find_spec(m) is None]
    if shutil.which("java") is None:
        missing.append("java (Java 17)")
    if missing:
        message = f"the Spark engine needs {', '.join(missing)}: pip install -e '.[spark]' and make deps"
        if REQUIRE_PG:
            pytest.fail(f"REQUIRE_PG=1 but {message}")
        pytest.skip(message)
    return "local[2]"
