"""The store layer: the only code that talks to SQLAlchemy, and the way every stage reads and writes the database.

``Store(url)`` (default ``SUPERVISE_DB``, else ``sqlite:///supervise.db``) holds one engine; ``store.transaction()``
is the unit of work (commit on success, roll back on any error) and ``store.read()`` a read-only connection; the
schema is created and upgraded with alembic (``engine/migrations``, :meth:`Store.init`). The tables are in
:mod:`engine.store.schema`; the queries of each stage live in the sibling modules (``entities``, ``cycles``,
``lists``, ``plans``, ``notices``, ``reports``) and take a ``Connection``; :func:`engine.store.cycles.get_cycle` is
the one cycle reader. It imports nothing of ours but :mod:`engine.errors`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.errors import DatabaseLocked, StoreError
from engine.results import DictResult
from engine.store import schema

if TYPE_CHECKING:
    from alembic.config import Config

T = TypeVar("T")

DEFAULT_URL = "sqlite:///supervise.db"
MIGRATIONS = pathlib.Path(__file__).resolve().parent.parent / "migrations"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_url(url: str) -> str:
    """Accept ``postgresql://`` and ``postgres://`` and use psycopg 3; accept a bare file path for SQLite."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if "://" not in url:
        url = f"sqlite:///{url}"
    return url


def default_url() -> str:
    return os.environ.get("SUPERVISE_DB") or DEFAULT_URL


def lock_wait_seconds() -> float:
    """How long a SQLite writer waits for another process's write lock: ``SUPERVISE_LOCK_WAIT`` (seconds), else 30."""
    try:
        return max(0.0, float(os.environ.get("SUPERVISE_LOCK_WAIT") or 30))
    except ValueError:
        raise StoreError(
            f"SUPERVISE_LOCK_WAIT must be a number of seconds, not '{os.environ['SUPERVISE_LOCK_WAIT']}'."
        ) from None


