"""What the cycle report says, read from the generated files (index.html, report.json, regions.csv): region names,
the unrated tier after the graded ones, and every notice the cycle calls for against those issued."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re

from engine.pipeline.report import write_report
from engine.register.codes import make_uscc
from engine.store import entities as qe
from engine.store import records as rq
from tests.pipeline.test_report import build_register, two_cycles

UNKNOWN = "350599"  # six digits, not a division


def add_entities(store) -> None:
    """One A entity registered under an unknown code; one entity of 丰泽区 without a 2025 evaluation (B, then
    unrated); one of 石狮市 without a 2024 evaluation (unrated, then C)."""
    rows = [
        {
            "code": make_uscc("91", "350500", f"{90 + i:08d}"),
            "code_kind": "uscc",
            "name": f"泉州补充{i}有限公司",
            "entity_type": "enterprise",
            "region": region,
            "industry": "批发和零售业",
            "established_on": dt.date(2015, 3, 1),
            "legal_rep": "李四",
        }
        for i, region in enumerate((UNKNOWN, "350503", "350581"))
    ]
    with store.transaction() as conn:
        qe.upsert_entities(conn, rows)
        ids = qe.entity_ids(conn, [r["code"] for r in rows])
        records = [
            {
                "entity_id": ids[rows[0]["code"]],
                "kind": "tax_evaluation",
                "date": dt.date(2025, 12, 31),
                "natural_key": "2025",
                "data": {"year": 2025, "score": 95, "has_revenue": True},
            }
        ]
        records += [
            {
                "entity_id": ids[rows[2]["code"]],
                "kind": "tax_evaluation",
                "date": dt.date(2025, 12, 31),
                "natural_key": "2025",
                "data": {"year": 2025, "score": 60, "has_revenue": True},
            }
        ]
        records += [
            {
                "entity_id": ids[r["code"]],
                "kind": "tax_evaluation",
                "date": dt.date(2024, 12, 31),
                "natural_key": "2024",
                "data": {"year": 2024, "score": 85, "has_revenue": True},
            }
            for r in rows[:2]
        ]
        rq.insert_records(conn, records, "test")


def read(out):
    html = (out / "index.html").read_text(encoding="utf-8")
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    with (out / "regions.csv").open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    return html, data, table


def section(html: str, caption: str) -> str:
    start = html.index(caption)
    return html[start : html.index("</table>", start)]


def test_regions_by_name_and_unrated_last(store, tmp_path):
    build_register(store, odd_region=False)
    add_entities(store)
    _, second = two_cycles(store)
    write_report(store, second["cycle"], tmp_path / "r")
    html, data, table = read(tmp_path / "r")
    names = {r["region"]: r["region_name"] for r in data["regions"]}
    assert names == {
        "350502": "泉州市鲤城区",
        "350503": "泉州市丰泽区",
        "350581": "泉州市石狮市",
        UNKNOWN: f"区划代码{UNKNOWN}（未知）",
    }  # one province: its name is left out
    assert data["unknown_regions"] == [UNKNOWN]
    assert re.search(r"检查任务最重的地区为泉州市\w+区|检查任务最重的地区为泉州市\w+市", data["headline"][2])
    # Every region label a person reads is a name: table 4, the chart, the headline; the code only in its column.
    t4 = section(html, "表4")
    for code, name in names.items():
        assert f'<td class="l">{name}</td><td class="l code">{code}</td>' in t4
        assert f">{name}</text>" in html
    assert not re.search(r">35\d{4}</text>", html) and "350599不是现行区划代码" in html
    assert table[0][:3] == ["区划代码", "地区", "主体户数"] and table[0][-2:] == ["必查", "预计检查合计"]
    assert {row[0]: row[1] for row in table[1:]} == names
    # The unrated tier (one entity without a 2025 evaluation) after the graded ones, in every table and chart.
    assert data["display_order"] == ["A", "B", "M", "C", "D", "N"] and data["unrated"] == ["N"]
    assert data["tier_order"] == ["A", "B", "M", "N", "C", "D"]
    assert {t["tier"]: t["entities"] for t in data["tiers"]}["N"] == 1
    labels = ["A级", "B级", "M级", "C级", "D级", "未评价"]
    for caption in ("表1", "表3"):
        rows = re.findall(r'<td class="l"><span class="swatch"[^>]*></span>([^<]+)</td>', section(html, caption))
        assert rows == labels, caption
    head = re.findall(r"<th>([^<]+)</th>", section(html, "表4"))
    assert [h for h in head if h in labels] == ["A级", "B级", "C级", "D级", "未评价"]  # tiers with entities
    assert [x for x in table[0] if x.endswith("预计检查")] == [
        "A级预计检查",
        "B级预计检查",
        "C级预计检查",
        "D级预计检查",
        "未评价预计检查",
    ]
    svgs = html.split("<svg")[1:]
    tier_chart = re.findall(r'font-weight="bold">([^<]+)</text>', svgs[0])
    assert tier_chart == labels
    matrix = [x for x in re.findall(r">([^<>]+)</text>", svgs[1]) if x in labels]
    assert matrix[-1] == "未评价" and matrix.index("未评价") > matrix.index("D级")  # column and row headers
    legend = [x for x in re.findall(r">([^<>]+)</text>", svgs[2]) if x in labels]
    assert legend == ["A级", "B级", "C级", "D级", "未评价"]
    # Up and down follow the pack's order (N between M and C), not the place in the matrix: B -> unrated and
    # unrated -> C are both moves down (red), though C is drawn before the unrated column.
    for move in ("B级 → 未评价：1户", "未评价 → C级：1户"):
        tip = re.search(r'fill="#([0-9a-f]{2})([0-9a-f]{2})[0-9a-f]{2}"[^>]*><title>' + move, svgs[1])
        assert tip and int(tip.group(1), 16) > int(tip.group(2), 16) + 15, move
    assert "A级、B级、M级、未评价、C级、D级，越靠后越严格" in html and "未评价列于各等级之后" in html


def test_notice_table_counts_every_kind_the_cycle_calls_for(store, tmp_path):
    from lists import lifecycle
    from notices.issue import issue_for_cycle

    build_register(store, odd_region=False)
    _, second = two_cycles(store)
    cid = second["cycle"]

    def notices(out):
        write_report(store, cid, out)
        html, data, _ = read(out)
        return html, {n["kind"]: (n["due"], n["issued"], n["pending"]) for n in data["notices"]}, data

    html, counts, data = notices(tmp_path / "before")
    assert counts == {
        "warning": (20, 0, 20),
        "pre_listing": (10, 0, 10),
        "repair_instructions": (10, 0, 10),
        "commendation": (10, 0, 10),
    }
    assert "本周期需制发告知文书50份" in data["headline"][-1] and "尚有50份待制发" in data["headline"][-1]
    t7 = section(html, "表7")
    for label in ("失信提示函", "列入名单告知书", "信用修复告知书", "守信激励告知书"):
        assert f'<td class="l">{label}</td>' in t7

    issued = issue_for_cycle(store, cid, as_of=dt.date(2026, 5, 6)).as_dict()["issued_by_kind"]
    html, counts, data = notices(tmp_path / "issued")
    assert {k: v[1] for k, v in counts.items() if v[1]} == issued  # what issuing stored, kind by kind
    # Pre-listing notices (with their repair instructions, 两书同达) are issued when served, dated the service:
    # until 'lists serve' they stay pending; everything else is issued.
    assert {k: v for k, v in counts.items() if v[2]} == {"pre_listing": (10, 0, 10), "repair_instructions": (10, 0, 10)}
    assert "尚有20份待制发" in data["headline"][-1]

    # The watch entries are served and listed after the objection window: listing calls for repair instructions
    # again (两书同达), which the lifecycle issues; the report counts them for this cycle.
    with store.transaction() as conn:
        lifecycle.serve(conn, dt.date(2026, 5, 6), "test", cycle_id=cid)
        lifecycle.advance(conn, dt.date(2026, 6, 30), "test")
    _, counts, _ = notices(tmp_path / "listed")
    assert counts["repair_instructions"] == (20, 20, 0) and counts["pre_listing"] == (10, 10, 0)
