"""Records that change (issue 14): versions with valid time and recorded time, on SQLite and PostgreSQL.

Each test goes through the real CLI, store, durable-rules and lists: an import, a re-import that corrects, a clerk's
correction and annulment, the cycles and replays that follow, and the list entries they end.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from engine.access import users
from engine.store import Store, schema
from tests.builders_engine import abnormal_row as abnormal
from tests.builders_engine import penalty_row as penalty
from tests.conftest import cli_json, cli_run, write_csv

REGION = "350503"  # 泉州 (the shipped packs' authorities cover 3505)


run, js = cli_run, cli_json


@pytest.fixture
def entity(store, factory, tmp_path):
    row = factory.entity(code=factory.uscc(region=REGION), region=REGION, entity_type="enterprise")
    run(store, "import", "entities", str(write_csv(tmp_path / "e.csv", [row])))
    return row["code"]


def tiers(store: Store, cycle_id: int) -> dict[str, str]:
    with store.read() as conn:
        D, E = schema.decisions, schema.entities
        rows = conn.execute(
            sa.select(E.c.code, D.c.tier).join(E, E.c.id == D.c.entity_id).where(D.c.cycle_id == cycle_id)
        )
        return dict(rows.all())


def test_reimport_counts_new_corrected_unchanged_and_keeps_every_version(store, entity, tmp_path):
    first = write_csv(tmp_path / "p1.csv", [penalty(entity), abnormal(entity)])
    r = js(store, "import", "records", str(first))
    assert (r["inserted"], r["corrected"], r["unchanged"]) == (2, 0, 0)
    again = js(store, "import", "records", str(first))
    assert (again["inserted"], again["corrected"], again["unchanged"]) == (0, 0, 2)

    cured = write_csv(tmp_path / "p2.csv", [penalty(entity, fulfilled_on="2026-01-10"), abnormal(entity, "2026-03-01")])
    dry = js(store, "import", "records", str(cured), "--dry-run")
    assert dry["dry_run"] is True and (dry["inserted"], dry["corrected"], dry["unchanged"]) == (0, 2, 0)
    assert {c["kind"]: c["fields"] for c in dry["changes"]} == {
        "penalty": {"fulfilled_on": [None, "2026-01-10"]},
        "abnormal_operation": {"removed_on": [None, "2026-03-01"]},
    }
    text = run(store, "import", "records", str(cured), "--dry-run").output
    assert "Dry run, nothing stored." in text and "removed_on: (none) -> 2026-03-01" in text
    with store.read() as conn:  # the dry run stored nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.record_versions)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.max(schema.records.c.version))).scalar_one() == 1

    with store.transaction() as conn:  # the second import by a clerk: each version names its user
        users.add(conn, "李四", "泉市监", "clerk", "secret12345", "admin")
    done = js(store, "import", "records", str(cured), "--as", "李四")
    assert (done["inserted"], done["corrected"], done["unchanged"]) == (0, 2, 0) and done["import_id"]

    # A file without the column keeps the stored value; an empty cell in a present column clears it.
    narrow = write_csv(tmp_path / "p3.csv", [{k: v for k, v in penalty(entity).items() if k != "fulfilled_on"}])
    assert js(store, "import", "records", str(narrow))["unchanged"] == 1

    h = js(store, "records", "history", entity, "--kind", "penalty")
    (rec,) = h["records"]
    assert [v["version"] for v in rec["versions"]] == [1, 2]
    v1, v2 = rec["versions"]
    assert v1["actor"] == "admin" and v2["actor"] == "李四" and v2["changed"] == {"fulfilled_on": [None, "2026-01-10"]}
    assert v1["superseded_at"] == v2["recorded_at"] and v2["superseded_at"] is None
    assert v2["import"]["source"].endswith("p2.csv")
    lines = run(store, "records", "history", entity).output
    assert "v2  recorded" in lines and "by 李四" in lines and "fulfilled_on: (none) -> 2026-01-10" in lines


def test_the_history_table_only_ever_receives_inserts(store, entity, tmp_path):
    statements: list[str] = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)  # every engine, the CLI's too
    try:
        run(store, "import", "records", str(write_csv(tmp_path / "a.csv", [penalty(entity)])))
        for day in ("2026-01-10", "2026-02-10"):
            run(store, "import", "records", str(write_csv(tmp_path / "b.csv", [penalty(entity, fulfilled_on=day)])))
        run(
            store,
            "records",
            "annul",
            entity,
            "--kind",
            "penalty",
            "--key",
            "泉市监罚〔2025〕12号",
            "--reason",
            "重复录入",
        )
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    touching = [s for s in statements if "record_versions" in s]
    assert any(s.lstrip().upper().startswith("INSERT") for s in touching)
    assert not [s for s in touching if re.match(r"\s*(UPDATE|DELETE)\b", s, re.I)]
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.record_versions)).scalar_one() == 3


def test_a_cure_and_an_annulment_change_the_next_cycle_and_end_the_listings_while_replay_stays(store, entity, tmp_path):
    run(store, "import", "records", str(write_csv(tmp_path / "r.csv", [penalty(entity), abnormal(entity)])))
    first = js(store, "cycle", "run", "--policy", "market-credit-risk", "--period", "2026-01", "--as-of", "2026-01-05")
    assert tiers(store, first["cycle"]) == {entity: "D"}
    run(store, "lists", "serve", "--cycle", str(first["cycle"]), "--on", "2026-01-06")
    run(store, "lists", "advance", "--as-of", "2026-02-20")
    states = {e["list"]: e["state"] for e in js(store, "lists", "history", entity)["entries"]}
    assert states == {"black": "listed", "abnormal": "listed"}

    # The abnormal-operation entry is cured; the penalty is annulled by a reconsideration decision.
    run(store, "import", "records", str(write_csv(tmp_path / "c.csv", [abnormal(entity, "2026-03-01")])))
    run(
        store,
        "records",
        "correct",
        entity,
        "--kind",
        "penalty",
        "--key",
        "decision_no=泉市监罚〔2025〕12号",
        "--set",
        "annulled_on=2026-03-05",
        "--reason",
        "行政复议决定撤销原处罚决定",
    )
    # The earlier cycle replays exactly: it used what was known when it ran.
    assert js(store, "cycle", "replay", str(first["cycle"]))["identical"] is True

    adv = js(store, "lists", "advance", "--as-of", "2026-03-10")
    assert len(adv["cured"]) == 1 and len(adv["revoked"]) == 1
    entries = {e["list"]: e for e in js(store, "lists", "history", entity)["entries"]}
    assert entries["abnormal"]["state"] == "repaired" and entries["black"]["state"] == "revoked"
    black_events = entries["black"]["events"]
    assert black_events[-1]["valid_from"] == "2026-03-05"
    assert black_events[-1]["data"]["stop_publication_by"] <= "2026-03-13"  # 3 working days from 2026-03-10
    assert js(store, "lists", "advance", "--as-of", "2026-03-10")["revoked"] == []  # idempotent
    with store.read() as conn:
        tasks = conn.execute(sa.select(schema.measure_tasks.c.action)).scalars().all()
        kinds = conn.execute(sa.select(schema.notices.c.kind)).scalars().all()
    assert tasks.count("lift") == tasks.count("apply") == 8  # every measure applied is lifted
    assert kinds.count("removal_decision") == 2
    shown = {
        n["entry_id"]: run(store, "notices", "show", n["number"]).output
        for n in js(store, "notices", "list")
        if n["kind"] == "removal_decision"
    }
    black, cured = entries["black"]["id"], entries["abnormal"]["id"]
    assert "行政处罚决定（泉市监罚〔2025〕12号）已于2026年3月5日被依法撤销，列入依据已经消除" in shown[black]
    assert (
        "经营异常名录记载的情形（2025年8月1日因未按规定报送年度报告被列入经营异常名录）已于2026年3月1日消除"
        in shown[cured]
    )
    assert "basis" not in shown[black] + shown[cured]  # no technical English reaches the party

    # The next cycle proposes nothing new: the entity is neither abnormal nor seriously penalised.
    second = js(store, "cycle", "run", "--policy", "market-credit-risk", "--period", "2026-03", "--as-of", "2026-03-31")
    assert tiers(store, second["cycle"])[entity] not in ("C", "D")
    assert not js(store, "lists", "show", "black", "--as-of", "2026-03-31")["entries"]


def test_evaluate_known_at_answers_with_what_was_known_then(store, entity, tmp_path):
    run(store, "import", "records", str(write_csv(tmp_path / "r.csv", [abnormal(entity)])))
    before_cure = dt.datetime.now(dt.UTC).isoformat()
    run(store, "import", "records", str(write_csv(tmp_path / "c.csv", [abnormal(entity, "2026-03-01")])))
    args = ("evaluate", entity, "--policy", "market-credit-risk", "--as-of", "2026-04-30")
    now = js(store, *args)
    then = js(store, *args, "--known-at", before_cure)
    assert then["facts"]["open_abnormal"] == 1 and now["facts"].get("open_abnormal", 0) == 0
    assert then["tier"] == "C" and now["tier"] != "C" and then["known_at"]
    # A knowledge date before the register had the record: nothing known, the entity is judged on nothing.
    early = js(store, *args, "--known-at", "2020-01-01")
    assert early["facts"].get("open_abnormal", 0) == 0
    bad = run(store, *args, "--known-at", "last tuesday", ok=False)
    assert bad.exit_code == 2 and "--known-at" in bad.output and "not a date and time" in bad.output


def test_annulled_as_entered_in_error_is_out_of_later_evaluations_and_not_restored(store, entity, tmp_path):
    f = write_csv(tmp_path / "r.csv", [abnormal(entity)])
    run(store, "import", "records", str(f))
    cycle = js(store, "cycle", "run", "--policy", "market-credit-risk", "--period", "2026-01", "--as-of", "2026-01-05")
    out = run(
        store,
        "records",
        "annul",
        entity,
        "--kind",
        "abnormal_operation",
        "--key",
        "date=2025-08-01",
        "--key",
        "cause=annual_report_missing",
        "--reason",
        "录入错误：该企业已按期报送年报",
    ).output
    assert "annulled as entered in error: version 2" in out
    assert js(store, "cycle", "replay", str(cycle["cycle"]))["identical"] is True
    ev = js(store, "evaluate", entity, "--policy", "market-credit-risk", "--as-of", "2026-01-05")
    assert ev["facts"].get("open_abnormal", 0) == 0
    again = js(store, "import", "records", str(f))
    assert again["void"] == 1 and again["inserted"] == again["corrected"] == 0
    assert "not restored" in run(store, "import", "records", str(f)).output
    adv = js(store, "lists", "advance", "--as-of", "2026-01-06")
    assert len(adv["revoked"]) == 1  # the abnormal entry built on it ends
    refused = run(
        store,
        "records",
        "annul",
        entity,
        "--kind",
        "abnormal_operation",
        "--key",
        "date=2025-08-01",
        "--key",
        "cause=annual_report_missing",
        "--reason",
        "x",
        ok=False,
    )
    assert refused.exit_code != 0 and "already annulled" in refused.output


def test_bad_corrections_are_refused_with_the_place_and_nothing_half_applied(store, entity, factory, tmp_path):
    run(store, "import", "records", str(write_csv(tmp_path / "r.csv", [penalty(entity), abnormal(entity)])))
    key = ("--kind", "penalty", "--key", "泉市监罚〔2025〕12号", "--reason", "更正")
    cases = [
        (("--set", "amonut=5"), "a penalty record has no field amonut (did you mean 'amount'?)"),
        (("--set", "annulled_on=2025-01-01"), "annulled_on 2025-01-01 is before the record's date 2025-11-03"),
        (("--set", "decision_no=X"), "part of the record's key"),
        (("--set", "severity=huge"), "'huge' is not one of minor, general, serious"),
    ]
    for extra, message in cases:
        r = run(store, "records", "correct", entity, *key, *extra, ok=False)
        assert r.exit_code == 2 and message in r.output, r.output
    r = run(
        store,
        "records",
        "correct",
        entity,
        "--kind",
        "penalty",
        "--key",
        "泉市监罚〔2025〕13号",
        "--set",
        "amount=1",
        "--reason",
        "x",
        ok=False,
    )
    assert "has no penalty record with key 泉市监罚〔2025〕13号" in r.output and "泉市监罚〔2025〕12号" in r.output
    r = run(store, "records", "correct", entity, *key[:-1], "  ", "--set", "amount=1", ok=False)
    assert "--reason is required" in r.output

    # A correction file: one bad row refuses the file, naming file:row:column; nothing is stored.
    rows = [
        {"code": entity, "kind": "penalty", "decision_no": "泉市监罚〔2025〕12号", "fulfilled_on": "2026-01-10"},
        {"code": entity, "kind": "penalty", "decision_no": "泉市监罚〔2025〕99号", "fulfilled_on": "2026-01-10"},
        {
            "code": entity,
            "kind": "abnormal_operation",
            "date": "2025-08-01",
            "cause": "annual_report_missing",
            "removed_on": "2026-02-01",
            "colour": "red",
        },
    ]
    f = write_csv(tmp_path / "fix.csv", rows)
    r = run(store, "records", "correct", "--file", str(f), "--reason", "批量更正", ok=False)
    assert r.exit_code == 1
    assert f"{f}:3:decision_no: entity {entity} has no penalty record with key 泉市监罚〔2025〕99号" in r.output
    assert f"{f}:4:colour: colour is not a field of a abnormal_operation record" in r.output
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.record_versions)).scalar_one() == 0
    good = write_csv(tmp_path / "fix2.csv", [rows[0], {k: v for k, v in rows[2].items() if k != "colour"}])
    dry = js(store, "records", "correct", "--file", str(good), "--reason", "批量更正", "--dry-run")
    assert dry["corrected"] == 2 and dry["dry_run"]
    done = js(store, "records", "correct", "--file", str(good), "--reason", "批量更正")
    assert done["corrected"] == 2
    h = js(store, "records", "history", entity)
    assert {r["kind"]: r["versions"][-1]["reason"] for r in h["records"]} == {
        "penalty": "批量更正",
        "abnormal_operation": "批量更正",
    }
    # the stored fields not in the file are kept (a correction file carries only what it corrects)
    pen = next(r for r in h["records"] if r["kind"] == "penalty")
    assert pen["versions"][-1]["data"]["severity"] == "serious" and pen["versions"][-1]["data"]["amount"] == 200000


def test_migration_keeps_existing_records_as_their_first_version(tmp_path):
    from alembic import command

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(store.alembic_config(), "0001")
    stamp = "2026-05-01 08:00:00.000000"
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO entities (code, code_kind, name, entity_type, created_at, updated_at) "
            f"VALUES ('91350100M000100Y43', 'uscc', '甲', 'enterprise', '{stamp}', '{stamp}')"
        )
        conn.exec_driver_sql(
            "INSERT INTO records (entity_id, kind, date, natural_key, data, imported_at) "
            f"VALUES (1, 'honour', '2025-01-01', 'k', '{{}}', '{stamp}')"
        )
    assert store.init()["to"] >= "0002"  # migrated through 0002 (record versions) to the head
    with store.read() as conn:
        row = conn.execute(sa.select(schema.records)).mappings().one()
    assert row["version"] == 1 and row["status"] == "valid" and row["recorded_at"] == row["imported_at"]


def test_the_versions_known_at_a_moment_load_alike_in_batches_and_per_entity(store, factory, tmp_path):
    from engine.store import records as rq

    codes = []
    for _ in range(3):
        row = factory.entity(code=factory.uscc(region=REGION), region=REGION, entity_type="enterprise")
        codes.append(row["code"])
        run(store, "import", "entities", str(write_csv(tmp_path / "e.csv", [row])))
    rows = [penalty(c, decision_no=f"罚{i}号") for i, c in enumerate(codes)] + [abnormal(c) for c in codes]
    run(store, "import", "records", str(write_csv(tmp_path / "a.csv", rows)))
    before = dt.datetime.now(dt.UTC)
    fixed = [penalty(codes[1], decision_no="罚1号", date="2024-01-02"), abnormal(codes[1], "2026-01-01")]
    run(store, "import", "records", str(write_csv(tmp_path / "b.csv", fixed)))
    with store.read() as conn:
        ids = sorted(conn.execute(sa.select(schema.entities.c.id)).scalars())
        for known in (before, None):
            batch = rq.records_for_range(conn, ids[0], ids[-1], dt.date(2026, 4, 30), None, known)
            each = rq.records_of(conn, ids, dt.date(2026, 4, 30), None, known)
            assert batch == each
        then = rq.records_of(conn, ids, dt.date(2026, 4, 30), None, before)
        now = rq.records_of(conn, ids, dt.date(2026, 4, 30))
    moved = ids[1]
    assert [d for _, d, _ in then[moved]] == [dt.date(2025, 8, 1), dt.date(2025, 11, 3)]
    assert [d for _, d, _ in now[moved]] == [dt.date(2024, 1, 2), dt.date(2025, 8, 1)]  # the date moved: new order
    assert then[ids[0]] == now[ids[0]]


def test_a_list_basis_naming_no_record_kind_is_refused_at_its_key(tmp_path):
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "policies" / "packs" / "market-credit-risk.yaml"
    text = shipped.read_text(encoding="utf-8")
    assert "basis_records: {kinds: [abnormal_operation]}" in text
    bad = tmp_path / "market.yaml"
    bad.write_text(
        text.replace(
            "basis_records: {kinds: [abnormal_operation]}", "basis_records: {kinds: [abnormal_operaton]}"
        ).replace(
            "basis_records: {kinds: [penalty], where: {severity: serious}}",
            "basis_records: {kinds: [penalty], where: {severty: serious}}",
        ),
        encoding="utf-8",
    )
    r = CliRunner().invoke(cli, ["policy", "validate", str(bad)])
    assert r.exit_code != 0
    assert "'abnormal_operaton' is not a record kind (did you mean 'abnormal_operation'?)" in r.output
    assert "'severty' is not a field of penalty" in r.output and "lists.black.basis_records.where" in r.output
