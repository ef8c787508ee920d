"""Test data for notices: committed cycles, list entries and plans inserted directly (no rule engine).

``build_world(store)`` makes one small, fixed world that calls for every notice kind; ``bulk_cycle`` makes a
large synthetic cycle for the concurrency test and the benchmark.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.register.codes import make_person_id, make_uscc
from engine.store import Store, now, schema

AS_OF = dt.date(2025, 3, 3)

PACK_BODY: dict[str, Any] = {
    "pack": {
        "id": "market-credit",
        "title": "市场主体信用风险分类",
        "authority": "泉州市市场监督管理局",
        "authority_short": "泉市监",
        "document_prefix": "泉市监信",
        "jurisdiction": "泉州市",
    },
    "version": {
        "version": "2025",
        "title": "泉州市市场主体信用风险分类管理办法",
        "effective_from": "2025-01-01",
        "basis": {
            "samr-44": {"title": "市场监督管理严重违法失信名单管理办法（国家市场监督管理总局令第44号）"},
            "samr-repair": {"title": "市场监督管理信用修复管理办法（国市监信规〔2021〕3号）"},
            "gb-2019-35": {
                "title": "国务院办公厅关于加快推进社会信用体系建设构建以信用为基础的新型监管机制的指导意见"
                "（国办发〔2019〕35号）"
            },
        },
        "tiers": {
            "order": ["A", "B", "C", "D"],
            "labels": {
                "A": "A类（信用风险低）",
                "B": "B类（信用风险一般）",
                "C": "C类（信用风险较高）",
                "D": "D类（信用风险高）",
            },
        },
        "lists": {
            "black": {
                "title": "严重违法失信名单",
                "kind": "sanction",
                "objection_days": 15,
                "min_months": 12,
                "max_months": 36,
                "publish": True,
                "force_inspection": True,
                "measures": ["black-procurement", "black-honours"],
                "ack_days": 10,
                "notices": {
                    "propose": ["pre_listing", "repair_instructions"],
                    "list": ["repair_instructions"],
                    "remove": ["removal_decision"],
                },
                "repair": {
                    "allowed": True,
                    "min_months": 12,
                    "decide_days": 15,
                    "requires": ["obligations_fulfilled", "commitment", "no_repeat_same_kind"],
                    "max_repairs": {"count": 2, "years": 5},
                    "cooldown_months": 12,
                },
                "authority": "泉州市市场监督管理局",
            },
            "red": {
                "title": "守信激励对象名单",
                "kind": "incentive",
                "objection_days": 0,
                "min_months": 0,
                "max_months": 12,
                "publish": True,
                "measures": ["red-green-channel"],
                "notices": {"list": ["commendation"], "remove": ["removal_decision"]},
                "repair": {"allowed": False},
            },
        },
        "measures": {
            "black-procurement": {"kind": "sanction", "text": "依法限制参加政府采购活动", "department": "财政部门"},
            "black-honours": {"kind": "sanction", "text": "不得参加评优评先", "department": "文明办"},
            "red-green-channel": {
                "kind": "incentive",
                "text": "行政审批“绿色通道”和容缺受理",
                "department": "行政审批部门",
            },
            "d-more-checks": {
                "kind": "sanction",
                "text": "提高抽查比例和频次，实施重点监管",
                "department": "市场监管部门",
            },
        },
        "inspection": {
            "items": {
                "licence": {"title": "营业执照（登记证）规范使用情况"},
                "annual-report": {"title": "年度报告公示信息情况"},
            }
        },
        "numbering": "{prefix}〔{year}〕{seq}号",
    },
}

RESULT_D = {
    "tier": "D",
    "tier_label": "D类（信用风险高）",
    "inspection": {"ratio": 1.0, "per_year": 2, "forced": True, "note": "高风险"},
    "lists": [
        {
            "list": "black",
            "action": "propose",
            "rule": "black-serious",
            "reason": "因{penalty_cause}被处以{penalty_kind}，属于严重违法失信行为",
            "basis": "samr-44",
        }
    ],
    "measures": [
        {
            "id": "d-more-checks",
            "kind": "sanction",
            "rule": "measures-d",
            "basis": "gb-2019-35",
            "text": "提高抽查比例和频次，实施重点监管",
            "department": "市场监管部门",
            "services": [],
        }
    ],
    "notices": [
        {
            "kind": "warning",
            "rule": "notice-d-warning",
            "reason": "请依法纠正失信行为，防止信用状况继续下降",
            "basis": {"doc": "gb-2019-35", "article": "第九条"},
        },
        {
            "kind": "interview",
            "rule": "notice-d-interview",
            "reason": "逾期未纠正失信行为",
            "basis": {"doc": "gb-2019-35", "article": "第九条"},
        },
    ],
    "reasons": [
        {
            "rule": "d-serious",
            "outcome": "decisive",
            "why": "近三年有{serious_penalties_3y}次较重行政处罚",
            "basis": "《市场监督管理严重违法失信名单管理办法》第二条",
        },
        {"rule": "d-score", "outcome": "fired", "why": "信用风险评分{score}分，低于60分", "basis": ""},
        {"rule": "c-score", "outcome": "ignored", "why": "信用风险评分在60分以上", "ignored_because": "d-serious"},
        {"rule": "black-serious", "outcome": "fired", "why": "严重违法失信", "basis": "samr-44"},
    ],
}
FACTS_D = {
    "serious_penalties_3y": 2,
    "score": 41.5,
    "penalty_cause": "销售不符合食品安全标准的食品",
    "penalty_kind": "吊销许可证",
}

RESULT_A = {
    "tier": "A",
    "tier_label": "A类（信用风险低）",
    "inspection": {"ratio": 0.05, "per_year": 1, "forced": False, "note": "低风险"},
    "lists": [
        {
            "list": "red",
            "action": "list",
            "rule": "red-a",
            "reason": "信用风险分类为A类，列入守信激励对象名单",
            "basis": "gb-2019-35",
        }
    ],
    "measures": [
        {
            "id": "red-green-channel",
            "kind": "incentive",
            "rule": "measures-a",
            "basis": "gb-2019-35",
            "text": "行政审批“绿色通道”和容缺受理",
            "department": "行政审批部门",
            "services": [],
        }
    ],
    "notices": [
        {"kind": "commendation", "rule": "notice-a", "reason": "信用风险分类为A类，守信记录良好", "basis": "gb-2019-35"}
    ],
    "reasons": [
        {
            "rule": "a-score",
            "outcome": "decisive",
            "why": "信用风险评分{score}分，在90分以上，且三年内无行政处罚",
            "basis": "《国办发〔2019〕35号》第七条",
        }
    ],
}

RESULT_C = {
    "tier": "C",
    "tier_label": "C类（信用风险较高）",
    "lists": [],
    "measures": [],
    "notices": [
        {
            "kind": "warning",
            "rule": "notice-c-warning",
            "reason": "信用风险分类为C类，请规范经营行为",
            "basis": {"doc": "gb-2019-35", "article": "第九条"},
        }
    ],
    "reasons": [
        {
            "rule": "c-score",
            "outcome": "decisive",
            "why": "信用风险评分{score}分，在60分以上不满75分",
            "basis": "《国办发〔2019〕35号》第七条",
        }
    ],
}


def pack_body(**version_over: Any) -> dict[str, Any]:
    body = copy.deepcopy(PACK_BODY)
    body["version"].update(version_over)
    return body


def add_pack_version(conn, body: dict | None = None) -> int:
    body = body or PACK_BODY
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return conn.execute(
        sa.insert(schema.policy_versions).values(
            pack_id=body["pack"]["id"],
            version=body["version"]["version"],
            content_hash=digest,
            effective_from=dt.date.fromisoformat(body["version"].get("effective_from", "2025-01-01")),
            body=body,
            source="tests/builders_notices.py",
            loaded_at=now(),
        )
    ).inserted_primary_key[0]


def add_entity(conn, code: str, name: str, *, person: bool = False, legal_rep: str | None = "张三") -> int:
    stamp = now()
    return conn.execute(
        sa.insert(schema.entities).values(
            code=code,
            code_kind="person" if person else "uscc",
            name=name,
            entity_type="natural_person" if person else "enterprise",
            region=code[2:8] if not person else code[:6],
            industry="零售业",
            legal_rep=None if person else legal_rep,
            created_at=stamp,
            updated_at=stamp,
        )
    ).inserted_primary_key[0]


def add_cycle(
    conn,
    pv_id: int,
    *,
    pack_id: str = "market-credit",
    period: str = "2024",
    revision: int = 1,
    status: str = "committed",
    as_of: dt.date = dt.date(2025, 1, 1),
) -> int:
    stamp = now()
    return conn.execute(
        sa.insert(schema.cycles).values(
            pack_id=pack_id,
            period=period,
            revision=revision,
            as_of=as_of,
            policy_version_id=pv_id,
            status=status,
            started_at=stamp,
            committed_at=stamp if status == "committed" else None,
            entity_count=0,
        )
    ).inserted_primary_key[0]


def add_outcome(conn, cycle_id: int, result: dict, key: str | None = None) -> int:
    key = key or hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()[:32]
    return conn.execute(
        sa.insert(schema.outcomes).values(cycle_id=cycle_id, vector_key=key, tier=result["tier"], result=result)
    ).inserted_primary_key[0]


def add_decision(conn, cycle_id: int, entity_id: int, outcome_id: int, result: dict, facts: dict) -> int:
    insp = result.get("inspection") or {}
    return conn.execute(
        sa.insert(schema.decisions).values(
            cycle_id=cycle_id,
            entity_id=entity_id,
            outcome_id=outcome_id,
            tier=result["tier"],
            ratio=insp.get("ratio", 0.1),
            per_year=insp.get("per_year", 1),
            forced=insp.get("forced", False),
            facts=facts,
        )
    ).inserted_primary_key[0]


def add_list_entry(
    conn,
    entity_id: int,
    list_id: str,
    *,
    cycle_id: int | None,
    decision_id: int | None,
    reason: str,
    basis: str,
    events: list[tuple[str, str, dt.date]] = (),
    pack_id: str = "market-credit",
) -> int:
    entry_id = conn.execute(
        sa.insert(schema.list_entries).values(
            entity_id=entity_id,
            list=list_id,
            pack_id=pack_id,
            rule_id=f"{list_id}-rule",
            basis=basis,
            authority="泉州市市场监督管理局",
            reason=reason,
            cycle_id=cycle_id,
            decision_id=decision_id,
            created_at=now(),
        )
    ).inserted_primary_key[0]
    for seq, (event, state, valid_from) in enumerate(events, 1):
        add_event(conn, entry_id, seq, event, state, valid_from)
    return entry_id


def add_event(
    conn, entry_id: int, seq: int, event: str, state: str, valid_from: dt.date, reason: str | None = None
) -> None:
    conn.execute(
        sa.insert(schema.list_events).values(
            entry_id=entry_id,
            seq=seq,
            event=event,
            state=state,
            valid_from=valid_from,
            recorded_at=now(),
            actor="test",
            reason=reason,
        )
    )


def add_inspector(conn, code: str, name: str, department: str = "泉州市市场监督管理局执法支队") -> int:
    return conn.execute(
        sa.insert(schema.inspectors).values(
            code=code,
            name=name,
            department=department,
            region="350100",
            specialties=[],
            max_checks=50,
            conflicts=[],
            active=True,
            updated_at=now(),
        )
    ).inserted_primary_key[0]


def add_plan(conn, cycle_id: int, params: dict | None = None) -> int:
    return conn.execute(
        sa.insert(schema.plans).values(
            cycle_id=cycle_id,
            seed="seed-2025",
            algorithm="sha256-rank-v1",
            per_check=2,
            params=params or {},
            candidates_fingerprint="c" * 64,
            inspectors_fingerprint="i" * 64,
            plan_fingerprint="p" * 64,
            created_at=now(),
            actor="test",
        )
    ).inserted_primary_key[0]


def add_check(
    conn, plan_id: int, seq: int, entity_id: int, tier: str, reason: str, items: list, inspectors: list[int]
) -> int:
    check_id = conn.execute(
        sa.insert(schema.plan_checks).values(
            plan_id=plan_id, seq=seq, entity_id=entity_id, tier=tier, rank_key=f"{seq:064d}", reason=reason, items=items
        )
    ).inserted_primary_key[0]
    for pos, inspector_id in enumerate(inspectors, 1):
        conn.execute(
            sa.insert(schema.plan_assignments).values(check_id=check_id, inspector_id=inspector_id, position=pos)
        )
    return check_id


@dataclass
class World:
    """Ids of the fixed test world."""

    pv_id: int = 0
    cycle_id: int = 0
    plan_id: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    entries: dict[str, int] = field(default_factory=dict)


def build_world(store: Store, script_name: bool = True) -> World:
    """One committed cycle calling for every kind, a plan with one check, and a black-list entry ready to remove.

    - 示例食品 (D): warning + interview from the outcome; a black-list entry proposed by the cycle
      (pre_listing + repair_instructions through the list's notices mapping);
    - 守信商贸 (A): commendation (its red-list entry issues it; the outcome's own commendation is covered);
    - 王小明 (natural person, C): warning; his identity number must never appear in full;
    - <script> company (C): warning, to check HTML escaping;
    - 旧案建材: on the black list since 2023 and repaired: removal_decision via issue_for_list_event;
    - the plan checks 示例食品 with two inspectors.
    """
    w = World()
    codes = {
        "food": make_uscc("91", "350500", "00000101"),
        "good": make_uscc("91", "350500", "00000102"),
        "person": make_person_id("350502", dt.date(1988, 8, 8), 17),
        "script": make_uscc("91", "350500", "00000103"),
        "old": make_uscc("91", "350500", "00000104"),
    }
    names = {
        "food": "泉州市示例食品有限公司",
        "good": "泉州市守信商贸有限公司",
        "person": "王小明",
        "script": "<script>alert(1)</script>贸易有限公司" if script_name else "泉州市某贸易有限公司",
        "old": "泉州市旧案建材有限公司",
    }
    with store.transaction() as conn:
        w.pv_id = add_pack_version(conn)
        w.cycle_id = add_cycle(conn, w.pv_id)
        for key, code in codes.items():
            w.entities[key] = add_entity(conn, code, names[key], person=key == "person")
        w.codes = codes
        o_d = add_outcome(conn, w.cycle_id, RESULT_D)
        o_a = add_outcome(conn, w.cycle_id, RESULT_A)
        o_c = add_outcome(conn, w.cycle_id, RESULT_C)
        w.decisions["food"] = add_decision(conn, w.cycle_id, w.entities["food"], o_d, RESULT_D, FACTS_D)
        w.decisions["good"] = add_decision(conn, w.cycle_id, w.entities["good"], o_a, RESULT_A, {"score": 93})
        w.decisions["person"] = add_decision(conn, w.cycle_id, w.entities["person"], o_c, RESULT_C, {"score": 66})
        w.decisions["script"] = add_decision(conn, w.cycle_id, w.entities["script"], o_c, RESULT_C, {"score": 70})
        w.entries["food"] = add_list_entry(
            conn,
            w.entities["food"],
            "black",
            cycle_id=w.cycle_id,
            decision_id=w.decisions["food"],
            reason=RESULT_D["lists"][0]["reason"],
            basis="samr-44",
            events=[("proposed", "proposed", dt.date(2025, 1, 1)), ("notified", "notified", dt.date(2025, 1, 1))],
        )
        w.entries["good"] = add_list_entry(
            conn,
            w.entities["good"],
            "red",
            cycle_id=w.cycle_id,
            decision_id=w.decisions["good"],
            reason=RESULT_A["lists"][0]["reason"],
            basis="gb-2019-35",
            events=[("listed", "listed", dt.date(2025, 1, 1))],
        )
        w.entries["old"] = add_list_entry(
            conn,
            w.entities["old"],
            "black",
            cycle_id=None,
            decision_id=None,
            reason="因生产销售伪劣产品被吊销许可证，属于严重违法失信行为",
            basis="samr-44",
            events=[
                ("proposed", "proposed", dt.date(2023, 1, 10)),
                ("listed", "listed", dt.date(2023, 2, 10)),
                ("repaired", "removed", dt.date(2025, 3, 3)),
            ],
        )
        li = add_inspector(conn, "FJ35050001", "李明")
        wf = add_inspector(conn, "FJ35050002", "王芳")
        w.plan_id = add_plan(conn, w.cycle_id, {"start": "2025-03-10", "end": "2025-04-30"})
        add_check(conn, w.plan_id, 1, w.entities["food"], "D", "forced", ["licence", "annual-report"], [li, wf])
    return w


def bulk_cycle(
    store: Store, n: int, *, period: str = "2024", body: dict | None = None, code_offset: int = 0, chunk: int = 5000
) -> int:
    """A committed cycle of ``n`` D-tier enterprises, each calling for one warning. Returns the cycle id."""
    body = body or PACK_BODY
    with store.transaction() as conn:
        pv = conn.execute(
            sa.select(schema.policy_versions.c.id).where(schema.policy_versions.c.pack_id == body["pack"]["id"])
        ).scalar()
        pv = pv or add_pack_version(conn, body)
        cycle_id = add_cycle(conn, pv, pack_id=body["pack"]["id"], period=period)
        result = {**RESULT_C, "notices": RESULT_C["notices"][:1]}
        outcome = add_outcome(conn, cycle_id, result, key=f"bulk-{cycle_id}")
    stamp = now()
    for start in range(0, n, chunk):
        with store.transaction() as conn:
            rows = [
                {
                    "code": make_uscc("91", "350500", f"{code_offset + i:08d}"),
                    "code_kind": "uscc",
                    "name": f"泉州市测试{code_offset + i}贸易有限公司",
                    "entity_type": "enterprise",
                    "region": "350500",
                    "industry": "零售业",
                    "legal_rep": "张三",
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for i in range(start, min(n, start + chunk))
            ]
            conn.execute(sa.insert(schema.entities), rows)
            ids = dict(
                conn.execute(
                    sa.select(schema.entities.c.code, schema.entities.c.id).where(
                        schema.entities.c.code.in_([r["code"] for r in rows])
                    )
                ).all()
            )
            conn.execute(
                sa.insert(schema.decisions),
                [
                    {
                        "cycle_id": cycle_id,
                        "entity_id": ids[r["code"]],
                        "outcome_id": outcome,
                        "tier": "C",
                        "ratio": 0.4,
                        "per_year": 2,
                        "forced": False,
                        "facts": {"score": 60 + (i % 15)},
                    }
                    for i, r in enumerate(rows)
                ],
            )
    return cycle_id
