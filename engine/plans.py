"""双随机、一公开: verifiable random inspection plans drawn from a committed cycle's decisions.

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

import contextlib
import datetime as dt
import gc
import hashlib
import heapq
import json
import math
import pathlib
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, NamedTuple, Sequence

from . import deadlines, intake, values
from .authorities import for_region
from .codes import normalize_code, public_party
from .exports import write_csv, write_xlsx
from .regions import region_labels
from .errors import CodeError, IntakeError, PlanError, UsageProblem
from .store import Store, audit, now
from .store import entities as eq
from .store import plans as q

ALGORITHM = "dsr-sha256-v1"
DEFAULT_DEADLINE_WORKING_DAYS = 20
MAX_LISTED_DIFFERENCES = 50

OUTCOMES = {"clean": "clean", "problems": "problems", "not_found": "not_found", "refused": "refused",
            "未发现问题": "clean", "发现问题": "problems", "查无下落": "not_found", "拒绝检查": "refused",
            "发现问题已责令改正": "problems", "通过登记的住所无法联系": "not_found",
            "查无下落(通过登记的住所无法联系)": "not_found"}
OUTCOME_LABELS = {"clean": "未发现问题", "problems": "发现问题", "not_found": "查无下落（通过登记的住所无法联系）",
                  "refused": "拒绝检查"}


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
    return json.dumps([i.code, i.region, i.department, sorted(i.specialties), int(i.max_checks),
                       sorted(i.conflicts), i.home_region or ""], ensure_ascii=False, separators=(",", ":"))


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
        lines.append(f"{c.seq}\t{c.code}\t{c.tier}\t{ratio}\t{c.reason}\t{c.rank}\t{c.region or ''}\t"
                     f"{c.township or ''}\t{','.join(c.items)}\t{','.join(c.inspectors)}\n")
    h.update("".join(lines).encode())
    return h.hexdigest()


def items_for(tier: str, items: Sequence[Item]) -> tuple[Item, ...]:
    return tuple(it for it in items if not it.tiers or tier in it.tiers)


def needs_of(items: Iterable[Item]) -> list[tuple[str | None, str | None]]:
    return sorted({(it.department, it.specialty) for it in items if it.department or it.specialty},
                  key=lambda n: (n[0] or "", n[1] or ""))


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

def select_entities(candidates: Sequence[Candidate], seed: str, excluded: frozenset[str] = frozenset(),
                    algorithm: str = ALGORITHM) -> tuple[list[tuple[Candidate, str, str]], list[dict], list[str],
                                                         list[Candidate]]:
    """Steps 1-2: returns ([(candidate, reason, rank)] in check order, strata stats, excluded codes,
    candidates left after exclusion)."""
    codes = [c[0] for c in candidates]
    if len(set(codes)) != len(codes):
        dup = next(code for code, n in Counter(codes).items() if n > 1)
        raise PlanError(f"Entity {dup} appears twice among the candidates; a cycle has one decision per "
                        f"entity, so the cycle data is damaged.")
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
            raise PlanError(f"Entity {group[0].code} (tier {tier}) has inspection ratio {ratio}; a ratio must be "
                            f"between 0 and 1. Fix the tier's inspection.ratio in the policy pack.")
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
        stats.append({"tier": key[0], "ratio": key[1], "population": population[key],
                      "excluded": population[key] - len(members), "candidates": len(members), "drawn": n,
                      "forced": len(forced), "forced_added": len(extra), "checks": n + len(extra)})
    return chosen, stats, sorted(excluded_codes), kept


def assign_inspectors(checks: Sequence[tuple[Candidate, tuple[Item, ...]]], inspectors: Sequence[Inspector],
                      seed: str, per_check: int, recusal_same_township: bool = False,
                      algorithm: str = ALGORITHM) -> tuple[list[tuple[str, ...]], list[dict[str, Any]]]:
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
        entry = short.setdefault(key, {"region": region, "need": need_label(need), "checks": 0, "slots": 0,
                                       "examples": [], "covering": None})
        entry["checks"] += 1
        entry["slots"] += missing
        if len(entry["examples"]) < 3:
            entry["examples"].append(code)
        if entry["covering"] is None:
            entry["covering"] = sum(1 for i, sc in enumerate(scope_of) if region and region.startswith(sc)
                                    and (need is None or _meets(inspectors[i], need)))

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
            chosen.extend(take(pool_heaps(cand.region, None), per_check - len(chosen),
                               excluded | set(chosen) if chosen else excluded, prefix))
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
        detail = (f"{covering} inspector{'s' if covering != 1 else ''} cover{'s' if covering == 1 else ''} it"
                  + ("" if s["need"] else f", each check needs {per_check}"))
        lines.append(f"  {where}: {s['checks']} check{'s' if s['checks'] != 1 else ''} short by {s['slots']} "
                     f"inspector slot{'s' if s['slots'] != 1 else ''} ({detail}; e.g. {', '.join(s['examples'])})")
    total = sum(s["slots"] for s in shortfalls)
    return ("The inspectors cannot cover the draw; nothing was stored. Short by " f"{total} inspector slot"
            f"{'s' if total != 1 else ''}:\n" + "\n".join(lines) + "\n"
            "Import more inspectors for these regions (region 3505 or 350500 covers the whole city) or with the "
            "named specialty/department, raise their max_checks, resolve conflicts, or lower --per-check.")


def draw(candidates: Sequence[Candidate], inspectors: Sequence[Inspector], seed: str, per_check: int = 2,
         options: DrawOptions = DrawOptions(), timings: dict[str, float] | None = None) -> Draw:
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
    assigned, shortfalls = assign_inspectors(staffing, inspectors, seed, per_check,
                                             options.recusal_same_township, options.algorithm)
    t2 = time.perf_counter()
    if shortfalls:
        raise InspectorShortage(shortage_message(shortfalls, per_check), shortfalls)
    ids = {tier: tuple(it.id for it in items) for tier, items in by_tier.items()}
    checks = [Check(seq, c.code, c.entity_id, c.tier, float(c.ratio), reason, rank, c.region,
                    township_key(c.township), ids[c.tier], insp)
              for seq, ((c, reason, rank), insp) in enumerate(zip(selected, assigned), 1)]
    cfp = candidates_fingerprint(kept)
    ifp = inspectors_fingerprint(inspectors)
    opts = {"recusal_same_township": bool(options.recusal_same_township), "items": [list(it) for it in options.items]}
    header = {"algorithm": options.algorithm, "seed": str(seed), "per_check": per_check,
              "candidates_fingerprint": cfp, "inspectors_fingerprint": ifp, "options": opts}
    pfp = plan_fingerprint(header, checks)
    t3 = time.perf_counter()
    if timings is not None:
        timings.update({"sample": t1 - t0, "assign": t2 - t1, "fingerprint": t3 - t2})
    return Draw(str(seed), options.algorithm, per_check, checks, strata, excluded, cfp, ifp, pfp, opts)


# -- inspectors import -----------------------------------------------------------------------------

INSPECTOR_ALIASES = {
    "id": "code", "inspector": "code", "inspector_code": "code", "inspector_id": "code", "编号": "code",
    "执法证号": "code", "执法人员编号": "code", "工号": "code", "人员编号": "code",
    "部门": "department", "所属部门": "department", "执法部门": "department", "单位": "department",
    "专业": "specialties", "专长": "specialties", "检查专长": "specialties", "specialty": "specialties",
    "业务专长": "specialties",
    "max": "max_checks", "maximum": "max_checks", "max_checks": "max_checks", "capacity": "max_checks",
    "最大检查数": "max_checks", "检查上限": "max_checks", "最多检查数": "max_checks",
    "回避": "conflicts", "回避对象": "conflicts", "利害关系": "conflicts", "conflict": "conflicts",
    "home_township": "home_region", "township": "home_region", "居住街道": "home_region",
    "所在街道": "home_region", "乡镇街道": "home_region", "街道": "home_region",
    "状态": "active", "在岗": "active", "enabled": "active",
}
LIST_SPLIT = re.compile(r"[;；、,，|\n]+")


def _aliased(data: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[aliases.get(key, key)] = value
    return out


def _split_list(value: Any) -> list[str]:
    if values.is_blank(value):
        return []
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value]
    else:
        parts = [p.strip() for p in LIST_SPLIT.split(str(value))]
    out: list[str] = []
    for p in parts:
        if p and p not in out:
            out.append(p)
    return out


def _digits(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(int(value))
    return str(value).strip()


NOT_A_NAME = re.compile(r"[()\[\]{}<>'\"`\\]")
PLACEHOLDERS = {"none", "null", "nan", "n/a", "na", "-", "--", "无", "空"}


def department_problem(text: str) -> str | None:
    """Why ``text`` is not a plain department name (printed on notices and the public plan), or None.

    A department is written as the public reads it, e.g. 晋江市市场监督管理局质量监管科: it has Chinese
    characters and no ASCII brackets, quotes or backslashes (which come from a program's output, such as a
    Python tuple printed into the cell: ``('晋江市', '泉', '泉州')市场监督管理局``). Full-width brackets, as in
    泉州市市场监督管理局（知识产权局）, are part of names and allowed."""
    shown = text if len(text) <= 60 else text[:57] + "..."
    if text.strip().lower() in PLACEHOLDERS:
        return f"'{shown}' is a placeholder, not a department; give the department's name, e.g. 晋江市市场监督管理局质量监管科"
    bad = sorted(set(NOT_A_NAME.findall(text)))
    if bad:
        return (f"'{shown}' is not a plain department name: it contains {' '.join(bad)} (program output such as a "
                f"printed list or tuple?); give the name as written, e.g. 晋江市市场监督管理局质量监管科")
    if any(ord(ch) < 32 for ch in text):
        return f"'{shown}' contains a control character (a tab or line break); give the name on one line"
    if not any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text):
        return (f"'{shown}' has no Chinese characters, so it is not a department name the public can read; give "
                f"the name as written, e.g. 晋江市市场监督管理局质量监管科")
    return None


def parse_inspector(row: intake.Row) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one inspector row: code, name, department, region, specialties, max_checks, conflicts,
    home_region, active."""
    if "__error__" in row.data:
        return None, [("-", row.data["__error__"])]
    data = _aliased(row.data, INSPECTOR_ALIASES)
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {}
    for name in ("code", "name", "department"):
        if values.is_blank(data.get(name)):
            errors.append((name, f"{name} is required"))
        else:
            out[name] = _digits(data[name]) if name == "code" else str(data[name]).strip()
    if len(out.get("code", "")) > 64:
        errors.append(("code", "the inspector code is longer than 64 characters"))
    if "department" in out:
        problem = department_problem(out["department"])
        if problem:
            errors.append(("department", problem))
    region = data.get("region")
    if values.is_blank(region):
        errors.append(("region", "region is required (a 2-, 4- or 6-digit administrative division code, "
                                 "e.g. 3505 or 350500 for the whole city)"))
    else:
        text = _digits(region)
        if not (text.isdigit() and len(text) in (2, 4, 6) and text[:2] != "00"):
            errors.append(("region", f"'{text}' is not an administrative division code; use 2, 4 or 6 digits "
                                     f"(35 province, 3505 or 350500 city, 350503 district)"))
        else:
            out["region"] = text.ljust(6, "0")
    out["specialties"] = _split_list(data.get("specialties"))
    raw_max = data.get("max_checks")
    if values.is_blank(raw_max):
        errors.append(("max_checks", "max_checks is required (how many checks this inspector can take in a plan)"))
    else:
        try:
            number = values.parse_int(raw_max)
            if number < 0:
                raise ValueError(f"{number} is negative")
            out["max_checks"] = number
        except ValueError as exc:
            errors.append(("max_checks", f"{exc}; give a whole number of checks, 0 or more"))
    conflicts: list[str] = []
    for raw in _split_list(data.get("conflicts")):
        try:
            code = normalize_code(raw).value
        except CodeError as exc:
            errors.append(("conflicts", f"{exc}; list valid entity codes separated by ; or 、"))
            continue
        if code not in conflicts:
            conflicts.append(code)
    out["conflicts"] = sorted(conflicts)
    home = data.get("home_region")
    if values.is_blank(home):
        out["home_region"] = None
    else:
        text = _digits(home)
        if not (text.isdigit() and len(text) in (9, 12)):
            errors.append(("home_region", f"'{text}' is not a street/township code; use the 9-digit township "
                                          f"code (or the 12-digit village code)"))
        else:
            out["home_region"] = text
    active = data.get("active")
    if values.is_blank(active):
        out["active"] = True
    else:
        try:
            out["active"] = values.parse_bool(active)
        except ValueError as exc:
            errors.append(("active", str(exc)))
    return (None, errors) if errors else (out, [])


