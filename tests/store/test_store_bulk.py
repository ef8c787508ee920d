"""store.bulk_insert and allocate_ids: what a bulk insert stores is what a Core insert stores, on both databases."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from engine.store import allocate_ids, bulk_insert, now, schema


def _entity(conn) -> int:
    return conn.execute(
        sa.insert(schema.entities)
        .values(
            code="91350100MA2XXXXX0X",
            code_kind="uscc",
            name="测试",
            entity_type="enterprise",
            created_at=now(),
            updated_at=now(),
        )
        .returning(schema.entities.c.id)
    ).scalar_one()


def test_bulk_insert_stores_what_a_core_insert_stores(store):
    R = schema.records
    stamp = dt.datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=dt.UTC)
    values = [{"n": 1}, {"n": 1.0}, {"n": True}, {"text": "中文", "list": [1, "a", None]}, None, 1, 1.0, True, "x"]
    with store.transaction() as conn:
        eid = _entity(conn)
        shared = {"same": "object in two rows"}
        rows = [
            {
                "entity_id": eid,
                "kind": "k",
                "date": dt.date(2026, 1, 2),
                "natural_key": f"bulk{i}",
                "data": v,
                "source": None,
                "imported_at": stamp,
                "recorded_at": stamp,
            }
            for i, v in enumerate(values + [shared, shared])
        ]
        bulk_insert(conn, R, rows)
        conn.execute(sa.insert(R), [{**r, "natural_key": "core" + r["natural_key"][4:]} for r in rows])
    with store.read() as conn:
        got = conn.execute(
            sa.select(R.c.natural_key, R.c.date, R.c.data, R.c.imported_at, R.c.source).order_by(R.c.id)
        ).all()
        raw = conn.execute(
            sa.select(
                R.c.natural_key,
                sa.cast(R.c.data, sa.Text),
                sa.cast(R.c.date, sa.Text),
                sa.cast(R.c.imported_at, sa.Text),
            ).order_by(R.c.id)
        ).all()
    bulk, core = got[: len(rows)], got[len(rows) :]
    assert [r[1:] for r in bulk] == [r[1:] for r in core]
    assert [r[1:] for r in raw[: len(rows)]] == [r[1:] for r in raw[len(rows) :]]  # the same text in the database
    datas = [r.data for r in bulk]
    assert datas[:9] == values and [type(d) for d in datas[:3]] == [dict, dict, dict]
    # equal values of other types are not served from one memo slot: True stays true, 1 stays a number
    assert datas[2] == {"n": True} and datas[7] is True and datas[5] == 1 and datas[5] is not True
    assert bulk[0].date == dt.date(2026, 1, 2) and bulk[0].imported_at.replace(tzinfo=dt.UTC) == stamp


def test_allocated_ids_are_used_once_and_autoincrement_continues_after_them(store):
    LE = schema.list_entries
    with store.transaction() as conn:
        eid = _entity(conn)
        ids = allocate_ids(conn, LE, 3)
        assert len(set(ids)) == 3
        bulk_insert(
            conn,
            LE,
            [
                {
                    "id": i,
                    "entity_id": eid,
                    "list": "black",
                    "pack_id": "p",
                    "rule_id": "r",
                    "basis": "b",
                    "reason": "r",
                    "created_at": now(),
                    "data": None,
                }
                for i in ids
            ],
        )
        after = conn.execute(
            sa.insert(LE)
            .values(entity_id=eid, list="red", pack_id="p", rule_id="r", basis="b", reason="r", created_at=now())
            .returning(LE.c.id)
        ).scalar_one()
        more = allocate_ids(conn, LE, 2)
    assert after > max(ids) and min(more) > after


def test_empty_bulk_insert_and_allocation_write_nothing(store):
    with store.transaction() as conn:
        bulk_insert(conn, schema.list_entries, [])
        assert allocate_ids(conn, schema.list_entries, 0) == []
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.list_entries)).scalar_one() == 0


def test_a_read_in_an_exported_snapshot_sees_what_the_exporter_saw(store):
    from engine.errors import StoreError
    from engine.store import export_snapshot

    E = schema.entities
    with store.transaction() as conn:
        _entity(conn)
    with store.read() as reader:
        snapshot = export_snapshot(reader)
        with store.transaction() as conn:  # committed after the export
            conn.execute(
                sa.insert(E).values(
                    code="91350100MA2YYYYY0Y",
                    code_kind="uscc",
                    name="后来",
                    entity_type="e",
                    created_at=now(),
                    updated_at=now(),
                )
            )
        with store.read(snapshot) as worker:
            seen = worker.execute(sa.select(sa.func.count()).select_from(E)).scalar_one()
    if store.dialect == "postgresql":
        assert snapshot and seen == 1  # the worker sees the register as the exporter's transaction did
        with pytest.raises(StoreError, match="not a PostgreSQL snapshot id"):
            with store.read("1'; DROP TABLE entities; --"):
                pass
    else:
        assert snapshot is None and seen == 2  # SQLite: a read sees what is committed when it starts
