"""Impact of a draft policy pack on the whole register, before it is published. Writes nothing.

``simulate(store, policy_ref, against=None, as_of=None)`` evaluates every entity with the pack version in force
at the as-of date (the same ``evaluate_register`` a cycle uses, with an aggregating sink instead of the
decisions table) and compares the result with the stored decisions of a committed cycle: tier transitions,
expected inspections per tier and region, entities entering and leaving each list, measures gained and lost.

Memory stays flat on large registers: the decisions of the cycle compared against are streamed in entity order
next to the evaluation (a merge join on entity id), and each entity only adds one to a counter keyed by
``(region, stored outcome, draft outcome)``. Everything else (tiers, lists, measures, workload) is derived from
those few thousand combinations at the end, because an outcome fixes tier, ratio, lists and measures.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine.errors import CycleError
from engine.model import PackVersion
from engine.pipeline.cycles import evaluate_register, resolve_sources, workers_for
from engine.pipeline.results import Simulation
from engine.store import Connection, Store
from engine.store import cycles as q
from engine.store import entities as qe
from engine.store import reports as qr
from policies import get_pack


def simulate(
    store: Store,
    policy_ref: str,
    against: int | None = None,
    as_of: dt.date | None = None,
    progress: Callable[[int], None] | None = None,
    spark: str | None = None,
) -> Simulation:
    """Evaluate the register with a draft pack (file or id) and compare with a stored cycle; store nothing.
    ``spark``: evaluate on Spark with that master (engine.pipeline.spark)."""
    t0 = time.perf_counter()
    pack = get_pack(policy_ref)  # PolicyError with file:line problems for an invalid draft
    with store.read() as conn, qr.read_only(conn):
        base = q.get_cycle(conn, against) if against is not None else q.latest_cycle(conn, pack.id)
        as_of = as_of or (base["as_of"] if base else dt.date.today())
        version = pack.version_at(as_of)
        previous = _previous_cycle(conn, version, as_of)
        combos: Counter = Counter()
        drafts: dict[str, dict] = {}
        stream = _Merge(qr.iter_register_decisions(conn, base["id"] if base else None), combos)

        def sink(rows: list[tuple], new: dict[str, dict]) -> None:
            for key, outcome in new.items():
                drafts[key] = _slim(outcome)
            advance = stream.advance
            for r in rows:  # (entity_id, key, ...): see engine.parallel
                combos[(advance(r[0]), r[1])] += 1

        workers = 0 if spark else workers_for(store, qe.entity_count(conn), sink_is_light=True)
        stats = evaluate_register(
            conn,
            version,
            as_of,
            sink,
            previous,
            progress=progress,
            workers=workers,
            url=store.url,
            decided=resolve_sources(conn, version, as_of),  # the stored cycles its decision facts read, if any
            spark=spark,
            facts_json=False,  # the comparison reads outcomes only
        )
        stream.drain()
        stored = q.outcomes_of(conn, base["id"]) if base else {}
        stored_workload = q.region_tier_workload(conn, base["id"]) if base else []
    stored = {oid: _slim(o["result"]) for oid, o in stored.items()}
    result = _compare(version, base, stored, stored_workload, drafts, combos)
    result.update(
        {
            "policy": {
                "ref": policy_ref,
                "id": pack.id,
                "title": pack.title,
                "version": version.version,
                "version_title": version.title,
                "content_hash": version.content_hash,
                "file": str(pack.path),
            },
            "as_of": as_of.isoformat(),
            "entities": stats["entities"],
            "distinct_vectors": stats["distinct_vectors"],
            "workers": stats["workers"],
            "wall_seconds": round(time.perf_counter() - t0, 3),
        }
    )
    return Simulation(result)


def _previous_cycle(conn: Connection, version: PackVersion, as_of: dt.date) -> int | None:
    """The cycle a real cycle would see as 'previous' (only looked up when a fact of the pack reads it)."""
    if not any("previous" in (f.source or {}) for f in version.source_facts().values()):
        return None
    prev = q.previous_cycle(conn, version.pack.id, as_of)
    return prev["id"] if prev else None


def _slim(outcome: dict) -> dict:
    """What the comparison needs from an outcome: tier, inspection ratio, forced, lists and measures."""
    insp = outcome.get("inspection") or {}
    return {
        "tier": outcome["tier"],
        "ratio": float(insp.get("ratio") or 0.0),
        "forced": bool(insp.get("forced")),
        "lists": sorted({item["list"] for item in outcome.get("lists") or []}),
        "measures": sorted({m["id"] for m in outcome.get("measures") or []}),
    }


class _Merge:
    """Walk the stored decisions (in entity id order) alongside the evaluation's rows (also in id order).

    ``advance(entity_id)`` returns ``(region, stored outcome id)`` for that entity. Entities passed over (not
    evaluated by the draft, e.g. outside its ``subjects``) that had a stored decision are counted as leaving.
    """

    def __init__(self, batches: Iterator[Sequence[Sequence[Any]]], combos: Counter):
        self.batches = batches
        self.combos = combos
        self.buf: Sequence[Sequence[Any]] = []
        self.i = 0

    def advance(self, entity_id: int) -> tuple[str | None, int | None]:
        buf, i = self.buf, self.i
        while True:
            if i == len(buf):
                nxt, i = next(self.batches, None), 0
                if nxt is None:
                    raise CycleError(
                        f"Entity {entity_id} was evaluated but is missing from the register stream; the "
                        f"register changed during the simulation. Run it again."
                    )
                self.buf = buf = nxt
            eid, region, outcome_id = buf[i]
            i += 1
            if eid == entity_id:
                self.i = i
                return region, outcome_id
            if outcome_id is not None:
                self.combos[((region, outcome_id), None)] += 1

    def drain(self) -> None:
        rows = self.buf[self.i :]
        while True:
            for _eid, region, outcome_id in rows:
                if outcome_id is not None:
                    self.combos[((region, outcome_id), None)] += 1
            more = next(self.batches, None)
            if more is None:
                return
            rows = more


def _tier_order(version: PackVersion, base: dict | None) -> tuple[list[str], dict[str, str]]:
    order, labels = list(version.tier_order), dict(version.tier_labels)
    if base:
        tiers = (base["pack_body"].get("version") or {}).get("tiers") or {}
        for t in tiers.get("order") or []:
            if t not in order:
                order.append(t)
        for t, label in (tiers.get("labels") or {}).items():
            labels.setdefault(t, label)
    return order, labels


def _compare(
    version: PackVersion,
    base: dict | None,
    stored: dict[int, dict],
    stored_workload: list[dict],
    drafts: dict[str, dict],
    combos: Counter,
) -> dict[str, Any]:
    order, labels = _tier_order(version, base)
    rank = {t: i for i, t in enumerate(order)}
    tiers_a: Counter = Counter()
    tiers_b: Counter = Counter()
    trans: Counter = Counter()
    lists_a: Counter = Counter()
    lists_b: Counter = Counter()
    entering: Counter = Counter()
    leaving: Counter = Counter()
    meas_a: Counter = Counter()
    meas_b: Counter = Counter()
    gained: Counter = Counter()
    lost: Counter = Counter()
    work_b: dict[tuple, float] = {}
    forced_b: Counter = Counter()
    for ((region, oid), key), n in combos.items():
        a = stored.get(oid) if oid is not None else None
        b = drafts.get(key) if key is not None else None
        ta, tb = (a["tier"] if a else None), (b["tier"] if b else None)
        if a:
            tiers_a[ta] += n
        if b:
            tiers_b[tb] += n
            work_b[(region, tb)] = work_b.get((region, tb), 0.0) + b["ratio"] * n
            if b["forced"]:
                forced_b[tb] += n
        if base:
            trans[(ta, tb)] += n
        la, lb = set(a["lists"]) if a else set(), set(b["lists"]) if b else set()
        ma, mb = set(a["measures"]) if a else set(), set(b["measures"]) if b else set()
        for x in la:
            lists_a[x] += n
        for x in lb:
            lists_b[x] += n
        for x in lb - la:
            entering[x] += n
        for x in la - lb:
            leaving[x] += n
        for x in ma:
            meas_a[x] += n
        for x in mb:
            meas_b[x] += n
        for x in mb - ma:
            gained[x] += n
        for x in ma - mb:
            lost[x] += n
    work_a: dict[tuple, float] = {}
    for w in stored_workload:
        work_a[(w["region"], w["tier"])] = w["expected_inspections"]
    exp_a: dict[str, float] = {}
    exp_b: dict[str, float] = {}
    for (_, t), v in work_a.items():
        exp_a[t] = exp_a.get(t, 0.0) + v
    for (_, t), v in work_b.items():
        exp_b[t] = exp_b.get(t, 0.0) + v
    seen = set(tiers_a) | set(tiers_b)
    order = [t for t in order if t in seen] + sorted(seen - set(order))
    has_base = base is not None

    def ceil(v: float) -> int:
        return math.ceil(round(v, 6))

    tiers: list[dict[str, Any]] = []
    for t in order:
        row = {
            "tier": t,
            "label": labels.get(t, t),
            "draft": tiers_b[t],
            "draft_ratio": version.supervision.get(t, {}).get("ratio"),
            "draft_expected_inspections": ceil(exp_b.get(t, 0.0)),
            "draft_forced": forced_b[t],
        }
        if has_base:
            row.update(
                {
                    "against": tiers_a[t],
                    "change": tiers_b[t] - tiers_a[t],
                    "against_expected_inspections": ceil(exp_a.get(t, 0.0)),
                }
            )
        tiers.append(row)
    regions = []
    for region, t in sorted(set(work_a) | set(work_b), key=lambda k: (k[0] or "", rank.get(k[1], 99), k[1])):
        x, y = work_a.get((region, t), 0.0), work_b.get((region, t), 0.0)
        row = {"region": region, "tier": t, "draft": round(y, 2)}
        if has_base:
            row.update({"against": round(x, 2), "change": round(y - x, 2)})
        regions.append(row)
    total_b = sum(t["draft_expected_inspections"] for t in tiers)
    inspections: dict[str, Any] = {"draft": total_b}
    changes = None
    if has_base:
        total_a = sum(t["against_expected_inspections"] for t in tiers)
        inspections.update({"against": total_a, "change": total_b - total_a})
        up = sum(n for (a, b), n in trans.items() if a in rank and b in rank and rank[b] < rank[a])
        down = sum(n for (a, b), n in trans.items() if a in rank and b in rank and rank[b] > rank[a])
        changes = {
            "tier_up": up,
            "tier_down": down,
            "unchanged": sum(n for (a, b), n in trans.items() if a == b and a is not None),
            "new": sum(n for (a, b), n in trans.items() if a is None),
            "left": sum(n for (a, b), n in trans.items() if b is None),
        }
    list_defs = dict(version.lists)
    if base:
        for name, d in ((base["pack_body"].get("version") or {}).get("lists") or {}).items():
            list_defs.setdefault(name, d)
    lists = []
    for name in sorted(set(lists_a) | set(lists_b) | set(entering) | set(leaving)):
        d = list_defs.get(name) or {}
        row = {"list": name, "title": d.get("title", name), "kind": d.get("kind"), "draft": lists_b[name]}
        if has_base:
            row.update({"against": lists_a[name], "entering": entering[name], "leaving": leaving[name]})
        lists.append(row)
    measure_defs = dict(version.measures)
    if base:
        for mid, m in ((base["pack_body"].get("version") or {}).get("measures") or {}).items():
            measure_defs.setdefault(mid, m)
    measures = []
    for mid in sorted(set(meas_a) | set(meas_b)):
        m = measure_defs.get(mid) or {}
        row = {"id": mid, "kind": m.get("kind"), "department": m.get("department"), "draft": meas_b[mid]}
        if has_base:
            row.update({"against": meas_a[mid], "gained": gained[mid], "lost": lost[mid]})
        measures.append(row)
    return {
        "against": (
            {
                "cycle": base["id"],
                "pack": base["pack_id"],
                "version": base["version"],
                "content_hash": base["content_hash"],
                "period": base["period"],
                "as_of": base["as_of"].isoformat(),
                "revision": base["revision"],
                "status": base["status"],
                "entities": base["entity_count"],
            }
            if base
            else None
        ),
        "tiers": tiers,
        "transitions": (
            [
                {"from": a, "to": b, "entities": n}
                for (a, b), n in sorted(trans.items(), key=lambda kv: (rank.get(kv[0][0], -1), rank.get(kv[0][1], -1)))
            ]
            if has_base
            else None
        ),
        "changes": changes,
        "inspections": {**inspections, "per_region": regions},
        "lists": lists,
        "measures": measures,
    }
