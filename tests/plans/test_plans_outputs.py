"""What a plan publishes and answers: inspection notices, the public plan (HTML, CSV, JSON), the working list
(CSV, XLSX), one plan per period (--redraw --reason), inspector capacity per period, `plan list`, the
inspectors' departments, and the demo's plan stage at small and medium sizes."""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
import re

import pytest
import sqlalchemy as sa

from cli import cli
from engine import plans
from engine.errors import IntakeError, PlanError, UsageProblem
from engine.register.codes import make_person_id, make_uscc, mask_name, mask_person_id
from engine.store import schema
from notices.issue import issue_for_plan
from tests.builders_plans import add_inspectors, build_cycle, insert_cycle, insert_entities, inspector_rows, pack_body
from tests.conftest import write_csv

ITEMS = {
    "annual-report": {"title": "年度报告公示信息情况"},
    "instant-disclosure": {"title": "即时公示信息情况"},
    "registration": {"title": "登记事项（住所或经营场所、经营范围等）情况", "tiers": ["C", "D"]},
}
FIELD_WORDS = ("items", "region", "township", "ratio")


def _read_csv(path: pathlib.Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


# -- inspection notices ---------------------------------------------------------------------------------


def test_inspection_notice_prints_the_checks_items(store, tmp_path):
    body = pack_body(inspection={"items": ITEMS})
    cycle_id, rows = build_cycle(
        store, n=40, regions=("350503",), weights={"B": 0.5, "D": 0.5}, body=body, townships=True, forced_share=0.25
    )
    forced = {r["code"] for r in rows if r["forced"]}
    add_inspectors(store, inspector_rows(6, regions=("350503",), max_checks=100, city_every=0))
    plan_id = plans.draw_plan(store, cycle_id, "s")["plan_id"]
    details = plans.plan_details(store, plan_id, dt.date(2025, 7, 1))
    by_tier = {c["tier"] for c in details["checks"]}
    assert {"B", "D"} <= by_tier
    report = issue_for_plan(store, plan_id, out=tmp_path, formats=("html", "txt"), as_of=dt.date(2025, 7, 2))
    assert len(report.issued) == len(details["checks"])
    seen_tiers = set()
    for notice, check in zip(report.issued, details["checks"]):
        text = (tmp_path / f"{notice['number']}.txt").read_text(encoding="utf-8")
        page = (tmp_path / f"{notice['number']}.html").read_text(encoding="utf-8")
        line = next(ln for ln in text.splitlines() if "一、检查事项" in ln)
        wanted = [ITEMS[k]["title"] for k in sorted(ITEMS) if check["tier"] in ITEMS[k].get("tiers", [check["tier"]])]
        for title in wanted:
            assert title in line
            assert title in page
        if check["tier"] == "B":
            assert ITEMS["registration"]["title"] not in line
        for word in FIELD_WORDS:
            assert word not in line
        assert not re.search(r"检查事项：[^<]*\b(items|region|township|ratio)\b", page)
        # A forced entity is told it is a 重点检查对象, whether or not the lottery also drew it.
        assert ("重点检查对象" in text) == (check["code"] in forced) != ("经随机抽取" in text)
        seen_tiers.add(check["tier"])
    assert seen_tiers == by_tier
    assert any(c["code"] in forced and c["reason"] == "sampled" for c in details["checks"])


# -- departments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "department,needle",
    [
        ("('晋江市', '泉', '泉州')市场监督管理局质量监管科", "is not a plain department name"),
        ('["泉州市市场监督管理局"]', "is not a plain department name"),
        ("Quality Dept", "has no Chinese characters"),
        ("None", "is a placeholder"),
        ("nan", "is a placeholder"),
    ],
)
def test_import_inspectors_refuses_a_department_that_is_not_a_name(store, tmp_path, department, needle):
    path = write_csv(
        tmp_path / "inspectors.csv",
        [
            {
                "code": "ZF1",
                "name": "林一",
                "department": "泉州市市场监督管理局（知识产权局）",
                "region": "3505",
                "max_checks": 5,
            },
            {"code": "ZF2", "name": "陈二", "department": department, "region": "3505", "max_checks": 5},
        ],
    )
    with pytest.raises(IntakeError) as info:
        plans.import_inspectors(store, path)
    assert f"{path}:3:department: " in str(info.value) and needle in str(info.value)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.inspectors)).scalar_one() == 0


