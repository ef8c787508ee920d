"""Notices: templates, fill(), issuing from stored cycles/plans/list events, numbering under concurrency, CLI.

Golden files in tests/notices/golden/<kind>.txt|.html pin one notice of each kind from the fixed world in
tests/builders_notices.py. Regenerate them deliberately with UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import datetime as dt
import html as htmlmod
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa

from cli import cli
from engine.errors import CycleNotFound, NoticeError
from engine.store import Store, schema
from notices import issue
from notices.render import KINDS, cn_date, cn_datetime, cn_number, fill, render, render_stored_text, template_names
from tests import builders_notices as B

ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"
AS_OF = B.AS_OF


def issue_everything(
    store: Store, world: B.World, out: pathlib.Path | None = None, formats=("txt", "html")
) -> dict[str, issue.IssueReport]:
    return {
        "cycle": issue.issue_for_cycle(store, world.cycle_id, out=out, formats=formats, as_of=AS_OF),
        "plan": issue.issue_for_plan(store, world.plan_id, out=out, formats=formats, as_of=AS_OF),
        "removal": issue.issue_list_event(
            store, world.entries["old"], "repaired", out=out, formats=formats, as_of=AS_OF
        ),
    }


def stored(store: Store, source_key: str) -> dict:
    with store.read() as conn:
        row = conn.execute(sa.select(schema.notices).where(schema.notices.c.source_key == source_key)).mappings().one()
    return dict(row)


def visible_text(markup: str) -> str:
    """The words of an HTML notice in order (no head, tags or whitespace)."""
    body = re.sub(r"(?s)<head>.*?</head>", "", markup)
    body = htmlmod.unescape(re.sub(r"<[^>]+>", "", body))
    return re.sub(r"\s+", "", body)


def plain_words(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("━", ""))


# -- fill -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, facts, expected",
    [
        ("得分{score}分", {"score": 35}, "得分35分"),
        ("得分{score}分", {"score": 35.0}, "得分35分"),
        ("得分{score}分", {"score": 41.5}, "得分41.5分"),
        ("得分{score:.1f}分", {"score": 41.25}, "得分41.2分"),
        ("无收入：{has_revenue}", {"has_revenue": False}, "无收入：否"),
        ("未知{missing}保留", {"score": 1}, "未知{missing}保留"),
        ("属性{score.real}不取", {"score": 1}, "属性{score.real}不取"),
        ("下标{items[0]}不取", {"items": [1]}, "下标{items[0]}不取"),
        ("转换{score!r}不做", {"score": 1}, "转换{score!r}不做"),
        ("嵌套{score:{width}}不做", {"score": 1, "width": 5}, "嵌套{score:{width}}不做"),
        ("坏格式{score:zz}保留", {"score": 1}, "坏格式{score:zz}保留"),
        ("不成对 { 括号", {"score": 1}, "不成对 { 括号"),
        ("双括号{{字面}}", {}, "双括号{字面}"),
        ("", {"score": 1}, ""),
        (None, {"score": 1}, ""),
        ("{__class__}", {"score": 1}, "{__class__}"),
    ],
)
def test_fill_only_substitutes_known_plain_names(text, facts, expected):
    assert fill(text, facts) == expected


def test_filters():
    assert cn_date("2025-03-01") == "2025年3月1日"
    assert cn_datetime("2025-03-10T14:30") == "2025年3月10日（星期一）下午14时30分"
    assert cn_datetime("2025-03-10T09:00") == "2025年3月10日（星期一）上午9时"
    assert [cn_number(n) for n in (1, 10, 15, 20, 23, 100)] == ["一", "十", "十五", "二十", "二十三", "100"]


# -- templates ----------------------------------------------------------------------------------


def test_every_kind_has_a_text_and_an_html_template_and_partials_start_with_underscore():
    names = set(template_names())
    for kind in KINDS:
        assert f"{kind}.txt" in names and f"{kind}.html" in names
    for name in names:
        stem = name.rsplit(".", 1)[0]
        assert stem in KINDS or name.startswith("_"), f"{name}: partials start with _"


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_template_renders_the_sample_and_text_and_html_say_the_same(kind):
    ctx = issue.sample_context(kind)
    text = render(kind, ctx, "txt")
    markup = render(kind, ctx, "html")
    assert ctx["number"] in text and ctx["number"] in markup
    assert "（盖章）" in text and "2025年9月1日" in text
    assert plain_words(text) == visible_text(markup)


def test_missing_field_names_template_and_field():
    ctx = issue.sample_context("warning")
    del ctx["rectify"]
    with pytest.raises(NoticeError) as err:
        render("warning", ctx, "txt")
    assert "'warning.txt'" in str(err.value) and "'rectify'" in str(err.value)
    ctx = issue.sample_context("pre_listing")
    del ctx["objection"]["deadline"]
    with pytest.raises(NoticeError) as err:
        render("pre_listing", ctx, "html")
    assert "'pre_listing.html'" in str(err.value) and "'objection.deadline'" in str(err.value)
    ctx = issue.sample_context("warning")
    del ctx["recipient"]["name"]
    with pytest.raises(NoticeError, match=r"_base\.txt line \d+.*recipient\.name|recipient\.name"):
        render("warning", ctx, "txt")


def test_missing_field_in_a_user_template_is_an_error_not_a_blank(tmp_path):
    (tmp_path / "warning.txt").write_text("{{ recipient.name }} {{ hearing_date }}\n", encoding="utf-8")
    with pytest.raises(NoticeError) as err:
        render("warning", issue.sample_context("warning"), "txt", tmp_path)
    assert "warning.txt line 1" in str(err.value) and "'hearing_date'" in str(err.value)


def test_user_directory_overrides_by_name_and_keeps_the_rest(tmp_path):
    (tmp_path / "warning.txt").write_text("自定义提示函 {{ number }}\n", encoding="utf-8")
    ctx = issue.sample_context("warning")
    assert render("warning", ctx, "txt", tmp_path) == f"自定义提示函 {ctx['number']}\n"
    assert "失信提示函" in render("warning", ctx, "html", tmp_path)  # not overridden: shipped
    with pytest.raises(NoticeError, match="does not exist"):
        render("warning", ctx, "txt", tmp_path / "nope")


def test_unknown_template_and_syntax_error_are_notice_errors(tmp_path):
    with pytest.raises(NoticeError, match="No notice template 'nothing.txt'"):
        render("nothing", {}, "txt")
    (tmp_path / "warning.html").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(NoticeError, match="warning.html.*line 1.*syntax error"):
        render("warning", issue.sample_context("warning"), "html", tmp_path)


def test_html_escapes_and_text_does_not():
    ctx = issue.sample_context("warning")
    ctx["recipient"]["name"] = "<script>alert(1)</script>公司"
    markup = render("warning", ctx, "html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;公司" in markup and "<script>" not in markup
    assert "<script>alert(1)</script>公司" in render("warning", ctx, "txt")


# -- issuing --------------------------------------------------------------------------------------


def test_cycle_issues_every_kind_it_calls_for_in_all_formats(store, tmp_path):
    world = B.build_world(store)
    reports = issue_everything(store, world, tmp_path, formats=("txt", "html", "pdf"))
    by_kind = {}
    for report in reports.values():
        for n in report.issued:
            by_kind.setdefault(n["kind"], []).append(n)
    assert {k: len(v) for k, v in by_kind.items()} == {
        "warning": 3,
        "interview": 1,
        "pre_listing": 1,
        "repair_instructions": 1,
        "commendation": 1,
        "inspection": 1,
        "removal_decision": 1,
    }
    assert reports["cycle"].issued[0]["number"] == "泉市监信提示〔2025〕1号"
    for notices in by_kind.values():
        for n in notices:
            assert [pathlib.Path(f).suffix for f in n["files"]] == [".txt", ".html", ".pdf"]
            assert all(pathlib.Path(f).stat().st_size > 0 for f in n["files"])
    if shutil.which("pdftotext"):
        n = by_kind["pre_listing"][0]
        text = subprocess.run(["pdftotext", n["files"][2], "-"], capture_output=True, text=True, check=True).stdout
        assert "泉州市示例食品有限公司" in text and n["number"] in text and "陈述、申辩" in text


def test_two_notices_together_and_the_outcome_notice_not_twice(store):
    world = B.build_world(store)
    report = issue.issue_for_cycle(store, world.cycle_id, as_of=AS_OF)
    keys = {n["source_key"] for n in report.issued}
    food_entry, good_entry = world.entries["food"], world.entries["good"]
    # 两书同达: the pre-listing notice comes with its repair instructions, from the list entry's event
    assert {f"e{food_entry}:1:pre_listing", f"e{food_entry}:1:repair_instructions"} <= keys
    pre = stored(store, f"e{food_entry}:1:pre_listing")
    assert pre["context"]["with_repair"] is True and pre["context"]["objection"]["days"] == 15
    # the red-list entry issues the commendation; the decision's own commendation is covered by it
    assert f"e{good_entry}:1:commendation" in keys and f"d{world.decisions['good']}:commendation" not in keys


def test_issuing_pauses_the_cyclic_collector_and_restores_it(store):
    """Issuing runs with the cyclic garbage collector paused (bulk work, as serve and advance: its passes were about
    a twentieth of issuing 30,000 notices); it is running again afterwards."""
    import gc

    world = B.build_world(store)
    seen: list[bool] = []
    assert gc.isenabled()
    issue.issue_for_cycle(store, world.cycle_id, as_of=AS_OF, progress=lambda n: seen.append(gc.isenabled()))
    assert seen and not any(seen) and gc.isenabled()


def test_reasons_and_bases_come_from_the_stored_decision(store):
    world = B.build_world(store)
    issue.issue_for_cycle(store, world.cycle_id, as_of=AS_OF)
    ctx = stored(store, f"d{world.decisions['food']}:warning")["context"]
    # decisive first, fired next, ignored and list-rule reasons left out, {facts} filled
    assert ctx["facts"] == ["近三年有2次较重行政处罚", "信用风险评分41.5分，低于60分"]
    assert ctx["basis"][0] == (
        "《国务院办公厅关于加快推进社会信用体系建设构建以信用为基础的新型监管机制的指导意见》"
        "（国办发〔2019〕35号）第九条"
    )
    pre = stored(store, f"e{world.entries['food']}:1:pre_listing")["context"]
    assert pre["summary"] == "因销售不符合食品安全标准的食品被处以吊销许可证，属于严重违法失信行为"
    assert pre["basis"][0] == "《市场监督管理严重违法失信名单管理办法》（国家市场监督管理总局令第44号）"


def test_reissue_finds_the_stored_notices_and_rewrites_identical_bytes(store, tmp_path):
    world = B.build_world(store)
    first = issue_everything(store, world, tmp_path / "a")
    second = issue_everything(store, world, tmp_path / "b")
    assert second["cycle"].issued == [] and len(second["cycle"].already) == len(first["cycle"].issued)
    assert second["cycle"].changed == []  # the stored context re-renders to the hash that was issued
    for name in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.notices)).scalar() == 9
    row = stored(store, f"d{world.decisions['food']}:warning")
    text = (tmp_path / "a" / f"{row['number']}.txt").read_text(encoding="utf-8")
    assert issue.content_hash(text) == row["content_hash"]
    assert row["template"] == "warning" and row["pack_id"] == "market-credit" and row["pack_version"] == "2025"
    assert row["decision_id"] == world.decisions["food"] and row["cycle_id"] == world.cycle_id


def test_golden_one_notice_of_each_kind(store):
    world = B.build_world(store, script_name=False)
    issue_everything(store, world)
    keys = {
        "warning": f"d{world.decisions['food']}:warning",
        "interview": f"d{world.decisions['food']}:interview",
        "pre_listing": f"e{world.entries['food']}:1:pre_listing",
        "repair_instructions": f"e{world.entries['food']}:1:repair_instructions",
        "commendation": f"e{world.entries['good']}:1:commendation",
        "inspection": "k1:inspection",
        "removal_decision": f"e{world.entries['old']}:3:removal_decision",
    }
    assert set(keys) == set(KINDS)
    mismatched = []
    for kind, key in keys.items():
        row = stored(store, key)
        for fmt in ("txt", "html"):
            got = render(row["template"], row["context"], fmt)
            path = GOLDEN / f"{kind}.{fmt}"
            if UPDATE_GOLDEN:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(got, encoding="utf-8")
            elif not path.exists() or path.read_text(encoding="utf-8") != got:
                mismatched.append(path.name)
    assert not mismatched, (
        f"{mismatched} differ from the golden files; if the change is deliberate, run "
        f"UPDATE_GOLDEN=1 pytest tests/notices/test_notices.py -k golden and review the diff"
    )


def test_natural_person_gets_the_name_but_never_the_full_identity_number(store, tmp_path):
    world = B.build_world(store)
    issue.issue_for_cycle(store, world.cycle_id, out=tmp_path, formats=("txt", "html"), as_of=AS_OF)
    full = world.codes["person"]
    row = stored(store, f"d{world.decisions['person']}:warning")
    assert full not in json.dumps(row["context"], ensure_ascii=False)
    for fmt in ("txt", "html"):
        content = (tmp_path / f"{row['number']}.{fmt}").read_text(encoding="utf-8")
        assert "王小明" in content and full not in content
        assert f"{full[:4]}{'*' * 12}{full[-2:]}" in content and "公民身份号码" in content
        assert "你单位" not in content


def test_script_in_an_entity_name_is_text_in_html(store, tmp_path):
    world = B.build_world(store)
    issue.issue_for_cycle(store, world.cycle_id, out=tmp_path, formats=("html", "txt"), as_of=AS_OF)
    number = stored(store, f"d{world.decisions['script']}:warning")["number"]
    markup = (tmp_path / f"{number}.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;贸易有限公司" in markup and "<script>" not in markup
    assert "<script>alert(1)</script>贸易有限公司" in (tmp_path / f"{number}.txt").read_text(encoding="utf-8")


def test_kind_filter_and_inspection_notice_names_the_inspectors(store):
    world = B.build_world(store)
    report = issue.issue_for_cycle(store, world.cycle_id, kinds=["interview"], as_of=AS_OF)
    assert [n["kind"] for n in report.issued] == ["interview"]
    plan = issue.issue_for_plan(store, world.plan_id, as_of=AS_OF)
    ctx = stored(store, plan.issued[0]["source_key"])["context"]
    assert [i["name"] for i in ctx["inspection"]["inspectors"]] == ["李明", "王芳"]
    text = render("inspection", ctx, "txt")
    assert "李明（执法证号：FJ35050001" in text and "重点检查对象" in text and "2025年3月10日至2025年4月30日" in text


def test_numbers_are_gap_free_per_kind_and_year_across_chunks(store, monkeypatch):
    monkeypatch.setattr(issue, "CHUNK", 7)
    cycle = B.bulk_cycle(store, 40)
    report = issue.issue_for_cycle(store, cycle, as_of=AS_OF)
    assert [n["number"] for n in report.issued] == [f"泉市监信提示〔2025〕{i}号" for i in range(1, 41)]
    nxt = issue.issue_for_cycle(
        store, B.bulk_cycle(store, 3, period="2025", code_offset=100), as_of=dt.date(2026, 1, 5)
    )
    assert [n["number"] for n in nxt.issued] == [f"泉市监信提示〔2026〕{i}号" for i in range(1, 4)]
    with store.read() as conn:
        counters = dict(conn.execute(sa.select(schema.doc_counters.c.key, schema.doc_counters.c.value)).all())
    assert counters == {"泉市监信提示〔2025〕{seq}号": 40, "泉市监信提示〔2026〕{seq}号": 3}


def test_numbering_pattern_from_the_pack(store):
    body = B.pack_body(numbering="{prefix}〔{year}〕{seq:05d}号")
    cycle = B.bulk_cycle(store, 2, body=body)
    report = issue.issue_for_cycle(store, cycle, as_of=AS_OF)
    assert [n["number"] for n in report.issued] == ["泉市监信提示〔2025〕00001号", "泉市监信提示〔2025〕00002号"]


@pytest.mark.parametrize("pattern", ["{prefix}{year}", "{prefix}{seq}{office}", "{prefix{seq}"])
def test_bad_numbering_pattern_is_a_notice_error(pattern):
    with pytest.raises(NoticeError, match="numbering"):
        issue.numbering(B.pack_body(numbering=pattern), "warning", 2025)


def test_failed_render_stores_nothing_and_takes_no_number(store, tmp_path):
    world = B.build_world(store)
    (tmp_path / "interview.txt").write_text("{{ no_such_field }}", encoding="utf-8")
    with pytest.raises(NoticeError, match="no_such_field"):
        issue.issue_for_cycle(store, world.cycle_id, as_of=AS_OF, templates=tmp_path)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.notices)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.doc_counters)).scalar() == 0


def test_list_event_inside_the_callers_transaction_adds_repair_instructions(store):
    body = B.pack_body()
    body["version"]["lists"]["black"]["notices"] = {"propose": ["pre_listing"], "remove": ["removal_decision"]}
    with store.transaction() as conn:
        B.add_pack_version(conn, body)
        entity = B.add_entity(conn, B.make_uscc("91", "350500", "00000999"), "泉州市新案商贸有限公司")
        entry = B.add_list_entry(
            conn,
            entity,
            "black",
            cycle_id=None,
            decision_id=None,
            reason="严重违法失信",
            basis="samr-44",
            events=[("proposed", "proposed", dt.date(2025, 3, 1))],
        )
        unserved = issue.issue_for_list_event(conn, entry, "proposed", as_of=dt.date(2025, 3, 1))
        assert unserved["issued"] == [] and all("lists serve" in s["reason"] for s in unserved["skipped"])
        B.add_event(conn, entry, 2, "notified", "notified", dt.date(2025, 3, 1))
        result = issue.issue_for_list_event(conn, entry, "proposed", as_of=dt.date(2025, 3, 1))
    assert [n["kind"] for n in result["issued"]] == ["pre_listing", "repair_instructions"]
    with store.transaction() as conn:  # again: nothing new
        again = issue.issue_for_list_event(conn, entry, "proposed", seq=1, as_of=dt.date(2025, 3, 2))
    assert again["issued"] == [] and [n["number"] for n in again["already"]] == [n["number"] for n in result["issued"]]
    with store.transaction() as conn:
        with pytest.raises(NoticeError, match="no 'repaired' event"):
            issue.issue_for_list_event(conn, entry, "repaired")
        with pytest.raises(NoticeError, match="not a list event"):
            issue.issue_for_list_event(conn, entry, "frobbed")


def test_pre_listing_is_skipped_for_a_list_without_objection_window(store):
    body = B.pack_body()
    with store.transaction() as conn:
        pv = B.add_pack_version(conn, body)
        cycle = B.add_cycle(conn, pv)
        entity = B.add_entity(conn, B.make_uscc("91", "350500", "00000998"), "泉州市甲公司")
        result = {**B.RESULT_A, "notices": [{"kind": "pre_listing", "rule": "r", "list": "red", "reason": "x"}]}
        B.add_decision(conn, cycle, entity, B.add_outcome(conn, cycle, result), result, {})
    report = issue.issue_for_cycle(store, cycle, as_of=AS_OF)
    assert report.issued == [] and "objection_days 0" in report.skipped[0]["reason"]


def test_errors_name_the_cycle_and_the_fix(store):
    with pytest.raises(CycleNotFound, match="No cycle with id 99; 'supervise cycle list'"):
        issue.issue_for_cycle(store, 99)
    with store.transaction() as conn:
        cycle = B.add_cycle(conn, B.add_pack_version(conn), status="running")
    with pytest.raises(NoticeError, match="not committed"):
        issue.issue_for_cycle(store, cycle)
    with pytest.raises(NoticeError, match="Unknown notice setting 'interview.plac'.*did you mean 'interview.place'"):
        issue.resolve_settings(B.PACK_BODY, {"interview.plac": "x"})
    with pytest.raises(NoticeError, match="did you mean 'warning'"):
        issue.issue_for_cycle(store, cycle, kinds=["warnin"])


def test_settings_reach_the_interview_notice(store):
    world = B.build_world(store)
    issue.issue_for_cycle(
        store,
        world.cycle_id,
        as_of=AS_OF,
        kinds=["interview"],
        settings={
            "interview.at": "2025-03-12T15:00",
            "interview.place": "本局三楼第一会议室",
            "contact.phone": "0595-22000000",
        },
    )
    text = render("interview", stored(store, f"d{world.decisions['food']}:interview")["context"], "txt")
    assert "2025年3月12日（星期三）下午15时" in text and "本局三楼第一会议室" in text and "0595-22000000" in text


# -- two real processes on PostgreSQL -----------------------------------------------------------

WORKER = """
import datetime as dt, sys
sys.path.insert(0, sys.argv[3])
from engine.store import Store
from notices import issue
issue.CHUNK = 6
store = Store(sys.argv[1])
sys.stdin.readline()  # blocks until the test has started every process and says go
report = issue.issue_for_cycle(store, int(sys.argv[2]), as_of=dt.date(2025, 3, 3))
print(len(report.issued), len(report.already))
"""


@pytest.mark.pg
def test_overlapping_issuing_processes_number_without_gaps_or_duplicates(pg_url, tmp_path):
    store = Store(pg_url)
    store.init()
    a = B.bulk_cycle(store, 120)
    b = B.bulk_cycle(store, 120, period="2025", code_offset=1000)
    store.dispose()
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pg_url, str(c), str(ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in (a, b, a)
    ]
    for p in procs:  # every process is started before any is told to go
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
    counts = [tuple(map(int, out.split())) for out, _ in outputs]
    assert counts[0][0] + counts[2][0] == 120 and counts[1] == (120, 0)  # cycle a issued once between two runs
    store = Store(pg_url)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(schema.notices.c.number, schema.notices.c.cycle_id, schema.notices.c.id).order_by(
                schema.notices.c.id
            )
        ).all()
    store.dispose()
    seqs = sorted(int(re.search(r"〕(\d+)号", r.number).group(1)) for r in rows)
    assert seqs == list(range(1, 241))
    order = [r.cycle_id for r in sorted(rows, key=lambda r: int(re.search(r"〕(\d+)号", r.number).group(1)))]
    print("chunks of cycle a and b interleaved:", sum(1 for x, y in zip(order, order[1:]) if x != y), "switches")


# -- CLI --------------------------------------------------------------------------------------------


def test_cli_issue_show_list_preview(sqlite_store, runner, tmp_path):
    world = B.build_world(sqlite_store)
    db = ["--db", sqlite_store.url]
    out = tmp_path / "out"
    r = runner.invoke(
        cli,
        db
        + [
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
            "--set",
            "contact.phone=0595-22000000",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "Cycle 1: 7 notice(s) issued (warning 3, interview 1, pre_listing 1" in r.output
    assert "泉市监信提示〔2025〕1号" in r.output and "14 file(s)" in r.output
    r = runner.invoke(
        cli,
        db + ["notices", "issue", "--cycle", str(world.cycle_id), "--out", str(out), "--as-of", "2025-03-04", "--json"],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["issued_count"] == 0 and data["already_count"] == 7
    r = runner.invoke(cli, db + ["notices", "issue", "--plan", str(world.plan_id), "--out", str(out)])
    assert r.exit_code == 0 and "1 notice(s) issued (inspection 1)" in r.output
    r = runner.invoke(cli, db + ["notices", "issue", "--entry", str(world.entries["old"]), "--out", str(out)])
    assert r.exit_code == 0 and "removal_decision 1" in r.output, r.output

    r = runner.invoke(cli, db + ["notices", "show", "泉市监信告知〔2025〕1号"])
    assert r.exit_code == 0 and "列入严重违法失信名单告知书" in r.output and "陈述、申辩和要求听证" in r.output
    assert "0595-22000000" in r.output
    r = runner.invoke(cli, db + ["notices", "show", "泉市监信告知〔2025〕1号", "--format", "html", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["content"].startswith("<!DOCTYPE html>")
    r = runner.invoke(cli, db + ["notices", "show", "泉市监信告知〔2025〕9号"])
    assert r.exit_code == 1 and "No notice numbered '泉市监信告知〔2025〕9号'" in r.output
    r = runner.invoke(cli, db + ["notices", "show", "泉市监信告知〔2025〕1号", "--format", "pdf"])
    assert r.exit_code == 2 and "add --out FILE" in r.output

    r = runner.invoke(cli, db + ["notices", "list", "--cycle", str(world.cycle_id), "--kind", "warning", "--json"])
    assert r.exit_code == 0
    rows = json.loads(r.output)
    assert [x["number"] for x in rows] == [f"泉市监信提示〔2025〕{i}号" for i in (1, 2, 3)]
    assert rows[1]["code"].count("*") == 12  # the person's identity number is masked in listings too
    r = runner.invoke(cli, db + ["notices", "list", "--plan", str(world.plan_id)])
    assert r.exit_code == 0 and "1 notice(s):" in r.output and "inspection" in r.output

    r = runner.invoke(cli, ["notices", "preview", "interview"])
    assert r.exit_code == 0 and "警示约谈通知书" in r.output


def test_cli_usage_and_library_errors(sqlite_store, runner, tmp_path):
    db = ["--db", sqlite_store.url]
    r = runner.invoke(cli, db + ["notices", "issue", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "exactly one of --cycle ID, --plan ID or --entry ID" in r.output
    r = runner.invoke(cli, db + ["notices", "issue", "--cycle", "1", "--plan", "1", "--out", str(tmp_path)])
    assert r.exit_code == 2
    r = runner.invoke(cli, db + ["notices", "issue", "--cycle", "42", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "No cycle with id 42" in r.output
    r = runner.invoke(cli, db + ["notices", "issue", "--cycle", "42", "--out", str(tmp_path), "--set", "oops"])
    assert r.exit_code == 1 and "KEY=VALUE" in r.output
    r = runner.invoke(cli, db + ["notices", "issue", "--plan", "7", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "No inspection plan 7" in r.output


def test_cli_commands_have_help_with_an_example(runner):
    for name in ("issue", "show", "list", "preview"):
        r = runner.invoke(cli, ["notices", name, "--help"])
        assert r.exit_code == 0 and "Example:" in r.output


def test_large_runs_write_files_in_worker_processes_with_identical_bytes(sqlite_store, tmp_path, monkeypatch):
    world = B.build_world(sqlite_store)
    monkeypatch.setattr(issue, "PARALLEL_MIN", 0)
    monkeypatch.setattr(issue, "_BATCH", 2)
    monkeypatch.setattr(issue, "_IN_FLIGHT", 1)
    parallel = issue.issue_for_cycle(
        sqlite_store, world.cycle_id, out=tmp_path / "a", formats=("txt", "html"), as_of=AS_OF
    )
    assert parallel.files == 14 and all(len(n["files"]) == 2 for n in parallel.issued)
    monkeypatch.setattr(issue, "PARALLEL_MIN", 10**9)
    serial = issue.issue_for_cycle(
        sqlite_store, world.cycle_id, out=tmp_path / "b", formats=("txt", "html"), as_of=AS_OF
    )
    assert serial.files == 14 and serial.changed == []
    assert sorted(os.listdir(tmp_path / "a")) == sorted(os.listdir(tmp_path / "b"))
    for name in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def _stored_notices(store) -> list[dict]:
    with store.read() as conn:
        rows = conn.execute(sa.select(schema.notices).order_by(schema.notices.c.id)).mappings()
        return [{k: v for k, v in r.items() if k != "issued_at"} for r in rows]


def test_large_runs_store_the_notices_the_serial_path_stores(store, tmp_path, monkeypatch):
    """A large run (the files written by worker processes, several chunks) stores the notices (ids, numbers,
    contexts, hashes) and writes the files of the serial path."""
    monkeypatch.setattr(issue, "CHUNK", 2)  # several chunks
    monkeypatch.setattr(issue, "PARALLEL_MIN", 10**9)
    monkeypatch.setattr(issue, "SEAL_PARALLEL_MIN", 10**9)
    serial_store = Store(f"sqlite:///{tmp_path / 'serial.db'}")
    serial_store.init()
    world = B.build_world(serial_store)
    issue.issue_for_cycle(serial_store, world.cycle_id, out=tmp_path / "a", formats=("txt", "html"), as_of=AS_OF)
    serial = _stored_notices(serial_store)
    serial_store.dispose()
    monkeypatch.setattr(issue, "PARALLEL_MIN", 0)
    monkeypatch.setattr(issue, "SEAL_PARALLEL_MIN", 0)
    monkeypatch.setattr(issue, "SEAL_PARALLEL_CORES", 1)  # workers whatever the machine
    monkeypatch.setattr(issue, "_SEAL_BATCH", 1)
    monkeypatch.setattr(issue, "_SEAL_AHEAD", 1)
    world = B.build_world(store)
    report = issue.issue_for_cycle(store, world.cycle_id, out=tmp_path / "b", formats=("txt", "html"), as_of=AS_OF)
    assert len(report.issued) == len(serial) == 7
    assert _stored_notices(store) == serial
    assert sorted(os.listdir(tmp_path / "a")) == sorted(os.listdir(tmp_path / "b"))
    for name in os.listdir(tmp_path / "a"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_contexts_built_with_shared_parts_are_those_built_alone():
    """build_context with a run's Shared: the same contexts (and JSON texts) as built one by one, for every kind and
    several parties, issue dates and listing dates; the parts shared are one object in every context that has
    them, and rendering with their strict forms kept gives the text rendered from the stored JSON."""
    shared = issue.Shared()
    memo = shared.strict
    settings = issue.resolve_settings(issue.SAMPLE_PACK, None)
    seen: dict[str, list[int]] = {}
    for kind in sorted(issue.KINDS):
        list_id = {"pre_listing": "black", "repair_instructions": "black", "removal_decision": "black"}.get(kind)
        if kind == "commendation":
            list_id = "red"
        for n, (issued_on, listed_on) in enumerate(
            [(dt.date(2025, 9, 1), dt.date(2024, 9, 1)), (dt.date(2026, 5, 6), None), (dt.date(2025, 9, 1), None)]
        ):
            entity = {**issue.SAMPLE_ENTITY, "name": f"样本{n}有限公司", "code": f"91350100M0000{n}"}
            result = issue.SAMPLE_RESULT_A if kind == "commendation" else issue.SAMPLE_RESULT
            args = dict(
                pack_body=issue.SAMPLE_PACK,
                entity=entity,
                issued_on=issued_on,
                settings=settings,
                result=result,
                facts={"score": 35},
                notice=result["notices"][0] if kind in ("warning", "interview", "commendation") else {},
                list_id=list_id,
                list_reason="被确定为重大税收违法失信主体",
                list_basis="sat-2025-12",
                listed_on=listed_on,
                event={"event": "repaired", "valid_from": issued_on.isoformat()},
                check={
                    "id": 1,
                    "seq": 1,
                    "tier": "D",
                    "items": ["invoice"],
                    "inspectors": [{"code": "1", "name": "李明"}, {"code": "2", "name": "王芳"}],
                },
                plan={"id": 1, "params": {}},
                period="2024",
                with_repair=True,
            )
            alone = issue.build_context(kind, **args)
            together = issue.build_context(kind, shared=shared, **args)
            assert together == alone and json.dumps(together) == json.dumps(alone), kind
            together["number"] = alone["number"] = f"第{n}号"
            stored = json.dumps(together)
            assert render_stored_text(kind, together, stored, None, memo) == render(kind, json.loads(stored), "txt")
            seen.setdefault(kind, []).append(id(together["authority"]))
    assert all(len(set(ids)) == 1 for ids in seen.values())  # one authority object for the run's contexts
