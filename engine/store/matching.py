"""Queries of entity matching (engine.register.matching): the 注册号 crosswalk, former names, the candidates of a
name match and the lookups of the older numbers (组织机构代码, 注册号)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import now, schema

E = schema.entities
X = schema.reg_no_crosswalk
F = schema.former_names
CANDIDATE_COLUMNS = (E.c.id, E.c.code, E.c.name, E.c.entity_type, E.c.region, E.c.industry, E.c.legal_rep)


def upsert_crosswalk(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """Store 注册号 -> USCC rows (reg_no, code, changed_on, source); a known 注册号 with another USCC or date is
    updated. Returns the 注册号 inserted and those updated."""
    unique = {r["reg_no"]: r for r in rows}
    if not unique:
        return set(), set()
    found = {
        r.reg_no: r
        for r in conn.execute(sa.select(X.c.reg_no, X.c.code, X.c.changed_on).where(X.c.reg_no.in_(list(unique))))
    }
    stamp = now()
    new = [r | {"imported_at": stamp} for k, r in unique.items() if k not in found]
    changed = [
        r
        for k, r in unique.items()
        if k in found and (found[k].code, found[k].changed_on) != (r["code"], r.get("changed_on"))
    ]
    if new:
        conn.execute(sa.insert(X), new)
    for r in changed:
        conn.execute(
            sa.update(X)
            .where(X.c.reg_no == r["reg_no"])
            .values(code=r["code"], changed_on=r.get("changed_on"), source=r["source"], imported_at=stamp)
        )
    return {r["reg_no"] for r in new}, {r["reg_no"] for r in changed}


def upsert_former_names(
    conn: Connection, rows: Sequence[dict[str, Any]]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Store former names (code, name, used_until, source). Returns the (code, name) inserted and those updated."""
    unique = {(r["code"], r["name"]): r for r in rows}
    if not unique:
        return set(), set()
    codes = list({c for c, _ in unique})
    found = {
        (r.code, r.name): r.used_until
        for r in conn.execute(sa.select(F.c.code, F.c.name, F.c.used_until).where(F.c.code.in_(codes)))
    }
    stamp = now()
    new = [r | {"imported_at": stamp} for k, r in unique.items() if k not in found]
    changed = [r for k, r in unique.items() if k in found and found[k] != r.get("used_until")]
    if new:
        conn.execute(sa.insert(F), new)
    for r in changed:
        conn.execute(
            sa.update(F)
            .where(F.c.code == r["code"], F.c.name == r["name"])
            .values(used_until=r.get("used_until"), source=r["source"], imported_at=stamp)
        )
    return {(r["code"], r["name"]) for r in new}, {(r["code"], r["name"]) for r in changed}


def by_codes(conn: Connection, codes: Sequence[str]) -> list[dict[str, Any]]:
    """Candidate rows of these USCCs (or identity numbers)."""
    if not codes:
        return []
    return [dict(r) for r in conn.execute(sa.select(*CANDIDATE_COLUMNS).where(E.c.code.in_(list(codes)))).mappings()]


def by_org_code(conn: Connection, org_code: str) -> list[dict[str, Any]]:
    """The entities whose USCC carries this 组织机构代码 at positions 9-17 (through the index of migration 0009)."""
    return [
        dict(r)
        for r in conn.execute(
            sa.select(*CANDIDATE_COLUMNS).where(schema.ORG_CODE == org_code, E.c.code_kind == "uscc")
        ).mappings()
    ]


def by_reg_no(conn: Connection, reg_no: str) -> list[tuple[dict[str, Any], str]]:
    """The entities a 注册号 names, each with where it was found: ``crosswalk`` (换照 records) or ``register``
    (the entity's own former-number field)."""
    out: list[tuple[dict[str, Any], str]] = []
    seen: set[int] = set()
    crosswalk = sa.select(*CANDIDATE_COLUMNS).join(X, X.c.code == E.c.code).where(X.c.reg_no == reg_no)
    for source, stmt in (
        ("crosswalk", crosswalk),
        ("register", sa.select(*CANDIDATE_COLUMNS).where(E.c.reg_no == reg_no)),
    ):
        for r in conn.execute(stmt).mappings():
            if r["id"] not in seen:
                seen.add(r["id"])
                out.append((dict(r), source))
    return out


def crosswalk_code(conn: Connection, reg_no: str) -> str | None:
    """The USCC the crosswalk gives for a 注册号 (whether or not the register holds the entity)."""
    return conn.execute(sa.select(X.c.code).where(X.c.reg_no == reg_no)).scalar_one_or_none()


def name_candidates(
    conn: Connection, region_prefixes: Sequence[str] = (), name_patterns: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every entity (not natural persons) whose region begins with one of ``region_prefixes`` (all, when none
    is given) and, when ``name_patterns`` (SQL LIKE patterns, ``\\`` escapes) are given, whose name or a former
    name matches one of them; with its former names as ``former_names`` [(name, used_until)]."""
    in_region = sa.or_(*(E.c.region.like(f"{p}%") for p in region_prefixes)) if region_prefixes else sa.true()
    stmt = sa.select(*CANDIDATE_COLUMNS).where(E.c.code_kind != "person", in_region)
    if name_patterns:
        named = sa.select(F.c.code).where(sa.or_(*(F.c.name.like(p, escape="\\") for p in name_patterns)))
        stmt = stmt.where(sa.or_(*(E.c.name.like(p, escape="\\") for p in name_patterns), E.c.code.in_(named)))
    rows = [dict(r) | {"former_names": []} for r in conn.execute(stmt).mappings()]
    by_code = {r["code"]: r for r in rows}
    former = sa.select(F.c.code, F.c.name, F.c.used_until)
    if name_patterns:  # a few entities
        former = former.where(F.c.code.in_(list(by_code) or [""]))
    elif region_prefixes:
        former = former.join(E, E.c.code == F.c.code).where(in_region)
    for r in conn.execute(former):
        if r.code in by_code:
            by_code[r.code]["former_names"].append((r.name, r.used_until))
    return rows
