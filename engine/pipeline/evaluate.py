"""Evaluate one entity from the register against a pack named by id or file (``supervise evaluate``).

Nothing is stored: the entity's records as of the date, its tier in the pack's previous cycle, one evaluation
(engine.evaluate) and the records behind its reasons (engine.evidence).
"""

from __future__ import annotations

import datetime as dt

from engine.errors import EntityNotFound
from engine.evaluate import Evaluator, entity_result
from engine.evidence import Evidence
from engine.model import PackVersion
from engine.pipeline.check import check
from engine.register import resolve_code
from engine.store import Store
from engine.store import cycles as qc
from engine.store import entities as qe
from policies import get_pack


def evaluate_entity(store: Store, code: str, pack_ref: str, as_of: dt.date | None = None) -> tuple[dict, PackVersion]:
    """Evaluate one entity from the register (nothing is stored). Returns (result, pack version)."""
    as_of = as_of or dt.date.today()
    version = get_pack(pack_ref).version_at(as_of)
    code = resolve_code(code)
    with store.read() as conn:
        entity = qe.get_entity(conn, code)
        if entity is None:
            raise EntityNotFound(
                f"No entity with code {code} in the register {store.display_url()}; "
                f"import it first with 'supervise import entities'."
            )
        records = [(r["kind"], r["date"], r["data"]) for r in qe.records_for(conn, entity["id"], as_of)]
        prev = qc.previous_cycle(conn, version.pack.id, as_of + dt.timedelta(days=1))
        prev_tier = qc.tiers_of_entity(conn, prev["id"], entity["id"]) if prev else None
    ev = Evaluator(version, as_of)
    facts = ev.facts.compute(entity, records, prev_tier)
    _, outcome = ev.outcome(facts)
    evidence = Evidence(version, as_of, ev.facts).for_reasons(records, facts, outcome["reasons"])
    return entity_result(version, entity, as_of, facts, outcome, evidence), version


def check_service(store: Store, code: str, service: str, as_of: dt.date | None = None) -> dict:
    """``engine.pipeline.check.check`` for one code, as a dict (kept for callers of the former function)."""
    return check(store, [code], service, as_of)[0].as_dict()
