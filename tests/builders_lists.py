"""Test data for the lists area: a market-supervision pack version, committed cycles with list proposals,
entities and penalty records, written straight into the tables (the cycle runner is not needed).

The list definitions follow shared/domain.md: 严重违法失信名单 (SAMR Order 44: pre-listing notice with 15 days
for statement and defence, repair after 1 year, exit after 3 years, training and credit report for serious
cases, local limit of 2 repairs in 5 years and none within 12 months of the last), a 守信激励 red list published
for a year with no objection window, and an unpublished 重点关注 watch list (3-12 months, extendable).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from engine.store import now, schema

PACK = {
    "id": "samr-credit",
    "title": "市场监管信用分级分类监管",
    "authority": "泉州市市场监督管理局",
    "authority_short": "泉市监",
    "document_prefix": "泉市监信",
    "jurisdiction": "泉州市",
}

NOTICES = {
    "propose": ["pre_listing", "repair_instructions"],
    "list": ["repair_instructions"],
    "remove": ["removal_decision"],
}

VERSION: dict[str, Any] = {
    "version": "2026",
    "title": "市场监管信用监管规则（2026）",
    "effective_from": "2026-01-01",
    "period": "year",
    "basis": {
        "samr-44": {"title": "市场监督管理严重违法失信名单管理办法（国家市场监督管理总局令第44号）"},
        "samr-repair": {"title": "市场监督管理信用修复管理办法（国市监信规〔2021〕3号）"},
        "ndrc-1798": {
            "title": "关于加强和规范守信联合激励和失信联合惩戒对象名单管理工作的指导意见（发改财金规〔2017〕1798号）"
        },
        "gov-35": {
            "title": "关于加快推进社会信用体系建设构建以信用为基础的新型监管机制的指导意见（国办发〔2019〕35号）"
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
            "ack_days": 10,
            "notices": NOTICES,
            "measures": ["black-procurement-ban", "black-bidding-limit", "black-honours", "black-more-inspections"],
            "repair": {
                "allowed": True,
                "min_months": 12,
                "requires": ["obligations_fulfilled", "commitment", "no_repeat_same_kind", "training", "credit_report"],
                "max_repairs": {"count": 2, "years": 5},
                "cooldown_months": 12,
                "decide_days": 10,
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
            "force_inspection": False,
            "ack_days": 10,
            "notices": {"list": ["commendation"], "remove": ["removal_decision"]},
            "measures": ["red-fast-track"],
            "repair": {"allowed": False},
            "authority": "泉州市市场监督管理局",
        },
        "watch": {
            "title": "重点关注名单",
            "kind": "watch",
            "objection_days": 7,
            "min_months": 3,
            "max_months": 12,
            "publish": False,
            "force_inspection": True,
            "ack_days": 5,
            "extendable": 6,
            "notices": NOTICES,
            "measures": ["black-more-inspections"],
            "repair": {
                "allowed": True,
                "min_months": 3,
                "requires": ["obligations_fulfilled", "commitment", "no_repeat_same_kind"],
                "max_repairs": {"count": 2, "years": 5},
                "cooldown_months": 12,
                "decide_days": 10,
            },
            "authority": "泉州市市场监督管理局",
        },
    },
    "measures": {
        "black-procurement-ban": {
            "kind": "sanction",
            "text": "依法限制参加政府采购活动",
            "basis": {"doc": "samr-44", "article": "第二十条"},
            "department": "财政局",
            "services": ["government_procurement"],
        },
        "black-bidding-limit": {
            "kind": "sanction",
            "text": "依法限制参与工程建设项目招标投标",
            "basis": {"doc": "samr-44", "article": "第二十条"},
            "department": "住房和城乡建设局",
            "services": ["bidding"],
        },
        "black-honours": {
            "kind": "sanction",
            "text": "不予授予相关荣誉称号",
            "basis": {"doc": "samr-44"},
            "department": "文明办",
            "services": ["honours"],
        },
        "black-more-inspections": {
            "kind": "sanction",
            "text": "列入重点监管，提高抽查比例和频次",
            "basis": {"doc": "gov-35"},
            "department": "市场监督管理局",
            "services": ["inspection"],
        },
        "red-fast-track": {
            "kind": "incentive",
            "text": "行政审批绿色通道，容缺受理",
            "basis": {"doc": "ndrc-1798"},
            "department": "行政审批服务局",
            "services": ["administrative_licensing"],
        },
    },
}

PROPOSALS = {
    "black": {
        "rule": "black-serious-penalty",
        "reason": "近三年受到{serious_penalties_3y}次从重行政处罚，情节严重",
        "basis": "市场监督管理严重违法失信名单管理办法（国家市场监督管理总局令第44号） 第二条",
    },
    "red": {
        "rule": "red-a-grade",
        "reason": "连续三年信用评价为A级",
        "basis": "关于加强和规范守信联合激励和失信联合惩戒对象名单管理工作的指导意见（发改财金规〔2017〕1798号）",
    },
    "watch": {
        "rule": "watch-d-grade",
        "reason": "信用风险分类为D级（高风险）",
        "basis": "关于加快推进社会信用体系建设构建以信用为基础的新型监管机制的指导意见（国办发〔2019〕35号）",
    },
}


def pack_body(**list_overrides: dict[str, Any]) -> dict[str, Any]:
    """The stored body {"pack", "version"}; ``black={"objection_days": 5}`` overrides list keys."""
    version = copy.deepcopy(VERSION)
    for name, changes in list_overrides.items():
        version["lists"][name].update(changes)
    return {"pack": dict(PACK), "version": version}


def add_policy_version(conn, body: dict[str, Any] | None = None) -> int:
    body = body or pack_body()
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    found = conn.execute(
        sa.select(schema.policy_versions.c.id).where(schema.policy_versions.c.content_hash == digest)
    ).scalar()
    if found:
        return found
    return conn.execute(
        sa.insert(schema.policy_versions)
        .values(
            pack_id=body["pack"]["id"],
            version=body["version"]["version"],
            content_hash=digest,
            effective_from=dt.date.fromisoformat(body["version"]["effective_from"]),
            body=body,
            source="builders_lists",
            loaded_at=now(),
        )
        .returning(schema.policy_versions.c.id)
    ).scalar_one()


def add_entity(conn, code: str, name: str, person: bool = False) -> int:
    stamp = now()
    return conn.execute(
        sa.insert(schema.entities)
        .values(
            code=code,
            code_kind="person" if person else "uscc",
            name=name,
            entity_type="natural_person" if person else "enterprise",
            region="350100",
            created_at=stamp,
            updated_at=stamp,
        )
        .returning(schema.entities.c.id)
    ).scalar_one()


def add_penalty(
    conn,
    entity_id: int,
    date: dt.date,
    decision_no: str,
    severity: str = "serious",
    field: str | None = "食品安全",
    fulfilled_on: dt.date | None = None,
    annulled_on: dt.date | None = None,
    amount: float = 200000,
) -> int:
    data = {
        "date": date.isoformat(),
        "severity": severity,
        "decision_no": decision_no,
        "authority": "泉州市市场监督管理局",
        "amount": amount,
    }
    if field:
        data["field"] = field
    if fulfilled_on:
        data["fulfilled_on"] = fulfilled_on.isoformat()
    if annulled_on:
        data["annulled_on"] = annulled_on.isoformat()
    return conn.execute(
        sa.insert(schema.records)
        .values(
            entity_id=entity_id,
            kind="penalty",
            date=date,
            natural_key=decision_no,
            data=data,
            source="builders_lists",
            imported_at=now(),
        )
        .returning(schema.records.c.id)
    ).scalar_one()


def add_cycle(
    conn,
    as_of: dt.date,
    proposals: Iterable[tuple[int, Iterable[str]]],
    body: dict | None = None,
    period: str | None = None,
    status: str = "committed",
    facts: dict | None = None,
) -> int:
    """A committed cycle whose outcomes propose the given lists: ``proposals`` = [(entity_id, [list, ...])]."""
    body = body or pack_body()
    pv = add_policy_version(conn, body)
    C = schema.cycles
    period = period or f"{as_of.isoformat()}-{conn.execute(sa.select(sa.func.count()).select_from(C)).scalar_one()}"
    cycle_id = conn.execute(
        sa.insert(C)
        .values(
            pack_id=body["pack"]["id"],
            period=period,
            revision=1,
            as_of=as_of,
            policy_version_id=pv,
            status=status,
            started_at=now(),
            committed_at=now(),
            entity_count=0,
            actor="builders",
        )
        .returning(C.c.id)
    ).scalar_one()
    outcomes: dict[tuple[str, ...], int] = {}
    for entity_id, names in proposals:
        names = tuple(names)
        if names not in outcomes:
            tier = "D" if "black" in names or "watch" in names else ("A" if "red" in names else "B")
            result = {
                "tier": tier,
                "tier_label": f"{tier}级",
                "inspection": {"ratio": 1.0 if tier == "D" else 0.1, "per_year": 1, "forced": tier == "D", "note": ""},
                "lists": [
                    {
                        "list": n,
                        "title": body["version"]["lists"][n]["title"] if n in body["version"]["lists"] else n,
                        "kind": (body["version"]["lists"].get(n) or {}).get("kind"),
                        "action": "propose",
                        **PROPOSALS.get(n, {"rule": f"{n}-rule", "reason": "test", "basis": "test"}),
                    }
                    for n in names
                ],
                "measures": [],
                "notices": [],
                "reasons": [],
            }
            outcomes[names] = conn.execute(
                sa.insert(schema.outcomes)
                .values(cycle_id=cycle_id, vector_key="-".join(names) or "none", tier=tier, result=result)
                .returning(schema.outcomes.c.id)
            ).scalar_one()
        conn.execute(
            sa.insert(schema.decisions).values(
                cycle_id=cycle_id,
                entity_id=entity_id,
                outcome_id=outcomes[names],
                tier="D" if names else "B",
                ratio=1.0,
                per_year=1,
                forced=bool(names),
                facts=facts or {"serious_penalties_3y": 2},
            )
        )
    return cycle_id


def event_rows(conn) -> list[tuple]:
    """Every list event row, for before/after comparisons (history is never rewritten)."""
    E = schema.list_events
    return [tuple(r) for r in conn.execute(sa.select(E).order_by(E.c.id))]


def all_append_only_rows(conn) -> dict[str, list[tuple]]:
    out = {}
    for table in (
        schema.list_entries,
        schema.list_events,
        schema.objections,
        schema.objection_decisions,
        schema.repair_applications,
        schema.repair_decisions,
        schema.measure_tasks,
        schema.measure_acks,
    ):
        out[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]
    return out


def scenario(
    store,
    factory,
    *,
    lists: tuple[str, ...] = ("black", "black", "red"),
    as_of: dt.date = dt.date(2026, 4, 30),
    body: dict | None = None,
    penalties: bool = True,
    penalty_on: dt.date = dt.date(2026, 3, 1),
) -> dict[str, Any]:
    """Entities (companies, plus a natural person for a red entry) and a committed cycle proposing ``lists``
    (one entity each). Every black/watch entity has a serious penalty of ``penalty_on`` (2026-03-01), fulfilled
    five months later (2026-08-01)."""
    out: dict[str, Any] = {"entities": [], "codes": [], "penalties": []}
    with store.transaction() as conn:
        proposals = []
        for i, name in enumerate(lists):
            person = name == "red" and i == len(lists) - 1
            code = factory.person() if person else factory.uscc()
            label = "张三丰" if person else f"泉州{'甲乙丙丁戊己庚辛'[i % 8]}{i}食品有限公司"
            entity_id = add_entity(conn, code, label, person=person)
            if penalties and name in ("black", "watch"):
                out["penalties"].append(
                    add_penalty(
                        conn,
                        entity_id,
                        penalty_on,
                        f"泉市监罚〔{penalty_on.year}〕{100 + i}号",
                        fulfilled_on=penalty_on.replace(month=penalty_on.month + 5),
                    )
                )
            out["entities"].append(entity_id)
            out["codes"].append(code)
            proposals.append((entity_id, [name]))
        out["cycle"] = add_cycle(conn, as_of, proposals, body=body)
    return out