def import_inspectors(store: Store, path: str | pathlib.Path, skip_invalid: bool = False, actor: str = "cli",
                      progress: Callable[[int], None] | None = None) -> intake.ImportReport:
    """Upsert inspectors (执法检查人员名录库) by code from CSV/XLSX/JSONL in one transaction."""
    path = pathlib.Path(path)
    report = intake.ImportReport(str(path))
    rejects: list = []
    with store.transaction() as conn:
        rows = intake.validate_rows(path, intake.read_rows(path), parse_inspector, report, rejects)
        for chunk in intake.chunked_rows(rows, intake.CHUNK):
            if report.errors and not skip_invalid:
                continue
            inserted, updated = q.upsert_inspectors(conn, [p for _, p in chunk])
            report.inserted += inserted
            report.updated += updated
            if progress:
                progress(len(chunk))
        report.unchanged = report.valid - report.inserted - report.updated
        _finish_import(report, path, rejects, skip_invalid)
        audit(conn, actor, "import_inspectors", str(path), rows=report.rows, inserted=report.inserted,
              updated=report.updated, rejected=report.rejected)
    return report


def _finish_import(report: intake.ImportReport, path: pathlib.Path, rejects: list, skip_invalid: bool) -> None:
    if report.errors and not skip_invalid:
        raise IntakeError(intake.fail_message(report), report.errors)
    if rejects:
        report.rejects_file = str(intake.write_rejects(path, rejects))


# -- pack settings ---------------------------------------------------------------------------------

def parse_items(raw: Any) -> tuple[Item, ...]:
    """Inspection items (随机抽查事项) from the pack version's ``inspection.items``: a mapping id -> {title,
    department?, specialty?, tiers?} or a list of such mappings with ``id``."""
    if not raw:
        return ()
    entries = raw.items() if isinstance(raw, dict) else ((e.get("id"), e) for e in raw)
    items = []
    for item_id, body in entries:
        body = body if isinstance(body, dict) else {"title": str(body)}
        tiers = body.get("tiers") or ()
        items.append(Item(str(item_id), str(body.get("title") or item_id), body.get("department") or None,
                          body.get("specialty") or None, tuple(str(t) for t in tiers)))
    return tuple(sorted(items, key=lambda it: it.id))


def _inspector_from(row: dict[str, Any]) -> Inspector:
    return Inspector(row["code"], row["name"], row["department"], row["region"], tuple(row.get("specialties") or ()),
                     int(row["max_checks"]), tuple(row.get("conflicts") or ()), row.get("home_region"), row.get("id"))


def _snapshot(i: Inspector) -> dict[str, Any]:
    return {"id": i.id, "code": i.code, "name": i.name, "department": i.department, "region": i.region,
            "specialties": list(i.specialties), "max_checks": i.max_checks, "conflicts": list(i.conflicts),
            "home_region": i.home_region}


def _version(cycle: dict[str, Any]) -> dict[str, Any]:
    body = cycle.get("pack_body") or {}
    return body.get("version") or {}


