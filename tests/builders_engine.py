"""Builders for engine tests: small packs as YAML text and registers written through the store layer."""

from __future__ import annotations

import datetime as dt
import pathlib
import textwrap

from engine.register.codes import make_uscc
from engine.store import entities as qe
from engine.store import records as rq

MINI_PACK = """
id: mini
title: 测试政策包
authority: 测试局
jurisdiction: 测试市
versions:
  - version: "1"
    effective_from: 2020-01-01
    period: year
    basis:
      doc1: {{title: 测试办法（测试〔2020〕1号）}}
    facts:
      score: {{label: 得分, type: number, min: 0, max: 100, source: {{record: tax_evaluation, field: score, window: period}}}}
      bad: {{label: 违法次数, type: int, source: {{count: penalty, window: 3y}}}}
    tiers: {{order: [A, B, C]}}
{default}
    tier_rules:
{tier_rules}
    supervision:
      A: {{ratio: 0.05, per_year: 1}}
      B: {{ratio: 0.2, per_year: 1}}
      C: {{ratio: 0.5, per_year: 2}}
    lists:
      red: {{title: 红名单, kind: incentive, objection_days: 0, min_months: 0, max_months: 12, measures: [m-inc]}}
      black: {{title: 黑名单, kind: sanction, objection_days: 10, min_months: 6, max_months: 36, force_inspection: true, measures: [m-san]}}
    list_rules:
{list_rules}
    measures:
      m-inc: {{kind: incentive, text: 优先办理, department: 审批局, services: [licence], basis: {{doc: doc1}}}}
      m-san: {{kind: sanction, text: 限制办理, department: 审批局, services: [licence], basis: {{doc: doc1}}}}
    measure_rules:
{measure_rules}
    notice_rules: []
"""

DEFAULT_TIER_RULES = """\
      - {id: a, tier: A, priority: 10, when: "score >= 80", basis: {doc: doc1}}
      - {id: b, tier: B, priority: 10, when: {all: ["score >= 50", "score < 80"]}, basis: {doc: doc1}}
      - {id: c, tier: C, priority: 10, when: {any: ["score < 50", "score == null"]}, basis: {doc: doc1}}
      - {id: c-bad, tier: C, priority: 50, when: "bad >= 1", basis: {doc: doc1}}"""

DEFAULT_LIST_RULES = """\
      - {id: red-a, list: red, when: "tier == A", basis: {doc: doc1}}
      - {id: black-bad, list: black, when: "bad >= 2", basis: {doc: doc1}}"""


def mini_pack(
    tmp_path: pathlib.Path,
    tier_rules: str = DEFAULT_TIER_RULES,
    list_rules: str = DEFAULT_LIST_RULES,
    measure_rules: str = "      []",
    default: str = "",
    name: str = "mini.yaml",
) -> pathlib.Path:
    path = tmp_path / name
    text = MINI_PACK.format(tier_rules=tier_rules, list_rules=list_rules, measure_rules=measure_rules, default=default)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


class Register:
    """Adds entities and records through the store layer (one transaction per call)."""

    def __init__(self, store):
        self.store = store
        self.n = 0

    def entity(
        self,
        established: dt.date = dt.date(2015, 1, 1),
        dept_type: str = "91",
        region: str = "350503",
        name: str | None = None,
        records: list[tuple[str, dict]] = (),
    ) -> str:
        self.n += 1
        code = make_uscc(dept_type, region, f"T{self.n:07d}")
        row = {
            "code": code,
            "code_kind": "uscc",
            "name": name or f"测试{self.n}有限公司",
            "entity_type": "enterprise",
            "region": region,
            "industry": "零售",
            "established_on": established,
            "legal_rep": "王五",
        }
        with self.store.transaction() as conn:
            qe.upsert_entities(conn, [row])
        if records:
            self.records(code, records)
        return code

    def records(self, code: str, records: list[tuple[str, dict]]) -> None:
        from policies import record_kinds

        kinds = record_kinds()
        with self.store.transaction() as conn:
            eid = qe.entity_ids(conn, [code])[code]
            rows = []
            for kind, data in records:
                date, key, payload, errors = kinds[kind].validate(data)
                assert not errors, errors
                rows.append({"entity_id": eid, "kind": kind, "date": date, "natural_key": key, "data": payload})
            rq.insert_records(conn, rows, source="test")


def tax(year: int, score: float, has_revenue: bool = True) -> tuple[str, dict]:
    return ("tax_evaluation", {"year": year, "score": score, "has_revenue": has_revenue})


def violation(date: str, code: str = "invoice_abuse") -> tuple[str, dict]:
    return ("tax_violation", {"date": date, "code": code})


def typo_passing_uscc(good: str) -> str:
    """A one-digit typo of the 18-digit code ``good`` whose USCC check happens to pass (about 1 typo in 31 does)."""
    from engine.errors import CodeError
    from engine.register.codes import validate_uscc

    for i in range(17):
        for d in "0123456789":
            typo = good[:i] + d + good[i + 1 :]
            try:
                if typo != good and validate_uscc(typo):
                    return typo
            except CodeError:
                continue
    raise AssertionError("no typo of this number passes the USCC check")


def penalty_row(code: str, **over) -> dict:
    """A serious food-safety penalty of the entity ``code`` as a records-file row (``over`` changes columns)."""
    row = {
        "code": code,
        "kind": "penalty",
        "date": "2025-11-03",
        "severity": "serious",
        "decision_no": "泉市监罚〔2025〕12号",
        "authority": "泉州市市场监督管理局",
        "field": "food",
        "amount": "200000",
        "fulfilled_on": "",
        "annulled_on": "",
    }
    return row | over


def abnormal_row(code: str, removed_on: str = "") -> dict:
    """An abnormal-operation entry of ``code`` as a records-file row (removed on ``removed_on``, if given)."""
    return {
        "code": code,
        "kind": "abnormal_operation",
        "date": "2025-08-01",
        "cause": "annual_report_missing",
        "removed_on": removed_on,
    }
