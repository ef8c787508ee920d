"""Supervision cycles: evaluate the whole register with a pack, store decisions, compare, replay.

A cycle is one database transaction: decisions, outcomes, the cycle row and the list proposals become
visible together at commit, and a killed process leaves nothing behind. A second run of the same pack and
period is refused (PostgreSQL: an advisory lock fails fast; SQLite: the write lock serialises the runs and the
loser then finds the committed cycle) unless ``rerun``, which stores a new revision; both stay readable.
"""

from __future__ import annotations

import calendar
import datetime as dt
import gc
import math
import re
import time
from collections import Counter
from typing import Any, Callable

from .errors import CycleError, UsageProblem
from .evaluate import Evaluator
from .store import Store, audit, now
from .store import cycles as q
from .store import entities as qe

BATCH = 20000


def period_end(period: str) -> dt.date:
    """End date of a period label: 2025, 2025-H1, 2025-Q3, 2025-06, or an ISO date."""
    p = period.strip().upper()
    if re.fullmatch(r"\d{4}", p):
        return dt.date(int(p), 12, 31)
    m = re.fullmatch(r"(\d{4})-H([12])", p)
    if m:
        return dt.date(int(m.group(1)), 6, 30) if m.group(2) == "1" else dt.date(int(m.group(1)), 12, 31)
    m = re.fullmatch(r"(\d{4})-Q([1-4])", p)
    if m:
        month = int(m.group(2)) * 3
        return dt.date(int(m.group(1)), month, calendar.monthrange(int(m.group(1)), month)[1])
    m = re.fullmatch(r"(\d{4})-(\d{2})", p)
    if m and 1 <= int(m.group(2)) <= 12:
        y, mo = int(m.group(1)), int(m.group(2))
        return dt.date(y, mo, calendar.monthrange(y, mo)[1])
    try:
        return dt.date.fromisoformat(p)
    except ValueError:
        raise UsageProblem(f"--period '{period}' is not a period; use 2025, 2025-H1, 2025-Q3, 2025-06 or a date") from None


def _load_version(pack_ref: str, as_of: dt.date):
    from policies import get_pack

    pack = get_pack(pack_ref)
    return pack.version_at(as_of)