def _require_cycle(conn, cycle_id: int, store: Store) -> dict[str, Any]:
    cycle = q.get_cycle(conn, cycle_id)
    if cycle is None:
        known = q.cycle_ids(conn)
        hint = (f"known cycles: {', '.join(map(str, known))}" if known
                else "the database has no cycles yet; run a cycle first")
        raise PlanError(f"No cycle {cycle_id} in {store.display_url()}; {hint}.")
    if cycle.get("superseded_by") or cycle["status"] != "committed" or cycle.get("committed_at") is None:
        newer = cycle.get("superseded_by")
        instead = f"draw the plan on cycle {newer}, which replaced it" if newer else "run the cycle again"
        raise PlanError(f"Cycle {cycle_id} ({cycle['pack_id']} {cycle['period']}) is {cycle['status']}, not the "
                        f"committed current revision; {instead}.")
    return cycle


def _require_plan(conn, plan_id: int, store: Store) -> dict[str, Any]:
    plan = q.get_plan(conn, plan_id)
    if plan is None:
        known = q.plan_ids(conn)
        hint = (f"known plans: {', '.join(map(str, known))}" if known
                else "no plan has been drawn yet; use 'supervise plan draw'")
        raise PlanError(f"No plan {plan_id} in {store.display_url()}; {hint}.")
    return plan


def _load_candidates(conn, cycle_id: int) -> list[Candidate]:
    out: list[Candidate] = []
    make = Candidate._make
    for part in q.iter_candidates(conn, cycle_id):
        out.extend(make(row) for row in part)
    return out


def _exclusion_window(as_of: dt.date, months: int) -> tuple[dt.date, dt.date]:
    return values.add_months(as_of, -months), as_of


# -- draw, verify ----------------------------------------------------------------------------------

@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector during bulk work: a million-candidate draw allocates millions of
    tuples without cycles, and repeated full collections over them cost a third of the run time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def draw_plan(store: Store, cycle_id: int, seed: str, per_check: int = 2, exclude_clean_months: int | None = None,
              recusal_same_township: bool | None = None, actor: str = "cli",
              timings: dict[str, float] | None = None, redraw: bool = False,
              reason: str | None = None) -> dict[str, Any]:
    """Draw and store an inspection plan for a committed cycle (one transaction; nothing stored on failure).

    A period (pack and period, whatever the cycle revision) has one plan; another one needs ``redraw`` and a
    ``reason``, kept with the plan and in the audit log. Inspector capacity is per period: the checks already
    assigned to an inspector in the period's other plans count against their ``max_checks``."""
    if exclude_clean_months is not None and not 0 <= exclude_clean_months <= 240:
        raise UsageProblem(f"--exclude-clean-months is {exclude_clean_months}; give 0 (no exclusion) to 240 "
                           "(the most a pack may set).")
    reason = (reason or "").strip() or None
    if reason and not redraw:
        raise UsageProblem("--reason is for a redraw; give --redraw --reason TEXT to draw another plan for a period "
                           "that has one.")
    if redraw and not reason:
        raise UsageProblem("--redraw needs --reason TEXT: why the period gets another plan (kept in the audit log).")
    timings = timings if timings is not None else {}
    with gc_paused(), store.transaction() as conn:
        t0 = time.perf_counter()
        q.lock_plans(conn)
        # The plan's created_at; exclusions only count records imported by then, so verify sees the same.
        stamp = now()
        cycle = _require_cycle(conn, cycle_id, store)
        earlier = q.period_plans(conn, cycle["pack_id"], cycle["period"])
        if earlier and not redraw:
            names = "; ".join(f"plan {p['id']} (cycle {p['cycle_id']}, seed '{p['seed']}', drawn "
                              f"{_utc(p['created_at']):%Y-%m-%d %H:%M} UTC, {p['checks']} checks)" for p in earlier)
            raise PlanError(f"{cycle['pack_id']} period {cycle['period']} already has an inspection plan: {names}. "
                            f"Use that plan ('supervise plan show {earlier[-1]['id']}'); to draw another one for the "
                            f"period give --redraw --reason TEXT (the reason is kept in the audit log; the "
                            f"inspectors' checks in every plan of the period count against their max_checks).")
        if redraw and not earlier:
            raise UsageProblem(f"--redraw: {cycle['pack_id']} period {cycle['period']} has no plan yet, so there is "
                               f"nothing to redraw; leave out --redraw and --reason.")
        used = q.inspector_loads(conn, [p["id"] for p in earlier])
        version = _version(cycle)
        inspection = version.get("inspection") or {}
        months = (exclude_clean_months if exclude_clean_months is not None
                  else int(inspection.get("exclude_clean_within_months") or 0))
        recusal = (recusal_same_township if recusal_same_township is not None
                   else bool(inspection.get("recusal_same_township")))
        items = parse_items(inspection.get("items"))
        candidates = _load_candidates(conn, cycle_id)
        if not candidates:
            raise PlanError(f"Cycle {cycle_id} has no decisions, so there is nothing to draw from; run the cycle "
                            f"on a register with entities first.")
        t1 = time.perf_counter()
        excluded: set[str] = set()
        window = None
        if months:
            window = _exclusion_window(cycle["as_of"], months)
            excluded = q.clean_results(conn, *window, imported_until=stamp)
        t2 = time.perf_counter()
        directory = q.active_inspectors(conn)
        if not directory:
            raise PlanError(f"No active inspectors with capacity in {store.display_url()}; import the "
                            f"执法检查人员名录库 with 'supervise import inspectors FILE' first.")
        # Capacity left in the period: max_checks less the checks of the period's earlier plans.
        totals = {r["id"]: int(r["max_checks"]) for r in directory}
        inspectors = [_inspector_from(r | {"max_checks": totals[r["id"]] - used.get(r["id"], 0)})
                      for r in directory if totals[r["id"]] > used.get(r["id"], 0)]
        if not inspectors:
            raise PlanError(f"Every active inspector has used their max_checks in {cycle['pack_id']} period "
                            f"{cycle['period']} (plans {', '.join(str(p['id']) for p in earlier)}); import more "
                            f"inspectors or raise their max_checks.")
        t3 = time.perf_counter()
        try:
            result = draw(candidates, inspectors, seed, per_check,
                          DrawOptions(frozenset(excluded), recusal, items), timings=timings)
        except InspectorShortage as exc:
            if earlier:
                spent = sum(used.values())
                exc.message = exc.args[0] + (
                    f"\nThe period's earlier plans ({', '.join(str(p['id']) for p in earlier)}) already use {spent} "
                    f"inspector slots of the same inspectors' max_checks.")
                exc.args = (exc.message,)
            raise
        t4 = time.perf_counter()
        by_code = {i.code: i.id for i in inspectors}
        deadline = (version.get("publication") or {}).get("results_deadline_working_days")
        params = {
            "pack_id": cycle["pack_id"], "pack_version": cycle.get("version"),
            "policy_version_id": cycle["policy_version_id"], "period": cycle["period"],
            "as_of": cycle["as_of"].isoformat(), "exclude_clean_months": months,
            "exclude_window": [d.isoformat() for d in window] if window else None,
            "excluded": result.excluded, "recusal_same_township": recusal,
            "items": [it._asdict() | {"tiers": list(it.tiers)} for it in items],
            "strata": result.strata,
            "results_deadline_working_days": int(deadline or DEFAULT_DEADLINE_WORKING_DAYS),
            "inspectors": [_snapshot(i) | ({"max_checks_period": totals[i.id], "used_in_period": used[i.id]}
                                           if used.get(i.id) else {}) for i in inspectors],
        }
        if earlier:
            params["redraw"] = {"reason": reason, "earlier_plans": [p["id"] for p in earlier]}
        plan_row = {"cycle_id": cycle_id, "seed": result.seed, "algorithm": result.algorithm,
                    "per_check": per_check, "params": params,
                    "candidates_fingerprint": result.candidates_fingerprint,
                    "inspectors_fingerprint": result.inspectors_fingerprint,
                    "plan_fingerprint": result.plan_fingerprint, "actor": actor, "created_at": stamp}
        shared: dict[tuple, dict] = {}  # identical item dicts shared, so the store serialises each once
        check_rows = [{"seq": c.seq, "entity_id": c.entity_id, "tier": c.tier, "rank_key": c.rank,
                       "reason": c.reason, "items": _check_items(c, shared)} for c in result.checks]
        assignments = [(c.seq, by_code[code], pos) for c in result.checks
                       for pos, code in enumerate(c.inspectors, 1)]
        plan_id = q.insert_plan(conn, plan_row, check_rows, assignments)
        redrawn = {"redraw": True, "reason": reason, "earlier_plans": [p["id"] for p in earlier]} if earlier else {}
        audit(conn, actor, "plan_draw", f"plan:{plan_id}", cycle_id=cycle_id, seed=result.seed,
              checks=len(result.checks), plan_fingerprint=result.plan_fingerprint, **redrawn)
        t5 = time.perf_counter()
    timings.update({"load": t1 - t0, "exclusions": t2 - t1, "inspectors": t3 - t2, "draw": t4 - t3,
                    "save": t5 - t4})
    used = {code for c in result.checks for code in c.inspectors}
    return {"plan_id": plan_id, "cycle_id": cycle_id, "seed": result.seed, "algorithm": result.algorithm,
            "per_check": per_check, "checks": len(result.checks), "inspectors_used": len(used),
            "inspectors_in_pool": len(inspectors), "strata": result.strata,
            "excluded": len(result.excluded), "exclude_clean_months": months, "recusal_same_township": recusal,
            "candidates_fingerprint": result.candidates_fingerprint,
            "inspectors_fingerprint": result.inspectors_fingerprint, "plan_fingerprint": result.plan_fingerprint,
            "sampled": result_totals(result.strata)["sampled"], "forced": result_totals(result.strata)["forced"],
            "tiers": tier_summary(result.strata), "earlier_plans": [p["id"] for p in earlier], "reason": reason}


