"""Builders of committed cycles and inspector pools for plan tests and bench/plan_bench.py.

Cycles are built by inserting rows straight into ``policy_versions``, ``cycles`` (status committed), ``outcomes``
and ``decisions`` (see docs/contracts.md), in bulk (Core executemany), so a million-entity cycle takes seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from engine.register.codes import make_person_id, make_uscc
from engine.store import chunked, now, schema

TIER_RATIOS = {"A": 0.05, "B": 0.2, "C": 0.6, "D": 1.0}
TIER_LABELS = {"A": "A级", "B": "B级", "C": "C级", "D": "D级"}
REGIONS = ("350502", "350503", "350504", "350505")


def pack_body(
    inspection: dict | None = None, publication: dict | None = None, pack_id: str = "qz-test", version: str = "2025.1"
) -> dict[str, Any]:
    """A minimal stored pack version body with the keys plans read."""
    return {
        "pack": {
            "id": pack_id,
            "title": "泉州市测试分级分类监管",
            "authority": "泉州市市场监督管理局",
            "authority_short": "泉市监",
            "jurisdiction": "350500",
            "document_prefix": "泉市监",
        },
        "version": {
            "version": version,
            "effective_from": "2025-01-01",
            "tiers": {t: {"label": TIER_LABELS[t], "inspection": {"ratio": r}} for t, r in TIER_RATIOS.items()},
            "inspection": inspection if inspection is not None else {},
            "publication": publication if publication is not None else {"results_deadline_working_days": 20},
        },
    }


def entity_rows(
    n: int,
    seed: int = 0,
    regions: Sequence[str] = REGIONS,
    persons_every: int = 0,
    start: int = 0,
    townships: bool = False,
) -> list[dict[str, Any]]:
    """n register rows with valid codes; every ``persons_every``-th is a natural person."""
    rng = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        region = regions[i % len(regions)]
        if persons_every and i % persons_every == persons_every - 1:
            code = make_person_id(region, dt.date(1970, 1, 1) + dt.timedelta(days=i % 15000), i)
            row = {"code": code, "code_kind": "person", "entity_type": "natural_person", "name": f"王{i}明"}
        else:
            code = make_uscc("91", region, f"{i:08d}")
            row = {"code": code, "code_kind": "uscc", "entity_type": "enterprise", "name": f"测试{i}贸易有限公司"}
        row["region"] = region
        row["extra"] = {"township": f"{region}{rng.randrange(1, 4):03d}"} if townships else None
        rows.append(row)
    return rows


def insert_entities_only(conn, rows: Iterable[dict[str, Any]], chunk: int = 20000) -> None:
    """Bulk insert register rows (code, code_kind, entity_type, name, region, extra)."""
    stamp = now()
    E = schema.entities
    for part in chunked(rows, chunk):
        conn.execute(
            sa.insert(E),
            [
                {
                    "code": r["code"],
                    "code_kind": r.get("code_kind", "uscc"),
                    "entity_type": r.get("entity_type", "enterprise"),
                    "name": r["name"],
                    "region": r.get("region"),
                    "industry": r.get("industry"),
                    "legal_rep": r.get("legal_rep"),
                    "extra": r.get("extra"),
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for r in part
            ],
        )


def entity_ids_in_order(conn) -> list[int]:
    return list(conn.execute(sa.select(schema.entities.c.id).order_by(schema.entities.c.id)).scalars())


def insert_entities(conn, rows: Iterable[dict[str, Any]], chunk: int = 20000) -> dict[str, int]:
    """Bulk insert register rows; returns code -> id for every entity in the register."""
    insert_entities_only(conn, rows, chunk)
    E = schema.entities
    return {code: id_ for code, id_ in conn.execute(sa.select(E.c.code, E.c.id))}


def insert_policy_version(conn, body: dict[str, Any]) -> int:
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    PV = schema.policy_versions
    found = conn.execute(sa.select(PV.c.id).where(PV.c.content_hash == digest)).scalar()
    if found:
        return found
    return conn.execute(
        sa.insert(PV).values(
            pack_id=body["pack"]["id"],
            version=body["version"]["version"],
            content_hash=digest,
            effective_from=dt.date(2025, 1, 1),
            body=body,
            source="tests/builders_plans.py",
            loaded_at=now(),
        )
    ).inserted_primary_key[0]


def insert_cycle(
    conn,
    decisions: Sequence[tuple[int, str, float, bool]],
    body: dict[str, Any] | None = None,
    as_of: dt.date = dt.date(2025, 6, 30),
    period: str | None = None,
    status: str = "committed",
    chunk: int = 20000,
) -> int:
    """A committed cycle with one outcome per (tier, ratio, forced) and one decision per (entity_id, tier,
    ratio, forced). Returns the cycle id."""
    body = body or pack_body()
    pv = insert_policy_version(conn, body)
    C = schema.cycles
    period = period or f"{as_of:%Y-%m}"
    revision = (
        conn.execute(
            sa.select(sa.func.max(C.c.revision)).where(C.c.pack_id == body["pack"]["id"], C.c.period == period)
        ).scalar()
        or 0
    ) + 1
    stamp = now()
    cycle_id = conn.execute(
        sa.insert(C).values(
            pack_id=body["pack"]["id"],
            period=period,
            revision=revision,
            as_of=as_of,
            policy_version_id=pv,
            status=status,
            started_at=stamp,
            committed_at=stamp if status == "committed" else None,
            entity_count=len(decisions),
            summary={},
            actor="builder",
        )
    ).inserted_primary_key[0]
    outcome_ids: dict[tuple, int] = {}
    O = schema.outcomes
    for _eid, tier, ratio, forced in decisions:
        key = (tier, float(ratio), bool(forced))
        if key not in outcome_ids:
            result = {
                "tier": tier,
                "tier_label": TIER_LABELS.get(tier, tier),
                "inspection": {"ratio": float(ratio), "per_year": 1, "forced": bool(forced)},
                "lists": [],
                "measures": [],
                "notices": [],
                "reasons": [],
            }
            outcome_ids[key] = conn.execute(
                sa.insert(O).values(
                    cycle_id=cycle_id,
                    vector_key=hashlib.sha256(repr(key).encode()).hexdigest(),
                    tier=tier,
                    result=result,
                )
            ).inserted_primary_key[0]
    D = schema.decisions
    for part in chunked(decisions, chunk):
        conn.execute(
            sa.insert(D),
            [
                {
                    "cycle_id": cycle_id,
                    "entity_id": eid,
                    "tier": tier,
                    "ratio": float(ratio),
                    "outcome_id": outcome_ids[(tier, float(ratio), bool(forced))],
                    "per_year": 1.0,
                    "forced": bool(forced),
                    "facts": {},
                }
                for eid, tier, ratio, forced in part
            ],
        )
    return cycle_id


def tiers_for(
    n: int, seed: int = 0, weights: dict[str, float] | None = None, forced_share: float = 0.0
) -> list[tuple[str, float, bool]]:
    """Random (tier, ratio, forced) for n entities."""
    weights = weights or {"A": 0.3, "B": 0.5, "C": 0.15, "D": 0.05}
    rng = random.Random(seed)
    tiers = rng.choices(list(weights), weights=list(weights.values()), k=n)
    return [(t, TIER_RATIOS[t], rng.random() < forced_share) for t in tiers]


def build_cycle(
    store,
    n: int = 60,
    seed: int = 0,
    body: dict | None = None,
    regions: Sequence[str] = REGIONS,
    persons_every: int = 0,
    forced_share: float = 0.0,
    townships: bool = False,
    weights: dict[str, float] | None = None,
    as_of: dt.date = dt.date(2025, 6, 30),
) -> tuple[int, list[dict[str, Any]]]:
    """Register n entities and commit a cycle over them. Returns (cycle id, entity rows with tier/ratio/forced)."""
    rows = entity_rows(n, seed, regions, persons_every, townships=townships)
    tiers = tiers_for(n, seed, weights, forced_share)
    with store.transaction() as conn:
        ids = insert_entities(conn, rows)
        decisions = [(ids[r["code"]], t, ratio, forced) for r, (t, ratio, forced) in zip(rows, tiers)]
        cycle_id = insert_cycle(conn, decisions, body, as_of=as_of)
    for r, (t, ratio, forced) in zip(rows, tiers):
        r.update(id=ids[r["code"]], tier=t, ratio=ratio, forced=forced)
    return cycle_id, rows


def inspector_rows(
    n: int,
    regions: Sequence[str] = REGIONS,
    max_checks: int = 20,
    seed: int = 0,
    specialties: Sequence[str] = ("食品安全", "企业公示", "价格", "广告"),
    departments: Sequence[str] = ("泉州市市场监督管理局",),
    city_every: int = 5,
    prefix: str = "ZF",
) -> list[dict[str, Any]]:
    """n inspector rows for ``engine.store.plans.upsert_inspectors``; every ``city_every``-th covers the whole
    city (region 350500)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        region = "350500" if city_every and i % city_every == city_every - 1 else regions[i % len(regions)]
        rows.append(
            {
                "code": f"{prefix}{i:05d}",
                "name": f"检查员{i}",
                "department": departments[i % len(departments)],
                "region": region,
                "specialties": sorted(set(rng.sample(list(specialties), 2))),
                "max_checks": max_checks,
                "conflicts": [],
                "home_region": None,
                "active": True,
            }
        )
    return rows


def add_inspectors(store, rows: Sequence[dict[str, Any]]) -> None:
    from engine.store import plans as q

    with store.transaction() as conn:
        q.upsert_inspectors(conn, list(rows))
