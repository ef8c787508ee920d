"""CLI: init, import entities/records, entities show, demo (exit codes and key phrases)."""

from __future__ import annotations

import json

import pytest

from cli import cli
from tests.conftest import write_csv


@pytest.fixture
def run(runner, db_url):
    """Invoke the CLI against this test's database."""

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, ["--db", db_url, *args])
        assert result.exit_code == code, result.output + repr(result.exception)
        return result

    return invoke


@pytest.fixture
def ready(run):
    run("init")
    return run


def test_init_is_idempotent(run, db_url):
    first = run("init")
    assert "upgraded from empty to" in first.output
    again = run("init")
    assert "is up to date" in again.output
    assert json.loads(run("--json", "init").output)["changed"] is False


def test_commands_need_init_first(run, factory, tmp_path):
    path = write_csv(tmp_path / "e.csv", [factory.entity()])
    result = run("import", "entities", str(path), code=1)
    assert "has no supervise schema" in result.output and "supervise init" in result.output


@pytest.mark.pg
def test_a_missing_postgresql_database_or_server_is_named_with_what_to_do(runner, pg_url):
    """'init' creates a schema, not a database: a database that is not on the server is named with how to create
    it (not 'run supervise init first'); a server that does not answer is said to be unreachable."""
    import sqlalchemy as sa

    from cli import cli

    url = sa.engine.make_url(pg_url)
    missing = url.set(database="supervise_no_such_db").render_as_string(hide_password=False)
    for args in (["init"], ["cycle", "list"]):
        result = runner.invoke(cli, ["--db", missing, *args])
        assert result.exit_code == 1, result.output
        assert "The PostgreSQL database 'supervise_no_such_db'" in result.output, result.output
        assert "createdb supervise_no_such_db" in result.output and "Run 'supervise init' first" not in result.output
    closed = url.set(port=1).render_as_string(hide_password=False)
    result = runner.invoke(cli, ["--db", closed, "init"])
    assert result.exit_code == 1 and "Cannot reach the database server" in result.output, result.output
    assert "Traceback" not in result.output


def test_import_entities_and_records(ready, factory, tmp_path):
    people = [factory.entity(), factory.entity(code=factory.person(), name="陈伟")]
    path = write_csv(tmp_path / "register.csv", people, encoding="gb18030")
    result = ready("import", "entities", str(path))
    assert "2 rows, 2 new, 0 updated, 0 unchanged, 0 rejected rows." in result.output
    again = ready("import", "entities", str(path))
    assert "2 rows, 0 new, 0 updated, 2 unchanged" in again.output

    records = write_csv(
        tmp_path / "tax.csv",
        [{"code": p["code"], "year": 2025, "score": 91, "has_revenue": "true"} for p in people[:1]],
    )
    result = ready("import", "records", str(records), "--kind", "tax_evaluation")
    assert "1 rows, 1 new" in result.output
    report = json.loads(ready("import", "records", str(records), "--kind", "tax_evaluation", "--json").output)
    assert (report["inserted"], report["unchanged"]) == (0, 1)


def test_import_errors_exit_1_and_store_nothing(ready, factory, tmp_path):
    path = write_csv(tmp_path / "bad.csv", [factory.entity(), factory.entity(code="91350100M000100Y44")])
    result = ready("import", "entities", str(path), code=1)
    assert "1 of 2 rows in" in result.output and "nothing was stored" in result.output
    assert f"{path}:3:code: '91350100M000100Y44' check character is 4, expected 3" in result.output

    skipped = ready("import", "entities", str(path), "--skip-invalid")
    assert "1 new" in skipped.output and "1 rejected" in skipped.output
    assert "bad.rejects.csv" in skipped.output

    records = write_csv(
        tmp_path / "r.csv",
        [
            {
                "code": factory.uscc(),
                "kind": "honour",
                "date": "2025-01-01",
                "title": "守合同重信用企业",
                "authority": "泉州市市场监督管理局",
            }
        ],
    )
    result = ready("import", "records", str(records), code=1)
    assert "no entity with code" in result.output and "supervise import entities" in result.output

    missing = ready("import", "records", str(tmp_path / "nope.csv"), "--kind", "penalty", code=1)
    assert "file not found" in missing.output