def _check_items(c: Check, shared: dict[tuple, dict] | None = None) -> dict[str, Any]:
    # plan_checks.items holds the check's item ids plus the entity's place and ratio as drawn, so that
    # verification does not depend on later edits of the register.
    key = (c.items, c.region, c.township, c.ratio)
    if shared is not None and key in shared:
        return shared[key]
    value = {"items": list(c.items), "region": c.region, "township": c.township, "ratio": c.ratio}
    if shared is not None:
        shared[key] = value
    return value


def _stored_checks(conn, plan: dict[str, Any], snapshot: dict[int, dict]) -> tuple[list[Check], list[str]]:
    problems: list[str] = []
    assignments = q.plan_assignments(conn, plan["id"])
    out = []
    for row in q.plan_checks(conn, plan["id"]):
        extra = row["items"] if isinstance(row["items"], dict) else {"items": row["items"] or []}
        codes = []
        for inspector_id in assignments.get(row["id"], []):
            snap = snapshot.get(inspector_id)
            if snap is None:
                problems.append(f"check {row['seq']}: inspector id {inspector_id} is not in the plan's inspector "
                                f"snapshot")
                codes.append(f"#{inspector_id}")
            else:
                codes.append(snap["code"])
        out.append(Check(row["seq"], row["code"], row["entity_id"], row["tier"], float(extra.get("ratio", 0.0)),
                         row["reason"], row["rank_key"], extra.get("region"), extra.get("township"),
                         tuple(extra.get("items") or ()), tuple(codes)))
    return out, problems


def _options_from(params: dict[str, Any]) -> DrawOptions:
    items = tuple(Item(d["id"], d["title"], d.get("department"), d.get("specialty"), tuple(d.get("tiers") or ()))
                  for d in params.get("items") or [])
    return DrawOptions(frozenset(params.get("excluded") or ()), bool(params.get("recusal_same_township")), items)


def verify_plan(store: Store, plan_id: int) -> dict[str, Any]:
    """Redo a stored plan's draw from what was logged and compare it with what is stored."""
    differences: list[str] = []
    with gc_paused():
        return _verify(store, plan_id, differences)


def _verify(store: Store, plan_id: int, differences: list[str]) -> dict[str, Any]:
    with store.read() as conn:
        plan = _require_plan(conn, plan_id, store)
        cycle = q.get_cycle(conn, plan["cycle_id"])
        params = plan["params"] or {}
        snapshot_rows = params.get("inspectors") or []
        snapshot = {s["id"]: s for s in snapshot_rows}
        inspectors = [_inspector_from(s) for s in snapshot_rows]
        stored, problems = _stored_checks(conn, plan, snapshot)
        differences.extend(problems)
        candidates = _load_candidates(conn, plan["cycle_id"])
        # The drawn entities keep the place logged with the check (the register may have changed since).
        logged = {c.code: c for c in stored}
        candidates = [c._replace(region=logged[c.code].region, township=logged[c.code].township)
                      if c.code in logged else c for c in candidates]
        options = _options_from(params)
        months = int(params.get("exclude_clean_months") or 0)
        if months and cycle is not None:
            window = _exclusion_window(cycle["as_of"], months)
            known = q.clean_results(conn, *window, imported_until=plan["created_at"])
            forced = {c.code for c in candidates if c.forced}
            codes = {c.code for c in candidates}
            recomputed = (known & codes) - forced
            if recomputed != set(options.excluded):
                extra, missing = sorted(recomputed - options.excluded), sorted(options.excluded - recomputed)
                differences.append(f"exclusions: the records known when the plan was drawn exclude "
                                   f"{len(recomputed)} entities, the plan logged {len(options.excluded)} "
                                   f"(not logged: {', '.join(extra[:5]) or '-'}; logged but not found: "
                                   f"{', '.join(missing[:5]) or '-'})")
    header = {"algorithm": plan["algorithm"], "seed": plan["seed"], "per_check": plan["per_check"],
              "candidates_fingerprint": plan["candidates_fingerprint"],
              "inspectors_fingerprint": plan["inspectors_fingerprint"],
              "options": {"recusal_same_township": options.recusal_same_township,
                          "items": [list(it) for it in options.items]}}
    if plan_fingerprint(header, stored) != plan["plan_fingerprint"]:
        differences.append("stored rows: the checks and assignments in the database do not match the plan "
                           "fingerprint recorded when the plan was drawn (rows changed after the draw)")
    ifp = inspectors_fingerprint(inspectors)
    if ifp != plan["inspectors_fingerprint"]:
        differences.append(f"inspectors: the logged inspector snapshot has fingerprint {ifp[:12]}…, the plan "
                           f"recorded {plan['inspectors_fingerprint'][:12]}…")
    redo: Draw | None = None
    if plan["algorithm"] != ALGORITHM:
        differences.append(f"algorithm: the plan used {plan['algorithm']}, this version implements {ALGORITHM}")
    else:
        try:
            redo = draw(candidates, inspectors, plan["seed"], plan["per_check"], options)
        except InspectorShortage as exc:
            differences.append(f"redraw: the logged inputs cannot be staffed any more: {exc.message.splitlines()[0]}")
    if redo is not None:
        if redo.candidates_fingerprint != plan["candidates_fingerprint"]:
            differences.append(f"candidates: the cycle's decisions now give fingerprint "
                               f"{redo.candidates_fingerprint[:12]}…, the plan recorded "
                               f"{plan['candidates_fingerprint'][:12]}…")
        differences.extend(_compare_checks(stored, redo.checks))
        if redo.plan_fingerprint != plan["plan_fingerprint"] and not differences:
            differences.append("plan fingerprint: the redraw gives a different fingerprint")
    ok = not differences
    result = {"plan_id": plan_id, "cycle_id": plan["cycle_id"], "verified": ok, "checks": len(stored),
              "seed": plan["seed"], "algorithm": plan["algorithm"],
              "plan_fingerprint": plan["plan_fingerprint"], "differences": differences}
    if ok:
        result["message"] = (f"Plan {plan_id} verified: redrawing cycle {plan['cycle_id']} with seed "
                             f"'{plan['seed']}' ({plan['algorithm']}) from the logged candidates "
                             f"({plan['candidates_fingerprint'][:12]}…) and inspector snapshot "
                             f"({plan['inspectors_fingerprint'][:12]}…) gives the same {len(stored)} checks and "
                             f"assignments (plan fingerprint {plan['plan_fingerprint'][:12]}…).")
    else:
        shown = differences[:MAX_LISTED_DIFFERENCES]
        more = len(differences) - len(shown)
        result["message"] = (f"Plan {plan_id} does NOT verify: {len(differences)} difference"
                             f"{'s' if len(differences) != 1 else ''} between the stored plan and a redraw from "
                             f"the logged inputs:\n" + "\n".join(f"  {d}" for d in shown)
                             + (f"\n  ... and {more} more" if more else ""))
    return result


