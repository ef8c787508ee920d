"""Queries of records linked by matching (engine.register.linking): the links stored with records, the match
review queue and the judgements people made. All three tables are append-only: a review's state is derived from
the judgements of its source key and the links that name it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import now, schema

L = schema.record_links
MR = schema.match_reviews
J = schema.match_judgements
E = schema.entities
SAME, NOT_SAME = "same", "not_same"
KEYS_PER_QUERY = 500


def add_links(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Store links {import_id, entity_id, kind, natural_key, method, score, explanation, source, file, row_number,
    review_id?, judgement_id?}."""
    if rows:
        stamp = now()
        conn.execute(
            sa.insert(L),
            [{"review_id": None, "judgement_id": None} | r | {"linked_at": stamp} for r in rows],
        )


def add_reviews(conn: Connection, rows: Sequence[dict[str, Any]], actor: str) -> list[int]:
    """Hold rows for a person {source_key, source, region, record, candidates, why, file, row_number}; their ids."""
    if not rows:
        return []
    stamp = now()
    return list(
        conn.execute(
            sa.insert(MR).returning(MR.c.id, sort_by_parameter_order=True),
            [r | {"created_at": stamp, "created_by": actor} for r in rows],
        ).scalars()
    )


def judgements(conn: Connection, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The judgements of these source keys, oldest first, with the entity's code and name."""
    out: dict[str, list[dict[str, Any]]] = {}
    keys = sorted(set(keys))
    for i in range(0, len(keys), KEYS_PER_QUERY):
        stmt = (
            sa.select(J, E.c.code, E.c.name.label("entity_name"))
            .join(E, E.c.id == J.c.entity_id)
            .where(J.c.source_key.in_(keys[i : i + KEYS_PER_QUERY]))
            .order_by(J.c.id)
        )
        for r in conn.execute(stmt).mappings():
            out.setdefault(r["source_key"], []).append(dict(r))
    return out


def add_judgements(
    conn: Connection,
    source_key: str,
    verdict: str,
    entity_ids: Sequence[int],
    review_id: int,
    note: str | None,
    actor: str,
) -> list[int]:
    stamp = now()
    return list(
        conn.execute(
            sa.insert(J).returning(J.c.id, sort_by_parameter_order=True),
            [
                {
                    "source_key": source_key,
                    "verdict": verdict,
                    "entity_id": e,
                    "review_id": review_id,
                    "note": note,
                    "judged_by": actor,
                    "judged_at": stamp,
                }
                for e in entity_ids
            ],
        ).scalars()
    )


def review(conn: Connection, review_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(MR).where(MR.c.id == review_id)).mappings().one_or_none()
    return dict(row) if row else None


def reviews_of_key(conn: Connection, source_key: str, lock: bool = False) -> list[dict[str, Any]]:
    """Every review of a source key, oldest first (``lock``: row locks on PostgreSQL, so that two people judging
    one key at once are serialised)."""
    stmt = sa.select(MR).where(MR.c.source_key == source_key).order_by(MR.c.id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return [dict(r) for r in conn.execute(stmt).mappings()]


def linked_reviews(conn: Connection, review_ids: Sequence[int]) -> set[int]:
    """The reviews whose held record has been stored (a link names them)."""
    out: set[int] = set()
    ids = sorted(set(review_ids))
    for i in range(0, len(ids), KEYS_PER_QUERY):
        part = ids[i : i + KEYS_PER_QUERY]
        out.update(conn.execute(sa.select(L.c.review_id).where(L.c.review_id.in_(part))).scalars())
    return out


def open_reviews(
    conn: Connection, regions: Sequence[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Reviews not yet closed: no link names them and their key has no ``same`` judgement (those with every
    candidate judged not the same are left out by the caller, who knows the candidates). ``regions``: only
    reviews whose region begins with one of these prefixes. Oldest first."""
    same = sa.select(J.c.id).where(J.c.source_key == MR.c.source_key, J.c.verdict == SAME).exists()
    linked = sa.select(L.c.id).where(L.c.review_id == MR.c.id).exists()
    stmt = sa.select(MR).where(~same, ~linked).order_by(MR.c.id)
    if regions is not None:
        stmt = stmt.where(sa.or_(sa.false(), *(MR.c.region.like(f"{p}%") for p in regions)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def links_of(conn: Connection, entity_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    """The links of an entity's records, newest first."""
    stmt = sa.select(L).where(L.c.entity_id == entity_id).order_by(L.c.id.desc())
    if kind:
        stmt = stmt.where(L.c.kind == kind)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def market_entities(conn: Connection, region_prefix: str) -> list[Any]:
    """(code, name, region) of the market entities (USCC, not persons) registered in a region, by code."""
    stmt = (
        sa.select(E.c.code, E.c.name, E.c.region)
        .where(E.c.code_kind == "uscc", E.c.region.like(f"{region_prefix}%"))
        .order_by(E.c.code)
    )
    return list(conn.execute(stmt).all())
