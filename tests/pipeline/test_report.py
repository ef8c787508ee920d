"""`supervise cycle report`: HTML + report.json from a stored cycle, escaping, and a headless Chromium render."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from cli import cli
from engine.pipeline.report import render_html, report_data, write_report
from engine.register.codes import make_uscc
from engine.store import entities as qe
from engine.store import records as rq

REQUIRE_PG = os.environ.get("REQUIRE_PG") == "1"  # CI: the browser must be there as well
SCORES = (95, 80, 60, 30)  # 2025 scores cycle through these: A, B, C, D under tax-credit@2025
ODD_REGION = "<b>'&"  # fits the 6-character region column on PostgreSQL


def build_register(store, enterprises: int = 40, individuals: int = 0, odd_region: bool = True) -> None:
    """Enterprises scoring 85 in 2024 (tier B) and 95/80/60/30 in 2025 (A/B/C/D), spread over three regions;
    the last one sits in a region whose value needs HTML escaping. ``individuals`` adds individual businesses."""
    rows = []
    for i in range(enterprises + individuals):
        region = ("350502", "350503", "350581")[i % 3]
        if odd_region and i == enterprises - 1:
            region = ODD_REGION
        rows.append(
            {
                "code": make_uscc("91" if i < enterprises else "92", "350500", f"{i + 1:08d}"),
                "code_kind": "uscc",
                "name": f"泉州测试{i}有限公司",
                "entity_type": "enterprise" if i < enterprises else "individual_business",
                "region": region,
                "industry": "批发和零售业",
                "established_on": dt.date(2015, 3, 1),
                "legal_rep": "张三",
            }
        )
    with store.transaction() as conn:
        qe.upsert_entities(conn, rows)
        ids = qe.entity_ids(conn, [r["code"] for r in rows])
        records = []
        for n, row in enumerate(rows):
            for year, score in ((2024, 85), (2025, SCORES[n % len(SCORES)])):
                records.append(
                    {
                        "entity_id": ids[row["code"]],
                        "kind": "tax_evaluation",
                        "date": dt.date(year, 12, 31),
                        "natural_key": str(year),
                        "data": {"year": year, "score": score, "has_revenue": True},
                    }
                )
        rq.insert_records(conn, records, "test")


def one_authority_pack(pack_id: str = "tax-credit") -> str:
    """The shipped pack without its per-region ``authorities`` (one authority for every region), so that the
    register's deliberately odd region value reaches the report instead of stopping the cycle."""
    import pathlib

    import yaml

    from policies import pack_files

    path = pathlib.Path(tempfile.gettempdir()) / f"supervise-one-authority-{os.getpid()}" / f"{pack_id}.yaml"
    if not path.exists():
        raw = yaml.safe_load(pack_files()[pack_id].read_text(encoding="utf-8"))
        raw.pop("authorities", None)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def two_cycles(store) -> tuple[dict, dict]:
    from engine.pipeline.cycles import run_cycle

    first = run_cycle(store, one_authority_pack(), "2024", as_of=dt.date(2025, 4, 30))
    second = run_cycle(store, one_authority_pack(), "2025", as_of=dt.date(2026, 4, 30))
    return first, second


