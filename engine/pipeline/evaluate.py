"""Evaluate one entity from the register against a pack named by id or file (``supervise evaluate``).

Nothing is stored: the entity's records as of the date, its tier in the pack's previous cycle, one evaluation
(engine.evaluate) and the records behind its reasons (engine.evidence).
"""

from __future__ import annotations

import datetime as dt

from engine.errors import EntityNotFound
from engine.evaluate import Evaluator, entity_result
from engine.evidence import Evidence
from engine.facts import decision_key
from engine.model import PackVersion
from engine.pipeline.check import check, source_text
from engine.pipeline.cycles import resolve_sources
from engine.register.entities import resolve_code
from engine.results import DictResult
from engine.store import Store
from engine.store import cycles as qc
from engine.store import entities as qe
from engine.store import records as rq
from engine.values import CHINA
from policies import get_pack


class Evaluation(DictResult):
    """One entity's evaluation (entity_result's keys, facts last); ``lines()`` the short text view."""

    def lines(self) -> list[str]:
        r = self
        lines = [
            f"{r['name']} {r['uscc']}: {r['tier_label']} ({r['policy']['id']}@{r['policy']['version']}, "
            f"period {r['period']}, as of {r['as_of']}"
            + (f", with the records known at {r['known_at']})" if r.get("known_at") else ")"),
            f"inspection: ratio {r['inspection']['ratio']:.0%}, {r['inspection']['per_year']:g} per year"
            + (" (forced)" if r["inspection"]["forced"] else ""),
        ]
        for item in r["lists"]:
            lines.append(f"list: propose {item['list']} ({item['rule']}; {item['basis']})")
        for m in r["measures"]:
            lines.append(f"measure: {m['id']} [{m['kind']}] {m['basis']}")
        for reason in r["reasons"]:
            extra = f" — ignored: {reason['ignored_because']}" if reason.get("ignored_because") else ""
            why = f": {reason['why']}" if reason.get("why") else ""
            lines.append(f"{reason['outcome']:>8}: {reason['rule']}{why}{extra}")
        return lines


def evaluate_entity(
    store: Store, code: str, pack_ref: str, as_of: dt.date | None = None, known_at: dt.datetime | None = None
) -> tuple[Evaluation, PackVersion]:
    """Evaluate one entity from the register (nothing is stored). Returns (result, pack version).

    ``as_of`` is the valid time (which facts were in force), ``known_at`` the knowledge date: only the record
    versions recorded by then count, and the previous tier is that of a cycle that had started by then (None: what
    is known now); so is every cycle a ``decision`` fact reads (``sources`` in the result)."""
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
        records = rq.records_of(conn, [entity["id"]], as_of, known_at=known_at).get(entity["id"], [])
        prev = qc.previous_cycle(conn, version.pack.id, as_of + dt.timedelta(days=1), before=known_at)
        prev_tier = qc.tiers_of_entity(conn, prev["id"], entity["id"]) if prev else None
        # The stored cycles its decision facts read (a CycleError when one is needed and none is in force).
        decided = resolve_sources(conn, version, as_of, known_at, [entity["id"]])
    ev = Evaluator(version, as_of, decided)
    facts = ev.facts.compute(entity, records, prev_tier)
    _, outcome = ev.outcome(facts)
    evidence = Evidence(version, as_of, ev.facts).for_reasons(records, facts, outcome["reasons"])
    result = entity_result(version, entity, as_of, facts, outcome, evidence)
    result["known_at"] = known_at.astimezone(CHINA).isoformat(timespec="seconds") if known_at else None
    if decided:
        result["sources"] = {k: (c.describe() if c else None) for k, c in decided.items()}
        # The same in words, for --explain: which stored cycle each decision tier came from.
        result["source_lines"] = [
            source_text(
                f.label,
                f.source["pack"],
                result["sources"][decision_key(f.source)],
                f.value_labels.get(str(facts.get(n)), facts.get(n)),
            )
            for n, f in version.source_facts().items()
            if f.source and f.source.get("decision") == "tier"
        ]
    return Evaluation({k: v for k, v in result.items() if k != "facts"} | {"facts": result["facts"]}), version


def check_service(store: Store, code: str, service: str, as_of: dt.date | None = None) -> dict:
    """``engine.pipeline.check.check`` for one code, as a dict (kept for callers of the former function)."""
    return check(store, [code], service, as_of)[0].as_dict()
