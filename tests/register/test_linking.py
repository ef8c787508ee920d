"""Importing records that name their entity without a USCC (issue 18): `import records --match`, the match review
queue, judgements stored and reused. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import pathlib
import re
import threading
import time

import pytest
import sqlalchemy as sa

import policies
from engine.access import AccessRefused, users
from engine.access import matching as access
from engine.errors import IntakeError
from engine.register import entities as register
from engine.register import linking
from engine.register.codes import make_reg_no, make_uscc, org_code_check_char, uscc_check_char
from engine.store import Store, schema
from policies import base_limits, record_kinds
from policies.loader import base_matching
from tests.builders_matching import court_rows, matching_register
from tests.conftest import cli_json, cli_run, write_csv

LIMITS = base_limits()


@pytest.fixture
def codes(store, tmp_path):
    return matching_register(store, tmp_path)


def imported(store, path, **kw):
    return register.import_records(store, path, record_kinds(), match=base_matching(), **kw)


def count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def links(store) -> list[dict]:
    with store.read() as conn:
        stmt = sa.select(schema.record_links, schema.entities.c.code).join(schema.entities)
        return [dict(r) for r in conn.execute(stmt.order_by(schema.record_links.c.id)).mappings()]


def test_rows_keyed_every_way_are_linked_held_or_stored_with_their_link(store, tmp_path, codes):
    report = imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
    assert (report.linked, report.held, report.rejected, report.inserted) == (4, 2, 0, 4)
    assert report.by_method == {"uscc": 1, "org_code": 1, "reg_no": 1, "name": 1}
    stored = links(store)
    assert [(r["method"], r["code"], r["row_number"]) for r in stored] == [
        ("uscc", codes["xc"], 2),
        ("org_code", codes["hd"], 3),
        ("reg_no", codes["hd"], 4),
        ("name", codes["xc"], 5),
    ]
    by_name = stored[3]
    assert by_name["score"] >= 90 and "名称一致" in by_name["explanation"]
    assert by_name["source"] == {"name": "祥誠物流有限公司", "region": "350503"}
    assert "换照对照表" in stored[2]["explanation"]
    with store.read() as conn:
        q = linking.review_queue(conn)
    assert [len(x["rows"]) for x in q] == [1, 1]
    tie, typo = q
    assert tie["source"]["name"] == "福州华联商贸有限公司" and "得分相同" in tie["why"]
    assert {c["code"] for c in tie["candidates"]} == {codes["hl"], codes["hl2"]}
    assert typo["candidates"][0]["code"] == codes["xc"]
    text = report.lines()
    assert any("4 rows linked" in line and "2 held for review" in line for line in text)
    history = cli_run(store, "records", "history", codes["xc"], "--kind", "external_list").output
    assert "linked by 名称 (score 100, court.csv row 5; the row gave name=祥誠物流有限公司，region=350503)" in history
    assert "linked by 统一社会信用代码" in history


def test_dry_run_counts_and_writes_the_review_csv_storing_nothing(store, tmp_path, codes):
    before = {t.name: count(store, t) for t in (schema.records, schema.match_reviews, schema.record_links)}
    report = imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)), dry_run=True)
    assert (report.linked, report.held, report.rejected) == (4, 2, 0)
    assert {t.name: count(store, t) for t in (schema.records, schema.match_reviews, schema.record_links)} == before
    with open(report.review_file, encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert [r["row"] for r in rows] == ["6", "7"]
    assert rows[0]["name"] == "福州华联商贸有限公司" and codes["hl"] in rows[0]["candidate_1"] + rows[0]["candidate_2"]
    assert rows[1]["reasons_1"] and float(rows[1]["score_1"]) < 90
    assert any("would be held" in line for line in report.lines())


def test_a_row_matching_no_entity_is_an_error_naming_it_and_nothing_is_stored(store, tmp_path, codes):
    rows = court_rows(codes) + [
        {"kind": "external_list", "list": "court_dishonest", "date": "2026-01-11", "name": "泉州市永不存在光电有限公司"}
    ]
    path = write_csv(tmp_path / "court.csv", rows)
    with pytest.raises(IntakeError) as err:
        imported(store, path)
    assert f"{path}:8:name: no entity in the register matches 名称 泉州市永不存在光电有限公司" in "\n".join(
        err.value.errors
    )
    assert count(store, schema.records) == count(store, schema.match_reviews) == count(store, schema.record_links) == 0
    report = imported(store, path, skip_invalid=True)
    assert (report.linked, report.held, report.rejected) == (4, 2, 1)
    assert "8" in open(report.rejects_file, encoding="utf-8-sig").read().splitlines()[1]


@pytest.mark.parametrize(
    "cell,column,reason",
    [
        ({"org_code": "MA2HD003-?"}, "org_code", "GB 11714"),
        ({"reg_no": "35052400000009"}, "reg_no", "has 14 characters"),
        ({"reg_no": "350524000000990"}, "reg_no", "ISO 7064"),
        ({"code": "91350524MA2HD0"}, "code", "looks like a code"),
        ({"org_code": "350524000000992"}, "org_code", "a 组织机构代码 has 9"),
        ({"name": "祥诚物流", "region": "359999"}, "region", "not a GB/T 2260 region code"),
        ({}, "code", "the row names no entity"),
    ],
)
def test_a_malformed_code_names_the_row_and_the_reason(store, tmp_path, codes, cell, column, reason):
    if "?" in cell.get("org_code", ""):
        wrong = next(ch for ch in "0123456789" if ch != org_code_check_char("MA2HD003"))
        cell = {"org_code": f"MA2HD003-{wrong}"}
    if cell.get("reg_no", "").endswith("990"):
        good = make_reg_no("350524", 99)
        cell = {"reg_no": good[:-1] + str((int(good[-1]) + 1) % 10)}
    path = write_csv(
        tmp_path / "bad.csv", [{"kind": "external_list", "list": "court_dishonest", "date": "2026-01-05", **cell}]
    )
    with pytest.raises(IntakeError) as err:
        imported(store, path)
    assert any(e.startswith(f"{path}:2:{column}: ") and reason in e for e in err.value.errors), err.value.errors
    assert count(store, schema.records) == 0


def test_the_inner_organisation_code_of_a_uscc_row_is_checked_as_without_match(store, tmp_path, codes, factory):

    body = "MA2BAD0"
    wrong = next(c for c in "0123456789" if c != org_code_check_char(body + "1"))
    body17 = "91350503" + body + "1" + wrong
    odd = body17 + uscc_check_char(body17)
    register.import_entities(store, write_csv(tmp_path / "e.csv", [factory.entity(code=odd)]), LIMITS)
    row = {"kind": "external_list", "list": "court_dishonest", "date": "2026-01-05", "code": odd}
    path = write_csv(tmp_path / "odd.csv", [row])
    report = imported(store, path, dry_run=True)
    assert report.org_code_warnings == 1 and report.linked == 1
    with pytest.raises(IntakeError) as err:
        imported(store, path, strict_org_code=True)
    assert "GB 11714" in "\n".join(err.value.errors)


def test_same_judgement_stores_the_held_rows_and_is_reused(store, tmp_path, codes):
    imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
    with store.read() as conn:
        typo = next(q for q in linking.review_queue(conn) if "祥城" in q["source"]["name"])
    records_before = count(store, schema.records)
    done = access.judge(store, "admin", typo["id"], "same", codes["xc"], note="法院核实")
    assert (done["stored"], done["new"], done["code"]) == (1, 1, codes["xc"])
    assert count(store, schema.records) == records_before + 1
    link = links(store)[-1]
    assert (link["method"], link["code"], link["review_id"]) == ("judgement", codes["xc"], typo["id"])
    assert "人工核对" in link["explanation"] and "admin" in link["explanation"]
    with store.read() as conn:
        assert all("祥城" not in q["source"]["name"] for q in linking.review_queue(conn))
    # The same name and region in a later file: linked by the judgement, never asked again.
    later = [
        {"kind": "external_list", "list": "court_dishonest", "date": "2026-02-01", "name": "泉州祥城物流有限公司",
         "region": "350503"}
    ]  # fmt: skip
    report = imported(store, write_csv(tmp_path / "later.csv", later))
    assert (report.linked, report.held, report.by_method) == (1, 0, {"judgement": 1})
    assert links(store)[-1]["judgement_id"] == done["judgement_ids"][0]
    # A judgement is history: judging the key again is refused, naming who judged it.
    with pytest.raises(linking.JudgementError, match="judged the same as 泉州市祥诚物流有限公司"):
        access.judge(store, "admin", typo["id"], "not_same")


def test_rows_of_one_key_wait_as_one_question(store, tmp_path, codes):
    rows = court_rows(codes)
    again = [r | {"date": "2026-03-01"} for r in rows if r.get("name") == "福州华联商贸有限公司"]
    imported(store, write_csv(tmp_path / "court.csv", rows + again))
    with store.read() as conn:
        tie = next(q for q in linking.review_queue(conn) if q["source"]["name"] == "福州华联商贸有限公司")
    assert [r["row_number"] for r in tie["rows"]] == [6, 8]
    # A third file with that row: held under the same question, not a new one.
    imported(store, write_csv(tmp_path / "third.csv", [again[0] | {"date": "2026-04-01"}]))
    with store.read() as conn:
        questions = [q for q in linking.review_queue(conn) if q["source"]["name"] == "福州华联商贸有限公司"]
    assert len(questions) == 1 and len(questions[0]["rows"]) == 3
    done = access.judge(store, "admin", questions[0]["rows"][-1]["review_id"], "same", codes["hl2"])
    assert done["stored"] == 3


def test_not_same_is_never_linked_automatically_afterwards(store, tmp_path, codes):
    # A row that would link on its own: judged not the same in a review (here: the code and the name disagree).
    row = {"kind": "external_list", "list": "court_dishonest", "date": "2026-01-05", "org_code": codes["hd"][8:17],
           "name": "厦门市完全不同科技有限公司"}  # fmt: skip
    report = imported(store, write_csv(tmp_path / "a.csv", [row]))
    assert report.held == 1
    with store.read() as conn:
        [question] = linking.review_queue(conn)
    done = access.judge(store, "admin", question["id"], "not_same")
    assert done["closed"] and done["held"] == 1 and done["stored"] == 0
    with store.read() as conn:
        assert linking.review_queue(conn) == []
    # The same row again: the only candidate was judged not the same: rejected with the judgement named.
    path = write_csv(tmp_path / "b.csv", [row | {"date": "2026-02-05"}])
    with pytest.raises(IntakeError) as err:
        imported(store, path)
    assert "人工核对已判定与候选主体安溪县恒达茶业股份有限公司" in "\n".join(err.value.errors)
    assert count(store, schema.records) == 0


def test_not_same_one_candidate_leaves_the_other_then_links_nothing_automatically(store, tmp_path, codes):
    rows = [r for r in court_rows(codes) if r.get("name") == "福州华联商贸有限公司"]
    imported(store, write_csv(tmp_path / "a.csv", rows))
    with store.read() as conn:
        [q] = linking.review_queue(conn)
    done = access.judge(store, "admin", q["id"], "not_same", codes["hl"])
    assert not done["closed"] and [c["code"] for c in done["left"]] == [codes["hl2"]]
    with store.read() as conn:
        [still] = linking.review_queue(conn)
    marks = {c["code"]: c["judged_not_same"] for c in still["candidates"]}
    assert marks[codes["hl"]] == done["judgement_ids"][0] and marks[codes["hl2"]] is None
    # A later row of that key: hl is out of its candidates, so hl2 stands alone and scores 100: it is linked,
    # since no person judged hl2 not the same.
    report = imported(store, write_csv(tmp_path / "b.csv", [rows[0] | {"date": "2026-05-01"}]))
    assert report.linked == 1 and links(store)[-1]["code"] == codes["hl2"]
    assert all(link["code"] != codes["hl"] for link in links(store))


@pytest.fixture
def two_cities(tmp_path, monkeypatch):
    """Packs whose authorities are 泉市监 (3505, the shipped market pack) and 榕市监 (3501, a copy)."""
    shipped = (pathlib.Path(policies.__file__).parent / "packs/market-credit-risk.yaml").read_text(encoding="utf-8")
    fuzhou = re.sub(
        r"(?m)^authorities:\n(  - .*\n)+",
        'authorities:\n  - {region: "3501", name: 福州市市场监督管理局, short: 榕市监, document_prefix: 榕市监信}\n',
        shipped.replace("id: market-credit-risk", "id: samr-fuzhou", 1),
    )
    folder = tmp_path / "packs"
    folder.mkdir()
    (folder / "market-credit-risk.yaml").write_text(shipped, encoding="utf-8")
    (folder / "samr-fuzhou.yaml").write_text(fuzhou, encoding="utf-8")
    monkeypatch.setenv("SUPERVISE_POLICIES", str(folder))


def test_who_may_judge(store, tmp_path, codes, two_cities):
    imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
    with store.read() as conn:
        fuzhou_q = next(q for q in linking.review_queue(conn) if q["source"]["name"] == "福州华联商贸有限公司")
        quanzhou_q = next(q for q in linking.review_queue(conn) if "祥城" in q["source"]["name"])
    with store.transaction() as conn:
        for name, office in (("泉经办", "泉市监"), ("榕经办", "榕市监")):
            users.add(conn, name, office, "clerk", "secret12345", "admin")
    quanzhou = access.queue(store, "泉经办")
    assert [q["id"] for q in quanzhou["questions"]] == [quanzhou_q["id"]]
    with pytest.raises(AccessRefused, match="只能办理"):
        access.judge(store, "榕经办", quanzhou_q["id"], "same", codes["xc"])
    with pytest.raises(AccessRefused, match="只能办理"):  # a 泉州 clerk filing a 泉州 row to a 福州 entity
        access.judge(store, "泉经办", quanzhou_q["id"], "same", codes["hl"])
    assert count(store, schema.match_judgements) == 0
    done = access.judge(store, "榕经办", fuzhou_q["id"], "same", codes["hl"])
    assert done["stored"] == 1


def test_unknown_review_and_unknown_entity_are_named(store, tmp_path, codes):
    with pytest.raises(linking.JudgementError, match="no match review #999"):
        access.judge(store, "admin", 999, "same", codes["xc"])
    imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
    with store.read() as conn:
        q = linking.review_queue(conn)[0]
    with pytest.raises(linking.JudgementError, match="no entity with code"):
        access.judge(store, "admin", q["id"], "same", make_uscc("91", "350503", "MA2YY999"))
    assert count(store, schema.match_judgements) == 0


def test_history_tables_are_append_only(store, tmp_path, codes):
    imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
    for table in (schema.match_reviews, schema.record_links):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with store.transaction() as conn:
                conn.execute(sa.delete(table))


def test_cli_import_review_judge(store, tmp_path, codes):
    path = write_csv(tmp_path / "court.csv", court_rows(codes))
    dry = cli_run(store, "import", "records", str(path), "--match", "--dry-run").output
    assert "Dry run, nothing stored" in dry and "2 would be held for review" in dry and "court.review.csv" in dry
    out = cli_json(store, "import", "records", str(path), "--match")
    assert (out["linked"], out["held"], out["by_method"]["org_code"]) == (4, 2, 1)
    text = cli_run(store, "match", "review").output
    assert "来源记录" in text and "福州华联商贸有限公司" in text and "候选1" in text and "court.csv:6" in text
    queue = cli_json(store, "match", "review")
    q = next(x for x in queue["questions"] if "祥城" in x["source"]["name"])
    bad = cli_run(store, "match", "judge", str(q["id"]), "same", ok=False)
    assert bad.exit_code != 0 and "names the entity" in bad.output
    done = cli_run(store, "match", "judge", str(q["id"]), "same", codes["xc"]).output
    assert "1 held rows stored" in done
    again = cli_run(store, "match", "judge", str(q["id"]), "not-same", ok=False)
    assert again.exit_code != 0 and "judged the same as" in again.output
    # the lookup still answers as before
    assert cli_json(store, "match", "祥誠物流", "--region", "350503")["code"] == codes["xc"]


def _until_the_server_shows(condition, what: str, limit: float = 600.0) -> None:
    """Ask the server again until it shows ``condition`` (a session waiting on a lock: PostgreSQL has no event a
    client could wait on for that); ``limit`` only bounds a hung test."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_two_people_judging_one_key_at_once_are_serialised_on_postgresql(pg_url, tmp_path):
    """The first judgement holds the key's reviews locked; the second waits on it (seen in pg_locks, never a sleep)
    and, once the first commits, is refused naming it: one judgement, the held rows stored once."""
    store = Store(pg_url)
    store.init()
    try:
        codes = matching_register(store, tmp_path)
        imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
        with store.read() as conn:
            q = next(x for x in linking.review_queue(conn) if "祥城" in x["source"]["name"])
        outcome: dict[str, object] = {}
        first = store.engine.connect()
        tx = first.begin()
        linking.apply_judgement(first, q["id"], "same", linking.entity_for_judgement(first, codes["xc"]), "admin")

        def second() -> None:
            try:
                outcome["result"] = access.judge(store, "admin", q["id"], "same", codes["xc"])
            except linking.JudgementError as exc:
                outcome["error"] = str(exc)

        thread = threading.Thread(target=second)
        thread.start()
        waiting = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )

        def blocked() -> bool:
            with store.engine.connect() as conn:
                return conn.execute(waiting).scalar_one() > 0

        _until_the_server_shows(blocked, "the second judgement to wait on the first's lock")
        tx.commit()
        first.close()
        thread.join()
        assert "result" not in outcome and "judged the same as" in str(outcome["error"])
        assert count(store, schema.match_judgements) == 1
        with store.read() as conn:
            assert (
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(schema.record_links)
                    .where(schema.record_links.c.review_id == q["id"])
                ).scalar_one()
                == 1
            )
    finally:
        store.dispose()


def test_a_clerk_of_an_office_no_pack_names_now_is_told_so(store, tmp_path, codes, two_cities, monkeypatch):
    imported(store, write_csv(tmp_path / "court.csv", court_rows(codes)))
    with store.transaction() as conn:
        users.add(conn, "榕经办", "榕市监", "clerk", "secret12345", "admin")
    with store.read() as conn:
        q = next(x for x in linking.review_queue(conn) if x["source"]["name"] == "福州华联商贸有限公司")
    only_quanzhou = tmp_path / "only-quanzhou"
    only_quanzhou.mkdir()
    shipped = pathlib.Path(policies.__file__).parent / "packs/market-credit-risk.yaml"
    (only_quanzhou / "market-credit-risk.yaml").write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("SUPERVISE_POLICIES", str(only_quanzhou))
    with pytest.raises(AccessRefused, match="现行政策包的 authorities 中没有该机关") as refused:
        access.judge(store, "榕经办", q["id"], "same", codes["hl"])
    assert "\uffff" not in str(refused.value)
    assert count(store, schema.match_judgements) == 0
