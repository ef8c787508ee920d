"""Bad input is refused with a clear ``file:row:column: reason`` and nothing is stored.

Every bad file is built here, byte for byte, and imported into a real store (SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pathlib
import zipfile

import pytest

from engine.errors import IntakeError
from engine.register import entities as register
from engine.register import intake
from engine.store import Store, schema
from engine.store import entities as q
from policies import base_limits, record_kinds
from tests.conftest import write_csv

KINDS = record_kinds()
LIMITS = base_limits()
TODAY = dt.date.today()
TOMORROW = (TODAY + dt.timedelta(days=1)).isoformat()


def counts(store: Store) -> tuple[int, int]:
    with store.read() as conn:
        return q.count(conn, schema.entities), q.count(conn, schema.records)


def refused(call, *args, **kwargs) -> list[str]:
    with pytest.raises(IntakeError) as exc:
        call(*args, **kwargs)
    assert "Traceback" not in str(exc.value)
    return exc.value.errors or [str(exc.value)]


@pytest.fixture
def entity(store, factory, tmp_path) -> str:
    code = factory.uscc()
    register.import_entities(store, write_csv(tmp_path / "e.csv", [factory.entity(code=code)]), LIMITS)
    return code


def penalty(**over) -> dict:
    row = {
        "kind": "penalty",
        "date": "2025-01-02",
        "severity": "minor",
        "decision_no": "泉市监罚〔2025〕1号",
        "authority": "泉州市市场监督管理局",
    }
    row.update(over)
    return row


def evaluation(**over) -> dict:
    row = {"kind": "tax_evaluation", "year": "2025", "score": "85", "has_revenue": "true"}
    row.update(over)
    return row


# -- numbers ---------------------------------------------------------------------------------------

NON_FINITE = ["nan", "NaN", "inf", "-Infinity", "1e309", "9" * 300]
NUMBER_FIELDS = [
    ("score", evaluation),
    ("amount", penalty),
    ("year", evaluation),
    (
        "check_id",
        lambda **o: {"kind": "inspection_result", "date": "2025-03-01", "outcome": "clean", "check_id": "1", **o},
    ),
]


def test_non_finite_and_huge_numbers_are_refused_in_every_numeric_field(store, entity, tmp_path):
    rows = [{"code": entity, **make(**{field: value})} for field, make in NUMBER_FIELDS for value in NON_FINITE]
    path = write_csv(tmp_path / "r.csv", rows)
    errors = refused(register.import_records, store, path, KINDS)
    assert len(errors) == len(rows)
    cases = [(field, value) for field, _ in NUMBER_FIELDS for value in NON_FINITE]
    for number, (field, _value) in enumerate(cases, start=2):
        line = next(e for e in errors if e.startswith(f"{path}:{number}:"))
        assert line.startswith(f"{path}:{number}:{field}: "), line
        assert "finite" in line or "digits" in line or "plausible" in line, line
    assert counts(store) == (1, 0)


def test_one_nan_score_refuses_the_file_and_stores_nothing(store, entity, tmp_path):
    path = write_csv(
        tmp_path / "r.csv", [{"code": entity, **evaluation(year="2024")}, {"code": entity, **evaluation(score="nan")}]
    )
    assert refused(register.import_records, store, path, KINDS) == [
        f"{path}:3:score: 'nan' is not a finite number (NaN and infinity are refused)"
    ]
    assert counts(store) == (1, 0)
    report = register.import_records(store, path, KINDS, skip_invalid=True)
    assert (report.inserted, report.rejected) == (1, 1)
    with store.read() as conn:
        stored = [r for (r,) in conn.execute(schema.records.select().with_only_columns(schema.records.c.data))]
    assert stored == [{"year": 2024, "score": 85.0, "has_revenue": True}]


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"code": "%s", "kind": "tax_evaluation", "year": 2025, "score": NaN, "has_revenue": true}', "NaN is not"),
        (
            '{"code": "%s", "kind": "tax_evaluation", "year": 2025, "score": Infinity, "has_revenue": true}',
            "Infinity is not",
        ),
        (
            '{"code": "%s", "kind": "tax_evaluation", "year": 2025, "score": -Infinity, "has_revenue": true}',
            "-Infinity is not",
        ),
        (
            '{"code": "%s", "kind": "tax_evaluation", "year": 2025, "score": 1e309, "has_revenue": true}',
            "overflows to infinity",
        ),
        (
            '{"code": "%s", "kind": "penalty", "data": {"date": "2025-01-02", "severity": "minor", "decision_no": "X",'
            ' "authority": "A", "amount": ' + "7" * 5000 + "}}",
            "an integer of 5000 digits",
        ),
    ],
)
def test_jsonl_non_finite_numbers(store, entity, tmp_path, line, reason):
    path = tmp_path / "r.jsonl"
    path.write_text(line.replace("%s", entity) + "\n", encoding="utf-8")
    errors = refused(register.import_records, store, path, KINDS)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:1:-: invalid JSON: ") and reason in errors[0]
    assert counts(store) == (1, 0)


RANGE_CASES = [
    (evaluation(year="1948"), "year", "'1948' is not a plausible year (1949 to "),
    (
        evaluation(year=str(TODAY.year + 2)),
        "year",
        f"'{TODAY.year + 2}' is not a plausible year (1949 to {TODAY.year + 1})",
    ),
    (evaluation(score="-0.5"), "score", "-0.5 is below the minimum 0"),
    (penalty(amount="-1"), "amount", "-1 is below the minimum 0"),
    (penalty(amount="200000000000"), "amount", "200000000000 is above the maximum 1e+11"),
    (penalty(date="9999-12-31"), "date", f"9999-12-31 is after {TODAY.isoformat()} (today), the latest plausible"),
    (penalty(date="0001-01-01"), "date", "0001-01-01 is before 1949-01-01, the earliest plausible date"),
    (penalty(date="1948-12-31"), "date", "1948-12-31 is before 1949-01-01"),
    (penalty(date=TOMORROW), "date", f"{TOMORROW} is after {TODAY.isoformat()} (today)"),
    (
        penalty(date="2025-03-01", fulfilled_on="2025-02-28"),
        "fulfilled_on",
        "fulfilled_on 2025-02-28 is before the record's date 2025-03-01",
    ),
    (penalty(date="2025-03-01", annulled_on="2024-01-01"), "annulled_on", "annulled_on 2024-01-01 is before"),
    (
        {"kind": "abnormal_operation", "date": "2025-03-01", "cause": "other", "removed_on": "2025-01-01"},
        "removed_on",
        "removed_on 2025-01-01 is before the record's date 2025-03-01",
    ),
    (
        {"kind": "external_list", "date": "2025-03-01", "list": "x", "ended_on": "2020-01-01"},
        "ended_on",
        "ended_on 2020-01-01 is before",
    ),
    ({"kind": "commitment", "date": "2025-03-01", "due_on": "2025-02-01"}, "due_on", "due_on 2025-02-01 is before"),
    ({"kind": "commitment", "date": "2025-03-01", "due_on": "9999-12-31"}, "due_on", "9999-12-31 is after"),
]


def test_ranges_come_from_the_record_kind(store, entity, tmp_path):
    # One file, one row per case: row n + 2 must fail on its column with its reason, and only there.
    path = write_csv(tmp_path / "r.csv", [{"code": entity, **row} for row, _, _ in RANGE_CASES])
    errors = refused(register.import_records, store, path, KINDS)
    assert len(errors) == len(RANGE_CASES), errors
    for number, (error, (_, column, reason)) in enumerate(zip(errors, RANGE_CASES), start=2):
        assert error.startswith(f"{path}:{number}:{column}: {reason}"), error
    assert counts(store) == (1, 0)


def test_values_inside_the_ranges_are_stored(store, entity, tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [
            {"code": entity, **evaluation(year=str(TODAY.year + 1), score="100")},
            {"code": entity, **penalty(date=TODAY.isoformat(), amount="99999999999", fulfilled_on=TODAY.isoformat())},
            {
                "code": entity,
                "kind": "commitment",
                "date": "2025-03-01",
                "due_on": (TODAY + dt.timedelta(days=365)).isoformat(),
            },
        ],
    )
    assert register.import_records(store, path, KINDS).inserted == 3


# -- dates and codes of entities ---------------------------------------------------------------------


def test_entity_dates_and_codes(store, factory, tmp_path):
    from engine.register.codes import make_person_id

    future_born = make_person_id("350102", TODAY + dt.timedelta(days=30), 1)
    old = make_person_id("350102", dt.date(1899, 12, 31), 1)
    no_region = make_person_id("000000", dt.date(1985, 6, 1), 1)
    path = write_csv(
        tmp_path / "e.csv",
        [
            factory.entity(established_on=TOMORROW),
            factory.entity(established_on="0001-01-01"),
            factory.entity(established_on="9999-12-31"),
            factory.entity(code=future_born, entity_type="natural_person"),
            factory.entity(code=old),
            factory.entity(code=no_region, entity_type="natural_person"),
            factory.entity(region="000000"),
        ],
    )
    errors = refused(register.import_entities, store, path, LIMITS)
    assert errors[0] == f"{path}:2:established_on: {TOMORROW} is in the future (today is {TODAY.isoformat()})"
    assert errors[1] == f"{path}:3:established_on: 0001-01-01 is before 1949-01-01, the earliest plausible date"
    assert errors[2].startswith(f"{path}:4:established_on: 9999-12-31 is in the future")
    assert errors[3].startswith(f"{path}:5:code: ") and "which is in the future" in errors[3]
    assert errors[4].startswith(f"{path}:6:code: ") and "before 1900" in errors[4]
    assert errors[5].startswith(f"{path}:7:code: ") and "region 000000" in errors[5]
    assert errors[6].startswith(f"{path}:8:region: '000000' is not an administrative division code")
    assert counts(store) == (0, 0)


def ambiguous_person_code() -> str:
    """An identity number with one mistyped digit whose USCC check happens to pass."""
    from engine.register.codes import make_person_id
    from tests.builders_engine import typo_passing_uscc

    return typo_passing_uscc(make_person_id("350102", dt.date(1985, 6, 1), 12))


def test_a_mistyped_identity_number_is_not_silently_a_uscc(store, factory, tmp_path):
    code = ambiguous_person_code()
    path = write_csv(tmp_path / "e.csv", [factory.entity(code=code)])
    [error] = refused(register.import_entities, store, path, LIMITS)
    assert error.startswith(f"{path}:2:code: ") and "reads two ways" in error
    assert "identity number" in error and "check character is" in error and "统一社会信用代码" in error
    assert "entity_type" in error
    assert counts(store) == (0, 0)
    # The row that says what the entity is decides: an enterprise takes the USCC reading ...
    ok = write_csv(tmp_path / "e2.csv", [factory.entity(code=code, entity_type="enterprise")])
    assert register.import_entities(store, ok, LIMITS).inserted == 1
    assert register.show_entity(store, code)["code_kind"] == "uscc"
    # ... and its records find it by the code's text.
    records = write_csv(tmp_path / "r.csv", [{"code": code, **penalty()}])
    assert register.import_records(store, records, KINDS).inserted == 1
    # A natural person's row gets the identity number's own error.
    person = write_csv(tmp_path / "e3.csv", [factory.entity(code=code, entity_type="natural_person")])
    [error] = refused(register.import_entities, store, person, LIMITS)
    assert "check character is" in error and "reads two ways" not in error


# -- CSV ---------------------------------------------------------------------------------------------


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def test_csv_structure_errors(store, factory, tmp_path):
    a, b = factory.uscc(), factory.uscc()
    cases = {
        "unclosed.csv": (f'code,name\n{a},甲公司\n{b},"乙公司\n', ":3:-: a quoted cell is not closed"),
        "short.csv": (f"code,name,region\n{a},甲公司\n", ":2:-: row has 2 cells but the header has 3"),
        "dup.csv": (f"code,name,name\n{a},甲公司,乙公司\n", ":1:name: column 'name' appears twice"),
        "alias.csv": (f"code,name,名称\n{a},甲公司,乙公司\n", ":1:名称: columns 'name' and '名称' both give name"),
        "codes.csv": (
            f"统一社会信用代码,信用代码,name\n{a},{b},甲公司\n",
            ":1:信用代码: columns '统一社会信用代码' and '信用代码' both give code",
        ),
        "both.csv": (f"code,统一社会信用代码,name\n{a},{b},甲公司\n", ":2:code: the file has an entity code column"),
        "two.csv": (
            f"entity_code,uscc,name\n{a},{b},甲公司\n",
            ":1:uscc: columns 'entity_code' and 'uscc' both give entity_code",
        ),
        "huge.csv": (
            f'code,name\n{a},"' + "x" * (intake.MAX_CELL_CHARS + 10) + '"\n',
            f":2:-: a cell is longer than {intake.MAX_CELL_CHARS} characters",
        ),
    }
    for name, (text, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(csv_bytes(text))
        errors = refused(register.import_entities, store, path, LIMITS)
        assert any(e.startswith(f"{path}{reason}") for e in errors), (name, errors)
    assert counts(store) == (0, 0)


BIG5_ROWS = [("泉州市豐澤區鑫源貿易有限公司", "陳偉"), ("晉江市恆達鞋業有限公司", "許強")]


def test_a_big5_file_is_refused_and_read_with_encoding(store, factory, runner, db_url, tmp_path):
    codes = [factory.uscc(), factory.uscc()]
    text = "code,name,legal_rep\n"
    body = "".join(f"{c},{n},{r}\n" for c, (n, r) in zip(codes, BIG5_ROWS))
    path = tmp_path / "big5.csv"
    path.write_bytes((text + body).encode("big5"))
    [error] = refused(register.import_entities, store, path, LIMITS)
    assert error.startswith(f"{path}:") and "private-use or unassigned" in error and "--encoding big5" in error
    assert counts(store) == (0, 0)
    from cli import cli

    result = runner.invoke(cli, ["--db", db_url, "import", "entities", str(path), "--encoding", "big5"])
    assert result.exit_code == 0, result.output
    assert register.show_entity(store, codes[0])["name"] == "泉州市豐澤區鑫源貿易有限公司"
    assert register.show_entity(store, codes[1])["legal_rep"] == "許強"
    bad = runner.invoke(cli, ["--db", db_url, "import", "entities", str(path), "--encoding", "klingon"])
    assert bad.exit_code != 0 and "unknown encoding 'klingon'" in bad.output


def test_private_use_characters_in_utf8_are_refused(store, factory, tmp_path):
    path = write_csv(tmp_path / "e.csv", [factory.entity(name="测试\ue000公司")])
    assert refused(register.import_entities, store, path, LIMITS)[0].startswith(
        f"{path}:2:name: '测试\ue000公司' contains U+E000, a private-use or unassigned character"
    )


# -- JSON Lines --------------------------------------------------------------------------------------


def test_jsonl_errors(store, factory, tmp_path):
    code = factory.uscc()
    good = {"code": code, "name": "厦门嘉宇物流有限公司"}
    lines: list[bytes] = [
        b"[" * 100_000 + b"]" * 100_000,  # 1 RecursionError
        json.dumps({**good, "name": {"zh": "x"}}, ensure_ascii=False).encode(),  # 2 object for text
        json.dumps({**good, "name": ["x"]}, ensure_ascii=False).encode(),  # 3 list for text
        json.dumps({**good, "region": 350100.0}).encode(),  # 4 float region
        json.dumps({**good, "code": 9.1350100e17}).encode(),  # 5 float code
        json.dumps(good, ensure_ascii=False).encode("gbk"),  # 6 GBK bytes
        (f'{{"code": "{code}", "name": "甲", "name": "乙"}}').encode(),  # 7 duplicate key
        (f'{{"code": "{code}", "名称": "甲", "name": "乙"}}').encode(),  # 8 two aliases
        b'{"code": "' + code.encode() + b'", "name": "x", "region": ' + b"3" * 5000 + b"}",  # 9 5000 digits
        ('{"a": ' * 30 + "1" + "}" * 30).encode(),  # 10 deep, no recursion
    ]
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    errors = refused(register.import_entities, store, path, LIMITS)
    by_row = {int(e.split(":")[1]): e[len(str(path)) + 1 :] for e in errors}
    assert by_row[1].startswith("1:-: the JSON nests deeper than 20 levels")
    assert by_row[2] == "2:name: expected text, got a JSON object"
    assert by_row[3] == "3:name: expected text, got a JSON list"
    assert by_row[4].startswith("4:region: 350100.0 is a decimal number where a 6-digit administrative division")
    assert by_row[5].startswith("5:code: ") and "is a decimal number where" in by_row[5]
    assert by_row[6].startswith("6:-: the line is not utf-8 text")
    assert by_row[7] == "7:-: invalid JSON: key 'name' appears twice in one object; keep one"
    assert by_row[8].startswith("8:name: columns '名称' and 'name' both give name")
    assert by_row[9].startswith("9:-: invalid JSON: an integer of 5000 digits")
    assert by_row[10].startswith("10:-: the JSON nests deeper than 20 levels")
    assert counts(store) == (0, 0)


# -- XLSX --------------------------------------------------------------------------------------------


def workbook(path: pathlib.Path, rows: list[list]) -> pathlib.Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def rewrite(path: pathlib.Path, change) -> pathlib.Path:
    """Rewrite the parts of an XLSX through change(name, bytes) -> bytes (None drops nothing, adds nothing)."""
    src = io.BytesIO(path.read_bytes())
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, change(info.filename, old.read(info)))
    return path


def test_xlsx_with_a_stale_dimension_imports_every_row(store, factory, tmp_path):
    codes = [factory.uscc() for _ in range(5)]
    path = workbook(tmp_path / "e.xlsx", [["code", "name"], *[[c, f"企业{i}有限公司"] for i, c in enumerate(codes)]])
    rewrite(
        path,
        lambda n, b: (
            b.replace(b'<dimension ref="A1:B6" />', b'<dimension ref="A1:B2" />')
            if n == "xl/worksheets/sheet1.xml"
            else b
        ),
    )
    assert b'ref="A1:B2"' in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    report = register.import_entities(store, path, LIMITS)
    assert (report.rows, report.inserted) == (5, 5)
    assert counts(store) == (5, 0)
    assert report.warnings == [f"{path}: the sheet's stored size said 2 rows, but it has 6; every row was read"]


def test_xlsx_doctype_and_entities_are_named_errors(store, factory, tmp_path):
    path = workbook(tmp_path / "e.xlsx", [["code", "name"], [factory.uscc(), "&x;"]])
    doctype = b'<!DOCTYPE worksheet [<!ENTITY x "' + b"A" * 50 + b'">]>'
    rewrite(path, lambda n, b: b'<?xml version="1.0"?>' + doctype + b if n == "xl/worksheets/sheet1.xml" else b)
    [error] = refused(register.import_entities, store, path, LIMITS)
    assert error.startswith(f"{path}: part xl/worksheets/sheet1.xml declares a DOCTYPE or entities")
    assert counts(store) == (0, 0)


def test_xlsx_zip_bomb_is_refused_before_it_is_unpacked(store, tmp_path, monkeypatch):
    import tracemalloc
    import zlib

    # A sheet that unpacks to 24 MB from a few KB; the cap is lowered to 8 MB so the bomb builds in milliseconds.
    monkeypatch.setattr(intake, "MAX_XLSX_UNPACKED", 8 * 2**20)
    path = tmp_path / "bomb.xlsx"
    workbook(path, [["code", "name"]])
    filler = b"<!-- " + b"0" * (24 * 2**20) + b" -->"
    rewrite(
        path,
        lambda n, b: b.replace(b"</worksheet>", filler + b"</worksheet>") if n == "xl/worksheets/sheet1.xml" else b,
    )
    assert path.stat().st_size < 200_000
    assert len(zlib.compress(b"")) < 100  # zlib works (the rewrite above used it)
    tracemalloc.start()
    [error] = refused(register.import_entities, store, path, LIMITS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "the workbook unpacks to 24 MB, over the 8 MB limit" in error and "zip bomb" in error
    assert peak < 4 * 2**20  # refused from the zip directory, nothing unpacked
    assert counts(store) == (0, 0)


def test_xlsx_row_and_column_caps(store, factory, tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "MAX_XLSX_ROWS", 3)
    path = workbook(tmp_path / "rows.xlsx", [["code", "name"], *[[factory.uscc(), "甲"] for _ in range(4)]])
    [error] = refused(register.import_entities, store, path, LIMITS)
    assert error == f"{path}: the sheet has more than 3 rows, the limit for an import; split it"
    wide = workbook(tmp_path / "cols.xlsx", [["code", "name"], [factory.uscc(), "甲", *[None] * 1000, "x"]])
    [error] = refused(register.import_entities, store, wide, LIMITS)
    assert error.startswith(f"{wide}:2:-: the row has 1,003 columns, over the limit of 1,000")
    monkeypatch.setattr(intake, "MAX_XLSX_SHARED_STRINGS", 100)
    with zipfile.ZipFile(wide, "a") as book:
        book.writestr("xl/sharedStrings.xml", "<sst>" + "x" * 300 + "</sst>")
    [error] = refused(register.import_entities, store, wide, LIMITS)
    assert error.startswith(f"{wide}: the workbook's shared strings unpack to 311 bytes, over the 100 bytes limit")
    assert counts(store) == (0, 0)


def test_xlsx_external_links_are_not_followed(store, factory, tmp_path):
    code = factory.uscc()
    path = workbook(tmp_path / "e.xlsx", [["code", "name"], [code, "甲公司"]])
    with zipfile.ZipFile(path, "a") as book:
        book.writestr(
            "xl/externalLinks/externalLink1.xml",
            '<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>',
        )
    report = register.import_entities(store, path, LIMITS)
    assert report.inserted == 1
    assert report.warnings == [
        f"{path}: the workbook links to 1 other workbook(s); their cells were not "
        f"followed, the values cached in this file were imported"
    ]


def test_not_a_workbook(store, tmp_path):
    path = tmp_path / "e.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    assert refused(register.import_entities, store, path, LIMITS)[0].startswith(f"{path}: not an .xlsx workbook")


# -- rejects files -------------------------------------------------------------------------------------


def test_rejects_file_neutralises_formulas(store, factory, tmp_path):
    path = write_csv(
        tmp_path / "e.csv", [factory.entity(), factory.entity(code='=HYPERLINK("http://x")', name="@SUM(A1)")]
    )
    report = register.import_entities(store, path, LIMITS, skip_invalid=True)
    assert (report.inserted, report.rejected) == (1, 1)
    with open(report.rejects_file, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["code"] == '\'=HYPERLINK("http://x")' and rows[0]["name"] == "'@SUM(A1)"


# -- intake bugs -------------------------------------------------------------------------------------------


def test_uscc_and_code_columns_in_a_records_file(store, entity, tmp_path):
    path = write_csv(
        tmp_path / "r.csv",
        [
            {"uscc": entity, "kind": "tax_violation", "date": "2025-05-01", "code": "invoice_abuse"},
            {"统一社会信用代码": entity, "kind": "no_a_condition", "year": "2025", "code": "bad_books"},
        ][:1],
    )
    assert register.import_records(store, path, KINDS).inserted == 1
    cn = write_csv(
        tmp_path / "r2.csv",
        [{"统一社会信用代码": entity, "kind": "no_a_condition", "year": "2025", "code": "bad_books"}],
    )
    assert register.import_records(store, cn, KINDS).inserted == 1
    data = {r["kind"]: r["data"] for r in register.show_entity(store, entity)["records"]}
    assert data == {
        "tax_violation": {"date": "2025-05-01", "code": "invoice_abuse"},
        "no_a_condition": {"year": 2025, "code": "bad_books"},
    }


def test_kind_option_conflicting_with_the_rows_kind(store, entity, tmp_path):
    path = write_csv(tmp_path / "r.csv", [{"code": entity, **penalty()}, {"code": entity, **evaluation()}])
    assert refused(register.import_records, store, path, KINDS, default_kind="penalty") == [
        f"{path}:3:kind: the row's kind is 'tax_evaluation' but --kind says 'penalty'; drop --kind or correct the row"
    ]
    assert counts(store) == (1, 0)


USER_KIND = """\
record_kinds:
  fire_inspection:
    title: 消防检查
    fields:
      date: {type: date, required: true}
      passed: {type: bool, required: true}
      fine: {type: number, min: 0, max: 1000000}
    date: date
    key: [date]