def make_engine(url: str, serving: bool = False) -> Engine:
    """The engine of ``url``. ``serving`` (the check service's workers, PostgreSQL): no pre-ping on checkout (a
    round trip before every request's transaction; a connection that was dropped fails that one request instead,
    with 503, and SQLAlchemy then discards the pool's older connections) and a pool as large as a worker's
    concurrent requests, so that connections are kept instead of opened and closed under load."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        wait = lock_wait_seconds()
        engine = sa.create_engine(url, connect_args={"timeout": wait})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
            # Let SQLAlchemy/us control transactions: BEGIN IMMEDIATE takes the write lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if ":memory:" not in url and url != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:  # pragma: no cover - trivial
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")

        return engine
    try:
        pool = {"pool_pre_ping": False, "pool_size": 16, "max_overflow": 8} if serving else {"pool_pre_ping": True}
        engine = sa.create_engine(url, **pool)
    except Exception as exc:  # bad URL, missing driver
        raise StoreError(f"Cannot use database URL '{url}': {exc}. Check --db or SUPERVISE_DB.") from exc

    @sa.event.listens_for(engine, "connect")
    def _check_client(dbapi_conn: Any, _record: Any) -> None:  # pragma: no cover - trivial
        # A backend notices that its client died (a killed cycle) only when it next talks to it; until then it
        # keeps the cycle's locks. PostgreSQL 14+ can check the socket during long statements as well.
        if getattr(getattr(dbapi_conn, "info", None), "server_version", 0) >= 140000:
            with dbapi_conn.cursor() as cur:
                cur.execute("SET client_connection_check_interval = 1000")
            dbapi_conn.commit()

    return engine


class SchemaUpgrade(DictResult):
    """What Store.init did: database, from (revision or None), to, changed."""

    def lines(self) -> list[str]:
        if self["changed"]:
            return [f"Schema of {self['database']} upgraded from {self['from'] or 'empty'} to {self['to']}."]
        return [f"Schema of {self['database']} is up to date ({self['to']})."]


class Store:
    """Use this for every database access: one engine, transactions, schema checks."""

    def __init__(self, url: str | None = None, serving: bool = False):
        self.url = normalize_url(url or default_url())
        self.engine = make_engine(self.url, serving)
        # SQLite: this process's writers take turns here before BEGIN IMMEDIATE. Waiting on SQLite's own lock, a
        # thread sleeps in its busy handler (up to 100 ms a try) and misses the lock's release: the check
        # service's threads, one worker's, then waited up to a second or two behind each other.
        self._writers = threading.RLock() if self.url.startswith("sqlite") else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: only this process's connections see it."""
        url = sa.engine.make_url(self.url)
        return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")

    def display_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A unit of work: commit on success, roll back on any exception."""
        with self._writing():
            try:
                with self.engine.begin() as conn:
                    yield conn
            except sa.exc.OperationalError as exc:
                raise self._operational_error(exc) from exc

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        if self._writers is None:
            yield
            return
        if not self._writers.acquire(timeout=lock_wait_seconds()):
            raise DatabaseLocked(
                f"The database {self.display_url()} is locked by another thread of this process that is writing; "
                f"try again when it has finished."
            )
        try:
            yield
        finally:
            self._writers.release()

    @contextlib.contextmanager
    def read(self, snapshot: str | None = None) -> Iterator[Connection]:
        """A read-only connection (SQLite: no write lock taken). PostgreSQL: ``snapshot`` (from
        :func:`export_snapshot` in another transaction, still open) makes this one see exactly what that one sees."""
        try:
            with self.engine.connect() as conn:
                conn.info["write"] = False
                try:
                    with conn.begin():
                        if snapshot and conn.dialect.name == "postgresql":
                            if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
                                raise StoreError(f"'{snapshot}' is not a PostgreSQL snapshot id.")
                            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                        yield conn
                finally:
                    conn.info["write"] = True
        except sa.exc.OperationalError as exc:
            raise self._operational_error(exc) from exc

    def _operational_error(self, exc: Exception) -> StoreError:
        message = self._operational_message(exc)
        return (
            DatabaseLocked(message) if "database is locked" in str(getattr(exc, "orig", exc)) else StoreError(message)
        )

    def _operational_message(self, exc: Exception) -> str:
        text = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        missing = re.search(r'database "([^"]+)" does not exist', text)
        if missing:  # the server answered, but the database is not there: 'init' creates a schema, not a database
            return (
                f"The PostgreSQL database '{missing[1]}' of {self.display_url()} does not exist; create it "
                f'(createdb {missing[1]}, or CREATE DATABASE "{missing[1]}" as a user who may), then run '
                f"'supervise init'."
            )
        if "Connection refused" in text or "could not translate host name" in text or "timeout expired" in text:
            return (
                f"Cannot reach the database server of {self.display_url()} ({text}); check that PostgreSQL runs "
                f"there and that the host and port in --db (or SUPERVISE_DB) are right."
            )
        if "no such table" in text or "does not exist" in text:
            return f"The database {self.display_url()} has no supervise schema ({text}). Run 'supervise init' first."
        if "database is locked" in text:
            return (
                f"The database {self.display_url()} is locked by another process that is writing "
                f"(a cycle or import may be running); try again when it has finished."
            )
        return f"Database error on {self.display_url()}: {text}"

    # -- schema -------------------------------------------------------------------------------
    def alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def init(self) -> dict[str, Any]:
        """Create or upgrade the schema to the newest migration. Idempotent."""
        from alembic import command

        before = self.revision()
        try:
            command.upgrade(self.alembic_config(), "head")
        except sa.exc.OperationalError as exc:
            raise StoreError(self._operational_message(exc)) from exc
        after = self.revision()
        return SchemaUpgrade({"database": self.display_url(), "from": before, "to": after, "changed": before != after})

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                conn.info["write"] = False
                try:
                    if not sa.inspect(conn).has_table("alembic_version"):
                        return None
                    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
                finally:
                    # conn.info lives with the pooled DBAPI connection: a later transaction on it must take the
                    # write lock up front again (BEGIN IMMEDIATE), or its first write fails with 'database is
                    # locked' at once when another process writes, instead of waiting for the lock
                    conn.info["write"] = True
        except sa.exc.OperationalError as exc:
            raise StoreError(self._operational_message(exc)) from exc

    def require_schema(self) -> None:
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(self.alembic_config()).get_current_head()
        current = self.revision()
        if current is None:
            raise StoreError(f"The database {self.display_url()} has no supervise schema. Run 'supervise init' first.")
        if current != head:
            raise StoreError(
                f"The database {self.display_url()} is at schema {current}, this version needs {head}. "
                f"Run 'supervise init' to upgrade it."
            )

    def dispose(self) -> None:
        self.engine.dispose()


_prebuilt: dict[tuple[str, Any], Any] = {}


def prebuilt(conn: Connection, key: Any, build: Callable[[str], T]) -> T:
    """The statement ``build(dialect name)`` makes, built once per dialect and ``key`` and then reused: its values
    must be bind parameters (``sa.bindparam``, :func:`any_of`), given to ``conn.execute(stmt, params)``. SQLAlchemy
    then finds its compiled form in its cache without constructing the statement again, which on the check
    service's path cost more than executing it."""
    k = (conn.dialect.name, key)
    stmt = _prebuilt.get(k)
    if stmt is None:
        stmt = _prebuilt[k] = build(conn.dialect.name)
    return stmt


