"""CLI-wide behaviour: --json errors on stderr for every command, dates in every form an import accepts, and the
progress bar (on a terminal only; silent with --quiet or when stderr is a pipe)."""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import pty
import re
import subprocess
import sys

import click
import pytest

from cli import cli
from engine.pipeline.cycles import run_cycle
from lists import lifecycle as L
from notices import issue
from tests import builders_notices as B
from tests.builders_engine import Register, tax, violation
from tests.conftest import write_csv

ROOT = pathlib.Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def leaf_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += leaf_commands(command, path + (name,))
        else:
            out.append(path + (name,))
    return out


# -- --json errors ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", leaf_commands(cli), ids=" ".join)
def test_every_command_reports_a_bad_option_as_json(command, runner, sqlite_url):
    result = runner.invoke(cli, ["--db", sqlite_url, "--json", *command, "--no-such-option"])
    assert result.exit_code == 2 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["where"] == " ".join(("supervise",) + command)
    assert "No such option '--no-such-option'" in error["error"] and error["exit_code"] == 2


def test_library_usage_and_option_errors_as_json(runner, sqlite_store, factory, tmp_path):
    db = ["--db", sqlite_store.url]

    def fails(*args, code=1):
        result = runner.invoke(cli, db + list(args))
        assert result.exit_code == code and result.stdout == "", result.output
        return json.loads(result.stderr)

    missing = fails("cycle", "show", "99", "--json")  # a library error (engine.errors), command-level --json
    assert missing == {
        "error": "No cycle with id 99; 'supervise cycle list' shows the cycles.",
        "where": "supervise cycle show",
        "exit_code": 1,
    }
    usage = fails("--json", "notices", "issue", "--out", str(tmp_path), code=2)  # a usage error raised by the command
    assert usage["where"] == "supervise notices issue" and "exactly one of --cycle" in usage["error"]
    date = fails("--json", "lists", "advance", "--as-of", "2026-02-30", code=2)
    assert date["where"] == "supervise lists advance --as-of" and "'2026-02-30' is not a date" in date["error"]
    required = fails("--json", "cycle", "run", "--period", "2025", code=2)
    assert required["where"] == "supervise cycle run --policy" and "Missing option '--policy'" in required["error"]
    unknown = fails("--json", "cycel", code=2)
    assert unknown["where"] == "supervise" and "No such command 'cycel'" in unknown["error"]
    bad = write_csv(tmp_path / "bad.csv", [factory.entity(), factory.entity(code="91350100M000100Y44")])
    rows = fails("--json", "import", "entities", str(bad))
    assert rows["where"] == "supervise import entities" and "nothing was stored" in rows["error"]
    assert rows["details"] == [f"{bad}:3:code: '91350100M000100Y44' check character is 4, expected 3"]
    # Without --json the same errors stay sentences for a person.
    text = runner.invoke(cli, db + ["cycle", "show", "99"])
    assert (
        text.exit_code == 1 and text.output == "Error: No cycle with id 99; 'supervise cycle list' shows the cycles.\n"
    )


def test_json_success_output_is_unchanged(runner, sqlite_store):
    result = runner.invoke(cli, ["--db", sqlite_store.url, "--json", "cycle", "list"])
    assert result.exit_code == 0 and json.loads(result.stdout) == [] and result.stderr == ""


# -- dates ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("written", ["2026-04-30", "2026/4/30", "20260430", "2026年4月30日", "2026.04.30"])
def test_date_options_accept_what_imports_accept(written, runner, store):
    code = Register(store).entity(records=[tax(2025, 95)])
    run = runner.invoke(
        cli,
        ["--db", store.url, "--json", "cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", written],
    )
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["as_of"] == "2026-04-30"
    checked = runner.invoke(
        cli, ["--db", store.url, "--json", "check", code, "--service", "invoice_supply", "--as-of", written]
    )
    assert json.loads(checked.stdout)["as_of"] == "2026-04-30"


def test_a_bad_date_names_the_option_and_the_forms(runner, sqlite_store):
    result = runner.invoke(
        cli,
        [
            "--db",
            sqlite_store.url,
            "cycle",
            "run",
            "--policy",
            "tax-credit",
            "--period",
            "2025",
            "--as-of",
            "30.4.2026",
        ],
    )
    assert result.exit_code == 2
    assert "Invalid value for --as-of: '30.4.2026' is not a date" in result.output
    assert "2026/4/30, 20260430, 2026年4月30日" in result.output


# -- progress ---------------------------------------------------------------------------------------------------


