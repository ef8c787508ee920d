"""双随机、一公开: the plan model (candidates, inspectors, items, checks) and the pure, deterministic draw, with
which verifiable random inspection plans are drawn from a committed cycle's decisions.

The draw (:func:`draw`) is a pure, documented, deterministic function; the store only loads and saves, and
``plan verify`` and the property tests call the same function.

The draw, algorithm ``ALGORITHM`` (``dsr-sha256-v1``)
----------------------------------------------------
Inputs: the candidates (one per decision of the cycle: entity code, tier, ratio, forced, region, township), the
inspector pool (code, department, region, specialties, max_checks, conflicts, home township), the seed, the
number of inspectors per check ``k`` and the options (entities excluded as recently inspected clean, the recusal
rule, the pack's inspection items).

1. Strata. Candidates are grouped by (tier, ratio). An excluded entity (a clean inspection result within the
   exclusion window) leaves its stratum unless it is forced. Strata are taken in (tier, ratio) order.
2. Entity rank. ``rank(code) = SHA-256(utf8(seed + "|" + ALGORITHM + "|" + code))`` as 64 lower-case hex digits.
   In each stratum the candidates are sorted by rank (ties, which SHA-256 makes impossible in practice, by code)
   and the first ``n = ceil(ratio * size)`` are drawn (ratio read as the decimal it prints as, so 0.1 * 30 = 3;
   ratio 1.0 takes everyone). Forced candidates (decision ``forced``) not drawn are added with reason
   ``forced``. Checks are numbered 1.. in stratum order, then rank order.
3. Inspector rank, per check: ``rank(check, inspector) = SHA-256(utf8(seed + "|" + ALGORITHM + "|" +
   entity code + "|" + inspector code))``.
4. Eligibility. An inspector may take a check when (a) their region covers the entity's region: the inspector's
   region with trailing ``00`` pairs removed (``350500`` -> ``3505`` = the whole city, ``350000`` -> ``35``)
   is a prefix of the entity's 6-digit region; (b) the entity's code is not in their conflicts; (c) with the
   recusal rule on, their home township (first 9 digits of ``home_region``) differs from the entity's township
   (first 9 digits of the register's ``extra.township``; unknown townships are not compared); (d) they have
   fewer checks than ``max_checks`` so far. ``max_checks`` is per period (pack and period): the pool given to
   the draw carries each inspector's capacity left after the period's earlier plans, and the snapshot logs it.
5. Staffing order: checks whose region has fewer covering inspectors first, then by check number.
6. Choice, per check. ``take(n, need)``: among the eligible inspectors (meeting the need, if any, and not yet
   chosen for this check), go through the load levels (checks so far) from the lowest; in a level, the
   shortlist is its first ``2k`` inspectors by plan rank ``SHA-256(utf8(seed + "|" + ALGORITHM + "|" +
   inspector code))``; order the shortlist by the check's inspector rank (step 3) and take from the front;
   move to the next level only when a level runs out. For each need of the check's inspection items
   (department and/or specialty, sorted) that no chosen inspector meets yet, ``take(1, need)``; then
   ``take(k - chosen, any)``. Loads are updated after the check. If any check cannot be staffed, the draw
   fails and names the regions and specialties that are short, by how many checks and inspector slots.
   Why a shortlist: ranking the whole pool for every check costs checks x pool hashes (70 million for a
   250,000-check plan with 545-inspector pools); the shortlist keeps loads within one check of each other in
   a pool while each check's own hash still decides who among the least-loaded goes.

Fingerprints (SHA-256 hex of UTF-8 text): candidates = one line ``code TAB tier TAB repr(ratio) TAB 0|1 LF``
per candidate left after exclusions (1 = forced), lines sorted; inspectors = one compact JSON line
``[code, region, department, sorted specialties, max_checks, sorted conflicts, home_region]`` per inspector,
lines sorted; plan = a JSON header line then one tab-separated line per check (see :func:`plan_fingerprint`).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from engine.errors import PlanError, UsageProblem

ALGORITHM = "dsr-sha256-v1"
DEFAULT_DEADLINE_WORKING_DAYS = 20
MAX_LISTED_DIFFERENCES = 50

OUTCOMES = {
    "clean": "clean",
    "problems": "problems",
    "not_found": "not_found",
    "refused": "refused",
    "未发现问题": "clean",
    "发现问题": "problems",
    "查无下落": "not_found",
    "拒绝检查": "refused",
    "发现问题已责令改正": "problems",
    "通过登记的住所无法联系": "not_found",
    "查无下落(通过登记的住所无法联系)": "not_found",
}
OUTCOME_LABELS = {
    "clean": "未发现问题",
    "problems": "发现问题",
    "not_found": "查无下落（通过登记的住所无法联系）",
    "refused": "拒绝检查",
}


class InspectorShortage(PlanError):
    """The inspector pool cannot staff every drawn check; ``shortfalls`` says where."""

    def __init__(self, message: str, shortfalls: list[dict[str, Any]]):
        super().__init__(message)
        self.shortfalls = shortfalls


# -- inputs and outputs of the pure draw -----------------------------------------------------------


class Candidate(NamedTuple):
    code: str
    entity_id: int
    tier: str
    ratio: float
    forced: bool
    region: str | None = None
    township: str | None = None


class Inspector(NamedTuple):
    code: str
    name: str
    department: str
    region: str
    specialties: tuple[str, ...] = ()
    max_checks: int = 1
    conflicts: tuple[str, ...] = ()
    home_region: str | None = None
    id: int | None = None


class Item(NamedTuple):
    id: str
    title: str
    department: str | None = None
    specialty: str | None = None
    tiers: tuple[str, ...] = ()  # empty: every tier


class Check(NamedTuple):
    seq: int
    code: str
    entity_id: int
    tier: str
    ratio: float
    reason: str  # sampled | forced
    rank: str
    region: str | None
    township: str | None
    items: tuple[str, ...]
    inspectors: tuple[str, ...]


@dataclass(frozen=True)
class DrawOptions:
    excluded: frozenset[str] = frozenset()
    recusal_same_township: bool = False
    items: tuple[Item, ...] = ()
    algorithm: str = ALGORITHM


@dataclass
class Draw:
    seed: str
    algorithm: str
    per_check: int
    checks: list[Check]
    strata: list[dict[str, Any]]
    excluded: list[str]
    candidates_fingerprint: str
    inspectors_fingerprint: str
    plan_fingerprint: str
    options: dict[str, Any] = field(default_factory=dict)


# -- pure helpers ----------------------------------------------------------------------------------


def rank_key(seed: str, code: str, algorithm: str = ALGORITHM) -> str:
    """The documented entity rank: SHA-256 of ``seed|algorithm|code``."""
    return hashlib.sha256(f"{seed}|{algorithm}|{code}".encode()).hexdigest()


def inspector_rank_key(seed: str, check_key: str, inspector_code: str, algorithm: str = ALGORITHM) -> str:
    """The documented inspector rank for one check: SHA-256 of ``seed|algorithm|check key|inspector code``."""
    return hashlib.sha256(f"{seed}|{algorithm}|{check_key}|{inspector_code}".encode()).hexdigest()


def ratio_text(ratio: float) -> str:
    return repr(float(ratio))


def sample_count(ratio: float, size: int) -> int:
    """ceil(ratio * size) with the ratio read as the decimal it prints as (0.1 * 30 = 3, not 4)."""
    return min(size, math.ceil(Decimal(ratio_text(ratio)) * size))


def region_scope(region: str) -> str:
    """An inspector's region as a prefix: trailing ``00`` pairs removed (350500 -> 3505, 350000 -> 35)."""
    scope = str(region).strip()
    while len(scope) > 2 and scope.endswith("00"):
        scope = scope[:-2]
    return scope


