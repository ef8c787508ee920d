"""Bad-input sweep of the whole CLI: what used to get through, crash with a traceback or write somewhere
unintended. Each case asserts the sentence, the exit code, and that nothing was stored (row counts)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from cli import cli
from engine import values
from engine.errors import IntakeError
from engine.outpaths import OutputPathError, output_dir, output_file
from engine.register.intake import read_rows
from tests.conftest import restore_state

HUGE = "123456789012345678901234567890"
INSPECTOR_HEADER = "code,name,department,region,specialties,max_checks,conflicts,home_region"


def _counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in names}
    finally:
        engine.dispose()


@pytest.fixture
def demo_db(any_db_url, runner, tmp_path_factory):
    """A small demo register: cycles 1-5 and plan 1 of cycle 3 (drawn before the notices stage); built once per
    worker and database, each test gets a copy (every test here refuses a command and checks nothing changed)."""

    def build(url: str) -> None:
        out = tmp_path_factory.mktemp("demo")
        r = runner.invoke(cli, ["--db", url, "-q", "demo", "--entities", "30", "--out", str(out)])
        assert r.exit_code == 0, r.output
        plan = runner.invoke(cli, ["--db", url, "plan", "show", "1"])
        assert plan.exit_code == 0, plan.output

    restore_state(any_db_url, "sweep-demo-30", build)
    return any_db_url, None


def _refused(runner, url, args, code=None):
    before = _counts(url)
    r = runner.invoke(cli, ["--db", url, *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exc_info
    assert r.exit_code != 0 and "Traceback" not in r.output, r.output
    if code is not None:
        assert r.exit_code == code, r.output
    assert _counts(url) == before, f"{args} stored something"
    return r.output


# -- ids, counts and dates on the command line -------------------------------------------------------

ID_COMMANDS = [
    ["cycle", "show", HUGE],
    ["cycle", "diff", "1", HUGE],
    ["plan", "show", HUGE],
    ["plan", "draw", "--cycle", HUGE, "--seed", "s"],
    ["lists", "serve", "--entry", HUGE],
    ["lists", "revoke", "--entry", HUGE, "--reason", "r"],
    ["measures", "ack", HUGE, "--by", "x"],
    ["notices", "issue", "--plan", HUGE, "--out", "n"],
    ["notices", "list", "--cycle", HUGE],
    ["notices", "list", "--limit", HUGE],
    ["notices", "list", "--limit", "-1"],
    ["objection", "decide", HUGE, "--reject", "--reason", "r"],
    ["repair", "decide", HUGE, "--reject", "--reason", "r"],
    ["simulate", "--policy", "tax-credit", "--against", HUGE],
]


def test_huge_ids_and_counts_are_usage_errors_and_store_nothing(demo_db, runner):
    url, _ = demo_db
    for args in ID_COMMANDS:
        out = _refused(runner, url, args, code=2)
        assert "is not in the range" in out and "9223372036854775807" in out, (args, out)


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1900-01-01"])
def test_dates_outside_the_working_range_are_refused(demo_db, runner, day):
    url, _ = demo_db
    for args in (
        ["lists", "advance", "--as-of", day],
        ["lists", "serve", "--cycle", "2", "--on", day],
        ["notices", "issue", "--cycle", "2", "--out", "n", "--as-of", day],
        ["plan", "publish", "1", "--out", "pub", "--on", day],
    ):
        out = _refused(runner, url, args, code=2)
        assert f"'{day}' is outside the dates supervise works with (1949-01-01 to 2100-12-31)" in out, out


def test_date_errors_are_json_on_stderr_with_json(demo_db, runner):
    url, _ = demo_db
    r = runner.invoke(cli, ["--db", url, "--json", "lists", "advance", "--as-of", "9999-12-31"])
    assert r.exit_code == 2
    err = json.loads(r.stderr)
    assert err["exit_code"] == 2 and "outside the dates" in err["error"] and err["where"].endswith("--as-of")


def test_serving_an_unknown_cycle_is_an_error(demo_db, runner):
    url, _ = demo_db
    out = _refused(runner, url, ["lists", "serve", "--cycle", "99999"], code=1)
    assert "No cycle with id 99999" in out


def test_exclude_clean_months_beyond_the_pack_bound_is_refused(demo_db, runner):
    url, _ = demo_db
    out = _refused(
        runner, url, ["plan", "draw", "--cycle", "3", "--seed", "s", "--exclude-clean-months", "10000000"], code=2
    )
    assert "give 0 (no exclusion) to 240" in out


# -- imports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, reason",
    [
        ("inf", "not a finite number"),
        ("nan", "not a finite number"),
        ("1e309", "not a finite number"),
        (HUGE, "is too large"),
    ],
)
def test_inspector_max_checks_non_finite_or_huge_is_a_row_error(store, runner, tmp_path, value, reason):
    f = tmp_path / "insp.csv"
    f.write_text(f"{INSPECTOR_HEADER}\nJC09999,测试员,某局,350502,,{value},,350502012\n", encoding="utf-8")
    out = _refused(runner, store.url, ["import", "inspectors", str(f)], code=1)
    assert f"{f}:2:max_checks:" in out and reason in out, out


def test_parse_int_is_exact_and_bounded():
    assert values.parse_int("9223372036854775807") == 2**63 - 1
    assert values.parse_int("1,000") == 1000 and values.parse_int(5.0) == 5 and values.parse_int("1e3") == 1000
    for bad in ("inf", "-inf", "nan", "1e309", "9223372036854775808", "1.5"):
        with pytest.raises(ValueError):
            values.parse_int(bad)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "the file is empty (0 bytes)"), (b"\xef\xbb\xbf\n", "the file has no header row (its first line is blank)")],
)
def test_empty_import_files_are_refused(store, runner, tmp_path, content, reason):
    f = tmp_path / "entities.csv"
    f.write_bytes(content)
    for kind in (
        ["import", "entities"],
        ["import", "records"],
        ["import", "inspectors"],
        ["plan", "results", "import"],
    ):
        out = _refused(runner, store.url, [*kind, str(f)], code=1)
        assert str(f) in out and reason in out, out


def test_an_empty_sheet_is_refused(tmp_path):
    import openpyxl

    f = tmp_path / "blank.xlsx"
    openpyxl.Workbook().save(f)
    with pytest.raises(IntakeError, match="the first sheet is empty"):
        list(read_rows(f))


def test_a_future_inspection_date_is_a_row_error_not_an_assert(demo_db, runner, tmp_path):
    url, _ = demo_db
    r = runner.invoke(
        cli,
        [
            "--db",
            url,
            "-q",
            "plan",
            "draw",
            "--cycle",
            "3",
            "--seed",
            "again",
            "--redraw",
            "--reason",
            "测试：重新抽取",
        ],
    )  # a second plan of the period: its checks have no results
    assert r.exit_code == 0, r.output
    f = tmp_path / "results.csv"
    f.write_text(
        "plan,check,code,outcome,penalty_ref,inspected_on\n2,1,,未发现问题,,2099-01-01\n2,2,,查无下落,,2026-06-01\n",
        encoding="utf-8",
    )
    out = _refused(runner, url, ["plan", "results", "import", str(f)], code=1)
    assert f"{f}:2:inspected_on: 2099-01-01 is after" in out and "1 of 2 rows" in out


# -- output paths and packs ------------------------------------------------------------------------


def test_an_empty_out_is_refused_and_writes_nothing_in_the_current_folder(demo_db, runner, tmp_path, monkeypatch):
    url, _ = demo_db
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    issued = runner.invoke(
        cli, ["--db", url, "--json", "notices", "issue", "--cycle", "2", "--out", str(tmp_path / "issued")]
    )
    assert issued.exit_code == 0, issued.output
    number = sorted(p.stem for p in (tmp_path / "issued").rglob("*.html"))[0]
    for args in (
        ["cycle", "report", "2", "--out", ""],
        ["lists", "publish", "--out", " "],
        ["notices", "issue", "--cycle", "2", "--out", ""],
        ["plan", "publish", "1", "--out", ""],
        ["plan", "results", "publish", "1", "--out", ""],
        ["plan", "export", "1", "--out", ""],
        ["notices", "show", number, "--out", ""],
        ["notices", "preview", "warning", "--out", ""],
    ):
        out = _refused(runner, url, args, code=1)
        assert "--out is empty" in out, (args, out)
    assert list(cwd.iterdir()) == []


def test_plan_outputs_use_the_shared_out_checks(demo_db, runner, tmp_path):
    url, _ = demo_db
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    for args in (
        ["plan", "publish", "1", "--out", str(tmp_path / "missing" / "deeper")],
        ["plan", "export", "1", "--out", str(a_file / "sub.csv")],
        ["notices", "preview", "warning", "--out", str(a_file / "sub.txt")],
    ):
        out = _refused(runner, url, args, code=1)
        assert "does not exist; create it first" in out or "is a file, not a folder" in out, out
    assert not (tmp_path / "missing").exists()


def test_out_helpers_refuse_an_empty_path():
    for helper in (output_dir, output_file):
        with pytest.raises(OutputPathError, match="--out is empty"):
            helper("")


def test_an_empty_policy_is_refused_by_name(runner, tmp_path):
    r = runner.invoke(cli, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "policy", "show", ""])
    assert r.exit_code == 1 and "--policy is empty; give a pack id (" in r.output and "tax-credit" in r.output


def test_notices_list_entity_is_normalised_or_refused(demo_db, runner):
    url, _ = demo_db
    out = _refused(runner, url, ["notices", "list", "--entity", "91350502MAQCUWYTX5"], code=1)
    assert "check character is 5, expected 4" in out
    out = _refused(runner, url, ["notices", "list", "--entity", ""], code=1)
    assert "has 0 characters" in out


@pytest.mark.parametrize(
    "pairs, reason",
    [
        (["inspection.start=2026-02-30"], "Notice setting 'inspection.start': '2026-02-30' is not a real date (--set)"),
        (["inspection.end=9999-12-31"], "is outside the dates supervise works with"),
        (["inspection.start=2026-06-01", "inspection.end=2026-05-01"], "inspection.end 2026-05-01 is before"),
    ],
)
def test_notice_date_settings_are_checked(pairs, reason):
    from engine.errors import NoticeError
    from notices.issue import parse_settings, resolve_settings

    with pytest.raises(NoticeError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        resolve_settings({}, parse_settings(pairs))
    good = resolve_settings({}, parse_settings(["inspection.start=2026/6/1", "inspection.end=2026年6月30日"]))
    assert (good["inspection.start"], good["inspection.end"]) == ("2026-06-01", "2026-06-30")
