"""Credit records with versions: valid time (the record's own dates) and recorded time (when each version was known).

``records`` holds the current version of every record (one row per natural key), ``record_versions`` every version
it replaced, with the span it was the known version (``recorded_at`` .. ``superseded_at``), never updated or
deleted. "The records known at T" are the current versions recorded by T plus the history rows with
``recorded_at <= T < superseded_at``; a record annulled as entered in error has a current version with status
``void`` and is in no evaluation whose knowledge date is after the annulment.

Writes: :func:`write_records` (an import: new keys inserted, changed ones corrected, identical ones left alone),
:func:`insert_records` (records known to be new: the demo, inspection results); reads: :func:`records_for_range`
(the evaluation's batches), :func:`records_of` and :func:`record_rows` (a few entities), :func:`history`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.store import ids_in, insert_columns, now, schema

R = schema.records
H = schema.record_versions
IMP = schema.imports
VALID, VOID = "valid", "void"
SQLITE_IN = 5000  # ids per statement on SQLite (one JSON array: see engine.store.ids_in)
MAX_CHANGES = 1000  # corrections described field by field in one report


def _insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    return postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)


def _parts(conn: Connection, ids: Sequence[int]) -> Iterable[Sequence[int]]:
    step = len(ids) or 1 if conn.dialect.name == "postgresql" else SQLITE_IN
    for i in range(0, len(ids), step):
        yield ids[i : i + step]


def _of_kinds(conn: Connection, table: sa.Table, kinds: Sequence[str] | None) -> list[sa.ColumnElement[bool]]:
    """``kind IN kinds`` (nothing when ``kinds`` is None); on SQLite with a unary + that keeps it off the kind
    index, so that the entity id picks the index."""
    if kinds is None:
        return []
    if conn.dialect.name == "sqlite":
        return [sa.literal_column(f"+{table.name}.kind", sa.String).in_(list(kinds))]
    return [table.c.kind.in_(list(kinds))]


def _id_in(conn: Connection, column: sa.ColumnElement[int], ids: Sequence[int]) -> sa.ColumnElement[bool]:
    return ids_in(conn, column, ids)


def open_import(conn: Connection, kind: str, source: str, actor: str) -> tuple[int, dt.datetime]:
    """Register an import (``file``, ``correction`` or ``annulment``); returns its id and its recorded time."""
    stamp = now()
    import_id = conn.execute(
        sa.insert(IMP).values(kind=kind, source=source, actor=actor, started_at=stamp).returning(IMP.c.id)
    ).scalar_one()
    return import_id, stamp


# -- writing -------------------------------------------------------------------------------------------------


@dataclass
class Written:
    """What one chunk of an import did to the store (summed by the import)."""

    new: int = 0
    corrected: int = 0
    unchanged: int = 0
    void: int = 0  # rows naming a record annulled as entered in error: not restored
    repeated: int = 0  # rows whose key an earlier row of the same chunk gave with other fields
    changes: list[dict[str, Any]] = field(default_factory=list)


def _jsonish(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def field_changes(old_date: Any, old: dict[str, Any], new_date: Any, new: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs (the record's date included when it moved)."""
    out = {
        name: [old.get(name), new.get(name)] for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)
    }
    if _jsonish(old_date) != _jsonish(new_date) and "date" not in out:
        out["date"] = [_jsonish(old_date), _jsonish(new_date)]
    return out


def current_versions(
    conn: Connection, keys: Iterable[tuple[int, str, str]], lock: bool = False
) -> dict[tuple[int, str, str], dict[str, Any]]:
    """The current version of each record named by (entity id, kind, natural key) that exists."""
    wanted = set(keys)
    ids = sorted({k[0] for k in wanted})
    found: list[int] = []
    # First the keys alone (no JSON decoded for the entities' other records), then the rows that match.
    # Straight to the driver on SQLite (integers, no expanding IN to render) and PostgreSQL (one array parameter):
    # plain tuples back, no result processing per row.
    columns = "SELECT id, entity_id, kind, natural_key FROM records WHERE entity_id"
    for part in _parts(conn, ids):
        if conn.dialect.name == "sqlite":
            rows: Iterable[Any] = conn.exec_driver_sql(f"{columns} IN ({','.join('?' * len(part))})", tuple(part))
        elif conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(f"{columns} = ANY(%(ids)s)", {"ids": list(part)})
        else:
            rows = conn.execute(
                sa.select(R.c.id, R.c.entity_id, R.c.kind, R.c.natural_key).where(_id_in(conn, R.c.entity_id, part))
            )
        found.extend(r[0] for r in rows if (r[1], r[2], r[3]) in wanted)
    out: dict[tuple[int, str, str], dict[str, Any]] = {}
    for part in _parts(conn, found):
        stmt = sa.select(R).where(_id_in(conn, R.c.id, part))
        if lock and conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        for row in conn.execute(stmt).mappings():
            out[(row["entity_id"], row["kind"], row["natural_key"])] = dict(row)
    return out