def evaluate_register(conn, version, as_of: dt.date, sink: Callable[[list[dict], dict[str, dict]], None],
                      previous: dict[int, str] | None = None, imported_before: dt.datetime | None = None,
                      progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Stream the register through an Evaluator; call ``sink(decision_rows, new_outcomes)`` per batch.

    ``timings`` in the result: ``load`` (entities and records read), ``facts`` (facts computed from them),
    ``evaluate`` (predicate vector, memoised rule evaluation, decision rows built), ``store`` (the sink).
    """
    ev = Evaluator(version, as_of)
    kinds = ev.facts.kinds
    # The facts as stored (None left out, integral floats as ints) test exactly like the computed ones, so one
    # dict per entity serves the rules and the decision row.
    compute = ev.facts.compute_stored
    # Only a pack with a 'previous: tier' fact reads the previous cycle's tiers.
    prev_get = previous.get if previous and ev.facts.needs_previous else None
    timings = Counter({"load": 0.0, "facts": 0.0, "evaluate": 0.0, "store": 0.0})
    clock = time.perf_counter
    count = 0
    per_key: dict[str, tuple] = {}  # vector key seen in this run -> (tier, ratio, per_year, forced)
    subjects = set(version.pack.meta.get("subjects") or [])
    none = ()
    batches = qe.iter_entities(conn, BATCH)
    # Every batch allocates a few hundred thousand short-lived, acyclic containers (rows, records, facts); the cyclic
    # collector then ran thousands of times over them and over everything long-lived, about a third of a
    # 1,000,000-entity cycle. Reference counting frees all of it, so the collector is paused for the loop.
    collecting = gc.isenabled()
    gc.disable()
    try:
        while True:
            t0 = clock()
            batch = next(batches, None)
            if batch is None:
                timings["load"] += clock() - t0
                break
            records = qe.records_for_range(conn, batch[0]["id"], batch[-1]["id"], as_of, kinds, imported_before) \
                if kinds else {}
            t1 = clock()
            entities = [e for e in batch if e["entity_type"] in subjects] if subjects else batch
            get = records.get
            if prev_get is None:
                facts_list = [compute(e, get(e["id"], none), None) for e in entities]
            else:
                facts_list = [compute(e, get(e["id"], none), prev_get(e["id"])) for e in entities]
            del records
            t2 = clock()
            rows, new = [], {}
            for entity, facts, (key, outcome) in zip(entities, facts_list, ev.outcomes(facts_list)):
                fixed = per_key.get(key)
                if fixed is None:  # the first entity with this vector in this run
                    insp = outcome["inspection"]
                    fixed = per_key[key] = (outcome["tier"], insp["ratio"], insp["per_year"], insp["forced"])
                    new[key] = outcome
                rows.append({"entity_id": entity["id"], "key": key, "tier": fixed[0], "ratio": fixed[1],
                             "per_year": fixed[2], "forced": fixed[3], "facts": facts})
            del facts_list
            t3 = clock()
            sink(rows, new)
            t4 = clock()
            timings["load"] += t1 - t0
            timings["facts"] += t2 - t1
            timings["evaluate"] += t3 - t2
            timings["store"] += t4 - t3
            count += len(rows)
            if progress:
                progress(len(batch))
    finally:
        if collecting:
            gc.enable()
    return {"entities": count, "distinct_vectors": ev.distinct, "timings": dict(timings),
            "durable_evaluations": ev.rs1.evaluations + ev.rs2.evaluations}


def run_cycle(store: Store, pack_ref: str, period: str, as_of: dt.date | None = None, rerun: bool = False,
              actor: str = "cli", progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Evaluate every entity and store the cycle; returns the summary."""
    as_of = as_of or period_end(period)
    version = _load_version(pack_ref, as_of)
    pack_id = version.pack.id
    started = now()
    t0 = time.perf_counter()
    with store.transaction() as conn:
        q.lock_pack_period(conn, pack_id, period)
        existing = q.current_cycle(conn, pack_id, period)
        if existing and not rerun:
            raise CycleError(f"Cycle {existing['id']} already holds policy {pack_id} for period {period} "
                             f"(revision {existing['revision']}, committed {existing['committed_at']:%Y-%m-%d %H:%M}). "
                             f"A committed cycle is immutable; pass --rerun to store a new revision.")
        pv_id = q.ensure_policy_version(conn, version)
        prev = q.previous_cycle(conn, pack_id, as_of)
        previous = q.tiers_of(conn, prev["id"]) if prev else {}
        cycle_id = q.create_cycle(conn, pack_id=pack_id, period=period, revision=(existing["revision"] + 1
                                  if existing else 1), as_of=as_of, policy_version_id=pv_id, status="committed",
                                  supersedes_id=existing["id"] if existing else None, started_at=started,
                                  entity_count=0, actor=actor)
        outcome_ids: dict[str, int] = {}

        def sink(rows: list[dict], new: dict[str, dict]) -> None:
            for key, outcome in new.items():
                outcome_ids[key] = q.insert_outcome(conn, cycle_id, key, outcome["tier"], outcome)
            for r in rows:
                r["outcome_id"] = outcome_ids[r.pop("key")]
                r["cycle_id"] = cycle_id
            q.insert_decisions(conn, rows)

        stats = evaluate_register(conn, version, as_of, sink, previous, progress=progress)
        if stats["entities"] == 0:
            raise CycleError(f"The register in {store.display_url()} has no entity that policy {pack_id} evaluates; "
                             f"import entities first ('supervise import entities FILE').")
        lists = _propose_lists(conn, cycle_id, as_of, actor)
        summary = _summary(conn, cycle_id, prev, version)
        summary.update({"lists": lists, "distinct_vectors": stats["distinct_vectors"],
                        "durable_evaluations": stats["durable_evaluations"],
                        "timings": {k: round(v, 3) for k, v in stats["timings"].items()}})
        q.finish_cycle(conn, cycle_id, stats["entities"], summary)
        audit(conn, actor, "cycle_run", f"cycle:{cycle_id}", pack=pack_id, period=period, as_of=as_of.isoformat(),
              version=version.version, rerun=rerun)
    summary["wall_seconds"] = round(time.perf_counter() - t0, 3)
    return {"cycle": cycle_id, "pack": pack_id, "version": version.version, "period": period,
            "as_of": as_of.isoformat(), "revision": existing["revision"] + 1 if existing else 1,
            "supersedes": existing["id"] if existing else None, "entities": stats["entities"], **summary}


def _propose_lists(conn, cycle_id: int, as_of: dt.date, actor: str) -> dict[str, Any]:
    try:
        from lists.lifecycle import propose_from_cycle
    except ImportError:  # pragma: no cover - the lists package is part of the product
        return {}
    result = propose_from_cycle(conn, cycle_id, as_of, actor)
    # Keep the cycle summary small at a million entities: counts only (the entries are in list_entries).
    return {"proposed": result.get("counts", {}), "listed_at_once": len(result.get("listed", [])),
            "already_listed": sum(1 for s in result.get("skipped", []) if s.get("why") == "already listed")}


def _summary(conn, cycle_id: int, prev: dict | None, version) -> dict[str, Any]:
    counts = q.tier_counts(conn, cycle_id)
    order = [t for t in version.tier_order if t in counts] + sorted(set(counts) - set(version.tier_order))
    workload = q.region_tier_workload(conn, cycle_id)
    per_tier: dict[str, dict] = {}
    for w in workload:
        row = per_tier.setdefault(w["tier"], {"entities": 0, "expected_inspections": 0.0, "forced": 0})
        row["entities"] += w["entities"]
        row["expected_inspections"] += w["expected_inspections"]
        row["forced"] += w["forced"]
    tiers = []
    for t in order:
        sup = version.supervision.get(t, {})
        row = per_tier.get(t, {"entities": 0, "expected_inspections": 0.0, "forced": 0})
        tiers.append({"tier": t, "label": version.tier_labels.get(t, t), "entities": counts[t],
                      "ratio": sup.get("ratio"), "per_year": sup.get("per_year"),
                      "expected_inspections": math.ceil(round(row["expected_inspections"], 6)), "forced": row["forced"]})
    changes = None
    if prev:
        trans = q.transitions(conn, prev["id"], cycle_id)
        rank = {t: i for i, t in enumerate(version.tier_order)}
        up = sum(n for (a, b), n in trans.items() if a in rank and b in rank and rank[b] < rank[a])
        down = sum(n for (a, b), n in trans.items() if a in rank and b in rank and rank[b] > rank[a])
        changes = {"previous_cycle": prev["id"], "tier_up": up, "tier_down": down,
                   "unchanged": sum(n for (a, b), n in trans.items() if a == b),
                   "transitions": [{"from": a, "to": b, "entities": n} for (a, b), n in sorted(trans.items())]}
    return {"tiers": tiers, "changes": changes,
            "expected_inspections": sum(t["expected_inspections"] for t in tiers)}


def list_cycles(store: Store) -> list[dict]:
    with store.read() as conn:
        rows = q.list_cycles(conn)
    return [{"id": r["id"], "pack": r["pack_id"], "version": r["version"], "period": r["period"],
             "revision": r["revision"], "as_of": r["as_of"].isoformat(), "entities": r["entity_count"],
             "status": r["status"], "committed_at": r["committed_at"].isoformat() if r["committed_at"] else None}
            for r in rows]


def show_cycle(store: Store, cycle_id: int) -> dict:
    with store.read() as conn:
        c = q.get_cycle(conn, cycle_id)
    return {"id": c["id"], "pack": c["pack_id"], "version": c["version"], "content_hash": c["content_hash"],
            "period": c["period"], "revision": c["revision"], "as_of": c["as_of"].isoformat(), "status": c["status"],
            "superseded_by": c["superseded_by"], "supersedes": c["supersedes_id"], "entities": c["entity_count"],
            "started_at": c["started_at"].isoformat(), "committed_at": c["committed_at"].isoformat(),
            "summary": c["summary"]}


def diff_cycles(store: Store, a: int, b: int) -> dict:
    with store.read() as conn:
        ca, cb = q.get_cycle(conn, a), q.get_cycle(conn, b)
        trans = q.transitions(conn, a, b)
        wa = {(w["region"], w["tier"]): w for w in q.region_tier_workload(conn, a)}
        wb = {(w["region"], w["tier"]): w for w in q.region_tier_workload(conn, b)}
        ta, tb = q.tier_counts(conn, a), q.tier_counts(conn, b)
        la, lb = _list_counts(conn, a), _list_counts(conn, b)
    tiers = sorted(set(ta) | set(tb))
    workload = []
    for key in sorted(set(wa) | set(wb)):
        x = wa.get(key, {}).get("expected_inspections", 0.0)
        y = wb.get(key, {}).get("expected_inspections", 0.0)
        workload.append({"region": key[0], "tier": key[1], "a": round(x, 2), "b": round(y, 2), "change": round(y - x, 2)})
    return {"a": {"id": a, "pack": ca["pack_id"], "period": ca["period"], "version": ca["version"]},
            "b": {"id": b, "pack": cb["pack_id"], "period": cb["period"], "version": cb["version"]},
            "tiers": [{"tier": t, "a": ta.get(t, 0), "b": tb.get(t, 0), "change": tb.get(t, 0) - ta.get(t, 0)}
                      for t in tiers],
            "transitions": [{"from": x, "to": y, "entities": n} for (x, y), n in sorted(trans.items())],
            "lists": [{"list": name, "a": la.get(name, 0), "b": lb.get(name, 0), "change": lb.get(name, 0) - la.get(name, 0)}
                      for name in sorted(set(la) | set(lb))],
            "workload": workload,
            "expected_inspections": {"a": round(sum(w["a"] for w in workload), 1),
                                     "b": round(sum(w["b"] for w in workload), 1)}}


def _list_counts(conn, cycle_id: int) -> dict[str, int]:
    counts: Counter = Counter()
    outcomes = q.outcomes_of(conn, cycle_id)
    per_outcome = Counter()
    for batch in q.iter_decisions(conn, cycle_id):
        for d in batch:
            per_outcome[d["outcome_id"]] += 1
    for oid, n in per_outcome.items():
        for item in outcomes[oid]["result"].get("lists", []):
            counts[item["list"]] += n
    return dict(counts)


def replay_cycle(store: Store, cycle_id: int) -> dict:
    """Recompute a stored cycle from the pack version it stored and the records known when it ran."""
    from policies.loader import version_from_body

    with store.read() as conn:
        c = q.get_cycle(conn, cycle_id)
        version = version_from_body(c["pack_body"])
        if version.content_hash != c["content_hash"]:
            raise CycleError(f"Cycle {cycle_id}: the stored pack version no longer hashes to {c['content_hash'][:12]}; "
                             f"the stored body was altered.")
        prev = q.previous_cycle(conn, c["pack_id"], c["as_of"], before=c["started_at"])
        previous = q.tiers_of(conn, prev["id"]) if prev else {}
        stored = {}
        outcomes = q.outcomes_of(conn, cycle_id)
        for batch in q.iter_decisions(conn, cycle_id):
            for d in batch:
                stored[d["entity_id"]] = (d["tier"], d["ratio"], d["per_year"], d["forced"], outcomes[d["outcome_id"]]["key"])
        differences: list[dict] = []
        seen = 0

        def sink(rows, new):
            nonlocal seen
            for r in rows:
                seen += 1
                got = (r["tier"], r["ratio"], r["per_year"], r["forced"], r["key"])
                want = stored.pop(r["entity_id"], None)
                if want != got and len(differences) < 100:
                    differences.append({"entity_id": r["entity_id"], "stored": want, "replayed": got})

        evaluate_register(conn, version, c["as_of"], sink, previous, imported_before=c["started_at"])
    for entity_id, want in list(stored.items())[:100 - len(differences)]:
        differences.append({"entity_id": entity_id, "stored": want, "replayed": None})
    return {"cycle": cycle_id, "pack": c["pack_id"], "version": c["version"], "as_of": c["as_of"].isoformat(),
            "entities": seen, "identical": not differences and not stored, "differences": differences}