def test_import_inspectors_cli_names_file_row_column(runner, sqlite_url, sqlite_store, tmp_path):
    path = write_csv(
        tmp_path / "inspectors.csv",
        [
            {"code": "ZF1", "name": "林一", "department": "  ", "region": "3505", "max_checks": 5},
            {
                "code": "ZF2",
                "name": "陈二",
                "department": "('鲤城区', '泉', '泉州')市场监督管理局",
                "region": "3505",
                "max_checks": 5,
            },
        ],
    )
    res = runner.invoke(cli, ["--db", sqlite_url, "import", "inspectors", str(path)])
    assert res.exit_code == 1
    assert f"{path}:2:department: department is required" in res.output
    assert f"{path}:3:department: " in res.output and "not a plain department name" in res.output


# -- public plan, working list -------------------------------------------------------------------------


def _mixed_cycle(store, body):
    """A register with an enterprise, natural persons (one with a USCC-like code: masked by entity type) and
    个体工商户 named after their operator; all tier D (100 %) plus B entities, some forced."""
    rows, decisions = [], []
    for i in range(24):
        region = "350503"
        if i % 6 == 0:
            row = {
                "code": make_person_id(region, dt.date(1980, 1, 1) + dt.timedelta(days=i), i),
                "code_kind": "person",
                "entity_type": "natural_person",
                "name": f"林{i}华",
            }
        elif i % 6 == 1:
            row = {
                "code": make_uscc("91", region, f"P{i:07d}"),
                "code_kind": "uscc",
                "entity_type": "natural_person",
                "name": f"黄{i}英",
            }
        elif i % 6 == 2:
            row = {
                "code": make_uscc("92", region, f"G{i:07d}"),
                "code_kind": "uscc",
                "entity_type": "individual_business",
                "name": f"丰泽区郑{i}强",
                "legal_rep": f"郑{i}强",
            }
        else:
            row = {
                "code": make_uscc("91", region, f"E{i:07d}"),
                "code_kind": "uscc",
                "entity_type": "enterprise",
                "name": f"泉州市测试{i}贸易有限公司",
                "legal_rep": f"吴{i}涛",
            }
        row["region"] = region
        rows.append(row)
    with store.transaction() as conn:
        ids = insert_entities(conn, rows)
        for i, row in enumerate(rows):
            if i < 12:
                decisions.append((ids[row["code"]], "D", 1.0, i % 4 == 0))
            else:
                decisions.append((ids[row["code"]], "B", 0.2, i % 5 == 0))
        cycle_id = insert_cycle(conn, decisions, body)
    return cycle_id, rows


def test_published_plan_files(store, tmp_path):
    body = pack_body(inspection={"items": ITEMS})
    cycle_id, rows = _mixed_cycle(store, body)
    add_inspectors(store, inspector_rows(6, regions=("350503",), max_checks=100, city_every=0))
    drawn = plans.draw_plan(store, cycle_id, "pub")
    forced = sum(s["forced"] for s in drawn["strata"])
    assert forced >= 3 and drawn["forced"] == forced and drawn["sampled"] == drawn["checks"] - forced
    plan_id = drawn["plan_id"]
    out = tmp_path / "public"
    plans.publish_plan(store, plan_id, out, on=dt.date(2025, 7, 2))
    page = (out / f"plan-{plan_id}.html").read_text(encoding="utf-8")
    data = json.loads((out / f"plan-{plan_id}.json").read_text(encoding="utf-8"))
    table = _read_csv(out / f"plan-{plan_id}.csv")
    published = page + json.dumps(data, ensure_ascii=False) + "\n".join(",".join(r) for r in table)
    # Masking: natural persons (by entity type, whatever the code), operators of 个体工商户.
    details = plans.plan_details(store, plan_id, dt.date(2025, 7, 2))
    drawn_codes = {c["code"] for c in details["checks"]}
    by_code = {r["code"]: r for r in rows}
    kinds = set()
    for code in drawn_codes:
        r = by_code[code]
        kinds.add(r["entity_type"])
        if r["entity_type"] == "natural_person":
            assert r["name"] not in published and mask_name(r["name"]) in published
            if r["code_kind"] == "person":
                assert code not in published and mask_person_id(code) in published
        elif r["entity_type"] == "individual_business":
            assert r["legal_rep"] not in published
            assert r["name"].replace(r["legal_rep"], mask_name(r["legal_rep"])) in published
        else:
            assert r["name"] in published and code in published
    assert kinds == {"natural_person", "individual_business", "enterprise"}
    # One summary row per tier; forced the same in the page, the JSON and the draw.
    summary = page[page.index("<h2>抽取数量</h2>") : page.index("</table>", page.index("<h2>抽取数量</h2>"))]
    assert summary.count("<tr><td>D") == 1 and summary.count("<tr><td>B") == 1
    total = re.search(r"<th>合计</th><td>(\d+)</td><td>—</td><td>(\d+)</td>\s*<td>(\d+)</td><td>(\d+)</td>", summary)
    assert total and [int(x) for x in total.groups()] == [24, drawn["checks"], forced, drawn["checks"] - forced]
    assert sum(t["forced"] for t in data["tiers"]) == forced == sum(s["forced"] for s in data["strata"])
    # The 抽查事项 column holds each check's items, on every row.
    assert table[0] == ["序号", "检查对象", "统一社会信用代码/证件号码", "所在地区", "抽查事项", "执法检查人员"]
    tiers = {c["seq"]: c["tier"] for c in details["checks"]}
    for row in table[1:]:
        assert "年度报告公示信息情况、即时公示信息情况" in row[4]
        assert ("登记事项" in row[4]) == (tiers[int(row[0])] in ("C", "D"))
    assert all(c["items"] for c in data["checks"])