def test_report_figures_come_from_the_stored_cycle(store):
    build_register(store)
    first, second = two_cycles(store)
    data = report_data(store, second["cycle"])
    tiers = {t["tier"]: t for t in data["tiers"]}
    assert {t: tiers[t]["entities"] for t in "ABCD"} == {"A": 10, "B": 10, "C": 10, "D": 10}
    assert tiers["A"]["share"] == 0.25 and tiers["B"]["previous"] == 40 and tiers["B"]["change"] == -30
    assert [t["tier"] for t in data["tiers"]] == ["A", "B", "M", "C", "D", "N"]  # graded, then unrated; zero kept
    assert data["tier_order"] == ["A", "B", "M", "N", "C", "D"]  # the pack's order (up and down)
    tr = data["transitions"]
    assert tr["previous_cycle"] == first["cycle"] and (tr["tier_up"], tr["tier_down"], tr["unchanged"]) == (10, 20, 10)
    assert {(x["from"], x["to"]): x["entities"] for x in tr["matrix"]} == {("B", t): 10 for t in "ABCD"}
    # Workload: A 5%, B 15%, C 40%, D 100% of 10 entities each; ceil per tier as the cycle summary does.
    assert data["expected_inspections"] == second["expected_inspections"] == 1 + 2 + 4 + 10
    assert sum(r["entities"] for r in data["regions"]) == 40
    assert round(sum(r["expected"] for r in data["regions"]), 2) == 16.0
    lists = {x["list"]: x for x in data["lists"]}
    assert (lists["red"]["proposed_by_rules"], lists["watch"]["proposed_by_rules"]) == (10, 10)
    assert (lists["red"]["previous"], lists["watch"]["previous"], lists["black"]["proposed_by_rules"]) == (0, 0, 0)
    # what the cycle's list stage did, from the cycle summary: the red list has no objection window
    assert {
        n: (x["new_entries"], x["listed_at_once"], x["already_listed"], x["expired"])
        for n, x in lists.items()
        if x["proposed_by_rules"]
    } == {"red": (10, 10, 0, 0), "watch": (10, 0, 0, 0)}
    assert second["lists"]["expired_since_previous"] == {} and first["lists"]["expired_since_previous"] is None
    measures = {m["id"]: m["entities"] for m in data["measures"]}
    assert measures["d-invoice-limit"] == 10 and measures["b-coaching"] == 10 and measures["a-bank-tax-loan"] == 10
    # C and D: warnings; D proposed for the watch list: pre-listing with repair instructions; A listed at once on
    # the red list (no objection window): commendation. Nothing issued yet.
    assert {n["kind"]: (n["due"], n["issued"]) for n in data["notices"]} == {
        "warning": (20, 0),
        "pre_listing": (10, 0),
        "repair_instructions": (10, 0),
        "commendation": (10, 0),
    }
    assert data["headline"][0].startswith("国家税务总局泉州市税务局纳税缴费信用评价2025年度监管周期")
    assert "A级10户（占25.0%）" in data["headline"][0]
    assert "信用等级上升10户、下降20户、保持不变10户" in data["headline"][1]
    assert "预计需实施检查17户" in data["headline"][2]


def test_report_command_writes_html_and_json(store, runner, tmp_path):
    build_register(store)
    first, second = two_cycles(store)
    out = tmp_path / "report"
    result = runner.invoke(cli, ["--db", store.url, "cycle", "report", str(second["cycle"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Report of cycle {second['cycle']}" in result.output and "index.html" in result.output
    html = (out / "index.html").read_text(encoding="utf-8")
    figures = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert figures["cycle"]["id"] == second["cycle"] and figures["pack"]["content_hash"] in html
    assert "<svg" in html and html.count("<svg") == 4 and "<script" not in html
    assert "纳税缴费信用评价2025年度监管周期分析报告" in html and "评价基准日2026年4月30日" in html
    assert "10户  25.0%" in html and "<td>10</td><td>25.0%</td>" in html
    # The odd region is escaped everywhere (table and chart), never emitted raw.
    assert ODD_REGION not in html and "&lt;b&gt;&#39;&amp;" in html
    first_out = tmp_path / "first"
    result = runner.invoke(
        cli, ["--db", store.url, "cycle", "report", str(first["cycle"]), "--out", str(first_out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["cycle"] == first["cycle"]
    first_html = (first_out / "index.html").read_text(encoding="utf-8")
    assert "暂无等级变化数据" in first_html and "本政策包此前没有可比周期" in first_html


def test_report_unknown_cycle(store, runner, tmp_path):
    result = runner.invoke(cli, ["--db", store.url, "cycle", "report", "999", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "No cycle with id 999" in result.output
    assert not (tmp_path / "r").exists()


def test_script_in_values_is_escaped(sqlite_store):
    build_register(sqlite_store, odd_region=False)
    _, second = two_cycles(sqlite_store)
    data = report_data(sqlite_store, second["cycle"])
    evil = "<script>alert(1)</script>"
    data["regions"][0]["region"] = data["regions"][0]["region_name"] = evil
    data["pack"]["title"] = evil
    data["lists"][0]["title"] = evil
    data["measures"][0]["text"] = evil
    html = render_html(data)
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("&lt;script&gt;") >= 5  # title, headings, region table and chart label, list table


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.chromium
def test_chromium_renders_the_report(sqlite_store, tmp_path):
    browser = _chromium()
    if browser is None:
        message = "headless Chromium is not installed (Debian: apt-get install -y chromium fonts-noto-cjk)"
        if REQUIRE_PG:
            pytest.fail(f"REQUIRE_PG=1 but {message}")
        pytest.skip(message)
    build_register(sqlite_store)
    _, second = two_cycles(sqlite_store)
    paths = write_report(sqlite_store, second["cycle"], tmp_path / "report")
    png = tmp_path / "report.png"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                "--window-size=1280,2000",
                f"file://{paths['html']}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert png.exists(), proc.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000
