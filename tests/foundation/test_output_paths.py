"""Output paths and partial writes: a bad --out is refused before any work; a write that fails half-way through
`notices issue` says what is stored, and the same command run again writes the missing files.

The failures are real: a folder in the way of the Nth notice file (the write of that file fails with
IsADirectoryError, as a full disk would fail with ENOSPC), a file where a folder is needed, a missing parent.
"""

from __future__ import annotations

import json
import pathlib

import pytest
import sqlalchemy as sa

from cli import cli
from engine.errors import NoticeError
from engine.outpaths import OutputPathError, output_dir, output_file, write_atomically
from engine.store import schema
from notices import issue
from tests import builders_notices as B


def notice_count(store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.notices)).scalar()


def audit_count(store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.audit_log)).scalar()


# -- the helper ------------------------------------------------------------------------------------


def test_output_dir_refuses_a_file_a_missing_parent_and_a_file_on_the_way(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(OutputPathError, match=r"notes.txt is a file; give a folder"):
        output_dir(a_file)
    with pytest.raises(OutputPathError, match=r"the folder .*missing does not exist; create it first"):
        output_dir(tmp_path / "missing" / "site")
    with pytest.raises(OutputPathError, match=r"notes.txt is a file, not a folder"):
        output_dir(a_file / "site")
    assert output_dir(tmp_path / "new") == tmp_path / "new" and not (tmp_path / "new").exists()
    assert output_dir(tmp_path / "made", create=True).is_dir()


def test_output_file_refuses_a_folder_and_a_missing_folder(tmp_path):
    with pytest.raises(OutputPathError, match=r"is a folder; give a file name"):
        output_file(tmp_path)
    with pytest.raises(OutputPathError, match=r"the folder .*nowhere does not exist"):
        output_file(tmp_path / "nowhere" / "n.pdf")
    assert output_file(tmp_path / "n.pdf") == tmp_path / "n.pdf"


def test_atomic_write_leaves_no_temporary_file_when_it_fails(tmp_path):
    (tmp_path / "taken.html").mkdir()
    with pytest.raises(OSError):
        write_atomically(tmp_path / "taken.html", b"<p>x</p>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.html"]
    write_atomically(tmp_path / "ok.html", b"<p>x</p>")
    assert (tmp_path / "ok.html").read_bytes() == b"<p>x</p>"


# -- the commands refuse a bad --out before any work -----------------------------------------------


@pytest.mark.parametrize("shape", ["file", "missing-parent", "under-a-file"])
def test_every_writing_command_refuses_a_bad_out_and_stores_nothing(store, runner, tmp_path, shape):
    world = B.build_world(store)
    a_file = tmp_path / "a-file.txt"
    a_file.write_text("keep me", encoding="utf-8")
    bad = {"file": a_file, "missing-parent": tmp_path / "missing" / "out", "under-a-file": a_file / "out"}[shape]
    db = ["--db", store.url]
    before = (notice_count(store), audit_count(store))
    commands = [
        ["notices", "issue", "--cycle", str(world.cycle_id), "--out", str(bad), "--as-of", "2025-03-03"],
        ["lists", "publish", "--out", str(bad), "--as-of", "2025-03-03"],
        ["cycle", "report", str(world.cycle_id), "--out", str(bad)],
    ]
    if shape != "file":  # notices show --out takes a file: a file there is replaced, so only the folder cases
        issue.issue_for_cycle(store, world.cycle_id, as_of=B.AS_OF)
        before = (notice_count(store), audit_count(store))
        commands.append(["notices", "show", "泉市监信提示〔2025〕1号", "--out", str(bad)])
    for args in commands:
        r = runner.invoke(cli, db + args)
        assert r.exit_code in (1, 2), (args, r.output)
        assert str(bad) in r.output or "a-file.txt" in r.output, (args, r.output)
        assert "Traceback" not in r.output and isinstance(r.exception, SystemExit), (args, r.exception)
        if shape == "file":
            assert "is a file" in r.output, (args, r.output)
        elif shape == "missing-parent":
            assert "does not exist; create it first" in r.output, (args, r.output)
        else:
            assert "is a file, not a folder" in r.output, (args, r.output)
    assert (notice_count(store), audit_count(store)) == before
    assert a_file.read_text(encoding="utf-8") == "keep me" and not (tmp_path / "missing").exists()


def test_notices_show_refuses_a_folder_as_out(sqlite_store, runner, tmp_path):
    world = B.build_world(sqlite_store)
    issue.issue_for_cycle(sqlite_store, world.cycle_id, as_of=B.AS_OF)
    r = runner.invoke(
        cli, ["--db", sqlite_store.url, "notices", "show", "泉市监信提示〔2025〕1号", "--out", str(tmp_path)]
    )
    assert r.exit_code == 2 and "is a directory" in r.output.lower()
    out = tmp_path / "n.txt"
    r = runner.invoke(cli, ["--db", sqlite_store.url, "notices", "show", "泉市监信提示〔2025〕1号", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "泉市监信提示〔2025〕1号" in out.read_text(encoding="utf-8")


# -- a write that fails half-way ------------------------------------------------------------------


def _files(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def test_failed_file_write_says_what_is_stored_and_a_rerun_writes_the_missing_files(store, runner, tmp_path):
    world = B.build_world(store)
    out = tmp_path / "notices"
    out.mkdir()
    # The 2nd warning's HTML file cannot be written: a folder of that name is in the way.
    blocker = out / "泉市监信提示〔2025〕2号.html"
    blocker.mkdir()
    db = ["--db", store.url]
    args = [
        "notices",
        "issue",
        "--cycle",
        str(world.cycle_id),
        "--out",
        str(out),
        "--format",
        "txt",
        "--format",
        "html",
        "--as-of",
        "2025-03-03",
    ]
    r = runner.invoke(cli, db + args)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output
    # A small run writes in this process, after each chunk is committed: the first chunk (the decisions' 4
    # notices) stays stored, the entries' chunk is not reached.
    stored = notice_count(store)
    assert stored == 4
    text = " ".join(r.output.split())
    assert f"Writing the notice files into {out} failed" in text
    assert "4 notice(s) were issued and stored by this run (泉市监信提示〔2025〕1号 to" in text
    assert "run the same command again" in text and "writes the missing files" in text
    written = _files(out)
    missing_count = int(text.split("the files of ")[1].split(" of these")[0])
    assert missing_count >= 1 and len(written) < 14
    assert not any(name.endswith(".tmp") for name in written)  # no half-written file left behind

    blocker.rmdir()
    r = runner.invoke(cli, db + args + ["--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["issued_count"] == 3 and data["already_count"] == 4  # the 4 keep their numbers
    assert notice_count(store) == 7
    assert len(_files(out)) == 14 and blocker.is_file()
    with store.read() as conn:
        rows = conn.execute(sa.select(schema.notices.c.number, schema.notices.c.content_hash)).all()
    for number, digest in rows:
        assert issue.content_hash((out / f"{number}.txt").read_text(encoding="utf-8")) == digest


def test_failed_write_of_a_list_event_notice_is_reported_and_repaired_by_a_rerun(store, tmp_path):
    world = B.build_world(store)
    out = tmp_path / "n"
    out.mkdir()
    (out / "泉市监信移出〔2025〕1号.html").mkdir()
    with pytest.raises(
        NoticeError,
        match=r"1 notice\(s\) were issued and stored by this run \(泉市监信移出〔2025〕1号\)"
        r".*the files of 1 of these 1 are missing",
    ):
        issue.issue_list_event(store, world.entries["old"], "repaired", out=out, as_of=B.AS_OF)
    (out / "泉市监信移出〔2025〕1号.html").rmdir()
    again = issue.issue_list_event(store, world.entries["old"], "repaired", out=out, as_of=B.AS_OF)
    assert again.issued == [] and [n["number"] for n in again.already] == ["泉市监信移出〔2025〕1号"]
    assert (out / "泉市监信移出〔2025〕1号.html").is_file()


def test_failed_write_in_a_worker_process_is_reported_the_same_way(store, tmp_path, monkeypatch):
    """Large runs write files in worker processes: an error there is the same message, and the rerun repairs."""
    world = B.build_world(store)
    monkeypatch.setattr(issue, "PARALLEL_MIN", 0)
    monkeypatch.setattr(issue, "_BATCH", 2)
    monkeypatch.setattr(issue, "_IN_FLIGHT", 1)
    out = tmp_path / "n"
    out.mkdir()
    (out / "泉市监信告知〔2025〕1号.txt").mkdir()
    with pytest.raises(
        NoticeError,
        match=r"Is a directory .*泉市监信告知〔2025〕1号\.txt\)\. 7 notice\(s\) were issued "
        r"and stored by this run .*run the same command again",
    ):
        issue.issue_for_cycle(store, world.cycle_id, out=out, formats=("txt",), as_of=B.AS_OF)
    assert notice_count(store) == 7
    (out / "泉市监信告知〔2025〕1号.txt").rmdir()
    again = issue.issue_for_cycle(store, world.cycle_id, out=out, formats=("txt",), as_of=B.AS_OF)
    assert again.issued == [] and len(again.already) == 7 and len(_files(out)) == 7


@pytest.mark.parametrize("setting", ["interview.days=99999999999", "review.days=-5", "review.court_months=100000"])
def test_out_of_bound_notice_setting_is_refused_and_stores_nothing(store, runner, tmp_path, setting):
    world = B.build_world(store)
    r = runner.invoke(
        cli,
        [
            "--db",
            store.url,
            "notices",
            "issue",
            "--cycle",
            str(world.cycle_id),
            "--out",
            str(tmp_path / "n"),
            "--set",
            setting,
            "--as-of",
            "2025-03-03",
        ],
    )
    key, value = setting.split("=")
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.exception
    assert f"Notice setting '{key}' must be a whole number from 0 to 3,650, not {value} (--set)." in r.output
    assert notice_count(store) == 0