def test_working_list_headers_in_chinese_and_no_live_formulas(sqlite_store, tmp_path):
    import openpyxl

    body = pack_body(inspection={"items": ITEMS})
    cycle_id, _rows = build_cycle(sqlite_store, n=8, regions=("350503",), weights={"D": 1.0}, body=body)
    add_inspectors(sqlite_store, inspector_rows(3, regions=("350503",), max_checks=100, city_every=0))
    plan_id = plans.draw_plan(sqlite_store, cycle_id, "x")["plan_id"]
    evil = '=HYPERLINK("http://evil.example/","点我")'
    first = plans.plan_details(sqlite_store, plan_id)["checks"][0]
    with sqlite_store.transaction() as conn:
        conn.execute(sa.update(schema.entities).where(schema.entities.c.code == first["code"]).values(name=evil))
    plans.export_plan(sqlite_store, plan_id, "csv", tmp_path / "p.csv")
    plans.export_plan(sqlite_store, plan_id, "xlsx", tmp_path / "p.xlsx")
    table = _read_csv(tmp_path / "p.csv")
    headers = [h for _k, h in plans.EXPORT_COLUMNS]
    assert table[0] == headers and all(re.search(r"[\u4e00-\u9fff]", h) for h in headers)
    assert not any(re.fullmatch(r"[a-z_]+", h) for h in table[0])
    named = dict(zip(table[0], table[1]))
    assert named["检查对象"] == "'" + evil and named["抽取方式"] == "随机抽取"
    assert "年度报告公示信息情况" in named["抽查事项"]
    sheet = openpyxl.load_workbook(tmp_path / "p.xlsx").active
    assert [c.value for c in sheet[1]] == headers
    cells = {h: c for h, c in zip(headers, sheet[2])}
    assert cells["检查对象"].data_type == "s" and cells["检查对象"].value == "'" + evil
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f"


# -- one plan per period, capacity per period -----------------------------------------------------------


