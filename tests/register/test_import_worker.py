"""A large import file is read and parsed in a forked worker process while the importing one writes
(engine.register.intake.run_import's ``parallel``): the stored rows, the reports, the errors (file:row:column, in
file order) and the rejects files are those of the serial path, on SQLite and PostgreSQL; a worker that dies is a
clear error and nothing is stored."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

from engine.errors import IntakeError
from engine.register import entities as register
from engine.register import intake
from engine.register.codes import org_code_check_char, uscc_check_char
from engine.store import Store, schema
from engine.store import entities as qe
from policies import base_limits, record_kinds
from tests.conftest import write_csv
from tests.register.test_import_paths import _files, _snapshot


def _bad_org_code(factory) -> str:
    """A valid USCC whose inner 组织机构代码 (positions 9-17) fails GB 11714: a warning, stored all the same."""
    body = "91350503" + "1234567" + "8"
    wrong = "0" if org_code_check_char(body[8:]) != "0" else "1"
    code17 = body + wrong
    return code17 + uscc_check_char(code17)


def _inputs(tmp_path: pathlib.Path, factory) -> tuple[list[dict], list[list[dict]]]:
    entities, files = _files(tmp_path, factory)
    warned = factory.entity(code=_bad_org_code(factory), region="350503", entity_type="enterprise")
    entities = [*entities, warned, {"code": "91350503X", "name": "坏代码"}, factory.entity(name="")]
    first = files[0]
    unknown = dict(first[0]) | {"code": factory.uscc()}  # valid, not in the register: refused when resolved
    bad_amount = dict(first[1]) | {"decision_no": "泉市监罚〔2025〕99号", "amount": "x"}
    again = dict(first[2]) | {"decision_no": "泉市监罚〔2025〕98号", "code": warned["code"]}
    files = [[*first[:3], unknown, *first[3:8], bad_amount, again, *first[8:]], *files[1:]]
    return entities, files


def _count_workers(monkeypatch) -> list[int]:
    """Force the worker wherever the file is large enough (this process may have other threads: xdist's), and
    count the workers started."""
    started = [0]
    use = intake._use_worker

    def counted(path: pathlib.Path, parallel: bool | None) -> bool:
        if parallel is None and path.stat().st_size >= intake.PARALLEL_MIN_BYTES:
            started[0] += 1
            return True
        return use(path, parallel)

    monkeypatch.setattr(intake, "_use_worker", counted)
    return started


def _untimed(value: Any) -> Any:
    """``value`` with every timestamp in it (a datetime, ISO text) replaced by 'time' (when a row was linked or held
    is the clock's)."""
    import datetime as dt
    import re

    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    if isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d", value):
        return "time"
    return "time" if isinstance(value, dt.datetime) else value


def _run(store: Store, tmp_path: pathlib.Path, entities, record_files) -> list[dict[str, Any]]:
    kinds = record_kinds()
    out = []
    entity_file = write_csv(tmp_path / "e.csv", entities)
    reports = [register.import_entities(store, entity_file, base_limits(), skip_invalid=True)]
    for i, rows in enumerate(record_files):
        reports.append(
            register.import_records(store, write_csv(tmp_path / f"r{i}.csv", rows), kinds, skip_invalid=True)
        )
    for report in reports:
        shown = report.as_dict()
        if report.rejects_file:
            shown["rejects"] = pathlib.Path(report.rejects_file).read_text(encoding="utf-8")
        out.append(shown | {"lines": report.lines()})
    return out


def _fresh(db_url: str, tmp_path: pathlib.Path) -> Store:
    from tests.conftest import _reset_pg

    if db_url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"test.db{suffix}").unlink(missing_ok=True)
    else:
        _reset_pg(db_url)
    store = Store(db_url)
    store.init()
    return store


def test_the_worker_stores_and_reports_what_the_serial_path_does(db_url, tmp_path, factory, monkeypatch):
    entities, files = _inputs(tmp_path, factory)
    results = {}
    started = _count_workers(monkeypatch)
    for name, min_bytes in (("serial", 1 << 60), ("worker", 0)):
        monkeypatch.setattr(intake, "PARALLEL_MIN_BYTES", min_bytes)
        monkeypatch.setattr(intake, "WORKER_BATCH", 3)  # rows, errors and warnings spread over many batches
        monkeypatch.setattr(intake, "CHUNK", 4)  # and the chunks written do not line up with the batches
        store = _fresh(db_url, tmp_path)
        reports = _run(store, tmp_path, entities, files)
        results[name] = (reports, _snapshot(store))
        store.dispose()
    assert started == [4]  # the serial run started none, the worker run one per file
    (serial_reports, serial_rows), (worker_reports, worker_rows) = results["serial"], results["worker"]
    assert worker_reports == serial_reports
    assert worker_rows == serial_rows
    entity_report, first = serial_reports[0], serial_reports[1]
    assert entity_report["rejected"] == 2 and entity_report["org_code_warnings"] == 1
    assert first["rejected"] == 2 and first["org_code_warnings"] == 1
    # the unknown entity of row 5 is found when its chunk (4 valid rows) is resolved, before row 11 is parsed
    assert [e.split(":")[1:3] for e in first["errors"]] == [["5", "code"], ["11", "amount"]]


def test_the_worker_lists_every_error_in_file_order_and_stores_nothing(store, tmp_path, factory, monkeypatch):
    monkeypatch.setattr(intake, "PARALLEL_MIN_BYTES", 0)
    started = _count_workers(monkeypatch)
    monkeypatch.setattr(intake, "WORKER_BATCH", 2)
    rows = [factory.entity() for _ in range(9)]
    rows[2]["code"], rows[6]["name"], rows[7]["established_on"] = "123", "", "2999-01-01"
    path = write_csv(tmp_path / "e.csv", rows)
    with pytest.raises(IntakeError) as caught:
        register.import_entities(store, path, base_limits())
    assert [e.split(":", 1)[1].split(":")[:2] for e in caught.value.errors] == [
        ["4", "code"],
        ["8", "name"],
        ["9", "established_on"],
    ]
    assert "3 of 9 rows" in str(caught.value) and "nothing was stored" in str(caught.value)
    assert started == [1]
    with store.read() as conn:
        assert qe.count(conn, schema.entities) == 0


def test_a_file_the_worker_cannot_read_is_refused_by_name(store, tmp_path, factory, monkeypatch):
    monkeypatch.setattr(intake, "PARALLEL_MIN_BYTES", 0)
    started = _count_workers(monkeypatch)
    path = tmp_path / "e.csv"
    path.write_text('code,name\n"x,y\n', encoding="utf-8")
    with pytest.raises(IntakeError, match=r"e\.csv:2:-: a quoted cell is not closed"):
        register.import_entities(store, path, base_limits())
    assert started == [1]


def test_a_worker_that_dies_is_a_clear_error_and_nothing_is_stored(store, tmp_path, factory):
    rows = [factory.entity() for _ in range(30)]
    path = write_csv(tmp_path / "e.csv", rows)

    def parse(row: intake.Row) -> tuple[Any, list]:
        if row.number == 20:
            os._exit(3)  # the worker process dies here, as if killed
        return intake.parse_entity(row)

    with pytest.raises(IntakeError, match=r"the process reading the file stopped \(exit code 3\)"):
        intake.run_import(store, path, parse, qe.upsert_entities, action="import_entities", parallel=True)
    with store.read() as conn:
        assert qe.count(conn, schema.entities) == 0


def test_a_match_import_through_the_worker_links_holds_and_reports_as_the_serial_one(db_url, tmp_path, monkeypatch):
    import sqlalchemy as sa

    from engine.register import linking
    from policies.loader import base_matching
    from tests.builders_matching import court_rows, matching_register

    started = _count_workers(monkeypatch)
    monkeypatch.setattr(intake, "WORKER_BATCH", 2)
    results = {}
    for name, min_bytes in (("serial", 1 << 60), ("worker", 0)):
        store = _fresh(db_url, tmp_path)
        codes = matching_register(store, tmp_path)  # its own imports are small: serial either way
        monkeypatch.setattr(intake, "PARALLEL_MIN_BYTES", min_bytes)
        report = register.import_records(
            store, write_csv(tmp_path / "court.csv", court_rows(codes)), record_kinds(), match=base_matching()
        )
        monkeypatch.setattr(intake, "PARALLEL_MIN_BYTES", 1 << 60)
        with store.read() as conn:
            links = [dict(r) for r in conn.execute(sa.select(schema.record_links).order_by("id")).mappings()]
            queue = linking.review_queue(conn)
        results[name] = (report.as_dict(), report.lines(), _snapshot(store), _untimed(links), _untimed(queue))
        store.dispose()
    assert started == [1]
    for part, (w, s_) in enumerate(zip(results["worker"], results["serial"])):
        assert w == s_, part
    assert results["worker"][0]["linked"] == 4 and results["worker"][0]["held"] == 2
