"""Bad pack files are refused with a named error (file:line) and nothing stored; values at the documented bounds
work end to end on both databases; one broken pack in SUPERVISE_POLICIES does not stop the others.

Every bad file is built here, as bytes on disk, and goes through the real loader and the real CLI.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
import resource
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from cli import cli
from engine.errors import PolicyError
from engine.store import schema
from policies import loader
from policies.loader import BOUNDS, LENGTHS, load_pack, read_yaml
from tests.builders_engine import Register, mini_pack, tax

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "policy-format.md"


def problems_of(path: pathlib.Path) -> list[str]:
    with pytest.raises(PolicyError) as info:
        load_pack(path)
    return info.value.problems


def line_of(path: pathlib.Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in {path}")


def edited(tmp_path: pathlib.Path, old: str, new: str, name: str = "mini.yaml") -> pathlib.Path:
    path = mini_pack(tmp_path, name=name)
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# -- YAML the loader refuses -----------------------------------------------------------------------


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "id: bomb\n" + "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly_without_expanding_it(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs(), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.process_time()
    (problem,) = problems_of(path)
    assert time.process_time() - t0 < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB: no 10^10 expansion
    assert re.fullmatch(
        rf"{re.escape(str(path))}:\d+: \(top\): its aliases expand to more than 200,000 values.*", problem
    )


def test_too_many_alias_references_are_refused_at_their_line(tmp_path):
    refs = "\n".join("  - *x" for _ in range(loader.MAX_ALIASES + 1))
    path = tmp_path / "aliases.yaml"
    path.write_text(f"id: many\nx: &x 1\nuses:\n{refs}\n", encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{3 + loader.MAX_ALIASES + 1}: ") and "more than 500 alias references" in problem


def test_deep_nesting_is_refused_with_its_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("id: deep\ntitle: x\nnested: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem == f"{path}:3: (top): nested more than {loader.MAX_DEPTH} levels deep"


def test_huge_integer_is_refused_with_its_line(tmp_path):
    path = edited(tmp_path, "objection_days: 10,", "objection_days: 99999999999999999999,")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, '99999999999999999999')}: ")
    assert "the integer 99999999999999999999 is too large (20 digits; at most 15)" in problem
    digits = tmp_path / "digits.yaml"
    digits.write_text("id: x\nn: " + "9" * 5000 + "\n", encoding="utf-8")  # beyond Python's int parsing limit
    (problem,) = problems_of(digits)
    assert problem.startswith(f"{digits}:2: ") and "5000 digits" in problem


def test_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = mini_pack(tmp_path)
    data = path.read_bytes().replace("测试政策包".encode(), "测试政策包".encode("gb18030"))
    path.write_bytes(data)
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:2: ") and "not UTF-8 text" in problem and "save the file as UTF-8" in problem


def test_impossible_date_is_refused_with_its_line(tmp_path):
    path = edited(tmp_path, "effective_from: 2020-01-01", "effective_from: 2025-02-30")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, '2025-02-30')}: ")
    assert "'2025-02-30' is not a real date (day is out of range for month)" in problem


def test_duplicate_key_names_both_lines(tmp_path):
    path = edited(tmp_path, "    period: year\n", "    period: year\n    basis: {}\n")
    first, second = line_of(path, "basis: {}"), line_of(path, "doc1: {title")
    problems = problems_of(path)
    assert problems == [
        f"{path}:{second - 1}: (top): duplicate key 'basis' (first at line {first}); a later value "
        f"would silently replace the first"
    ]


def test_oversized_file_and_oversized_value_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("id: big\n" + "# padding\n" * 120_000, encoding="utf-8")
    (problem,) = problems_of(big)
    assert problem.startswith(f"{big}: (top): the file is ") and "at most 1,000,000 bytes" in problem
    long = edited(tmp_path, "title: 测试政策包", "title: " + "长" * 6000, name="long.yaml")
    (problem,) = problems_of(long)
    assert problem.startswith(f"{long}:2: ") and "a value of 6,000 characters" in problem


def test_merge_keys_and_aliases_of_the_shipped_packs_still_load():
    for path in sorted((ROOT / "policies" / "packs").glob("*.yaml")):
        node, raw = read_yaml(path)
        assert node is not None and raw["versions"]


def test_policy_validate_reports_every_bad_file_and_exits_1(runner, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs(), encoding="utf-8")
    dates = edited(tmp_path, "effective_from: 2020-01-01", "effective_from: 2021-13-01", name="dates.yaml")
    good = mini_pack(tmp_path, name="good.yaml")
    r = runner.invoke(cli, ["policy", "validate", str(bomb), str(dates), str(good)])
    assert r.exit_code == 1
    assert f"{bomb}:" in r.output and "alias" in r.output
    assert f"{dates}:{line_of(dates, '2021-13-01')}:" in r.output and "not a real date" in r.output
    assert "Traceback" not in r.output


# -- values that passed validation and then crashed ----------------------------------------------


@pytest.mark.parametrize(
    "old, new, needle, reason",
    [
        (
            "max_months: 36",
            "max_months: 999999999999",
            "999999999999",
            "'max_months' must be a whole number from 0 to 240, not 999999999999",
        ),
        (
            "objection_days: 10",
            "objection_days: 100000",
            "100000",
            "'objection_days' must be a whole number from 0 to 365",
        ),
        ("objection_days: 10", "objection_days: true", "objection_days: true", "not True"),
        ("min_months: 6", "min_months: -1", "min_months: -1", "from 0 to 240, not -1"),
        (
            "max_months: 36,",
            "max_months: 36, ack_days: 5000,",
            "ack_days",
            "'ack_days' must be a whole number from 0 to 365",
        ),
        ("max_months: 36,", "max_months: 36, extendable: 100000,", "extendable", "'extendable' must be a whole number"),
        (
            "max_months: 36,",
            "max_months: 36, repair: {allowed: true, cooldown_months: 100000},",
            "cooldown_months",
            "'cooldown_months' must be a whole number from 0 to 240",
        ),
        (
            "max_months: 36,",
            "max_months: 36, repair: {allowed: true, max_repairs: {count: 2, years: 9999}},",
            "max_repairs",
            "'years' must be a whole number from 0 to 50",
        ),
        (
            'when: "score >= 80"',
            'when: "score >= ' + "9" * 4400 + '"',
            "score >= 9999",
            "a number in the condition is too large",
        ),
        (
            'when: "score >= 80"',
            'when: "score >= 99999999999999999999"',
            "score >= 9999",
            "a threshold is a number from -1,000,000,000,000,000 to 1,000,000,000,000,000",
        ),
        (
            "services: [licence], basis: {doc: doc1}}\n      m-san",
            "services: [" + "s" * 65 + "], basis: {doc: doc1}}\n      m-san",
            "s" * 65,
            "is 65 characters long; at most 64",
        ),
        (
            "    period: year\n",
            "    period: year\n    inspection: {items: {food: {title: " + "检" * 101 + "}}}\n",
            "inspection",
            "'title' is 101 characters long; at most 100",
        ),
        (
            "m-inc: {kind: incentive,",
            "m-inc: {kind: incentive, duration_months: 9999999,",
            "duration_months",
            "'duration_months' must be a whole number from 0 to 240",
        ),
        (
            "C: {ratio: 0.5, per_year: 2}",
            "C: {ratio: 0.5, per_year: 1000000}",
            "per_year: 1000000",
            "per_year must be a number from 0 to 365",
        ),
        ("priority: 50", "priority: 10000000", "priority: 10000000", "'priority' must be a whole number from -1,000"),
        ("window: 3y", "window: 999999y", "999999y", "window '999999y' reaches back too far"),
        ("min: 0, max: 100", "min: 0, max: 1.0e+300", "1.0e+300", "'max' must be a number from"),
        ("effective_from: 2020-01-01", "effective_from: 9999-01-01", "9999-01-01", "9999-01-01 is outside the years"),
        (
            "tiers: {order: [A, B, C]}",
            "tiers: {order: [A, B, C], labels: {A: " + "优" * 30 + "}}",
            "labels",
            "is 30 characters long; at most 20",
        ),
        (
            "authority: 测试局",
            "authority: 测试局\ndocument_prefix: " + "泉" * 60,
            "document_prefix",
            "'document_prefix' is 60 characters long; at most 20",
        ),
        (
            "    period: year\n",
            '    period: year\n    numbering: "{prefix}〔{year}〕{seq:>50000000}号"\n',
            "numbering",
            "{seq:>50000000}: the sequence format is a zero-padded width of at most 10 digits",
        ),
        (
            "    period: year\n",
            '    period: year\n    numbering: "{prefix}〔{year}〕{seq}号{entity}"\n',
            "numbering",
            "may use only {prefix}, {year} and {seq} (not {entity})",
        ),
        (
            "    period: year\n",
            '    period: year\n    numbering: "{prefix}〔{year!r}〕{seq}号"\n',
            "numbering",
            "conversions are not allowed",
        ),
        (
            "    period: year\n",
            '    period: year\n    numbering: "{prefix}〔{year:>30}〕{seq}号"\n',
            "numbering",
            "only {seq} may have a format",
        ),
        (
            "    period: year\n",
            '    period: year\n    numbering: "' + "文" * 40 + '{prefix}〔{year}〕{seq}号"\n',
            "numbering",
            "'numbering' is 62 characters long; at most 60",
        ),
        (
            "    period: year\n",
            "    period: year\n    publication: {results_deadline_working_days: 100000}\n",
            "publication",
            "'results_deadline_working_days' must be a whole number from 0 to 365",
        ),
        (
            "    period: year\n",
            "    period: year\n    inspection: {exclude_clean_within_months: 999999999}\n",
            "inspection",
            "'exclude_clean_within_months' must be a whole number from 0 to 240",
        ),
        (
            "    period: year\n",
            "    period: year\n    notice_settings: {review: {days: 99999}}\n",
            "notice_settings",
            "'days' must be a whole number from 0 to 3,650",
        ),
    ],
)
def test_out_of_bound_values_are_refused_at_their_line(tmp_path, old, new, needle, reason):
    path = edited(tmp_path, old, new)
    problems = problems_of(path)
    line = line_of(path, needle)
    assert any(p.startswith(f"{path}:{line}: ") and reason in p for p in problems), (line, problems)


def test_numbers_longer_than_the_number_column_are_refused(tmp_path):
    path = edited(tmp_path, "authority: 测试局", "authority: 测试局\ndocument_prefix: " + "泉" * 20)
    text = path.read_text(encoding="utf-8").replace(
        "    period: year\n", '    period: year\n    numbering: "' + "文" * 30 + '{prefix}〔{year}〕{seq:010d}号"\n'
    )
    path.write_text(text, encoding="utf-8")
    (problem,) = problems_of(path)
    assert (
        problem.startswith(
            f"{path}:{line_of(path, 'numbering')}: versions.0.numbering: numbers would be up to 69 characters long"
        )
        and "a document number is at most 64" in problem
    )


def test_authority_long_enough_to_overflow_the_default_number_is_refused(tmp_path):
    path = edited(tmp_path, "authority: 测试局", "authority: " + "局" * 60)
    assert any("a document number is at most 64" in p or "'authority' is 60 characters" in p for p in problems_of(path))


def test_values_at_the_bounds_run_through_cycle_lists_and_notices(store, runner, tmp_path):
    """The largest accepted periods, width and prefix: nothing overflows a date, a column or a counter."""
    path = mini_pack(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("authority: 测试局", "authority: 测试局\ndocument_prefix: " + "泉" * 20)
    text = text.replace("    period: year\n", '    period: year\n    numbering: "{prefix}〔{year}〕{seq:010d}号"\n')
    text = text.replace(
        "objection_days: 0, min_months: 0, max_months: 12",
        "objection_days: 0, min_months: 240, max_months: 240, ack_days: 365, notices: {list: [commendation]}",
    )
    text = text.replace(
        "objection_days: 10, min_months: 6, max_months: 36",
        "objection_days: 365, min_months: 240, max_months: 240, ack_days: 365, extendable: 240, "
        "notices: {propose: [pre_listing, repair_instructions], list: [repair_instructions]}, "
        "repair: {allowed: true, min_months: 240, cooldown_months: 240, decide_days: 365, "
        "max_repairs: {count: 100, years: 50}}",
    )
    path.write_text(text, encoding="utf-8")
    pack = load_pack(path)
    assert pack.versions[0].lists["black"]["objection_days"] == 365
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    reg.entity(
        records=[
            tax(2025, 30),
            *[
                (
                    "penalty",
                    {
                        "date": f"2025-0{m}-01",
                        "severity": "serious",
                        "decision_no": f"测罚〔2025〕{m}号",
                        "authority": "测试局",
                    },
                )
                for m in (3, 4)
            ],
        ]
    )
    db = ["--db", store.url]
    r = runner.invoke(
        cli, db + ["cycle", "run", "--policy", str(path), "--period", "2025", "--as-of", "2026-04-30", "--json"]
    )
    assert r.exit_code == 0, r.output
    cycle = json.loads(r.output)["cycle"]
    r = runner.invoke(
        cli,
        db
        + [
            "notices",
            "issue",
            "--cycle",
            str(cycle),
            "--out",
            str(tmp_path / "n"),
            "--format",
            "txt",
            "--as-of",
            "2026-05-04",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    numbers = [n["number"] for n in json.loads(r.output)["issued"]]
    assert numbers and all(len(n) <= 64 for n in numbers)
    assert f"{'泉' * 20}激励〔2026〕0000000001号" in numbers
    r = runner.invoke(cli, db + ["lists", "serve", "--cycle", str(cycle), "--on", "2026-05-06", "--json"])
    assert r.exit_code == 0, r.output
    with store.read() as conn:  # the pre-listing notice is issued on service, numbered like the others
        stored = [n for (n,) in conn.execute(sa.select(schema.notices.c.number))]
    assert f"{'泉' * 20}告知〔2026〕0000000001号" in stored and all(len(n) <= 64 for n in stored)
    r = runner.invoke(cli, db + ["lists", "advance", "--as-of", "2027-05-07", "--json"])
    assert r.exit_code == 0, r.output
    LE, EV = schema.list_entries, schema.list_events
    with store.read() as conn:
        rows = conn.execute(
            sa.select(LE.c.list, EV.c.state, EV.c.valid_from)
            .join(EV, EV.c.entry_id == LE.c.id)
            .order_by(LE.c.id, EV.c.seq)
        ).all()
    latest = {name: (state, day) for name, state, day in rows}
    # the 365-day objection window ended on 2027-05-06; 240 months later the entries are still listed
    assert latest["black"] == ("listed", dt.date(2027, 5, 7)) and latest["red"][0] == "listed", rows
    r = runner.invoke(cli, db + ["lists", "advance", "--as-of", "2047-05-08", "--json"])
    assert r.exit_code == 0, r.output
    with store.read() as conn:
        rows = conn.execute(
            sa.select(LE.c.list, EV.c.state, EV.c.valid_from)
            .join(EV, EV.c.entry_id == LE.c.id)
            .order_by(LE.c.id, EV.c.seq)
        ).all()
    assert {name: state for name, state, _ in rows} == {"black": "expired", "red": "expired"}, rows


# -- one broken pack among several ---------------------------------------------------------------


def test_one_broken_pack_in_supervise_policies_does_not_stop_the_others(runner, tmp_path, monkeypatch, store):
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "broken.yaml").write_bytes(b"id: broken\ntitle: \xff\xfe\nversions: []\n")
    (folder / "bomb.yaml").write_text(billion_laughs(), encoding="utf-8")
    mini = mini_pack(folder)
    invalid = edited(folder, "max_months: 36", "max_months: 999999999999", name="invalid.yaml")
    invalid.write_text(invalid.read_text(encoding="utf-8").replace("id: mini", "id: invalid"), encoding="utf-8")
    monkeypatch.setenv("SUPERVISE_POLICIES", str(folder))

    r = runner.invoke(cli, ["policy", "list", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["id"]: row for row in json.loads(r.output[r.output.index("[") :])}
    assert rows["mini"]["valid"] and rows["tax-credit"]["valid"]
    assert not rows["broken"]["valid"] and rows["broken"]["problems"][0].startswith(f"{folder / 'broken.yaml'}:2: ")
    assert not rows["bomb"]["valid"] and "alias" in rows["bomb"]["error"]
    line = line_of(invalid, "999999999999")
    assert not rows["invalid"]["valid"] and rows["invalid"]["problems"][0].startswith(f"{invalid}:{line}: ")
    r = runner.invoke(cli, ["policy", "list"])
    assert re.search(r"^broken\s+INVALID " + re.escape(str(folder / "broken.yaml")) + r":2: not UTF-8", r.output, re.M)
    assert re.search(r"^tax-credit\s+纳税缴费信用评价", r.output, re.M)

    # other packs work, by id, with a warning about the broken files on stderr
    Register(store).entity(records=[tax(2025, 95)])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "--db",
            store.url,
            "cycle",
            "run",
            "--policy",
            "mini",
            "--period",
            "2025",
            "--as-of",
            "2026-04-30",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "SUPERVISE_POLICIES": str(folder)},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"Skipping policy pack {folder / 'broken.yaml'}:2: not UTF-8 text" in proc.stderr
    assert str(folder / "bomb.yaml") in proc.stderr and "invalid" not in proc.stderr  # valid YAML: found by id

    # using a broken pack by id names the file and the problem, and stores nothing
    for pid, path, reason in (
        ("broken", folder / "broken.yaml", "not UTF-8"),
        ("bomb", folder / "bomb.yaml", "alias"),
        ("invalid", invalid, "'max_months' must be a whole number"),
    ):
        r = runner.invoke(
            cli, ["--db", store.url, "cycle", "run", "--policy", pid, "--period", "2025", "--as-of", "2026-04-30"]
        )
        assert r.exit_code == 1 and str(path) in r.output and reason in r.output, r.output
        assert "Traceback" not in r.output
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.cycles)).scalar() == 1
    assert mini.exists()


# -- the documented bounds are the enforced ones -------------------------------------------------


def test_docs_list_every_bound_the_loader_enforces():
    doc = DOC.read_text(encoding="utf-8")
    section = doc[doc.index("## Limits") :]
    for key, (lo, hi) in BOUNDS.items():
        row = next((line for line in section.splitlines() if line.startswith(f"| `{key}`")), None)
        assert row is not None, f"{key} is not in the Limits table of {DOC}"
        assert f"{lo:,}" in row and f"{hi:,}" in row, row
    for key, limit in LENGTHS.items():
        assert re.search(rf"`{key}` {limit}\b", section), f"length of {key} ({limit}) not documented"
    for name in ("MAX_PACK_BYTES", "MAX_ALIASES", "MAX_NODES", "MAX_DEPTH", "MAX_INT_DIGITS", "MAX_SCALAR_CHARS"):
        assert f"{getattr(loader, name):,}" in section, name