def test_second_plan_for_a_period_needs_redraw_and_reason(store):
    cycle_id, _rows = build_cycle(store, n=40, regions=("350503",), weights={"D": 1.0})
    add_inspectors(store, inspector_rows(4, regions=("350503",), max_checks=25, city_every=0))
    first = plans.draw_plan(store, cycle_id, "same-seed")
    assert first["checks"] == 40
    with pytest.raises(PlanError) as info:
        plans.draw_plan(store, cycle_id, "same-seed")
    message = str(info.value)
    assert f"plan {first['plan_id']}" in message and "--redraw --reason" in message and "same-seed" in message
    with pytest.raises(UsageProblem, match="--redraw needs --reason"):
        plans.draw_plan(store, cycle_id, "same-seed", redraw=True)
    with pytest.raises(UsageProblem, match="--reason is for a redraw"):
        plans.draw_plan(store, cycle_id, "same-seed", reason="x")
    # 4 inspectors x 25 = 100 slots; the first plan used 80, so a second plan of 40 checks cannot be staffed.
    with pytest.raises(plans.InspectorShortage) as short:
        plans.draw_plan(store, cycle_id, "same-seed", redraw=True, reason="检查组调整")
    assert "already use 80 inspector slots" in str(short.value)
    assert [p["id"] for p in plans.list_plans(store)] == [first["plan_id"]]
    add_inspectors(store, inspector_rows(4, regions=("350503",), max_checks=25, city_every=0, prefix="ZG"))
    second = plans.draw_plan(store, cycle_id, "same-seed", redraw=True, reason="检查组调整")
    assert second["earlier_plans"] == [first["plan_id"]]
    with store.read() as conn:
        PA, PC = schema.plan_assignments, schema.plan_checks
        loads = dict(
            conn.execute(
                sa.select(PA.c.inspector_id, sa.func.count())
                .join(PC, PC.c.id == PA.c.check_id)
                .group_by(PA.c.inspector_id)
            ).all()
        )
        caps = dict(conn.execute(sa.select(schema.inspectors.c.id, schema.inspectors.c.max_checks)).all())
        logged = (
            conn.execute(
                sa.select(schema.audit_log.c.detail)
                .where(schema.audit_log.c.action == "plan_draw")
                .order_by(schema.audit_log.c.id)
            )
            .scalars()
            .all()
        )
    assert all(loads[i] <= caps[i] for i in loads), (loads, caps)
    assert sum(loads.values()) == 160
    assert logged[-1]["reason"] == "检查组调整" and logged[-1]["earlier_plans"] == [first["plan_id"]]
    assert plans.verify_plan(store, second["plan_id"])["verified"]
    listed = plans.list_plans(store)
    assert [p["id"] for p in listed] == [first["plan_id"], second["plan_id"]]
    assert listed[1]["redraw"] == {"reason": "检查组调整", "earlier_plans": [first["plan_id"]]}
    assert listed[0]["redraw"] is None and listed[0]["status"] == "drawn"


def test_another_revision_of_the_period_is_the_same_period(store):
    body = pack_body()
    cycle_id, rows = build_cycle(store, n=10, regions=("350503",), weights={"D": 1.0}, body=body)
    add_inspectors(store, inspector_rows(4, regions=("350503",), max_checks=100, city_every=0))
    first = plans.draw_plan(store, cycle_id, "s")
    with store.transaction() as conn:  # the period is run again: revision 2 replaces cycle 1
        again = insert_cycle(conn, [(r["id"], "D", 1.0, False) for r in rows], body)
    with pytest.raises(PlanError, match=f"plan {first['plan_id']} \\(cycle {cycle_id}"):
        plans.draw_plan(store, again, "s")


