"""Queries of 银税互动 (issue 16): banks' taxpayer authorisations and their revocations, the loans banks report, and
the loan figures by tax grade and month.

The three tables are history: this module only inserts and reads them (the database refuses UPDATE and DELETE).
A loan's grade is the tax pack's tier in the cycle that spoke for the pack on the loan date: of each period only
the latest committed revision counts (a superseded revision never does), and of those the one with the latest
as-of date on or before the loan date, as ``current_cycles`` chooses for a check.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.store import now, schema

AU, RV, LO, CY, PV, DE = (
    schema.bank_authorisations,
    schema.bank_revocations,
    schema.bank_loans,
    schema.cycles,
    schema.policy_versions,
    schema.decisions,
)
NO_GRADE = "none"  # the grade bucket of a loan whose taxpayer had no grade on the loan date


# -- authorisations -----------------------------------------------------------------------------------------


def _authorisation_query() -> sa.Select:
    E = schema.entities
    return (
        sa.select(AU, RV.c.revoked_at, E.c.code, E.c.name)
        .join(E, E.c.id == AU.c.entity_id)
        .outerjoin(RV, RV.c.authorisation_id == AU.c.id)
    )


def insert_authorisation(conn: Connection, row: dict[str, Any]) -> int:
    """Append one authorisation (``app_id``, ``entity_id``, ``scope``, ``valid_from``, ``valid_to``,
    ``document_ref``); its id."""
    return int(conn.execute(sa.insert(AU).values(**row, recorded_at=now()).returning(AU.c.id)).scalar_one())


def get_authorisation(conn: Connection, authorisation_id: int) -> dict[str, Any] | None:
    """The authorisation with ``revoked_at`` (None while not revoked), ``code`` and ``name`` of its taxpayer."""
    row = conn.execute(_authorisation_query().where(AU.c.id == authorisation_id)).mappings().first()
    return dict(row) if row else None


def authorisations_of(conn: Connection, app_id: int, entity_id: int) -> list[dict[str, Any]]:
    """Every authorisation of one bank by one taxpayer, oldest first, each with ``revoked_at``."""
    q = _authorisation_query().where(AU.c.app_id == app_id, AU.c.entity_id == entity_id).order_by(AU.c.id)
    return [dict(r) for r in conn.execute(q).mappings()]


def revoke(conn: Connection, authorisation_id: int, at: dt.datetime) -> bool:
    """Append the revocation of an authorisation; False when it was revoked before (the unique key says so)."""
    if conn.execute(sa.select(RV.c.id).where(RV.c.authorisation_id == authorisation_id)).first():
        return False
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(RV).values(authorisation_id=authorisation_id, revoked_at=at))
    except sa.exc.IntegrityError:  # a concurrent revocation won
        return False
    return True


# -- loans --------------------------------------------------------------------------------------------------


def loan_by_ref(conn: Connection, app_id: int, loan_ref: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(LO).where(LO.c.app_id == app_id, LO.c.loan_ref == loan_ref)).mappings().first()
    return dict(row) if row else None


def insert_loan(conn: Connection, row: dict[str, Any]) -> int | None:
    """Append one reported loan (``app_id``, ``entity_id``, ``loan_ref``, ``amount_fen``, ``loan_date``,
    ``term_months``, ``product``); its id, or None when the bank reported that loan reference before."""
    if loan_by_ref(conn, row["app_id"], row["loan_ref"]) is not None:
        return None
    try:
        with conn.begin_nested():
            return int(conn.execute(sa.insert(LO).values(**row, reported_at=now()).returning(LO.c.id)).scalar_one())
    except sa.exc.IntegrityError:  # a concurrent report of the same reference won
        return None


def loans_between(conn: Connection, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The loans dated ``start`` to ``end`` (inclusive): id, entity_id, app_id, amount_fen, loan_date."""
    q = (
        sa.select(LO.c.id, LO.c.entity_id, LO.c.app_id, LO.c.amount_fen, LO.c.loan_date)
        .where(LO.c.loan_date >= start, LO.c.loan_date <= end)
        .order_by(LO.c.loan_date, LO.c.id)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


# -- grades at a date ---------------------------------------------------------------------------------------


def speaking_cycles(conn: Connection, pack_id: str) -> list[dict[str, Any]]:
    """The latest committed revision of each period of a pack (never a superseded one), latest as-of first; each
    with ``id``, ``period``, ``revision``, ``as_of`` and its version's ``pack_body``."""
    newest = (
        sa.select(CY.c.period, sa.func.max(CY.c.revision).label("revision"))
        .where(CY.c.pack_id == pack_id, CY.c.committed_at.is_not(None))
        .group_by(CY.c.period)
        .subquery()
    )
    q = (
        sa.select(CY.c.id, CY.c.period, CY.c.revision, CY.c.as_of, PV.c.body.label("pack_body"))
        .join(PV, PV.c.id == CY.c.policy_version_id)
        .join(newest, (newest.c.period == CY.c.period) & (newest.c.revision == CY.c.revision))
        .where(CY.c.pack_id == pack_id)
        .order_by(CY.c.as_of.desc(), CY.c.id.desc())
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def cycle_on(cycles: Sequence[dict[str, Any]], day: dt.date) -> dict[str, Any] | None:
    """Of ``speaking_cycles``, the one that speaks on ``day``: the latest as-of date on or before it."""
    return next((c for c in cycles if c["as_of"] <= day), None)


def tiers_in(conn: Connection, cycle_id: int, entity_ids: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    ids = list(dict.fromkeys(entity_ids))
    for i in range(0, len(ids), 5000):
        q = sa.select(DE.c.entity_id, DE.c.tier).where(DE.c.cycle_id == cycle_id, DE.c.entity_id.in_(ids[i : i + 5000]))
        out.update({e: t for e, t in conn.execute(q).all()})
    return out


# -- money --------------------------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    """``123456789`` fen -> ``"1234567.89"`` (yuan, two decimals)."""
    return str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def in_units(fen: int, unit_yuan: int, places: int = 2) -> str:
    """An amount in 万元 (``unit_yuan`` 10**4) or 亿元 (10**8), rounded half up to ``places`` decimals."""
    return str((Decimal(fen) / 100 / unit_yuan).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def months_between(start: dt.date, end: dt.date) -> list[str]:
    """``YYYY-MM`` of every month from ``start`` to ``end``."""
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def loan_figures(conn: Connection, tax_pack: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The reported loans dated ``start`` to ``end``: ``loans`` and ``amount_fen`` in all, ``by_grade`` {grade:
    {loans, amount_fen}} (the taxpayer's tier in ``tax_pack`` on the loan date; NO_GRADE when no cycle spoke then
    or it did not rate the taxpayer), ``by_month`` {YYYY-MM: {loans, amount_fen}} for every month of the span,
    ``banks`` (how many reported), ``grades`` (tier order and labels of the cycles used) and ``cycles`` (the ids)."""
    loans = loans_between(conn, start, end)
    cycles = speaking_cycles(conn, tax_pack)
    by_cycle: dict[int | None, list[dict[str, Any]]] = {}
    for loan in loans:
        c = cycle_on(cycles, loan["loan_date"])
        by_cycle.setdefault(c["id"] if c else None, []).append(loan)
    order: list[str] = []
    labels: dict[str, str] = {}
    for c in cycles:  # the tiers as the versions of the cycles used order and label them
        if c["id"] in by_cycle:
            tiers = ((c["pack_body"] or {}).get("version") or {}).get("tiers") or {}
            for t in tiers.get("order") or []:
                if t not in order:
                    order.append(str(t))
            labels.update({str(k): str(v) for k, v in (tiers.get("labels") or {}).items() if str(k) not in labels})
    grade: dict[int, str] = {}
    for cycle_id, group in by_cycle.items():
        tiers = tiers_in(conn, cycle_id, [x["entity_id"] for x in group]) if cycle_id is not None else {}
        for loan in group:
            grade[loan["id"]] = tiers.get(loan["entity_id"], NO_GRADE)
    by_grade: dict[str, dict[str, int]] = {}
    by_month = {m: {"loans": 0, "amount_fen": 0} for m in months_between(start, end)}
    for loan in loans:
        g = by_grade.setdefault(grade[loan["id"]], {"loans": 0, "amount_fen": 0})
        m = by_month[loan["loan_date"].strftime("%Y-%m")]
        for bucket in (g, m):
            bucket["loans"] += 1
            bucket["amount_fen"] += int(loan["amount_fen"])
    for t in by_grade:
        if t not in order and t != NO_GRADE:
            order.append(t)
    return {
        "loans": len(loans),
        "amount_fen": sum(int(x["amount_fen"]) for x in loans),
        "banks": len({x["app_id"] for x in loans}),
        "by_grade": by_grade,
        "by_month": by_month,
        "grades": {"order": order, "labels": labels},
        "cycles": sorted(c for c in by_cycle if c is not None),
    }


def count_cn(n: int) -> str:
    """``4656000`` -> ``465.6万笔``; below 10,000 the count itself (``12笔``)."""
    if n < 10_000:
        return f"{n}笔"
    return f"{(Decimal(n) / 10_000).quantize(Decimal('0.1')).normalize():f}万笔"


def amount_cn(fen: int) -> str:
    """An amount as a press release gives it: ``1.198万亿元`` from 10^12 yuan, ``85.30亿元`` from 10^8, else
    ``120.50万元``."""
    yuan = Decimal(fen) / 100
    if yuan >= 10**12:
        return f"{in_units(fen, 10**12, 3)}万亿元"
    if yuan >= 10**8:
        return f"{in_units(fen, 10**8)}亿元"
    return f"{in_units(fen, 10**4)}万元"


def figures(loans: int, fen: int) -> dict[str, Any]:
    return {
        "loans": loans,
        "amount_yuan": yuan(fen),
        "amount_wan": in_units(fen, 10**4),
        "amount_yi": in_units(fen, 10**8),
        "shown": f"{count_cn(loans)}，{amount_cn(fen)}",
    }


def loan_document(
    conn: Connection, tax_pack: str, start: dt.date, end: dt.date, period: str, label: str
) -> dict[str, Any]:
    """The figures of ``loan_figures`` as ``supervise report bank-tax`` and the cycle report show them: per grade
    (tier order, then no grade) and per month, each with ``loans``, ``amount_yuan``, ``amount_wan`` (万元),
    ``amount_yi`` (亿元) and ``shown`` (as a press release gives them: 465.6万笔，1.198万亿元)."""
    f = loan_figures(conn, tax_pack, start, end)
    labels = f["grades"]["labels"]
    grades = [t for t in f["grades"]["order"] if t in f["by_grade"]] + ([NO_GRADE] if NO_GRADE in f["by_grade"] else [])
    return {
        "period": period,
        "label": label,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "banks": f["banks"],
        "total": figures(f["loans"], f["amount_fen"]),
        "by_grade": [
            {
                "grade": g,
                "label": "无纳税信用级别" if g == NO_GRADE else labels.get(g, g),
                **figures(f["by_grade"][g]["loans"], f["by_grade"][g]["amount_fen"]),
            }
            for g in grades
        ],
        "by_month": [{"month": m, **figures(v["loans"], v["amount_fen"])} for m, v in f["by_month"].items()],
        "tax_cycles": f["cycles"],
    }


def cycle_loan_document(conn: Connection, cycle: dict[str, Any], today: dt.date) -> dict[str, Any] | None:
    """For the report of a cycle whose version shares data with banks (``bank_share:``, the bank-tax pack): the
    loans reported while its push decisions spoke, from its as-of date to the day before the as-of date of the
    pack's next cycle (its latest committed revision), else to ``today``; graded by the pack the version's
    ``decision: tier`` fact reads (the tax grade). None for any other cycle."""
    version = (cycle.get("pack_body") or {}).get("version") or {}
    if not version.get("bank_share"):
        return None
    sources = [
        f.get("source") for f in (version.get("facts") or {}).values() if isinstance(f, dict) and f.get("source")
    ]
    tax_pack = next((s["pack"] for s in sources if isinstance(s, dict) and s.get("decision") == "tier"), None)
    if tax_pack is None:
        return None
    later = [c["as_of"] for c in speaking_cycles(conn, cycle["pack_id"]) if c["as_of"] > cycle["as_of"]]
    end = min(later) - dt.timedelta(days=1) if later else max(today, cycle["as_of"])
    start: dt.date = cycle["as_of"]
    return loan_document(conn, tax_pack, start, end, f"{start.isoformat()}..{end.isoformat()}", "")
