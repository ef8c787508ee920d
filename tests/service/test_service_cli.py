"""`supervise apps add|list|revoke` and `supervise checks log|show` (issue 16), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import stat

from cli import cli
from engine.service.keys import derive_secret, load_key
from engine.store import service as qs
from tests.service.conftest import check_body


def run(store, runner, *args):
    return runner.invoke(cli, ["--db", store.url, *args])


def test_apps_add_prints_the_secret_once_and_stores_only_a_verifier(store, runner, key_file):
    result = run(
        store, runner, "apps", "add", "政务服务平台", "--scopes", "check,feedback", "--department", "审批局", "--json"
    )
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    assert set(made) == {"app_key", "secret"}
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with store.read() as conn:
        (app,) = qs.list_apps(conn)
    assert made["secret"] not in json.dumps(app, default=str)  # not readable back from the database
    assert derive_secret(load_key(store.url), made["app_key"], app["salt"]) == made["secret"]
    assert (app["scopes"], app["department"]) == (["check", "feedback"], "审批局")
    listed = run(store, runner, "apps", "list", "--json")
    assert made["secret"] not in listed.output and json.loads(listed.output)[0]["app_key"] == made["app_key"]
    text = run(store, runner, "apps", "add", "公示系统", "--scopes", "lists")
    assert "secret:" in text.output and "shown only now" in text.output


def test_apps_add_refuses_an_unknown_scope(store, runner, key_file):
    result = run(store, runner, "apps", "add", "x", "--scopes", "check,delete")
    assert result.exit_code == 1 and "Unknown scope(s) delete" in result.output


def test_apps_revoke(store, runner, key_file):
    made = json.loads(run(store, runner, "apps", "add", "x", "--scopes", "check", "--json").stdout)
    result = run(store, runner, "apps", "revoke", made["app_key"])
    assert result.exit_code == 0 and "revoked" in result.output
    again = run(store, runner, "apps", "revoke", made["app_key"])
    assert again.exit_code == 1 and "already revoked" in again.output
    unknown = run(store, runner, "apps", "revoke", "app_nope")
    assert unknown.exit_code == 1 and "No app with key 'app_nope'" in unknown.output
    assert "REVOKED" in run(store, runner, "apps", "list").output


def test_a_postgresql_database_needs_the_key_file_named(store, runner, monkeypatch):
    monkeypatch.delenv("SUPERVISE_SERVICE_KEY", raising=False)
    result = run(store, runner, "apps", "add", "x", "--scopes", "check")
    if store.dialect == "postgresql":
        assert result.exit_code == 1 and "Set SUPERVISE_SERVICE_KEY" in result.output
    else:  # beside the SQLite file
        assert result.exit_code == 0 and os.path.exists(store.url.split("///", 1)[1] + ".service-key")


def test_checks_log_exports_every_answered_check_and_show_shows_one(world, caller, runner, tmp_path):
    store, codes = world
    ids = [caller.post("/api/v1/checks", check_body(code)).json()["check_id"] for code in codes.values()]
    out = tmp_path / "log.jsonl"
    result = run(store, runner, "checks", "log", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ids and rows[0]["app_key"] == caller.app_key
    none = run(store, runner, "checks", "log", "--since", "2100-01-01", "--app", caller.app_key, "--out", str(out))
    assert none.exit_code == 0 and out.read_text() == ""
    other = run(store, runner, "checks", "log", "--app", "app_other", "--out", str(out))
    assert other.exit_code == 0 and "Wrote 0 check(s)" in other.output
    shown = run(store, runner, "checks", "show", str(ids[1]), "--json")
    assert json.loads(shown.output)["answer"]["results"][0]["verdict"] == "restricted"
    assert "r0" in run(store, runner, "checks", "show", str(ids[1])).output
    missing = run(store, runner, "checks", "show", "999")
    assert missing.exit_code == 1 and "No check 999" in missing.output


def test_serve_refuses_before_listening_when_there_is_no_key_file(store, runner, key_file):
    result = run(store, runner, "serve", "--port", "1")
    assert result.exit_code == 1 and "key file" in result.output and "does not exist" in result.output


def test_serve_on_sqlite_has_one_worker(sqlite_store, runner, key_file):
    run(sqlite_store, runner, "apps", "add", "x", "--scopes", "check")
    result = run(sqlite_store, runner, "serve", "--workers", "2")
    assert result.exit_code == 2 and "SQLite serves with one worker" in result.output