def test_cli_redraw_and_plan_list(runner, sqlite_url, sqlite_store, tmp_path):
    db = ["--db", sqlite_url]
    cycle_id, _rows = build_cycle(sqlite_store, n=20, regions=("350503",), weights={"C": 0.5, "D": 0.5})
    add_inspectors(sqlite_store, inspector_rows(5, regions=("350503",), max_checks=100, city_every=0))
    res = runner.invoke(cli, [*db, "plan", "list"])
    assert res.exit_code == 0 and "No plans yet" in res.output
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "2025-07-01"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "2025-07-01"])
    assert res.exit_code == 1 and "already has an inspection plan: plan 1" in res.output
    assert "--redraw --reason TEXT" in res.output
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "2025-07-01", "--redraw"])
    assert res.exit_code == 2 and "--redraw needs --reason" in res.output
    res = runner.invoke(
        cli,
        [
            *db,
            "plan",
            "draw",
            "--cycle",
            str(cycle_id),
            "--seed",
            "2025-07-02",
            "--redraw",
            "--reason",
            "原计划抽取时名录未更新",
        ],
    )
    assert res.exit_code == 0 and "Redraw (reason: 原计划抽取时名录未更新)" in res.output
    res = runner.invoke(cli, [*db, "plan", "publish", "1", "--out", str(tmp_path / "pub"), "--on", "2025-07-02"])
    assert res.exit_code == 0
    res = runner.invoke(cli, [*db, "plan", "list", "--json"])
    assert res.exit_code == 0, res.output
    listed = json.loads(res.output)
    assert [(p["id"], p["cycle_id"], p["seed"], p["status"]) for p in listed] == [
        (1, cycle_id, "2025-07-01", "published"),
        (2, cycle_id, "2025-07-02", "drawn"),
    ]
    assert all(p["checks"] > 0 and p["drawn_at"] for p in listed)
    res = runner.invoke(cli, [*db, "plan", "list"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[0].split() == ["id", "cycle", "seed", "drawn", "at", "(UTC)", "checks", "status"]
    assert "published" in lines[1] and "redraw after plan 1: 原计划抽取时名录未更新" in lines[2]
    res = runner.invoke(cli, ["plan", "list", "--help"])
    assert res.exit_code == 0 and "Example:" in res.output


# -- the demo's plan stage -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=[100, 2000])
def demo_out(request, tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp(f"demo{request.param}")
    res = CliRunner().invoke(
        cli,
        ["--db", f"sqlite:///{out / 'demo.db'}", "--json", "demo", "--entities", str(request.param), "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    return request.param, out, json.loads(res.output)


def test_demo_plan_stage_scales_and_reads_right(demo_out):
    n, out, result = demo_out
    stage = next(s for s in result["stages"] if s["name"] == "plan")
    plan_id = stage["plan"]
    assert "plan verify: identical" in stage["lines"]
    with open(out / "inspectors.csv", encoding="utf-8-sig") as handle:
        inspectors = list(csv.DictReader(handle))
    assert inspectors
    for row in inspectors:
        assert plans.department_problem(row["department"]) is None, row
        assert row["department"].endswith(("大队", "科")) and "市场监督管理局" in row["department"]
    assert any(r["department"].startswith("晋江市市场监督管理局") for r in inspectors)
    assert any(r["department"].startswith("泉州市鲤城区市场监督管理局") for r in inspectors)
    public = (out / "plan" / f"plan-{plan_id}.html").read_text(encoding="utf-8")
    assert "('" not in public and "年度报告公示信息情况" in public
    notices = sorted((out / "notices" / "inspection").glob("*.txt"))
    assert notices
    for path in notices[:50]:
        text = path.read_text(encoding="utf-8")
        line = next(ln for ln in text.splitlines() if "一、检查事项" in ln)
        assert "年度报告公示信息情况" in line and "即时公示信息情况" in line
        assert not any(word in line for word in FIELD_WORDS)
        assert "('" not in text
    assert not (out / "plan" / f"plan-{plan_id}.xlsx").exists()  # the unmasked working list is not public
    assert (out / "plan-internal" / f"plan-{plan_id}.xlsx").exists()


def test_cli_forced_counts_agree_with_the_json(runner, sqlite_url, sqlite_store):
    """Forced entities drawn by lot anyway (tier D at 100 %) are still counted as forced in every summary."""
    db = ["--db", sqlite_url]
    cycle_id, rows = build_cycle(
        sqlite_store, n=60, regions=("350503",), weights={"B": 0.5, "D": 0.5}, forced_share=0.2
    )
    forced = sum(1 for r in rows if r["forced"])
    assert forced
    add_inspectors(sqlite_store, inspector_rows(6, regions=("350503",), max_checks=100, city_every=0))
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "s"])
    assert res.exit_code == 0, res.output
    shown = json.loads(runner.invoke(cli, [*db, "plan", "show", "1", "--json"]).output)
    assert sum(s["forced"] for s in shown["strata"]) == forced == shown["totals"]["forced"]
    assert shown["totals"]["sampled"] == shown["totals"]["checks"] - forced
    assert f"({forced} forced, {shown['totals']['checks'] - forced} sampled)" in res.output
    table = [ln.split() for ln in res.output.splitlines() if ln[:1] in ("B", "D") and ln.split()[0] in ("B", "D")]
    assert [t[0] for t in table] == ["B", "D"]  # one row per tier
    assert sum(int(t[-2]) for t in table) == forced
    text = runner.invoke(cli, [*db, "plan", "show", "1"]).output
    assert f"({shown['totals']['checks'] - forced} sampled, {forced} forced)" in text