"""


def test_record_kinds_from_a_users_packs(store, entity, runner, db_url, tmp_path, monkeypatch):
    packs = tmp_path / "packs"
    packs.mkdir()
    (packs / "fire.yaml").write_text(USER_KIND, encoding="utf-8")
    assert "fire_inspection" not in record_kinds()
    assert "fire_inspection" in record_kinds((str(packs),))
    monkeypatch.setenv("SUPERVISE_POLICIES", str(packs))
    kinds = record_kinds()
    assert kinds["fire_inspection"].fields["fine"].max == 1000000
    path = write_csv(tmp_path / "r.csv", [{"code": entity, "date": "2025-04-01", "passed": "是", "fine": "nan"}])
    from cli import cli

    result = runner.invoke(cli, ["--db", db_url, "import", "records", str(path), "--kind", "fire_inspection"])
    assert result.exit_code != 0 and f"{path}:2:fine: 'nan' is not a finite number" in result.output
    path = write_csv(tmp_path / "r.csv", [{"code": entity, "date": "2025-04-01", "passed": "是", "fine": "500"}])
    result = runner.invoke(cli, ["--db", db_url, "import", "records", str(path), "--kind", "fire_inspection"])
    assert result.exit_code == 0, result.output
    assert register.show_entity(store, entity)["records"][0]["data"] == {
        "date": "2025-04-01",
        "passed": True,
        "fine": 500.0,
    }


def test_jsonl_in_another_encoding_with_encoding(store, factory, tmp_path):
    code = factory.uscc()
    path = tmp_path / "e.jsonl"
    path.write_text(
        json.dumps({"code": code, "name": "厦门嘉宇物流有限公司"}, ensure_ascii=False) + "\n", encoding="utf-16"
    )
    error = refused(register.import_entities, store, path, LIMITS)[0]
    assert error.startswith(f"{path}:1:-: the line is not utf-8 text")
    assert counts(store) == (0, 0)
    assert register.import_entities(store, path, LIMITS, encoding="utf-16").inserted == 1
    assert register.show_entity(store, code)["name"] == "厦门嘉宇物流有限公司"


def test_kind_ranges_are_checked_when_the_kinds_are_read():
    from engine.errors import PolicyError
    from engine.register.records import parse_kinds, parse_limits

    with pytest.raises(PolicyError, match=r"f.yaml: kinds.k.fields.d.future_days: 'x' is not a whole number"):
        parse_kinds({"k": {"fields": {"d": {"type": "date", "future_days": "x"}}, "date": "d"}}, "f.yaml")
    with pytest.raises(PolicyError, match=r"f.yaml: kinds.k.fields.d.not_before: 'e' is not a date field of k"):
        parse_kinds({"k": {"fields": {"d": {"type": "date", "not_before": "e"}}, "date": "d"}}, "f.yaml")
    with pytest.raises(PolicyError, match=r"f.yaml: limits.earliest: not a limit"):
        parse_limits({"earliest": 1949}, "f.yaml")
    limits = parse_limits({"earliest_date": "1978-12-18", "future_days": 7}, "f.yaml")
    kind = parse_kinds({"k": {"fields": {"d": {"type": "date"}}, "date": "d"}}, "f.yaml", limits)["k"]
    assert kind.validate({"d": "1978-12-17"})[3] == [
        ("d", "1978-12-17 is before 1978-12-18, the earliest plausible date")
    ]
    assert kind.validate({"d": (TODAY + dt.timedelta(days=7)).isoformat()})[3] == []
    assert kind.validate({"d": (TODAY + dt.timedelta(days=8)).isoformat()})[3][0][1].endswith(
        "(today + 7 days), the latest plausible d"
    )