def test_entities_show(ready, factory, tmp_path):
    company = factory.entity(name="泉州市鑫源贸易有限公司", legal_rep="陈伟")
    person = factory.person()
    ready("import", "entities", str(write_csv(tmp_path / "e.csv", [company, factory.entity(code=person, name="林芳")])))
    ready(
        "import",
        "records",
        str(
            write_csv(
                tmp_path / "r.csv",
                [
                    {
                        "code": company["code"],
                        "kind": "penalty",
                        "date": "2025-04-01",
                        "severity": "general",
                        "decision_no": "泉市监罚〔2025〕123号",
                        "authority": "泉州市市场监督管理局",
                        "field": "food",
                    }
                ],
            )
        ),
    )

    text = ready("entities", "show", company["code"].lower()).output
    assert "泉州市鑫源贸易有限公司" in text and "legal representative: 陈伟" in text
    assert "1 records:" in text and "泉市监罚〔2025〕123号" in text

    shown = json.loads(ready("entities", "show", company["code"], "--json").output)
    assert shown["code"] == company["code"] and shown["records"][0]["kind"] == "penalty"
    assert shown["records"][0]["data"]["decision_no"] == "泉市监罚〔2025〕123号"

    by_id = json.loads(ready("--json", "entities", "show", person).output)
    assert by_id["name"] == "林芳" and by_id["entity_type"] == "natural_person"


def test_entities_show_errors(ready, factory):
    unknown = ready("entities", "show", factory.uscc(), code=1)
    assert "No entity with code" in unknown.output and "supervise import entities" in unknown.output
    bad = ready("entities", "show", "91350100M000100Y44", code=1)
    assert "expected 3" in bad.output and "Give a valid 统一社会信用代码" in bad.output
    person = factory.person()
    masked = ready("entities", "show", person, code=1)
    assert person not in masked.output and person[:4] + "*" in masked.output


def test_demo(run, tmp_path):
    out = tmp_path / "out"
    result = run("demo", "--entities", "500", "--out", str(out))
    assert "500 entities:" in result.output and "企业" in result.output and "tax_evaluation" in result.output
    assert (out / "entities.csv").exists() and (out / "records.csv").exists()
    # Same seed, same register: a second run adds nothing.
    again = json.loads(run("--json", "demo", "--entities", "500").output)
    register = again["stages"][0]
    assert register["name"] == "register" and register["entities"] == 500
    assert register["records_inserted"] == 0 and register["records"] > 500
    bad = run("demo", "--as-of", "2026-02-30", code=2)
    assert "is not a date" in bad.output
    # Another seed would mix two registers: refused, nothing added.
    other = run("demo", "--entities", "50", "--seed", "1", code=1)
    assert "already holds 500 entities that this demo" in other.output and "new database" in other.output


@pytest.mark.slow
def test_demo_register_grades_as_targeted_by_the_tax_pack(sqlite_store, tmp_path):
    """The demo's records are shaped for the 大庆 shares; the shipped tax-credit pack must agree entity by entity."""
    import datetime as dt

    from engine.pipeline.cycles import run_cycle
    from engine.pipeline.demo import GRADE_SHARES, build_register

    summary = build_register(sqlite_store, entities=300, seed=3)
    targets = summary["grade_targets"]
    evaluated = sum(targets.values())
    for grade, share in GRADE_SHARES.items():
        assert abs(targets[grade] - share / 100 * evaluated) <= 1
    from engine.pipeline.demo import demo_pack  # the demo register spans 泉州, 福州 and 厦门: one authority per city

    cycle = run_cycle(sqlite_store, str(demo_pack("tax-credit", tmp_path)), "2025", dt.date(2026, 4, 30))
    tiers = {t["tier"]: t["entities"] for t in cycle["tiers"]}
    assert {g: tiers.get(g, 0) for g in GRADE_SHARES} == targets


def test_readme_example_entity_is_in_the_default_demo():
    """README's worked cycle shows 91350503MAP3FMFF5T from `make demo` (seed 42); keep them in step."""
    import pathlib

    from engine.pipeline.demo import DEFAULT_AS_OF, _Generator

    readme = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "91350503MAP3FMFF5T" in readme
    gen = _Generator(42, DEFAULT_AS_OF)
    for _ in range(200):
        row, facts = gen.entity()
        records = gen.records(row, facts)
        if row["code"] == "91350503MAP3FMFF5T":
            assert row["name"] in readme and len(records) == 5
            return
    pytest.fail("91350503MAP3FMFF5T is no longer among the first demo entities; update README.md")