def write_records(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    *,
    source: str,
    import_id: int | None,
    actor: str,
    stamp: dt.datetime,
    reason: str | None = None,
    max_changes: int = MAX_CHANGES,
) -> Written:
    """Store one chunk of parsed records ``{entity_id, kind, date, natural_key, data, present?, code?}``.

    A key the store does not have is a new record (version 1). A key it has, with another date or other fields, is
    a correction: the current version moves to the history with the time it stopped being the known version, and
    the row becomes the next version, recorded at ``stamp`` by ``actor`` under ``import_id``. A field the row does
    not carry (``present``: the fields whose columns the file has) keeps its stored value; a present but blank
    field clears it. Identical content changes nothing. A record annulled as entered in error is not restored by
    importing it again (counted as ``void``)."""
    out = Written()
    latest: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row in rows:  # the last row of a key in the chunk wins, as it would row by row
        key = (row["entity_id"], row["kind"], row["natural_key"])
        if key in latest:
            if (latest[key]["date"], latest[key]["data"]) != (row["date"], row["data"]):
                out.repeated += 1
            else:
                out.unchanged += 1
        latest[key] = row
    stored = current_versions(conn, latest, lock=True)
    inserts: list[dict[str, Any]] = []
    history, updates = [], []
    for key, row in latest.items():
        old = stored.get(key)
        if old is None:
            inserts.append(row)
            continue
        if old["status"] == VOID:
            out.void += 1
            continue
        present = row.get("present")
        data = (
            row["data"] if present is None else {k: v for k, v in old["data"].items() if k not in present} | row["data"]
        )
        if old["date"] == row["date"] and old["data"] == data:
            out.unchanged += 1
            continue
        out.corrected += 1
        if len(out.changes) < max_changes:
            out.changes.append(
                {
                    "code": row.get("code"),
                    "kind": row["kind"],
                    "key": row["natural_key"],
                    "record_id": old["id"],
                    "version": old["version"] + 1,
                    "fields": field_changes(old["date"], old["data"], row["date"], data),
                }
            )
        history.append(_history_row(old, stamp))
        updates.append(
            {
                "b_id": old["id"],
                "b_version": old["version"] + 1,
                "b_date": row["date"],
                "b_data": data,
                "b_status": VALID,
                "b_source": source,
                "b_recorded_at": stamp,
                "b_import_id": import_id,
                "b_actor": actor,
                "b_reason": reason,
            }
        )
    _insert_new(conn, inserts, source=source, import_id=import_id, actor=actor, stamp=stamp, reason=reason)
    _supersede(conn, history, updates)
    out.new = len(inserts)
    return out


def _insert_new(
    conn: Connection,
    rows: list[dict[str, Any]],
    *,
    source: str,
    import_id: int | None,
    actor: str,
    stamp: dt.datetime,
    reason: str | None,
) -> None:
    """Version 1 of new records, straight through the driver (COPY on PostgreSQL, an executemany of tuples on
    SQLite), each value bound as a Core insert binds it."""
    if not rows:
        return
    n = len(rows)
    insert_columns(
        conn,
        R,
        {
            "entity_id": [r["entity_id"] for r in rows],
            "kind": [r["kind"] for r in rows],
            "date": [r["date"] for r in rows],
            "natural_key": [r["natural_key"] for r in rows],
            "data": [r["data"] for r in rows],
            "source": [source] * n,
            "imported_at": [stamp] * n,
            "version": [1] * n,
            "recorded_at": [stamp] * n,
            "status": [VALID] * n,
            "import_id": [import_id] * n,
            "actor": [actor] * n,
            "reason": [reason] * n,
        },
    )


def _history_row(old: dict[str, Any], stamp: dt.datetime) -> dict[str, Any]:
    return {
        "record_id": old["id"],
        "entity_id": old["entity_id"],
        "kind": old["kind"],
        "version": old["version"],
        "date": old["date"],
        "data": old["data"],
        "status": old["status"],
        "source": old["source"],
        "recorded_at": old["recorded_at"],
        "superseded_at": stamp,
        "import_id": old["import_id"],
        "actor": old["actor"],
        "reason": old["reason"],
    }