def _compare_checks(stored: list[Check], redo: list[Check]) -> list[str]:
    out: list[str] = []
    a = {c.seq: c for c in stored}
    b = {c.seq: c for c in redo}
    for seq in sorted(set(a) | set(b)):
        x, y = a.get(seq), b.get(seq)
        if x is None:
            out.append(f"check {seq}: missing from the stored plan; the redraw has {y.code} ({y.reason})")
            continue
        if y is None:
            out.append(f"check {seq}: {x.code} is stored but the redraw has no check {seq}")
            continue
        for name in ("code", "tier", "reason", "rank", "items", "inspectors"):
            if getattr(x, name) != getattr(y, name):
                fx, fy = getattr(x, name), getattr(y, name)
                if isinstance(fx, tuple):
                    fx, fy = ",".join(fx) or "-", ",".join(fy) or "-"
                out.append(f"check {seq}: {name} stored {fx}, redraw {fy}")
    return out


# -- show, export, publish -------------------------------------------------------------------------

def _utc(ts: dt.datetime | None) -> dt.datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=dt.timezone.utc) if ts.tzinfo is None else ts.astimezone(dt.timezone.utc)


def tier_summary(strata: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per tier from the draw's strata (a tier has one stratum per ratio, e.g. D at 80 % and its
    listed entities at 100 %): population, excluded, the ratios, checks, forced (entities that must be
    inspected, whether or not the lottery also drew them) and sampled (the other checks, drawn by lot)."""
    rows: dict[str, dict[str, Any]] = {}
    for s in strata:
        row = rows.setdefault(s["tier"], {"tier": s["tier"], "population": 0, "excluded": 0, "ratios": [],
                                          "checks": 0, "forced": 0, "sampled": 0})
        row["population"] += s["population"]
        row["excluded"] += s.get("excluded", 0)
        row["checks"] += s["checks"]
        row["forced"] += s.get("forced", s.get("forced_added", 0))
        row["ratios"].append({"ratio": s["ratio"], "population": s["population"]})
    for row in rows.values():
        row["sampled"] = row["checks"] - row["forced"]
        ratios = row["ratios"]
        row["ratio_text"] = (ratio_pct(ratios[0]["ratio"]) if len(ratios) == 1 else
                             "、".join(f"{ratio_pct(r['ratio'])}（{r['population']}户）" for r in ratios))
    return list(rows.values())


def result_totals(strata: Sequence[dict[str, Any]]) -> dict[str, int]:
    """checks, forced and sampled over every tier (see :func:`tier_summary`)."""
    tiers = tier_summary(strata)
    return {name: sum(t[name] for t in tiers) for name in ("checks", "forced", "sampled")}


def ratio_pct(ratio: float) -> str:
    return f"{float(ratio) * 100:g}%"


def plan_details(store: Store, plan_id: int, as_of: dt.date | None = None) -> dict[str, Any]:
    """Everything about a plan: strata, checks with inspectors, results, publications and deadline flags."""
    as_of = as_of or dt.date.today()
    with store.read() as conn:
        plan = _require_plan(conn, plan_id, store)
        cycle = q.get_cycle(conn, plan["cycle_id"]) or {}
        rows = q.plan_checks(conn, plan_id)
        assignments = q.plan_assignments(conn, plan_id)
        results = q.results_for_plan(conn, plan_id)
        pubs = q.publications(conn, plan_id)
    params = plan["params"] or {}
    snapshot = {s["id"]: s for s in params.get("inspectors") or []}
    items = {d["id"]: d for d in params.get("items") or []}
    version = _version(cycle) if cycle else {}
    wd = int(params.get("results_deadline_working_days") or DEFAULT_DEADLINE_WORKING_DAYS)
    result_pubs = [(p["published_on"], _utc(p["published_at"])) for p in pubs if p["kind"] == "results"]
    checks, flags = [], []
    for row in rows:
        extra = row["items"] if isinstance(row["items"], dict) else {"items": row["items"] or []}
        inspectors = []
        for inspector_id in assignments.get(row["id"], []):
            snap = snapshot.get(inspector_id, {"code": f"#{inspector_id}", "name": "?", "department": "?"})
            inspectors.append({"code": snap["code"], "name": snap["name"], "department": snap["department"]})
        check = {"check_id": row["id"], "seq": row["seq"], "code": row["code"], "code_kind": row["code_kind"],
                 "entity_type": row["entity_type"], "name": row["name"], "legal_rep": row.get("legal_rep"),
                 "region": extra.get("region"),
                 "tier": row["tier"], "reason": row["reason"], "rank_key": row["rank_key"],
                 "items": [items.get(i, {"id": i, "title": i}) for i in extra.get("items") or []],
                 "inspectors": inspectors, "result": None}
        res = results.get(row["id"])
        if res is not None:
            deadline = deadlines.publication_deadline(version, res["inspected_on"], wd)
            recorded = _utc(res["recorded_at"])
            published_on = next((on for on, at in result_pubs if at is not None and recorded is not None
                                 and at >= recorded), None)
            status = "published" if published_on else "unpublished"
            flag = None
            if published_on and published_on > deadline:
                flag = "published_late"
            elif not published_on and as_of > deadline:
                flag = "overdue"
            check["result"] = {"outcome": res["outcome"], "outcome_label": OUTCOME_LABELS.get(res["outcome"]),
                               "penalty_ref": res["penalty_ref"], "inspected_on": res["inspected_on"],
                               "note": res["note"], "deadline": deadline, "published_on": published_on,
                               "status": status, "flag": flag}
            if flag:
                flags.append({"seq": row["seq"], "code": row["code"], "flag": flag, "deadline": deadline,
                              "published_on": published_on, "inspected_on": res["inspected_on"]})
        checks.append(check)
    used = {i["code"] for c in checks for i in c["inspectors"]}
    forced = result_totals(params.get("strata") or [])["forced"]
    labels = (((cycle.get("pack_body") or {}).get("version") or {}).get("tiers") or {}).get("labels") or {}
    return {
        "plan_id": plan_id, "cycle_id": plan["cycle_id"], "pack_id": params.get("pack_id"),
        "pack_title": ((cycle.get("pack_body") or {}).get("pack") or {}).get("title") if cycle else None,
        "authority": ((cycle.get("pack_body") or {}).get("pack") or {}).get("authority") if cycle else None,
        "authorities": _plan_authorities(((cycle.get("pack_body") or {}).get("pack") or {}) if cycle else {},
                                         [c["region"] for c in checks]),
        "period": params.get("period"), "as_of": params.get("as_of"), "seed": plan["seed"],
        "algorithm": plan["algorithm"], "per_check": plan["per_check"], "created_at": plan["created_at"],
        "candidates_fingerprint": plan["candidates_fingerprint"],
        "inspectors_fingerprint": plan["inspectors_fingerprint"], "plan_fingerprint": plan["plan_fingerprint"],
        "exclude_clean_months": params.get("exclude_clean_months"), "excluded": len(params.get("excluded") or []),
        "recusal_same_township": params.get("recusal_same_township"),
        "results_deadline_working_days": wd, "checked_on": as_of,
        "strata": params.get("strata") or [], "items": list(items.values()),
        "tiers": tier_summary(params.get("strata") or []), "tier_labels": labels,
        "redraw": params.get("redraw"),
        "totals": {"checks": len(checks), "sampled": len(checks) - forced, "forced": forced,
                   "inspectors_used": len(used),
                   "results": len(results), "published_late": sum(1 for f in flags if f["flag"] == "published_late"),
                   "overdue": sum(1 for f in flags if f["flag"] == "overdue")},
        "publications": [{"kind": p["kind"], "published_on": p["published_on"], "path": p["path"]} for p in pubs],
        "flags": flags, "checks": checks,
    }


def list_plans(store: Store) -> list[dict[str, Any]]:
    """Every stored plan: id, cycle (pack, period, as-of), seed, drawn_at (UTC), checks, status (``drawn``,
    ``published`` or ``results_published``, from the plan's publications), published_on, results_published_on
    and ``redraw`` ({reason, earlier_plans} for a plan drawn with --redraw, else None)."""
    with store.read() as conn:
        rows = q.plan_summaries(conn)
    out = []
    for r in rows:
        pubs = r["publications"]
        plan_on = next((on for kind, on in pubs if kind == "plan"), None)
        results_on = next((on for kind, on in reversed(pubs) if kind == "results"), None)
        status = "results_published" if results_on else "published" if plan_on else "drawn"
        out.append({"id": r["id"], "cycle_id": r["cycle_id"], "pack_id": r["pack_id"], "period": r["period"],
                    "as_of": r["as_of"], "seed": r["seed"], "algorithm": r["algorithm"], "per_check": r["per_check"],
                    "drawn_at": _utc(r["created_at"]), "actor": r["actor"], "checks": r["checks"], "status": status,
                    "published_on": plan_on, "results_published_on": results_on,
                    "redraw": (r["params"] or {}).get("redraw")})
    return out


def _plan_authorities(pack: dict[str, Any], regions: Sequence[str | None]) -> list[str]:
    """The issuing authorities of a plan's checks (a pack with per-region ``authorities`` plans for each city
    through its own authority), the pack's authority first; the pack's authority alone without checks."""
    names = list(dict.fromkeys(a["name"] for a in (for_region(pack, r) for r in dict.fromkeys(regions)) if a))
    names.sort(key=lambda n: n != pack.get("authority"))
    return names or ([pack["authority"]] if pack.get("authority") else [])


# The working list's columns: (key, header). Headers are Chinese for the clerk; `plan show --json` keeps the keys.
EXPORT_COLUMNS = [
    ("seq", "序号"), ("check_id", "检查编号"), ("code", "统一社会信用代码/证件号码"), ("name", "检查对象"),
    ("region", "行政区划代码"), ("region_name", "所在地区"), ("tier", "信用风险分类"), ("reason", "抽取方式"), ("rank_key", "排序值"),
    ("items", "抽查事项"), ("inspector_codes", "执法证号"), ("inspectors", "执法检查人员"),
    ("departments", "所属部门"), ("outcome", "检查结果"), ("inspected_on", "检查日期"),
    ("penalty_ref", "处罚决定书文号"), ("deadline", "结果公示期限"), ("results_published_on", "结果公示日期"),
    ("flag", "公示提示"),
]
REASON_LABELS = {"sampled": "随机抽取", "forced": "必查"}
FLAG_LABELS = {"published_late": "逾期公示", "overdue": "逾期未公示"}


def _export_rows(details: dict[str, Any]) -> list[list[Any]]:
    labels = details.get("tier_labels") or {}
    places = region_labels({c["region"] for c in details["checks"]})
    out = []
    for c in details["checks"]:
        r = c["result"] or {}
        out.append([c["seq"], c["check_id"], c["code"], c["name"], c["region"] or "", places[c["region"]],
                    labels.get(c["tier"], c["tier"]), REASON_LABELS.get(c["reason"], c["reason"]),
                    c["rank_key"], "、".join(i["title"] for i in c["items"]),
                    "、".join(i["code"] for i in c["inspectors"]), "、".join(i["name"] for i in c["inspectors"]),
                    "、".join(dict.fromkeys(i["department"] for i in c["inspectors"])),
                    OUTCOME_LABELS.get(r.get("outcome"), r.get("outcome") or ""), r.get("inspected_on"),
                    r.get("penalty_ref") or "", r.get("deadline"), r.get("published_on"),
                    FLAG_LABELS.get(r.get("flag"), r.get("flag") or "")])
    return out


def export_plan(store: Store, plan_id: int, fmt: str, out: str | pathlib.Path) -> dict[str, Any]:
    """Write the internal working list of a plan (unmasked; Chinese headers) as CSV or XLSX."""
    fmt = fmt.lower()
    if fmt not in ("csv", "xlsx"):
        raise UsageProblem(f"--format {fmt} is not supported; use csv or xlsx.")
    details = plan_details(store, plan_id)
    from .outpaths import output_file

    out = output_file(out)
    rows = _export_rows(details)
    header = [h for _key, h in EXPORT_COLUMNS]
    if fmt == "csv":
        write_csv(out, header, rows)
    else:
        write_xlsx(out, header, rows, sheet_title=f"抽查计划{plan_id}")
    return {"plan_id": plan_id, "format": fmt, "file": str(out), "checks": len(rows)}


def _public_entity(c: dict[str, Any]) -> tuple[str, str]:
    """The check's party as published: :func:`engine.codes.public_party` (natural persons by entity type,
    个体工商户 operator names)."""
    shown = public_party(c["name"], c["code"], c.get("entity_type"), c.get("legal_rep"))
    return shown["name"], shown["code"]


PLAN_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}
code{word-break:break-all}</style></head>
<body>
<h1>{{ title }}</h1>
<p>{{ authority }} · 周期 {{ period }} · 计划编号 {{ plan_id }} · 公布日期 {{ published_on }}</p>
<h2>抽取方法</h2>
<p>按信用风险分类分层，以 SHA-256(随机种子|算法|统一社会信用代码) 排序抽取，执法检查人员按
SHA-256(随机种子|算法|检查对象代码|人员编号) 排序并均衡分配。随机种子 <code>{{ seed }}</code>，算法
<code>{{ algorithm }}</code>，候选名单指纹 <code>{{ candidates_fingerprint }}</code>，执法人员名录指纹
<code>{{ inspectors_fingerprint }}</code>，抽查计划指纹 <code>{{ plan_fingerprint }}</code>。</p>
<h2>抽取数量</h2>
<table><tr><th>信用风险分类</th><th>主体数</th><th>抽查比例</th><th>检查数</th><th>其中必查</th><th>其中随机抽取</th></tr>
{% for t in tiers %}<tr><td>{{ t.label }}</td><td>{{ t.population }}</td><td>{{ t.ratio_text }}</td>
<td>{{ t.checks }}</td><td>{{ t.forced }}</td><td>{{ t.sampled }}</td></tr>
{% endfor %}<tr><th>合计</th><td>{{ totals.population }}</td><td>—</td><td>{{ totals.checks }}</td>
<td>{{ totals.forced }}</td><td>{{ totals.sampled }}</td></tr></table>
<p>必查：依规则必须检查的对象（如列入严重违法失信名单的主体），不论是否被随机抽中。</p>
{% if items %}<h2>抽查事项</h2><ul>{% for i in items %}
<li>{{ i.title }}{% if i.department %}（{{ i.department }}）{% endif %}
{%- if i.tiers %}（适用：{{ i.tiers }}）{% endif %}</li>{% endfor %}</ul>{% endif %}
<h2>检查对象与执法检查人员</h2>
<table><tr><th>序号</th><th>检查对象</th><th>统一社会信用代码/证件号码</th><th>所在地区</th>
{%- if items %}<th>抽查事项</th>{% endif %}<th>执法检查人员</th></tr>
{% for c in checks %}<tr><td>{{ c.seq }}</td><td>{{ c.name }}</td><td>{{ c.code }}</td><td>{{ c.region_name }}</td>
{% if items %}<td>{{ c.item_titles }}</td>{% endif %}<td>{{ c.inspector_text }}</td></tr>
{% endfor %}</table>
</body></html>
"""

