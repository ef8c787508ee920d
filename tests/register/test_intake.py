"""Import of entities and records: formats, encodings, all-or-nothing, --skip-invalid, idempotence."""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib

import pytest

from engine.errors import IntakeError
from engine.pipeline.demo import build_register
from engine.register import entities as register
from engine.store import Store, schema
from engine.store import entities as q
from policies import base_limits, record_kinds
from tests.conftest import write_csv

KINDS = record_kinds()
LIMITS = base_limits()
HEADER_CN = ["统一社会信用代码", "企业名称", "行政区划", "所属行业", "成立日期", "法定代表人"]


def counts(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        return q.count(conn, schema.entities), q.count(conn, schema.records)


def write_rows(path: pathlib.Path, header: list[str], rows: list[list], encoding: str) -> pathlib.Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# -- formats and encodings --------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_with_chinese_headers(store, factory, tmp_path, encoding):
    code = factory.uscc(region="350503")
    path = write_rows(
        tmp_path / "register.csv",
        HEADER_CN,
        [[code, "泉州市丰泽区鑫源贸易有限公司", "350503", "批发和零售业", "2019年3月5日", "陈伟"]],
        encoding,
    )
    report = register.import_entities(store, path, LIMITS)
    assert (report.rows, report.inserted, report.rejected) == (1, 1, 0)
    shown = register.show_entity(store, code)
    assert shown["name"] == "泉州市丰泽区鑫源贸易有限公司" and shown["legal_rep"] == "陈伟"
    assert shown["established_on"] == "2019-03-05" and shown["entity_type"] == "enterprise"


def test_xlsx(store, factory, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER_CN)
    first, second = factory.uscc(), factory.uscc("92", "350582")
    sheet.append([first, "晋江市恒达鞋业有限公司", 350582, "制造业", dt.datetime(2012, 7, 1), "许强"])
    sheet.append([None, None, None, None, None, None])  # blank rows are skipped
    sheet.append([second, "晋江市陈记小吃店", "350582", None, "2020-01-02", None])
    book.save(tmp_path / "register.xlsx")
    report = register.import_entities(store, tmp_path / "register.xlsx", LIMITS)
    assert (report.rows, report.inserted) == (2, 2)
    shown = register.show_entity(store, first)
    assert shown["region"] == "350582" and shown["established_on"] == "2012-07-01"
    assert register.show_entity(store, second)["entity_type"] == "individual_business"


def test_jsonl_entities_and_records(store, factory, tmp_path):
    code = factory.uscc()
    (tmp_path / "e.jsonl").write_text(
        json.dumps({"code": code, "name": "厦门湖里区嘉宇物流有限公司"}, ensure_ascii=False) + "\n\n", encoding="utf-8"
    )
    assert register.import_entities(store, tmp_path / "e.jsonl", LIMITS).inserted == 1
    lines = [
        {
            "code": code,
            "kind": "penalty",
            "data": {
                "date": "2025-03-01",
                "severity": "general",
                "decision_no": "厦市监罚〔2025〕7号",
                "authority": "厦门市市场监督管理局",
                "amount": 5000,
            },
        },
        # the record's own `code` field sits in `data`; the top-level code is the entity
        {"code": code, "kind": "tax_violation", "data": {"date": "2025-05-01", "code": "invoice_abuse"}},
        {"code": code, "kind": "tax_evaluation", "year": 2025, "score": 88.5, "has_revenue": True},
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    report = register.import_records(store, tmp_path / "r.jsonl", KINDS)
    assert (report.rows, report.inserted) == (3, 3)
    records = {r["kind"]: r for r in register.show_entity(store, code)["records"]}
    assert records["tax_violation"]["data"] == {"date": "2025-05-01", "code": "invoice_abuse"}
    assert records["penalty"]["data"]["amount"] == 5000.0
    assert records["tax_evaluation"]["date"] == "2025-12-31"


def test_entity_code_column_frees_code_for_the_record(store, factory, tmp_path):
    code = factory.uscc()
    register.import_entities(store, write_csv(tmp_path / "e.csv", [factory.entity(code=code)]), LIMITS)
    path = write_csv(
        tmp_path / "r.csv",
        [
            {"entity_code": code, "kind": "no_a_condition", "year": "2025", "code": "bad_books"},
            {
                "entity_code": code,
                "kind": "conduct",
                "date": "2023-02-01",
                "code": "epidemic_donation",
                "polarity": "positive",
                "field": "epidemic",
            },
        ],
    )
    assert register.import_records(store, path, KINDS).inserted == 2
    data = {r["kind"]: r["data"] for r in register.show_entity(store, code)["records"]}
    assert data["no_a_condition"] == {"year": 2025, "code": "bad_books"}
    assert data["conduct"]["code"] == "epidemic_donation"


def test_unreadable_and_unknown_files(store, tmp_path):
    (tmp_path / "bad.csv").write_bytes(b"code,name\n\xff\xfe\xff\x80\x80\n")
    with pytest.raises(IntakeError, match="neither UTF-8 nor GB18030"):
        register.import_entities(store, tmp_path / "bad.csv", LIMITS)
    (tmp_path / "x.pdf").write_text("x")
    with pytest.raises(IntakeError, match="unknown file type '.pdf'"):
        register.import_entities(store, tmp_path / "x.pdf", LIMITS)
    with pytest.raises(IntakeError, match="file not found"):
        register.import_entities(store, tmp_path / "missing.csv", LIMITS)


# -- all or nothing ---------------------------------------------------------------------------------


def mixed_file(tmp_path: pathlib.Path, factory) -> tuple[pathlib.Path, list[str]]:
    good = [factory.uscc() for _ in range(3)]
    rows = [
        factory.entity(code=good[0]),
        factory.entity(code="91350100M000100Y44"),  # row 3: check character
        factory.entity(code=good[1]),
        factory.entity(code="91350100M00010OY43", name=""),  # row 5: O and empty name
        factory.entity(code=good[2], established_on="2024-02-30"),  # row 6: bad date
        factory.entity(code=good[2].replace(good[2][:2], "91"), region="3505"),
    ]  # row 7: region
    return write_csv(tmp_path / "mixed.csv", rows), good


def test_invalid_rows_store_nothing_and_list_every_error(store, factory, tmp_path):
    path, _ = mixed_file(tmp_path, factory)
    with pytest.raises(IntakeError) as exc:
        register.import_entities(store, path, LIMITS)
    errors = exc.value.errors
    assert f"{path}:3:code: '91350100M000100Y44' check character is 4, expected 3" in errors
    assert any(e.startswith(f"{path}:5:code: ") and "illegal character 'O'" in e for e in errors)
    assert f"{path}:5:name: name is required" in errors
    assert any(e.startswith(f"{path}:6:established_on: ") and "not a real date" in e for e in errors)
    assert any(e.startswith(f"{path}:7:region: ") for e in errors)
    assert "4 of 6 rows" in str(exc.value) and "nothing was stored" in str(exc.value)
    assert "--skip-invalid" in str(exc.value)
    assert counts(store) == (0, 0)


def test_skip_invalid_stores_the_valid_rows_and_writes_rejects(store, factory, tmp_path):
    path, good = mixed_file(tmp_path, factory)
    report = register.import_entities(store, path, LIMITS, skip_invalid=True)
    assert (report.rows, report.valid, report.inserted, report.rejected) == (6, 2, 2, 4)
    assert counts(store) == (2, 0)
    rejects = pathlib.Path(report.rejects_file)
    assert rejects.name == "mixed.rejects.csv"
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["row"] for r in rows] == ["3", "5", "6", "7"]
    assert rows[0]["code"] == "91350100M000100Y44" and "expected 3" in rows[0]["reason"]
    assert "name: name is required" in rows[1]["reason"]


def test_importing_the_same_files_twice_changes_nothing(store, factory, tmp_path):
    entities = [factory.entity() for _ in range(5)]
    e_path = write_csv(tmp_path / "e.csv", entities)
    r_path = write_csv(
        tmp_path / "r.csv",
        [
            {"code": e["code"], "kind": "tax_evaluation", "year": 2025, "score": 80 + i, "has_revenue": "是"}
            for i, e in enumerate(entities)
        ],
    )
    assert register.import_entities(store, e_path, LIMITS).inserted == 5
    assert register.import_records(store, r_path, KINDS).inserted == 5
    before = counts(store)
    again = register.import_entities(store, e_path, LIMITS)
    assert (again.inserted, again.updated, again.valid) == (0, 0, 5)
    records = register.import_records(store, r_path, KINDS)
    assert (records.inserted, records.unchanged) == (0, 5)
    assert counts(store) == before == (5, 5)
    # A changed name is an update, not a new entity.
    entities[0]["name"] = "新名称有限公司"
    changed = register.import_entities(store, write_csv(tmp_path / "e2.csv", entities), LIMITS)
    assert (changed.inserted, changed.updated) == (0, 1)
    assert register.show_entity(store, entities[0]["code"])["name"] == "新名称有限公司"


def test_a_file_without_an_optional_column_keeps_what_is_stored(store, factory, tmp_path):
    entity = factory.entity(township="350503001")
    register.import_entities(store, write_csv(tmp_path / "full.csv", [entity]), LIMITS)
    # Only code and a new name: the other fields stay as stored.
    renamed = register.import_entities(
        store, write_csv(tmp_path / "names.csv", [{"code": entity["code"], "name": "新名称有限公司"}]), LIMITS
    )
    assert (renamed.inserted, renamed.updated) == (0, 1)
    shown = register.show_entity(store, entity["code"])
    assert (shown["name"], shown["industry"], shown["legal_rep"], shown["established_on"]) == (
        "新名称有限公司",
        "零售业",
        "张三",
        "2015-01-01",
    )
    with store.read() as conn:
        assert q.get_entity(conn, entity["code"])["extra"] == {"township": "350503001"}
    # The same short file again changes nothing; an empty cell in a column the file has clears the field.
    again = register.import_entities(store, tmp_path / "names.csv", LIMITS)
    assert (again.inserted, again.updated) == (0, 0)
    cleared = register.import_entities(
        store,
        write_csv(tmp_path / "clear.csv", [{"code": entity["code"], "name": "新名称有限公司", "industry": ""}]),
        LIMITS,
    )
    assert cleared.updated == 1
    shown = register.show_entity(store, entity["code"])
    assert (shown["industry"], shown["legal_rep"]) == (None, "张三")


def test_records_for_an_unknown_entity_are_errors(store, factory, tmp_path):
    known, unknown = factory.uscc(), factory.uscc()
    register.import_entities(store, write_csv(tmp_path / "e.csv", [factory.entity(code=known)]), LIMITS)
    path = write_csv(
        tmp_path / "p.csv",
        [
            {
                "code": known,
                "date": "2025-01-02",
                "severity": "minor",
                "decision_no": "泉市监罚〔2025〕1号",
                "authority": "泉州市市场监督管理局",
            },
            {
                "code": unknown,
                "date": "2025-01-03",
                "severity": "minor",
                "decision_no": "泉市监罚〔2025〕2号",
                "authority": "泉州市市场监督管理局",
            },
        ],
    )
    with pytest.raises(IntakeError) as exc:
        register.import_records(store, path, KINDS, default_kind="penalty")
    assert exc.value.errors == [
        f"{path}:3:code: no entity with code {unknown} in the register; "
        f"import it with 'supervise import entities' first"
    ]
    assert counts(store) == (1, 0)
    report = register.import_records(store, path, KINDS, default_kind="penalty", skip_invalid=True)
    assert (report.inserted, report.rejected) == (1, 1)


@pytest.mark.parametrize(
    "row, column, reason",
    [
        (
            {"kind": "penalty", "date": "2025-01-02", "severity": "genral", "decision_no": "X1", "authority": "A"},
            "severity",
            "'genral' is not one of minor, general, serious (did you mean 'general'?)",
        ),
        (
            {"kind": "tax_evaluation", "year": "2025", "score": "120", "has_revenue": "true"},
            "score",
            "120 is above the maximum 100",
        ),
        (
            {"kind": "tax_evaluation", "year": "2025", "score": "80", "has_revenue": "maybe"},
            "has_revenue",
            "'maybe' is not a yes/no value",
        ),
        (
            {"kind": "commitment", "date": "2025-02-30", "due_on": "2025-03-01"},
            "date",
            "'2025-02-30' is not a real date",
        ),
        (
            {"kind": "commitment", "date": "soon", "due_on": "2025-03-01"},
            "date",
            "'soon' is not a date (use YYYY-MM-DD)",
        ),
        (
            {"kind": "penalty", "date": "2025-01-02", "severity": "minor", "authority": "A"},
            "decision_no",
            "decision_no is required for a penalty record",
        ),
        ({"kind": "penalti"}, "kind", "unknown record kind 'penalti' (did you mean 'penalty'?)"),
    ],
)
def test_record_field_validation(store, factory, tmp_path, row, column, reason):
    code = factory.uscc()
    register.import_entities(store, write_csv(tmp_path / "e.csv", [factory.entity(code=code)]), LIMITS)
    path = write_csv(tmp_path / "r.csv", [{"code": code, **row}])
    with pytest.raises(IntakeError) as exc:
        register.import_records(store, path, KINDS)
    assert len(exc.value.errors) == 1
    assert exc.value.errors[0].startswith(f"{path}:2:{column}: {reason}")
    assert counts(store) == (1, 0)


def test_a_row_with_too_many_cells(store, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("code,name\n91350100M000100Y43,甲,乙\n", encoding="utf-8")
    with pytest.raises(IntakeError) as exc:
        register.import_entities(store, path, LIMITS)
    assert exc.value.errors == [f"{path}:2:-: row has 3 cells but the header has 2"]


# -- the demo register round-trips through the import format ---------------------------------------


def test_demo_files_import_to_the_same_register(store, tmp_path):
    summary = build_register(store, entities=300, seed=7, out=tmp_path / "demo")
    assert summary["entities"] == 300 and summary["records_inserted"] == summary["records"]
    copy = Store(f"sqlite:///{tmp_path / 'copy.db'}")
    copy.init()
    e = register.import_entities(copy, tmp_path / "demo" / "entities.csv", LIMITS)
    r = register.import_records(copy, tmp_path / "demo" / "records.csv", KINDS)
    assert (e.inserted, r.inserted) == (300, summary["records"])

    def dump(s: Store) -> set:
        with s.read() as conn:
            rows = conn.execute(
                schema.records.join(schema.entities)
                .select()
                .with_only_columns(
                    schema.entities.c.code,
                    schema.records.c.kind,
                    schema.records.c.date,
                    schema.records.c.natural_key,
                    schema.records.c.data,
                )
            ).all()
        return {(c, k, d, n, json.dumps(data, sort_keys=True)) for c, k, d, n, data in rows}

    assert dump(copy) == dump(store)
    copy.dispose()