def any_of(column: sa.ColumnElement[Any], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """``column`` is one of the values of the bind parameter ``name`` (a list): PostgreSQL ``= ANY(array)``, one
    statement text whatever the list's length (psycopg keeps it prepared); elsewhere an expanding ``IN``."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(sa.bindparam(name, expanding=True))


def ids_in(conn: Connection, column: sa.ColumnElement[int], ids: Sequence[int]) -> sa.ColumnElement[bool]:
    """``column`` is one of ``ids`` (integers), bound as one value however many there are: PostgreSQL
    ``= ANY(array)``, SQLite ``IN (SELECT value FROM json_each(text))`` with the ids as a JSON array. A plain
    ``IN (...)`` list has SQLAlchemy coerce, render and bind each value, which on thousands of ids cost more than
    the query (and SQLite's older builds allow at most 999 bound values). The ids are part of the statement: for a
    prebuilt statement whose list comes as a named parameter at execution, use :func:`any_of`."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return column == sa.any_(sa.literal(list(ids), postgresql.ARRAY(sa.Integer)))
    listed = sa.select(sa.column("value", sa.Integer)).select_from(sa.func.json_each(json.dumps(list(ids))))
    return column.in_(listed)


def bulk_insert(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows (dicts with the keys of the first) with :func:`insert_columns`."""
    if rows:
        insert_columns(conn, table, {name: [r[name] for r in rows] for name in rows[0]})


def insert_columns(
    conn: Connection, table: sa.Table, columns: dict[str, Sequence[Any]], raw_json: Sequence[str] = ()
) -> None:
    """Insert rows given column by column straight through the driver, in the caller's transaction: COPY on
    PostgreSQL (psycopg 3), one executemany of plain tuples on SQLite. Values are bound as the column types bind
    them (dates, timestamps and JSON stored exactly as a Core insert would store them); the JSON columns named in
    ``raw_json`` hold JSON text already (serialised where it was computed, e.g. in a worker process).

    Use this for the hundreds of thousands of rows a cycle writes: SQLAlchemy's per-row parameter processing cost
    more than SQLite's own insert, and psycopg's executemany several times what COPY does."""
    names = list(columns)
    if not names or not len(columns[names[0]]):
        return
    cols = [table.c[name] for name in names]
    dialect = conn.dialect
    if dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None  # the caller's open transaction holds a live DBAPI connection
        cursor = driver.cursor()
        if hasattr(cursor, "copy"):  # psycopg 3; COPY reads JSON as text
            serializer = getattr(dialect, "_json_serializer", None)
            values = [
                columns[name]
                if name in raw_json or not isinstance(col.type, sa.JSON)
                else _json_texts(columns[name], serializer or json.dumps, serializer is None)
                for name, col in zip(names, cols)
            ]
            with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in zip(*values):
                    copy.write_row(row)
            cursor.close()
            return
        cursor.close()
    if dialect.name != "sqlite":  # a driver this function was not written for: the generic Core path
        values = [[json.loads(v) for v in columns[n]] if n in raw_json else columns[n] for n in names]
        conn.execute(sa.insert(table), [dict(zip(names, row)) for row in zip(*values)])
        return
    values = []
    plain_json = dialect._json_serializer is None and sa.String()._cached_bind_processor(dialect) is None
    for name, col in zip(names, cols):
        process = None if name in raw_json else col.type._cached_bind_processor(dialect)
        if process and plain_json and isinstance(col.type, sa.JSON):
            values.append(_json_texts(columns[name], process, True))  # the JSON type binds a dict as json.dumps does
        else:
            values.append(_processed(columns[name], process) if process else columns[name])
    marks = ", ".join("?" * len(names))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})", list(zip(*values)))


_UNSET = object()


def _json_texts(column: Sequence[Any], dumps: Callable[[Any], str], plain: bool) -> list[Any]:
    """A JSON column's values as text: ``dumps`` (json.dumps or the JSON type's bind processor) of each. When
    ``dumps`` is json.dumps with its defaults (``plain``), dicts and lists go through one C encoder built with
    those defaults for the whole column (json.dumps builds one per value): the same text."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)  # the C accelerator, None without it
    if not plain or make is None:
        return [dumps(v) for v in column]
    # Its markers dict guards against circular containers and is empty again after each value it encodes; an
    # exception ends the whole insert, and the next one builds a new encoder.
    ascii_text = getattr(encoder, "c_encode_basestring_ascii", None) or encoder.py_encode_basestring_ascii
    try:
        encode = make({}, json.JSONEncoder().default, ascii_text, None, ": ", ", ", False, False, True)
    except TypeError:  # another Python's private signature: the public path, the same text
        return [dumps(v) for v in column]
    join = "".join
    return [join(encode(v, 0)) if v.__class__ is dict or v.__class__ is list else dumps(v) for v in column]


def _processed(column: Sequence[Any], process: Any) -> list[Any]:
    """Bind-process a column's values, each distinct value once: the dates and timestamps of a bulk insert repeat
    on nearly every row, and a JSON value shared by many rows (the same object) is serialised once."""
    memo: dict[Any, Any] = {}
    out: list[Any] = []
    append = out.append
    last: Any = _UNSET
    done: Any = None
    for v in column:
        if v is last:  # the same object as the row before (a bulk insert's dates): its processed value
            append(done)
            continue
        # By type and value (True, 1 and 1.0 are equal but serialise differently); containers by identity: the
        # rows keep them alive, so an id stays theirs for the whole call.
        key = (list, id(v)) if isinstance(v, (dict, list)) else (v.__class__, v)
        done = memo.get(key, _UNSET)
        if done is _UNSET:
            done = memo[key] = process(v)
        append(done)
        last = v
    return out


def export_snapshot(conn: Connection) -> str | None:
    """PostgreSQL: the id of this transaction's snapshot, for other processes' :meth:`Store.read` (valid while this
    transaction is open). SQLite: None (a worker's read transaction starts after the caller's and the register is
    not written meanwhile by the cycle; an import waits for the write lock)."""
    if conn.dialect.name != "postgresql":
        return None
    return conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()


def allocate_ids(conn: Connection, table: sa.Table, count: int) -> list[int]:
    """Reserve ``count`` ids of ``table``'s integer key for rows that :func:`bulk_insert` then writes with them.

    PostgreSQL draws them from the column's sequence, so concurrent writers never collide. SQLite continues
    from the largest id: the writing transaction holds the database write lock (BEGIN IMMEDIATE), so no other
    writer can take the same ids before it commits."""
    if count <= 0:
        return []
    if conn.dialect.name == "postgresql":
        seq = conn.execute(sa.select(sa.func.pg_get_serial_sequence(table.name, "id"))).scalar_one()
        return list(
            conn.execute(sa.select(sa.func.nextval(seq)).select_from(sa.func.generate_series(1, count))).scalars()
        )
    start = (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1
    return list(range(start, start + count))


def audit(conn: Connection, actor: str, action: str, target: str | None = None, **detail: Any) -> None:
    conn.execute(
        sa.insert(schema.audit_log).values(at=now(), actor=actor, action=action, target=target, detail=detail or None)
    )


def chunked(iterable: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
