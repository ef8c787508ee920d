"""Notices and explanations name the exact records that decided (engine.evidence): the direct-D item with its
label and article, the penalty by authority, date and decision number, the list by authority and date."""

from __future__ import annotations

import datetime as dt
import re

from engine.evaluate import explain_text
from engine.evidence import Evidence
from engine.pipeline.cycles import run_cycle
from engine.pipeline.evaluate import evaluate_entity
from engine.store import notices as ns
from lists import lifecycle
from notices.issue import issue_for_cycle, render_notice
from policies import get_pack
from tests.builders_engine import Register, tax

AS_OF = dt.date(2026, 4, 30)
ASCII_IDENT = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b|\b(?:d-direct|risk-d|tax_violation)\b")


def _texts(store, cycle_id: int, code: str) -> dict[str, str]:
    with store.read() as conn:
        rows = [r for r in ns.list_notices(conn, cycle_id=cycle_id) if r["code"] == code]
        return {r["kind"]: render_notice(ns.get_notice(conn, r["number"]), "txt") for r in rows}


def test_d_grade_notice_names_the_direct_d_item_its_article_and_the_document(store, tmp_path):
    reg = Register(store)
    code = reg.entity(
        records=[
            tax(2025, 88.0),
            ("tax_violation", {"date": "2025-06-03", "code": "invoice_abuse", "ref": "泉税稽罚〔2025〕77号"}),
        ]
    )
    reg.entity(records=[tax(2025, 95.0)])  # an A beside it: its notices name no violation
    cycle = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    assert cycle["tiers"]
    issue_for_cycle(store, cycle["cycle"], as_of=AS_OF)
    texts = _texts(store, cycle["cycle"], code)
    assert texts, "the D-grade entity gets notices"
    warning = texts["warning"]
    assert "违反税收法律、行政法规规定，存在发票违法行为，造成其他单位或者个人未缴、少缴或者骗取税款" in warning
    assert "第十八条第（六）项" in warning and "国家税务总局公告2025年第12号" in warning
    assert "泉税稽罚〔2025〕77号" in warning and "2025年6月3日" in warning
    for text in texts.values():
        assert not ASCII_IDENT.search(text), ASCII_IDENT.search(text)
        assert "13项之一）。" not in text  # never only the count: the item follows


def test_market_d_notice_names_the_penalty_and_the_list(store):
    reg = Register(store)
    code = reg.entity(
        dept_type="92",
        records=[
            (
                "penalty",
                {
                    "date": "2025-11-20",
                    "severity": "serious",
                    "decision_no": "泉市监罚〔2025〕301号",
                    "authority": "泉州市市场监督管理局",
                    "field": "food",
                    "amount": 120000,
                },
            ),
            ("external_list", {"date": "2024-02-01", "list": "court_dishonest", "authority": "泉州市中级人民法院"}),
        ],
    )
    cycle = run_cycle(store, "market-credit-risk", AS_OF.isoformat(), as_of=AS_OF)
    issue_for_cycle(store, cycle["cycle"], as_of=AS_OF)
    with store.transaction() as conn:  # the pre-listing notice is issued when served, dated the service
        lifecycle.serve(conn, AS_OF, "test", cycle_id=cycle["cycle"])
    texts = _texts(store, cycle["cycle"], code)
    assert texts
    joined = "\n".join(texts.values())
    assert "泉州市市场监督管理局于2025年11月20日作出的行政处罚决定（泉市监罚〔2025〕301号" in joined
    assert "自2024年2月1日起被泉州市中级人民法院列入失信被执行人名单" in joined
    assert not ASCII_IDENT.search(joined)


def test_explain_uses_the_same_wording_and_no_rule_ids(store):
    reg = Register(store)
    code = reg.entity(
        records=[
            tax(2025, 88.0),
            ("tax_violation", {"date": "2025-06-03", "code": "abnormal_household", "ref": "泉税稽处〔2025〕5号"}),
        ]
    )
    result, version = evaluate_entity(store, code, "tax-credit", AS_OF)
    assert result["tier"] == "D"
    assert [i["fact"] for i in result["evidence"]["d-direct"]] == [
        "direct_d_state"
    ]  # --json keeps the ids (item 9 is a state)
    text = explain_text(result, version)
    assert (
        "被认定为非正常户或者走逃（失联）户（《纳税缴费信用管理办法》（国家税务总局公告2025年第12号）第十八条第（九）项；"
        "泉税稽处〔2025〕5号）" in text
    )
    assert "d-direct" not in text and "b-score" not in text and "优先级" not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)


def test_matching_finds_exactly_the_records_each_count_counted():
    version = get_pack("market-credit-risk").version_at(AS_OF)
    ev = Evidence(version, AS_OF)
    d = dt.date
    records = [
        ("penalty", d(2025, 1, 5), {"severity": "serious", "decision_no": "甲", "authority": "局"}),
        ("penalty", d(2019, 1, 5), {"severity": "serious", "decision_no": "乙", "authority": "局"}),  # too old
        (
            "penalty",
            d(2025, 3, 5),
            {"severity": "serious", "decision_no": "丙", "authority": "局", "annulled_on": "2025-04-01"},
        ),  # annulled: not counted
        ("penalty", d(2025, 2, 5), {"severity": "general", "decision_no": "丁", "authority": "局"}),
        ("external_list", d(2024, 1, 1), {"list": "court_dishonest", "ended_on": "2026-01-01"}),  # ended
        ("abnormal_operation", d(2025, 7, 1), {"cause": "annual_report_missing"}),
    ]
    facts = ev.compiler.compute({"established_on": d(2015, 1, 1)}, records)
    matched = ev.compiler.matching(records)
    for name in ev.counted:
        assert len(matched.get(name, [])) == facts[name], name
    assert [r[2]["decision_no"] for r in matched["serious_penalties_3y"]] == ["甲"]
