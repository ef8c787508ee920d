"""The import's fast writes (COPY on PostgreSQL, an executemany of tuples on SQLite, through
engine.store.insert_columns) store exactly the rows the SQLAlchemy Core inserts they replaced stored: the same
entities, the same current versions and the same history after a second import that corrects some records (version
2) and a third that corrects one again (version 3). And the compiled record validation gives what the field-by-field
one gives, errors included."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa

from engine.register import entities as register
from engine.register import intake
from engine.store import Store, schema
from engine.store import entities as qe
from engine.store import records as rq
from policies import base_limits, record_kinds
from tests.conftest import write_csv


def _core_insert_new(conn, rows, *, source, import_id, actor, stamp, reason) -> None:
    """The writer of new records before the fast path: one Core insert of dicts."""
    if rows:
        conn.execute(
            sa.insert(rq.R),
            [
                {
                    "entity_id": r["entity_id"],
                    "kind": r["kind"],
                    "date": r["date"],
                    "natural_key": r["natural_key"],
                    "data": r["data"],
                    "source": source,
                    "imported_at": stamp,
                    "version": 1,
                    "recorded_at": stamp,
                    "status": rq.VALID,
                    "import_id": import_id,
                    "actor": actor,
                    "reason": reason,
                }
                for r in rows
            ],
        )


def _core_insert_columns(conn, table, columns, raw_json=()) -> None:
    """engine.store.insert_columns as a Core insert of dicts (what upsert_entities did before)."""
    names = list(columns)
    conn.execute(sa.insert(table), [dict(zip(names, row)) for row in zip(*columns.values())])


def _files(tmp_path, factory) -> tuple[list, list[list[dict[str, Any]]]]:
    entities = [
        factory.entity(region="350503", entity_type="enterprise", name=f"泉州测试{i}有限公司", industry="制造业")
        for i in range(7)
    ]
    entities[1] |= {"industry": "", "established_on": ""}  # blank optional fields: NULL
    entities[2] |= {"legal_rep": "王五", "township": "350503001"}  # extra holds the township
    codes = [e["code"] for e in entities]

    def penalty(code: str, no: int, **over: Any) -> dict[str, Any]:
        row = {
            "code": code,
            "kind": "penalty",
            "date": "2025-11-03",
            "severity": "serious",
            "decision_no": f"泉市监罚〔2025〕{no}号",
            "authority": "泉州市市场监督管理局",
            "field": "food",
            "amount": "200000",
            "fulfilled_on": "",
            "annulled_on": "",
            "year": "",
            "score": "",
            "has_revenue": "",
        }
        return row | over

    def tax(code: str, year: int, score: str) -> dict[str, Any]:
        return penalty(code, 0, kind="tax_evaluation", decision_no="", date="", severity="", authority="") | {
            "field": "",
            "amount": "",
            "year": str(year),
            "score": score,
            "has_revenue": "true",
        }

    first = [penalty(c, i) for i, c in enumerate(codes)] + [tax(c, 2024, "88.5") for c in codes]
    second = [penalty(c, i, fulfilled_on="2026-01-10" if i % 2 else "") for i, c in enumerate(codes)]
    second += [tax(codes[0], 2024, "91"), tax(codes[1], 2024, "88.5"), tax(codes[2], 2025, "70")]
    third = [penalty(codes[1], 1, fulfilled_on="2026-02-10", amount="150000")]
    return entities, [first, second, third]


def _snapshot(store: Store) -> dict[str, list]:
    """Every row of the register's tables, ids kept (they are assigned in the same order), timestamps named by the
    import whose start they are (or 'chunk' for the entities' write time), JSON decoded."""
    with store.read() as conn:
        starts = {r.started_at: f"import {r.id}" for r in conn.execute(sa.select(schema.imports))}

        def clean(row: Any) -> dict[str, Any]:
            out = {}
            for k, v in dict(row._mapping).items():
                if isinstance(v, dt.datetime):
                    v = starts.get(v, "chunk" if k in ("created_at", "updated_at") else "other")
                elif isinstance(v, str) and k in ("data", "extra"):
                    v = json.loads(v)
                out[k] = v
            return out

        out = {
            t.name: [clean(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]
            for t in (schema.entities, schema.records, schema.record_versions)
        }
        # JSON null and SQL NULL both read as None: tell them apart
        E = schema.entities
        out["sql_null_extra"] = conn.execute(sa.select(E.c.id).where(E.c.extra.is_(None)).order_by(E.c.id)).all()
        return out


def _import_all(store: Store, tmp_path, entities, record_files) -> list[tuple]:
    kinds = record_kinds()
    reports = [register.import_entities(store, write_csv(tmp_path / "e.csv", entities), base_limits())]
    for i, rows in enumerate(record_files):
        reports.append(register.import_records(store, write_csv(tmp_path / f"r{i}.csv", rows), kinds))
    return [(r.rows, r.inserted, r.updated, r.unchanged, r.rejected) for r in reports]


def test_the_fast_writes_store_what_the_core_inserts_stored(db_url, tmp_path, factory, monkeypatch):
    from tests.conftest import _reset_pg

    entities, files = _files(tmp_path, factory)
    store = Store(db_url)
    store.init()
    fast_counts = _import_all(store, tmp_path, entities, files)
    fast = _snapshot(store)
    store.dispose()
    if db_url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"test.db{suffix}").unlink(missing_ok=True)
    else:
        _reset_pg(db_url)
    monkeypatch.setattr(rq, "_insert_new", _core_insert_new)
    monkeypatch.setattr(qe, "insert_columns", _core_insert_columns)
    store = Store(db_url)
    store.init()
    core_counts = _import_all(store, tmp_path, entities, files)
    core = _snapshot(store)
    store.dispose()

    assert fast_counts == core_counts
    assert fast_counts[1:] == [(14, 14, 0, 0, 0), (10, 1, 4, 5, 0), (1, 0, 1, 0, 0)]
    assert fast == core
    assert [r["version"] for r in fast["record_versions"]] == [1, 1, 1, 1, 2]
    assert max(r["version"] for r in fast["records"]) == 3
    extras = [e["extra"] for e in fast["entities"]]
    assert {"township": "350503001"} in extras and None in extras


def test_compiled_validation_gives_what_field_by_field_validation_gives():
    kinds = record_kinds()
    cells = ["", "  ", "2025-11-03", "2025/1/5", "20250105", "2025年1月5日", "2999-01-01", "1900-01-01", "x", "88.5",
             "1,000", "1e400", "nan", "-5", "2024", "true", "否", "serious", "Serious", "food", " 12 "]  # fmt: skip
    rows = 0
    for kind in kinds.values():
        for name in kind.fields:
            for text in cells:
                base = {n: "2025-11-03" if s.type == "date" else "1" for n, s in kind.fields.items()}
                for row in (base | {name: text}, {name: text}, base | {name: None}):
                    for _ in range(2):  # the second time from the memo
                        assert kind.validate(row) == kind.validate_slowly(row), (kind.name, name, text)
                    rows += 1
    assert rows > 1000


def test_a_bad_row_still_refuses_the_whole_file_on_the_fast_path(store, tmp_path, factory):
    entity = factory.entity(region="350503", entity_type="enterprise")
    register.import_entities(store, write_csv(tmp_path / "e.csv", [entity]), base_limits())
    good = {"code": entity["code"], "kind": "penalty", "date": "2025-11-03", "severity": "minor", "authority": "局"}
    rows = [good | {"decision_no": f"罚{i}", "amount": "100"} for i in range(intake.CHUNK + 10)]
    rows.append(good | {"decision_no": "罚x", "amount": "x"})
    path = write_csv(tmp_path / "r.csv", rows)
    try:
        register.import_records(store, path, record_kinds())
    except Exception as exc:  # noqa: BLE001 - the message is the point
        assert f"{path}:{len(rows) + 1}:amount:" in str(exc) and "nothing was stored" in str(exc)
    else:
        raise AssertionError("the bad row did not refuse the file")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.records)).scalar_one() == 0