class Recorder:
    """A progress callback as the CLI's bar is one: told the total, then advanced."""

    def __init__(self):
        self.total, self.done = None, 0

    def __call__(self, n):
        self.done += n

    def set_total(self, total):
        self.total = total


def test_library_functions_announce_and_advance_progress(store, tmp_path):
    reg = Register(store)
    for score in (96, 80, 30):
        reg.entity(records=[tax(2025, score)])
    reg.entity(records=[tax(2025, 95), violation("2025-05-01", "false_preference_claim")])  # proposed for lists
    cycle = Recorder()
    result = run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30), progress=cycle)
    assert cycle.total == cycle.done == result["entities"] == 4
    notices = Recorder()
    report = issue.issue_for_cycle(
        store, result["cycle"], out=tmp_path / "n", as_of=dt.date(2026, 5, 6), progress=notices
    )
    assert notices.done == len(report.issued) > 0  # one step per notice written
    served, advanced = Recorder(), Recorder()
    with store.transaction() as conn:
        entries = len(L.serve(conn, dt.date(2026, 5, 6), "test", cycle_id=result["cycle"], progress=served)["served"])
        L.advance(conn, dt.date(2026, 6, 30), "test", progress=advanced)
    assert entries > 0 and served.total == served.done >= entries
    assert advanced.total == advanced.done >= entries


def _run_on_pty(args: list[str], db_url: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe); (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    env = {**os.environ, "SUPERVISE_DB": db_url, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", *args], stdout=subprocess.PIPE, stderr=slave, env=env, cwd=ROOT
    )
    os.close(slave)
    seen = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not data:
            break
        seen.append(data)
    out = proc.stdout.read().decode()
    proc.wait()
    os.close(master)
    return proc.returncode, out, ANSI.sub("", b"".join(seen).decode("utf-8", "replace"))


def _pipes(args: list[str], db_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "SUPERVISE_DB": db_url},
    )


RUN = ["cycle", "run", "--policy", "tax-credit", "--period", "2025", "--as-of", "2026-04-30"]


def test_progress_bar_on_a_terminal_only(sqlite_store):
    reg = Register(sqlite_store)
    for score in (96, 80, 30):
        reg.entity(records=[tax(2025, score)])
    code, out, terminal = _run_on_pty(RUN, sqlite_store.url)
    assert code == 0 and "Cycle 1: tax-credit@2025" in out
    assert "Evaluating register" in terminal and "3/3" in terminal and "━" in terminal
    quiet = _run_on_pty(["--quiet", *RUN, "--rerun"], sqlite_store.url)
    assert quiet[0] == 0 and quiet[1] == "" and quiet[2] == ""
    piped = _pipes([*RUN, "--rerun"], sqlite_store.url)
    assert piped.returncode == 0 and "revision 3" in piped.stdout and piped.stderr == ""
    replay = _run_on_pty(["cycle", "replay", "3"], sqlite_store.url)
    assert replay[0] == 0 and "Replaying cycle 3" in replay[2]


def test_progress_bar_of_notices_and_lists(sqlite_store, tmp_path):
    world = B.build_world(sqlite_store)
    code, out, terminal = _run_on_pty(
        ["notices", "issue", "--cycle", str(world.cycle_id), "--out", str(tmp_path), "--as-of", "2025-03-03"],
        sqlite_store.url,
    )
    assert code == 0 and "notice(s) issued" in out and "Issuing notices" in terminal
    code, out, terminal = _run_on_pty(["lists", "advance", "--as-of", "2025-06-30"], sqlite_store.url)
    assert code == 0 and "Advancing list entries" in terminal
    piped = _pipes(["lists", "advance", "--as-of", "2025-07-01"], sqlite_store.url)
    assert piped.returncode == 0 and piped.stderr == ""


def test_a_period_given_as_a_date_is_stored_as_one_label(runner, sqlite_store):
    Register(sqlite_store).entity(records=[tax(2025, 95)])
    base = ["--db", sqlite_store.url, "--json", "cycle", "run", "--policy", "epidemic-conduct", "--period"]
    first = runner.invoke(cli, base + ["2026年4月30日"])
    assert first.exit_code == 0, first.output
    assert (json.loads(first.stdout)["period"], json.loads(first.stdout)["as_of"]) == ("2026-04-30", "2026-04-30")
    again = runner.invoke(cli, base + ["20260430"])  # the same period: refused without --rerun
    assert again.exit_code == 1 and "already holds policy epidemic-conduct for period 2026-04-30" in again.stderr