def covers(inspector_region: str, entity_region: str | None) -> bool:
    return bool(entity_region) and str(entity_region).startswith(region_scope(inspector_region))


def township_key(code: str | None) -> str | None:
    """First 9 digits of a street/township (or village) code, or None when shorter/unknown."""
    if not code:
        return None
    digits = str(code).strip()
    return digits[:9] if len(digits) >= 9 and digits[:9].isdigit() else None


def candidates_fingerprint(candidates: Iterable[Candidate]) -> str:
    texts: dict[float, str] = {}
    lines = []
    for c in candidates:
        ratio = c[3]
        text = texts.get(ratio)
        if text is None:
            text = texts[ratio] = ratio_text(ratio)
        lines.append(f"{c[0]}\t{c[2]}\t{text}\t{1 if c[4] else 0}\n")
    lines.sort()
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _inspector_line(i: Inspector) -> str:
    return json.dumps(
        [
            i.code,
            i.region,
            i.department,
            sorted(i.specialties),
            int(i.max_checks),
            sorted(i.conflicts),
            i.home_region or "",
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def inspectors_fingerprint(inspectors: Iterable[Inspector]) -> str:
    lines = sorted(_inspector_line(i) + "\n" for i in inspectors)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def plan_fingerprint(header: dict[str, Any], checks: Iterable[Check]) -> str:
    """SHA-256 over a JSON header line (algorithm, seed, per_check, both input fingerprints, options) and one
    line per check: seq, code, tier, repr(ratio), reason, rank, region, township, item ids joined by ",",
    inspector codes joined by ",", separated by tabs, ending in a newline."""
    h = hashlib.sha256()
    h.update(json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    texts: dict[float, str] = {}
    lines = []
    for c in checks:
        ratio = texts.get(c.ratio)
        if ratio is None:
            ratio = texts[c.ratio] = ratio_text(c.ratio)
        lines.append(
            f"{c.seq}\t{c.code}\t{c.tier}\t{ratio}\t{c.reason}\t{c.rank}\t{c.region or ''}\t"
            f"{c.township or ''}\t{','.join(c.items)}\t{','.join(c.inspectors)}\n"
        )
    h.update("".join(lines).encode())
    return h.hexdigest()


def items_for(tier: str, items: Sequence[Item]) -> tuple[Item, ...]:
    return tuple(it for it in items if not it.tiers or tier in it.tiers)


def needs_of(items: Iterable[Item]) -> list[tuple[str | None, str | None]]:
    return sorted(
        {(it.department, it.specialty) for it in items if it.department or it.specialty},
        key=lambda n: (n[0] or "", n[1] or ""),
    )


def need_label(need: tuple[str | None, str | None] | None) -> str:
    if not need:
        return ""
    dept, spec = need
    parts = ([f"specialty {spec}"] if spec else []) + ([f"department {dept}"] if dept else [])
    return ", ".join(parts)


def _meets(inspector: Inspector, need: tuple[str | None, str | None]) -> bool:
    dept, spec = need
    return (dept is None or inspector.department == dept) and (spec is None or spec in inspector.specialties)


# -- the draw --------------------------------------------------------------------------------------


def select_entities(
    candidates: Sequence[Candidate], seed: str, excluded: frozenset[str] = frozenset(), algorithm: str = ALGORITHM
) -> tuple[list[tuple[Candidate, str, str]], list[dict], list[str], list[Candidate]]:
    """Steps 1-2: returns ([(candidate, reason, rank)] in check order, strata stats, excluded codes,
    candidates left after exclusion)."""
    codes = [c[0] for c in candidates]
    if len(set(codes)) != len(codes):
        dup = next(code for code, n in Counter(codes).items() if n > 1)
        raise PlanError(
            f"Entity {dup} appears twice among the candidates; a cycle has one decision per "
            f"entity, so the cycle data is damaged."
        )
    groups: dict[tuple[str, float], list[Candidate]] = {}
    for c in candidates:
        key = (c[2], c[3])
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
        group.append(c)
    strata: dict[tuple[str, float], list[Candidate]] = {}
    for (tier, ratio), group in groups.items():
        if not 0.0 <= float(ratio) <= 1.0:
            raise PlanError(
                f"Entity {group[0].code} (tier {tier}) has inspection ratio {ratio}; a ratio must be "
                f"between 0 and 1. Fix the tier's inspection.ratio in the policy pack."
            )
        key = (str(tier), float(ratio))
        strata.setdefault(key, []).extend(group)
    excluded_codes: list[str] = []
    population = {key: len(members) for key, members in strata.items()}
    if excluded:
        for key, members in strata.items():
            out = [c for c in members if c[4] or c[0] not in excluded]
            if len(out) != len(members):
                excluded_codes.extend(c[0] for c in members if not c[4] and c[0] in excluded)
                strata[key] = out
    prefix = f"{seed}|{algorithm}|".encode()
    sha = hashlib.sha256
    chosen: list[tuple[Candidate, str, str]] = []
    stats: list[dict[str, Any]] = []
    kept: list[Candidate] = []
    for key in sorted(strata):
        members = strata[key]
        kept.extend(members)
        # digest + code: ties (impossible in practice) fall back to the code.
        keys = [sha(prefix + code.encode()).digest() + code.encode() for code in (c[0] for c in members)]
        order = sorted(range(len(members)), key=keys.__getitem__)
        n = sample_count(key[1], len(members))
        picked = order[:n]
        forced = [i for i, c in enumerate(members) if c[4]]
        in_sample = set(picked) if forced else set()
        extra = [i for i in forced if i not in in_sample]
        if extra:
            reasons = dict.fromkeys(picked, "sampled") | dict.fromkeys(extra, "forced")
            picked = sorted(picked + extra, key=keys.__getitem__)
            chosen.extend((members[i], reasons[i], keys[i][:32].hex()) for i in picked)
        else:
            chosen.extend((members[i], "sampled", keys[i][:32].hex()) for i in picked)
        stats.append(
            {
                "tier": key[0],
                "ratio": key[1],
                "population": population[key],
                "excluded": population[key] - len(members),
                "candidates": len(members),
                "drawn": n,
                "forced": len(forced),
                "forced_added": len(extra),
                "checks": n + len(extra),
            }
        )
    return chosen, stats, sorted(excluded_codes), kept


def assign_inspectors(
    checks: Sequence[tuple[Candidate, tuple[Item, ...]]],
    inspectors: Sequence[Inspector],
    seed: str,
    per_check: int,
    recusal_same_township: bool = False,
    algorithm: str = ALGORITHM,
) -> tuple[list[tuple[str, ...]], list[dict[str, Any]]]:
    """Steps 3-6: inspector codes per check (same order as ``checks``) and the shortfalls (empty when staffed).

    Implementation: one heap of (load, plan rank, index) per (inspector scope, need), entries made stale by a
    load change are skipped when they surface. A check reads the few heaps of its region's prefixes, so its
    cost does not grow with the size of the pool.
    """
    codes = [i.code for i in inspectors]
    if len(set(codes)) != len(codes):
        dup = next(c for c, n in Counter(codes).items() if n > 1)
        raise PlanError(f"Inspector {dup} appears twice in the pool; inspector codes must be unique.")
    sha = hashlib.sha256
    shortlist_size = shortlist_width(per_check)
    cap = [int(i.max_checks) for i in inspectors]
    load = [0] * len(inspectors)
    plan_rank = [sha(f"{seed}|{algorithm}|{c}".encode()).digest() for c in codes]
    scope_of = [region_scope(i.region) for i in inspectors]
    all_needs = sorted({n for _c, items in checks for n in needs_of(items)}, key=lambda n: (n[0] or "", n[1] or ""))
    # heaps[(scope, need)]: need None = every inspector of that scope.
    heaps: dict[tuple[str, Any], list] = {}
    member_of: list[list[list]] = [[] for _ in inspectors]
    for idx, insp in enumerate(inspectors):
        for need in (None, *all_needs):
            if need is None or _meets(insp, need):
                heap = heaps.setdefault((scope_of[idx], need), [])
                member_of[idx].append(heap)
                if cap[idx] > 0:
                    heap.append((0, plan_rank[idx], idx))
    for heap in heaps.values():
        heapq.heapify(heap)
    scopes_by_len = sorted({len(sc) for sc in scope_of})
    conflicts: dict[str, set[int]] = {}
    for idx, insp in enumerate(inspectors):
        for code in insp.conflicts:
            conflicts.setdefault(code, set()).add(idx)
    homes: dict[str, set[int]] = {}
    if recusal_same_township:
        for idx, insp in enumerate(inspectors):
            key = township_key(insp.home_region)
            if key:
                homes.setdefault(key, set()).add(idx)
    pool_cache: dict[tuple[str | None, Any], list[list]] = {}
    covering_cache: dict[str | None, int] = {}

    def pool_heaps(region: str | None, need: Any) -> list[list]:
        key = (region, need)
        if key not in pool_cache:
            found = []
            if region:
                for length in scopes_by_len:
                    heap = heaps.get((region[:length], need))
                    if heap is not None:
                        found.append(heap)
            pool_cache[key] = found
        return pool_cache[key]

    def covering(region: str | None) -> int:
        if region not in covering_cache:
            covering_cache[region] = sum(1 for sc in scope_of if region and region.startswith(sc))
        return covering_cache[region]

    keys = [covering(c.region) for c, _items in checks]
    order = sorted(range(len(checks)), key=keys.__getitem__)  # stable: ties keep check order
    assigned: list[tuple[str, ...]] = [()] * len(checks)
    short: dict[tuple[str, str], dict[str, Any]] = {}
    empty: frozenset[int] = frozenset()

    def shortfall(region: str | None, need: tuple | None, missing: int, code: str) -> None:
        key = (region or "", need_label(need))
        entry = short.setdefault(
            key, {"region": region, "need": need_label(need), "checks": 0, "slots": 0, "examples": [], "covering": None}
        )
        entry["checks"] += 1
        entry["slots"] += missing
        if len(entry["examples"]) < 3:
            entry["examples"].append(code)
        if entry["covering"] is None:
            entry["covering"] = sum(
                1
                for i, sc in enumerate(scope_of)
                if region and region.startswith(sc) and (need is None or _meets(inspectors[i], need))
            )

    heappop, heappush = heapq.heappop, heapq.heappush
    codes_b = [c.encode() for c in codes]

    def take(pool: list[list], wanted: int, excluded: set[int] | frozenset[int], prefix: bytes) -> list[int]:
        """Up to ``wanted`` inspectors: lowest load level first; in a level, the first ``shortlist_size`` by plan
        rank, ordered by the check's own rank."""
        out: list[int] = []
        popped: list[tuple[list, tuple]] = []
        exhausted = False
        while wanted > 0 and not exhausted:
            level = -1
            shortlist: list[int] = []
            while len(shortlist) < shortlist_size:
                best = head = None
                for heap in pool:
                    while heap:
                        entry = heap[0]
                        i = entry[2]
                        if entry[0] != load[i] or entry[0] >= cap[i]:
                            heappop(heap)  # stale: the inspector's load changed since this entry was pushed
                            continue
                        if best is None or entry < head:
                            best, head = heap, entry
                        break
                if best is None:
                    exhausted = True
                    break
                assert head is not None  # set together with best
                if level < 0:
                    level = head[0]
                elif head[0] != level:
                    break
                heappop(best)
                popped.append((best, head))
                if head[2] not in excluded:
                    shortlist.append(head[2])
            if not shortlist:
                continue  # every inspector of this level is excluded for this check: next level
            if len(shortlist) > wanted:
                ranked = sorted([(sha(prefix + codes_b[i]).digest(), i) for i in shortlist])
                shortlist = [i for _digest, i in ranked[:wanted]]
            out.extend(shortlist)
            wanted -= len(shortlist)
        for heap, entry in popped:
            if entry[2] not in out:
                heappush(heap, entry)
        return out

    needs_cache: dict[tuple, list] = {}

    for j in order:
        cand, items = checks[j]
        blocked = conflicts.get(cand.code, empty)
        if recusal_same_township:
            home = township_key(cand.township)
            recused = homes.get(home, empty) if home else empty
        else:
            recused = empty
        excluded = (blocked | recused) if (blocked or recused) else empty
        prefix = f"{seed}|{algorithm}|{cand.code}|".encode()
        chosen: list[int] = []
        needs = needs_cache.get(items)
        if needs is None:
            needs = needs_cache[items] = needs_of(items)
        for need in needs:
            if any(_meets(inspectors[i], need) for i in chosen):
                continue
            pick = take(pool_heaps(cand.region, need), 1, excluded | set(chosen) if chosen else excluded, prefix)
            if pick:
                chosen.extend(pick)
            else:
                shortfall(cand.region, need, 1, cand.code)
        if len(chosen) < per_check:
            chosen.extend(
                take(
                    pool_heaps(cand.region, None),
                    per_check - len(chosen),
                    excluded | set(chosen) if chosen else excluded,
                    prefix,
                )
            )
        if len(chosen) < per_check:
            shortfall(cand.region, None, per_check - len(chosen), cand.code)
        for i in chosen:
            load[i] += 1
            if load[i] < cap[i]:
                entry = (load[i], plan_rank[i], i)
                for heap in member_of[i]:
                    heapq.heappush(heap, entry)
        assigned[j] = tuple(codes[i] for i in chosen)
    return assigned, sorted(short.values(), key=lambda e: (e["region"] or "", e["need"]))


def shortlist_width(per_check: int) -> int:
    """How many of the least-loaded inspectors (by plan rank) a check's own rank chooses among: 2 x per_check."""
    return max(2, 2 * per_check)


def shortage_message(shortfalls: list[dict[str, Any]], per_check: int) -> str:
    lines = []
    for s in shortfalls:
        where = f"region {s['region']}" if s["region"] else "entities without a region"
        if s["need"]:
            where += f" ({s['need']})"
        covering = s["covering"]
        detail = f"{covering} inspector{'s' if covering != 1 else ''} cover{'s' if covering == 1 else ''} it" + (
            "" if s["need"] else f", each check needs {per_check}"
        )
        lines.append(
            f"  {where}: {s['checks']} check{'s' if s['checks'] != 1 else ''} short by {s['slots']} "
            f"inspector slot{'s' if s['slots'] != 1 else ''} ({detail}; e.g. {', '.join(s['examples'])})"
        )
    total = sum(s["slots"] for s in shortfalls)
    return (
        "The inspectors cannot cover the draw; nothing was stored. Short by "
        f"{total} inspector slot"
        f"{'s' if total != 1 else ''}:\n" + "\n".join(lines) + "\n"
        "Import more inspectors for these regions (region 3505 or 350500 covers the whole city) or with the "
        "named specialty/department, raise their max_checks, resolve conflicts, or lower --per-check."
    )


def draw(
    candidates: Sequence[Candidate],
    inspectors: Sequence[Inspector],
    seed: str,
    per_check: int = 2,
    options: DrawOptions = DrawOptions(),
    timings: dict[str, float] | None = None,
) -> Draw:
    """The whole draw (steps 1-6 above) as a pure function. Raises InspectorShortage when it cannot be staffed."""
    if not str(seed):
        raise UsageProblem("The seed is empty; give --seed (e.g. the date and a number announced in advance).")
    if per_check < 1:
        raise UsageProblem(f"--per-check is {per_check}; every check needs at least 1 inspector (2 by rule).")
    t0 = time.perf_counter()
    selected, strata, excluded, kept = select_entities(candidates, seed, options.excluded, options.algorithm)
    t1 = time.perf_counter()
    by_tier: dict[str, tuple[Item, ...]] = {}
    for c, _reason, _rank in selected:
        if c.tier not in by_tier:
            by_tier[c.tier] = items_for(c.tier, options.items)
    staffing = [(c, by_tier[c.tier]) for c, _reason, _rank in selected]
    assigned, shortfalls = assign_inspectors(
        staffing, inspectors, seed, per_check, options.recusal_same_township, options.algorithm
    )
    t2 = time.perf_counter()
    if shortfalls:
        raise InspectorShortage(shortage_message(shortfalls, per_check), shortfalls)
    ids = {tier: tuple(it.id for it in items) for tier, items in by_tier.items()}
    checks = [
        Check(
            seq,
            c.code,
            c.entity_id,
            c.tier,
            float(c.ratio),
            reason,
            rank,
            c.region,
            township_key(c.township),
            ids[c.tier],
            insp,
        )
        for seq, ((c, reason, rank), insp) in enumerate(zip(selected, assigned), 1)
    ]
    cfp = candidates_fingerprint(kept)
    ifp = inspectors_fingerprint(inspectors)
    opts = {"recusal_same_township": bool(options.recusal_same_township), "items": [list(it) for it in options.items]}
    header = {
        "algorithm": options.algorithm,
        "seed": str(seed),
        "per_check": per_check,
        "candidates_fingerprint": cfp,
        "inspectors_fingerprint": ifp,
        "options": opts,
    }
    pfp = plan_fingerprint(header, checks)
    t3 = time.perf_counter()
    if timings is not None:
        timings.update({"sample": t1 - t0, "assign": t2 - t1, "fingerprint": t3 - t2})
    return Draw(str(seed), options.algorithm, per_check, checks, strata, excluded, cfp, ifp, pfp, opts)