def _supersede(conn: Connection, history: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
    """Move the replaced versions to the history (insert only) and write the new current versions."""
    if not updates:
        return
    conn.execute(sa.insert(H), history)
    stmt = (
        sa.update(R)
        .where(R.c.id == sa.bindparam("b_id"))
        .values(
            version=sa.bindparam("b_version"),
            date=sa.bindparam("b_date"),
            data=sa.bindparam("b_data", type_=R.c.data.type),
            status=sa.bindparam("b_status"),
            source=sa.bindparam("b_source"),
            recorded_at=sa.bindparam("b_recorded_at"),
            import_id=sa.bindparam("b_import_id"),
            actor=sa.bindparam("b_actor"),
            reason=sa.bindparam("b_reason"),
        )
    )
    conn.execute(stmt, updates)


def replace_version(
    conn: Connection,
    old: dict[str, Any],
    *,
    date: dt.date,
    data: dict[str, Any],
    status: str,
    source: str,
    import_id: int,
    actor: str,
    stamp: dt.datetime,
    reason: str,
) -> int:
    """Record the next version of one record (a clerk's correction or annulment); returns its version number."""
    version = old["version"] + 1
    _supersede(
        conn,
        [_history_row(old, stamp)],
        [
            {
                "b_id": old["id"],
                "b_version": version,
                "b_date": date,
                "b_data": data,
                "b_status": status,
                "b_source": source,
                "b_recorded_at": stamp,
                "b_import_id": import_id,
                "b_actor": actor,
                "b_reason": reason,
            }
        ],
    )
    return version


def insert_records(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    source: str,
    import_id: int | None = None,
    actor: str | None = None,
) -> int:
    """Insert records known to be new (entity_id resolved), version 1; a key the store already has is left alone."""
    if not rows:
        return 0
    stamp = now()
    payload = [
        {
            **r,
            "source": source,
            "imported_at": stamp,
            "recorded_at": stamp,
            "version": 1,
            "status": VALID,
            "import_id": import_id,
            "actor": actor,
        }
        for r in rows
    ]
    stmt = _insert(conn, R).on_conflict_do_nothing(index_elements=["entity_id", "kind", "natural_key"])
    # The two drivers the store uses (sqlite3, psycopg 3) sum the row counts of an executemany, and an ignored
    # duplicate counts 0. That is exact, and much cheaper than a count(*) of the whole table around every chunk
    # or RETURNING (which turns the batch into long multi-VALUES statements that psycopg parses row by row).
    return conn.execute(stmt.execution_options(preserve_rowcount=True), payload).rowcount


# -- reading -------------------------------------------------------------------------------------------------


def _known(table: sa.Table, known_at: dt.datetime | None) -> list[sa.ColumnElement[bool]]:
    """The current versions known at ``known_at`` (None: now), annulled ones left out."""
    where = [table.c.status == VALID]
    if known_at is not None:
        where.append(table.c.recorded_at <= known_at)
    return where


def _superseded_known(known_at: dt.datetime) -> list[sa.ColumnElement[bool]]:
    """History rows that were the known version at ``known_at``."""
    return [H.c.recorded_at <= known_at, H.c.superseded_at > known_at, H.c.status == VALID]


def records_for_range(
    conn: Connection,
    first_id: int,
    last_id: int,
    until: dt.date,
    kinds: Sequence[str] | None = None,
    known_at: dt.datetime | None = None,
) -> dict[int, list[tuple[str, dt.date, dict]]]:
    """Records of entities with ids in [first_id, last_id], dated on or before ``until``, as known at
    ``known_at`` (None: the current versions), grouped by entity; each entity's records in (date, kind, id) order,
    as :func:`record_rows` gives them. Records with the same data share one decoded dict: treat them as read-only."""
    kind: sa.ColumnElement[str] = R.c.kind
    date: sa.ColumnElement[dt.date] = R.c.date
    data: sa.ColumnElement[str]
    day: sa.ColumnElement[Any]
    if conn.dialect.name == "sqlite":
        # Without this SQLite answers "kind IN (..) AND date <= .." from ix_records_kind_date, i.e. it walks every
        # record of those kinds in the whole register for each batch (15 s per 100,000 entities of a 2,000,000-record
        # register). A unary + keeps both terms off that index, so the entity range uses the (entity_id, kind,
        # natural_key) unique index.
        kind = sa.literal_column(f"+{R.name}.kind", sa.String)
        date = sa.literal_column(f"+{R.name}.date", sa.Date)
        data = sa.type_coerce(R.c.data, sa.Text)
        day = sa.type_coerce(R.c.date, sa.Text)  # parsed below, once per distinct text, as the Date type would
    else:
        data = sa.cast(R.c.data, sa.Text)
        day = R.c.date
    # The JSON text is decoded here, once per distinct text: most records of a kind repeat a few shapes (a tax
    # evaluation is a year, a score and a flag), and decoding dominated the load.
    stmt = (
        sa.select(R.c.entity_id, R.c.id, R.c.kind, day, data)
        .where(R.c.entity_id.between(first_id, last_id), date <= until, *_known(R, known_at))
        .order_by(R.c.entity_id, R.c.date, R.c.kind, R.c.id)
    )
    if kinds is not None:
        stmt = stmt.where(kind.in_(list(kinds)))
    rows: Sequence[Any] = conn.execute(stmt).all()
    if known_at is not None:
        older = _older_versions(conn, H.c.entity_id.between(first_id, last_id), until, kinds, known_at, text=True)
        if older:
            rows = _merged(rows, older)
    out: dict[int, list[tuple[str, dt.date, dict]]] = {}
    decoded: dict[str, Any] = {}
    days: dict[Any, dt.date] = {}
    loads, fromiso = json.loads, dt.date.fromisoformat
    last: int | None = None
    group: list[tuple[str, dt.date, dict]] = []  # replaced by each entity's own list at its first record
    for entity_id, _id, kind_, date_, text in rows:
        value = decoded.get(text)
        if value is None:
            value = decoded[text] = loads(text)
        if date_.__class__ is str:
            d = days.get(date_)
            if d is None:
                d = days[date_] = fromiso(date_)
            date_ = d
        if entity_id != last:
            last, group = entity_id, []
            out[entity_id] = group
        group.append((kind_, date_, value))
    return out


def _older_versions(
    conn: Connection,
    entities: sa.ColumnElement[bool],
    until: dt.date,
    kinds: Sequence[str] | None,
    known_at: dt.datetime,
    text: bool = False,
) -> list[tuple]:
    """(entity_id, record id, kind, date, data) of the superseded versions that were known at ``known_at``."""
    data: sa.ColumnElement[Any] = H.c.data
    day: sa.ColumnElement[Any] = H.c.date
    if text:
        if conn.dialect.name == "sqlite":
            data, day = sa.type_coerce(H.c.data, sa.Text), sa.type_coerce(H.c.date, sa.Text)
        else:
            data = sa.cast(H.c.data, sa.Text)
    stmt = sa.select(H.c.entity_id, H.c.record_id, H.c.kind, day, data).where(
        entities, H.c.date <= until, *_superseded_known(known_at)
    )
    if kinds is not None:
        stmt = stmt.where(H.c.kind.in_(list(kinds)))
    return [tuple(r) for r in conn.execute(stmt)]


def _merged(rows: Sequence[Any], older: list[tuple]) -> list[Any]:
    """The current rows with the older versions known at the time: each entity's rows stay together, and only the
    entities with older versions are re-sorted, by (date, kind, record id) (the rest keep the database's order)."""

    def order(r: Any) -> tuple:
        d = r[3]
        return (d if isinstance(d, str) else d.isoformat(), r[2], r[1])

    affected: dict[int, list[Any]] = {}
    for r in older:
        affected.setdefault(r[0], []).append(r)
    out = [r for r in rows if r[0] not in affected]
    for r in rows:
        if r[0] in affected:
            affected[r[0]].append(r)
    for group in affected.values():
        out.extend(sorted(group, key=order))
    return out


def records_of(
    conn: Connection,
    entity_ids: Iterable[int],
    until: dt.date,
    kinds: Sequence[str] | None = None,
    known_at: dt.datetime | None = None,
) -> dict[int, list[tuple[str, dt.date, dict]]]:
    """``{entity id: [(kind, date, data), ...]}`` of a few entities, as :func:`records_for_range` gives them."""
    return {
        entity_id: [(r["kind"], r["date"], r["data"]) for r in rows]
        for entity_id, rows in record_rows(conn, entity_ids, until, kinds, known_at).items()
    }


def record_rows(
    conn: Connection,
    entity_ids: Iterable[int],
    until: dt.date | None = None,
    kinds: Sequence[str] | None = None,
    known_at: dt.datetime | None = None,
) -> dict[int, list[dict[str, Any]]]:
    """The records of some entities (dated on or before ``until``, of ``kinds``) as known at ``known_at`` (None:
    the current versions), each ``{id, entity_id, kind, date, data, source, version, natural_key}``, grouped by
    entity in (date, kind, id) order."""
    ids = sorted(set(entity_ids))
    wanted = set(kinds) if kinds is not None else None
    found: list[dict[str, Any]] = []
    for part in _parts(conn, ids):
        # Kinds are filtered in SQL too (a cycle's list proposals read two kinds of about ten: decoding the others'
        # JSON was most of their read), on SQLite as "+kind IN (..)": a plain "kind IN (..)" lets it answer from
        # ix_records_kind_date, walking every record of those kinds in the register for each chunk, instead of
        # the entity index.
        where = [_id_in(conn, R.c.entity_id, part), *_known(R, known_at), *_of_kinds(conn, R, kinds)]
        if until is not None:
            where.append(R.c.date <= until)
        cols = [R.c.id, R.c.entity_id, R.c.kind, R.c.date, R.c.data, R.c.source, R.c.version, R.c.natural_key]
        found.extend(dict(r) for r in conn.execute(sa.select(*cols).where(*where)).mappings())
        if known_at is not None:
            where = [_id_in(conn, H.c.entity_id, part), *_superseded_known(known_at), *_of_kinds(conn, H, kinds)]
            if until is not None:
                where.append(H.c.date <= until)
            stmt = (
                sa.select(
                    H.c.record_id.label("id"),
                    H.c.entity_id,
                    H.c.kind,
                    H.c.date,
                    H.c.data,
                    H.c.source,
                    H.c.version,
                    R.c.natural_key,
                )
                .join(R, R.c.id == H.c.record_id)
                .where(*where)
            )
            found.extend(dict(r) for r in conn.execute(stmt).mappings())
    out: dict[int, list[dict[str, Any]]] = {}
    for r in sorted(found, key=lambda r: (r["entity_id"], _day(r["date"]), r["kind"], r["id"])):
        if wanted is None or r["kind"] in wanted:
            r["date"] = _day(r["date"])
            out.setdefault(r["entity_id"], []).append(r)
    return out


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def history(conn: Connection, entity_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    """Every version of an entity's records (the history and the current ones), by kind, key and version, each with
    who recorded it, when, under which import, and (for the superseded ones) until when it was the known version."""
    cols = ["id", "version", "date", "data", "status", "source", "recorded_at", "import_id", "actor", "reason"]
    where = [R.c.entity_id == entity_id] + ([R.c.kind == kind] if kind else [])
    current = [
        dict(r) | {"superseded_at": None}
        for r in conn.execute(sa.select(R.c.kind, R.c.natural_key, *[R.c[c] for c in cols]).where(*where)).mappings()
    ]
    hwhere = [H.c.entity_id == entity_id] + ([H.c.kind == kind] if kind else [])
    older = [
        dict(r)
        for r in conn.execute(
            sa.select(
                H.c.kind,
                R.c.natural_key,
                H.c.record_id.label("id"),
                *[H.c[c] for c in cols if c != "id"],
                H.c.superseded_at,
            )
            .join(R, R.c.id == H.c.record_id)
            .where(*hwhere)
        ).mappings()
    ]
    for r in (*current, *older):
        r["date"] = _day(r["date"])
    return sorted([*current, *older], key=lambda r: (r["kind"], r["date"], r["natural_key"], r["version"]))


def find_record(conn: Connection, entity_id: int, kind: str, natural_key: str) -> dict[str, Any] | None:
    """The current version of one record, locked for a correction (PostgreSQL: FOR UPDATE)."""
    return current_versions(conn, [(entity_id, kind, natural_key)], lock=True).get((entity_id, kind, natural_key))


def current_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Record id -> its current version ``{entity_id, kind, date, data, status, version, recorded_at}``."""
    ids = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    cols = [R.c.id, R.c.entity_id, R.c.kind, R.c.date, R.c.data, R.c.status, R.c.version, R.c.recorded_at]
    for part in _parts(conn, ids):
        for r in conn.execute(sa.select(*cols).where(_id_in(conn, R.c.id, part))).mappings():
            out[r["id"]] = dict(r)
    return out


def import_sources(conn: Connection, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Import id -> {kind, source, actor, started_at} of those imports."""
    ids = sorted(set(ids))
    out: dict[int, dict[str, Any]] = {}
    for part in _parts(conn, ids):
        for r in conn.execute(sa.select(IMP).where(_id_in(conn, IMP.c.id, part))).mappings():
            out[r["id"]] = {"kind": r["kind"], "source": r["source"], "actor": r["actor"]}
    return out


def keys_of(conn: Connection, entity_id: int, kind: str) -> list[str]:
    """The natural keys of an entity's records of one kind (for a did-you-mean)."""
    return list(conn.execute(sa.select(R.c.natural_key).where(R.c.entity_id == entity_id, R.c.kind == kind)).scalars())
