"""Shared fixtures: a fresh store on SQLite (file) and on PostgreSQL, an entity factory, a CLI runner.

PostgreSQL: SUPERVISE_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test). Each xdist worker gets its own
database created from that server. Without the server the PostgreSQL cases skip with the reason; with
REQUIRE_PG=1 they fail instead.

An initialised store is not migrated again for every test (Alembic's nine migrations cost about 0.8 s a test on
PostgreSQL, 0.16 s on SQLite): SQLite copies a file initialised once per worker; PostgreSQL deletes every row and
restarts the sequences when the schema is exactly the one a fresh ``init`` made in this worker (a catalogue
fingerprint: columns, indexes, constraints, triggers, functions, relations, the Alembic revision), and drops and
migrates it otherwise (after a test that downgraded or altered it).
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import shutil
import sqlite3
import tempfile
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
    """Drop this run's PostgreSQL database (and this worker's initialised SQLite file)."""
    if "" in _templates:
        shutil.rmtree(_templates[""].parent, ignore_errors=True)
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


# The catalogue of the public schema, as one hash: it changes with any table, column, default, index, constraint,
# trigger, function, sequence or view, and with the Alembic revision.
_FINGERPRINT = """
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT 'c:' || table_name || '.' || column_name || ':' || data_type || ':' || is_nullable || ':' ||
         coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT 'i:' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT 'k:' || conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid)
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 't:' || tgrelid::regclass::text || ':' || tgname || ':' || tgenabled::text
            FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'o:' || relkind::text || ':' || relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'f:' || oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace
  UNION ALL SELECT 'v:' || version_num FROM alembic_version
) q(x)
"""
_templates: dict[str, pathlib.Path] = {}


def _pg_fingerprint(conn) -> str | None:
    if conn.exec_driver_sql("SELECT to_regclass('public.alembic_version')").scalar() is None:
        return None
    return conn.exec_driver_sql(_FINGERPRINT).scalar()


def _pg_capture(conn) -> dict:
    """Every row of the public schema's tables (as JSON, per table), where each sequence stands, and the
    catalogue's fingerprint."""
    tables = list(
        conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ).scalars()
    )
    rows = {}
    for t in tables:
        text = conn.exec_driver_sql(f'SELECT json_agg(t)::text FROM "{t}" t').scalar()
        if text is not None:
            rows[t] = text
    sequences = {}
    for seq in conn.exec_driver_sql(
        "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = 'public'::regnamespace"
    ).scalars():
        sequences[seq] = tuple(conn.exec_driver_sql(f'SELECT last_value, is_called FROM "{seq}"').one())
    return {"fingerprint": _pg_fingerprint(conn), "tables": tables, "rows": rows, "sequences": sequences}


def _pg_restore(conn, snapshot: dict) -> bool:
    """Put back a captured state if the schema is still the one captured (False, and nothing done, otherwise)."""
    if _pg_fingerprint(conn) != snapshot["fingerprint"]:
        return False
    # As the table owner's session: the append-only triggers and foreign keys do not fire (TRUNCATE would not
    # fire them either, but costs 0.35 s for the 44 tables against a few ms).
    conn.exec_driver_sql(
        "SET LOCAL session_replication_role = replica; " + " ".join(f'DELETE FROM "{t}";' for t in snapshot["tables"])
    )
    for table, rows in snapshot["rows"].items():
        conn.exec_driver_sql(
            f'INSERT INTO "{table}" SELECT * FROM json_populate_recordset(NULL::"{table}", %s::json)', (rows,)
        )
    for seq, (last, called) in snapshot["sequences"].items():
        conn.exec_driver_sql(f"SELECT setval('\"{seq}\"', %s, %s)", (last, called))
    conn.commit()
    return True


def _pg_state_of(url: str, key: str, build) -> None:
    """Put the worker's database in the state ``build(url)`` leaves an initialised one in: built once per worker
    and ``key``, put back from the captured rows afterwards. Key "" is a fresh ``init``."""
    snapshots = _pg_state.setdefault("snapshots", {})
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            try:
                if key in snapshots and _pg_restore(conn, snapshots[key]):
                    return
            except sa.exc.DBAPIError:  # a test server's role that may not set session_replication_role
                conn.rollback()
                snapshots.clear()
        if key == "":
            _reset_pg(url)
            made = Store(url)
            made.init()
            made.dispose()
        else:
            _pg_state_of(url, "", None)
            build(url)
        with engine.connect() as conn:
            snapshots[key] = _pg_capture(conn)
    finally:
        engine.dispose()


def _sqlite_state_of(path: pathlib.Path, key: str, build) -> None:
    """The same for a test's SQLite file: a copy of a file built once per worker and ``key``."""
    made = _templates.get(key)
    if made is None:
        if not _templates:
            _templates[""] = pathlib.Path(tempfile.mkdtemp(prefix="supervise-test-states-")) / "initialised.db"
            fresh = Store(f"sqlite:///{_templates['']}")
            fresh.init()
            fresh.dispose()
        if key != "":
            target = _templates[""].parent / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(_templates[""], target)
            build(f"sqlite:///{target}")
            with sqlite3.connect(target) as conn:  # what is still in the WAL goes into the file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            _templates[key] = target
        made = _templates[key]
    for suffix in ("-wal", "-shm"):
        pathlib.Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(made, path)


def restore_state(url: str, key: str, build) -> None:
    """Leave the database of ``url`` (a test's SQLite file or the worker's PostgreSQL database) holding what
    ``build(url)`` writes into a freshly initialised database, running ``build`` once per worker and ``key``."""
    if url.startswith("sqlite:///"):
        _sqlite_state_of(pathlib.Path(url.removeprefix("sqlite:///")), key, build)
    else:
        _pg_state_of(url, key, build)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def any_db_url(request, tmp_path: pathlib.Path, worker_id: str) -> str:
    """A URL to a database as the last test left it (a new SQLite file; the worker's PostgreSQL database), once
    for SQLite and once for PostgreSQL: for fixtures that put it in a known state with :func:`restore_state`."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return pg_url_or_skip(worker_id)


@pytest.fixture
def db_url(any_db_url: str, request) -> str:
    """A URL to an empty database, once for SQLite and once for PostgreSQL (initialised and empty when the test
    also takes ``store``)."""
    if any_db_url.startswith("postgresql") and "store" not in request.fixturenames:
        _reset_pg(any_db_url)  # the store fixture empties it its own, cheaper way
    return any_db_url


@pytest.fixture
def sqlite_url(tmp_path: pathlib.Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def pg_url(worker_id: str) -> str:
    url = pg_url_or_skip(worker_id)
    _reset_pg(url)
    return url


def initialised_store(url: str) -> Store:
    """A Store on ``url`` at the newest schema and empty, as ``Store(url).init()`` leaves an empty database."""
    restore_state(url, "", None)
    return Store(url)


@pytest.fixture
def store(db_url: str):
    """An initialised Store on each database."""
    s = initialised_store(db_url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(sqlite_url: str):
    s = initialised_store(sqlite_url)
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