RESULTS_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}</style>
</head><body>
<h1>{{ title }}</h1>
<p>{{ authority }} · 周期 {{ period }} · 计划编号 {{ plan_id }} · 公布日期 {{ published_on }}</p>
<table><tr><th>序号</th><th>检查对象</th><th>统一社会信用代码/证件号码</th><th>检查日期</th><th>检查结果</th><th>处罚决定书文号</th></tr>
{% for r in results %}<tr><td>{{ r.seq }}</td><td>{{ r.name }}</td><td>{{ r.code }}</td><td>{{ r.inspected_on }}</td>
<td>{{ r.outcome }}</td><td>{{ r.penalty_ref }}</td></tr>
{% endfor %}</table>
</body></html>
"""


def _render(template: str, context: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(template).render(**context)


def _out_dir(out: str | pathlib.Path) -> pathlib.Path:
    from .outpaths import output_dir

    return output_dir(out, create=True)  # created in an existing folder only, like every --out


def publish_plan(store: Store, plan_id: int, out: str | pathlib.Path, on: dt.date | None = None,
                 actor: str = "cli") -> dict[str, Any]:
    """一公开: write the public plan (HTML, CSV, JSON; natural persons masked) and record the publication."""
    on = on or dt.date.today()
    details = plan_details(store, plan_id, on)
    folder = _out_dir(out)
    authority = "、".join(details["authorities"]) or details["authority"] or ""
    title = f"{authority}双随机抽查计划（{details['period'] or ''}）".strip()
    places = region_labels({c["region"] for c in details["checks"]})
    public = []
    for c in details["checks"]:
        name, code = _public_entity(c)
        public.append({"seq": c["seq"], "name": name, "code": code, "region": c["region"] or "",
                       "region_name": places[c["region"]],
                       "item_titles": "、".join(i["title"] for i in c["items"]),
                       "inspector_text": "、".join(f"{i['name']}（{i['department']}）" for i in c["inspectors"]),
                       "inspectors": [{"name": i["name"], "department": i["department"]}
                                      for i in c["inspectors"]]})
    labels = details.get("tier_labels") or {}
    tiers = [t | {"label": labels.get(t["tier"], t["tier"])} for t in details["tiers"]]
    totals = {k: sum(t[k] for t in tiers) for k in ("population", "checks", "forced", "sampled")}
    items = [{"id": i["id"], "title": i["title"], "department": i.get("department") or "",
              "tiers": "、".join(labels.get(t, t) for t in i.get("tiers") or ())} for i in details["items"]]
    context = {"title": title, "authority": authority, "period": details["period"] or "",
               "plan_id": plan_id, "published_on": on.isoformat(), "seed": details["seed"],
               "algorithm": details["algorithm"], "candidates_fingerprint": details["candidates_fingerprint"],
               "inspectors_fingerprint": details["inspectors_fingerprint"],
               "plan_fingerprint": details["plan_fingerprint"], "tiers": tiers, "totals": totals, "items": items,
               "checks": public}
    stem = f"plan-{plan_id}"
    html_path, csv_path, json_path = (folder / f"{stem}.html", folder / f"{stem}.csv", folder / f"{stem}.json")
    html_path.write_text(_render(PLAN_HTML, context), encoding="utf-8")
    header = ["序号", "检查对象", "统一社会信用代码/证件号码", "所在地区"] + (["抽查事项"] if items else []) + ["执法检查人员"]
    write_csv(csv_path, header, [[p["seq"], p["name"], p["code"], p["region_name"]] + ([p["item_titles"]] if items else [])
                                 + [p["inspector_text"]] for p in public])
    json_path.write_text(json.dumps(context | {"strata": details["strata"], "checks": [
        {"seq": p["seq"], "name": p["name"], "code": p["code"], "region": p["region"], "region_name": p["region_name"],
         "items": p["item_titles"], "inspectors": p["inspectors"]} for p in public]},
        ensure_ascii=False, indent=2), encoding="utf-8")
    with store.transaction() as conn:
        q.insert_publication(conn, plan_id, "plan", on, str(folder))
        audit(conn, actor, "plan_publish", f"plan:{plan_id}", path=str(folder), checks=len(public))
    return {"plan_id": plan_id, "published_on": on, "checks": len(public),
            "files": [str(html_path), str(csv_path), str(json_path)]}


def publish_results(store: Store, plan_id: int, out: str | pathlib.Path, on: dt.date | None = None,
                    actor: str = "cli") -> dict[str, Any]:
    """Publish the plan's results recorded so far (HTML, CSV, JSON) and record the date."""
    on = on or dt.date.today()
    details = plan_details(store, plan_id, on)
    with_results = [c for c in details["checks"] if c["result"]]
    if not with_results:
        raise PlanError(f"Plan {plan_id} has no results to publish; import them with "
                        f"'supervise plan results import FILE' first.")
    folder = _out_dir(out)
    rows = []
    late = []
    for c in with_results:
        name, code = _public_entity(c)
        r = c["result"]
        rows.append({"seq": c["seq"], "name": name, "code": code, "inspected_on": r["inspected_on"].isoformat(),
                     "outcome": OUTCOME_LABELS.get(r["outcome"], r["outcome"]), "penalty_ref": r["penalty_ref"] or "—"})
        if r["published_on"] is None and on > r["deadline"]:
            late.append({"seq": c["seq"], "code": c["code"], "deadline": r["deadline"]})
    authority = "、".join(details["authorities"]) or details["authority"] or ""
    title = f"{authority}双随机抽查结果（{details['period'] or ''}）".strip()
    context = {"title": title, "authority": authority, "period": details["period"] or "",
               "plan_id": plan_id, "published_on": on.isoformat(), "results": rows}
    stem = f"plan-{plan_id}-results"
    html_path, csv_path, json_path = (folder / f"{stem}.html", folder / f"{stem}.csv", folder / f"{stem}.json")
    html_path.write_text(_render(RESULTS_HTML, context), encoding="utf-8")
    write_csv(csv_path, ["序号", "检查对象", "统一社会信用代码/证件号码", "检查日期", "检查结果", "处罚决定书文号"],
              [[r["seq"], r["name"], r["code"], r["inspected_on"], r["outcome"], r["penalty_ref"]] for r in rows])
    json_path.write_text(json.dumps(context, ensure_ascii=False, indent=2), encoding="utf-8")
    with store.transaction() as conn:
        q.insert_publication(conn, plan_id, "results", on, str(folder))
        audit(conn, actor, "plan_results_publish", f"plan:{plan_id}", path=str(folder), results=len(rows),
              late=len(late))
    return {"plan_id": plan_id, "published_on": on, "results": len(rows), "late": late,
            "files": [str(html_path), str(csv_path), str(json_path)]}


# -- results import --------------------------------------------------------------------------------

RESULT_ALIASES = {
    "plan_id": "plan", "计划": "plan", "计划编号": "plan", "抽查计划": "plan",
    "check_seq": "check", "seq": "check", "序号": "check", "检查序号": "check",
    "检查编号": "check_id",
    "entity": "code", "entity_code": "code",
    "result": "outcome", "结果": "outcome", "检查结果": "outcome",
    "penalty": "penalty_ref", "处罚决定书文号": "penalty_ref", "处罚文号": "penalty_ref", "处罚决定书": "penalty_ref",
    "date": "inspected_on", "检查日期": "inspected_on", "inspection_date": "inspected_on",
    "备注": "note", "说明": "note",
}


def _outcome(raw: Any) -> str | None:
    text = re.sub(r"\s+", "", str(raw)).replace("（", "(").replace("）", ")")
    return OUTCOMES.get(text) or OUTCOMES.get(text.lower())


def parse_result(row: intake.Row) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one result row's own fields (plan, check, code, outcome, penalty_ref, inspected_on)."""
    if "__error__" in row.data:
        return None, [("-", row.data["__error__"])]
    data = _aliased(row.data, RESULT_ALIASES)
    errors: list[tuple[str, str]] = []
    out: dict[str, Any] = {"plan": None, "check": None, "check_id": None, "code": None}
    for name in ("plan", "check", "check_id"):
        if not values.is_blank(data.get(name)):
            try:
                out[name] = values.parse_int(data[name])
            except ValueError as exc:
                errors.append((name, f"{exc}; give the {'plan id' if name == 'plan' else 'check number'}"))
    if out["plan"] is None and out["check_id"] is None and "plan" not in dict(errors):
        errors.append(("plan", "plan is required (the plan id shown by 'supervise plan draw')"))
    if out["check"] is None and out["check_id"] is None and values.is_blank(data.get("code")):
        errors.append(("check", "give the check number (seq in the plan) or the entity code"))
    if not values.is_blank(data.get("code")):
        try:
            out["code"] = normalize_code(str(data["code"])).value
        except CodeError as exc:
            errors.append(("code", str(exc)))
    if values.is_blank(data.get("outcome")):
        errors.append(("outcome", "outcome is required: clean, problems, not_found or refused (未发现问题, "
                                  "发现问题, 查无下落, 拒绝检查)"))
    else:
        outcome = _outcome(data["outcome"])
        if outcome is None:
            from .errors import did_you_mean

            hint = did_you_mean(str(data["outcome"]), OUTCOMES)
            errors.append(("outcome", f"'{data['outcome']}' is not an outcome{hint}; use clean, problems, not_found "
                                      f"or refused (未发现问题, 发现问题, 查无下落, 拒绝检查)"))
        out["outcome"] = outcome
    penalty = None if values.is_blank(data.get("penalty_ref")) else str(data["penalty_ref"]).strip()
    if out.get("outcome") == "problems" and penalty is None:
        errors.append(("penalty_ref", "penalty_ref is required when problems were found (the penalty decision "
                                      "number, e.g. 泉市监罚〔2025〕12号)"))
    out["penalty_ref"] = penalty
    if values.is_blank(data.get("inspected_on")):
        errors.append(("inspected_on", "inspected_on is required (the date of the inspection, YYYY-MM-DD)"))
    else:
        try:
            out["inspected_on"] = values.parse_date(data["inspected_on"])
        except ValueError as exc:
            errors.append(("inspected_on", str(exc)))
    out["note"] = None if values.is_blank(data.get("note")) else str(data["note"]).strip()
    return (None, errors) if errors else (out, [])


def import_results(store: Store, path: str | pathlib.Path, skip_invalid: bool = False, actor: str = "cli",
                   kinds: dict | None = None, progress: Callable[[int], None] | None = None) -> intake.ImportReport:
    """Record inspection results in one transaction; each becomes an ``inspection_result`` record (and a
    ``not_found`` result also an ``abnormal_operation`` record, cause unreachable_address)."""
    if kinds is None:
        from policies import base_record_kinds

        kinds = base_record_kinds()
    result_kind, abnormal_kind = kinds["inspection_result"], kinds["abnormal_operation"]
    path = pathlib.Path(path)
    report = intake.ImportReport(str(path))
    rejects: list = []
    plans: dict[int, tuple[dict | None, dict[int, dict], dict[str, dict], dict[int, dict], set[int]]] = {}
    seen: dict[int, int] = {}

    def reject(row: intake.Row, column: str, reason: str) -> None:
        report.valid -= 1
        report.rejected += 1
        report.errors.append(f"{path}:{row.number}:{column}: {reason}")
        rejects.append((row, f"{column}: {reason}"))

    with store.transaction() as conn:
        def plan_info(plan_id: int):
            if plan_id not in plans:
                plan = q.get_plan(conn, plan_id)
                if plan is None:
                    plans[plan_id] = (None, {}, {}, {}, set())
                else:
                    index = q.check_index(conn, plan_id)
                    done = q.checks_with_results(conn, [c["id"] for c in index.values()])
                    cycle = q.get_cycle(conn, plan["cycle_id"]) or {}
                    plan["as_of_date"] = cycle.get("as_of")
                    plans[plan_id] = (plan, index, {c["code"]: c for c in index.values()},
                                      {c["id"]: c for c in index.values()}, done)
            return plans[plan_id]

        rows = intake.validate_rows(path, intake.read_rows(path), parse_result, report, rejects)
        for chunk in intake.chunked_rows(rows, intake.CHUNK):
            results, records = [], []
            for row, r in chunk:
                plan_id = r["plan"]
                if plan_id is None:  # check_id alone
                    found = q.check_by_id(conn, r["check_id"])
                    if found is None:
                        reject(row, "check_id", f"no check with id {r['check_id']}; use the check_id from "
                                                f"'supervise plan show' or give plan and check")
                        continue
                    plan_id = found["plan_id"]
                plan, index, by_code, by_id, done = plan_info(plan_id)
                if plan is None:
                    known = q.plan_ids(conn)
                    reject(row, "plan", f"no plan {plan_id}; known plans: {', '.join(map(str, known)) or 'none'}")
                    continue
                check = None
                if r["check_id"] is not None:
                    check = by_id.get(r["check_id"])
                    if check is None:
                        reject(row, "check_id", f"check id {r['check_id']} is not in plan {plan_id}")
                        continue
                elif r["check"] is not None:
                    check = index.get(r["check"])
                    if check is None:
                        reject(row, "check", f"check {r['check']} is not in plan {plan_id} (it has checks 1 to "
                                             f"{len(index)}); a result can only be recorded for a drawn check")
                        continue
                if r["code"] is not None:
                    if check is None:
                        check = by_code.get(r["code"])
                        if check is None:
                            reject(row, "code", f"entity {r['code']} has no check in plan {plan_id}; a result can "
                                                f"only be recorded for a drawn entity")
                            continue
                    elif check["code"] != r["code"]:
                        reject(row, "code", f"check {check['seq']} of plan {plan_id} is for entity {check['code']}, "
                                            f"not {r['code']}; fix the check number or the code")
                        continue
                if check["id"] in done:
                    reject(row, "check", f"check {check['seq']} of plan {plan_id} already has a result; a check has "
                                         f"one result")
                    continue
                if check["id"] in seen:
                    reject(row, "check", f"check {check['seq']} of plan {plan_id} already has a result in row "
                                         f"{seen[check['id']]} of this file; a check has one result")
                    continue
                as_of = plan.get("as_of_date")
                if as_of is not None and r["inspected_on"] < as_of:
                    reject(row, "inspected_on", f"{r['inspected_on']} is before the cycle's as-of date {as_of}; "
                                                f"an inspection of this plan cannot predate its cycle")
                    continue
                # The records a result becomes are checked like imported ones (a future inspected_on is refused).
                made = [(result_kind, {"date": r["inspected_on"], "outcome": r["outcome"], "plan_id": plan_id,
                                       "check_id": check["id"], "penalty_ref": r["penalty_ref"]})]
                if r["outcome"] == "not_found":
                    made.append((abnormal_kind, {"date": r["inspected_on"], "cause": "unreachable_address"}))
                checked = [(kind, kind.validate(fields)) for kind, fields in made]
                errs = [e for _, (*_, kind_errs) in checked for e in kind_errs]
                if errs:
                    reject(row, "inspected_on" if errs[0][0] == "date" else errs[0][0],
                           "; ".join(reason for _, reason in errs))
                    continue
                seen[check["id"]] = row.number
                results.append({"check_id": check["id"], "outcome": r["outcome"], "penalty_ref": r["penalty_ref"],
                                "inspected_on": r["inspected_on"], "note": r["note"]})
                for kind, (date, key, payload, _) in checked:
                    records.append({"entity_id": check["entity_id"], "kind": kind.name, "date": date,
                                    "natural_key": key, "data": payload})
            if report.errors and not skip_invalid:
                continue
            report.inserted += q.insert_results(conn, results)
            eq.insert_records(conn, records, source=path.name)
            if progress:
                progress(len(chunk))
        _finish_import(report, path, rejects, skip_invalid)
        audit(conn, actor, "plan_results_import", str(path), rows=report.rows, inserted=report.inserted,
              rejected=report.rejected)
    return report
