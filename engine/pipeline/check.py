"""Service checks (联合奖惩 at the service window): which joint measures apply when an entity applies for a
government service item, from stored decisions and list entries only (nothing is recomputed).

``check(store, codes, service, as_of)`` backs ``supervise check`` (and, later, an HTTP check service). It fails
closed: an unknown service item is an error, and an entity that is not in the register, or that a pack governing
the service item has not decided (no committed cycle yet, or not evaluated by the pack's current cycle), is
``needs_review`` with the reason, never ``no_measure``. Of each pack and period only the latest committed revision
counts (``store.cycles.current_cycles``).

Verdicts, strongest first: ``restricted`` (a sanction applies), ``needs_review``, ``incentive``, ``no_measure``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import policies
from engine.errors import SupervisionError, UnknownServiceItem, did_you_mean
from engine.facts import decision_key
from engine.register.entities import resolve_code
from engine.store import cycles as qc
from engine.values import period_cn
from lists.lifecycle import active_entries_of
from policies import get_pack, pack_files, packs_state, pinned

VERDICTS = ("restricted", "needs_review", "incentive", "no_measure")
INCENTIVE_IGNORED = "同一服务事项适用惩戒措施，激励措施不予适用"


@dataclass(frozen=True)
class ServiceItem:
    id: str
    name: str | None  # Chinese name declared by a pack (``services:``), if any
    packs: tuple[str, ...]  # packs with a measure that addresses it

    @property
    def label(self) -> str:
        return f"{self.id}（{self.name}）" if self.name else self.id


@dataclass
class AppliedMeasure:
    measure: str
    kind: str
    text: str
    basis: str
    department: str
    pack: str | None
    cause: dict[str, Any]  # {"type": "tier", cycle, revision, period, tier, rule} or {"type": "list", list, entry, ...}
    ignored_because: str | None = None


@dataclass
class CitedDecision:
    """The stored decision a verdict rests on: the pack's current cycle (latest revision) and the entity's tier."""

    pack: str
    cycle: int
    revision: int
    period: str
    cycle_as_of: str
    version: str
    tier: str
    tier_label: str
    decision: int
    # Where its decision facts came from: "纳税信用级别取自第N号评价周期（…）", one line per stored cycle it read.
    sources: list[str] = field(default_factory=list)


@dataclass
class Review:
    """Why a person has to look: ``why`` is not_in_register, no_cycle or not_evaluated."""

    why: str
    reason: str
    pack: str | None = None
    cycle: int | None = None


@dataclass
class CheckResult:
    uscc: str
    name: str | None
    service: str
    service_name: str | None
    as_of: str
    verdict: str
    measures: list[AppliedMeasure] = field(default_factory=list)
    decisions: list[CitedDecision] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    governing_packs: list[str] = field(default_factory=list)
    # The register row it was decided on (for callers in this process, e.g. the decision log's masking); not
    # part of the answer.
    entity: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("entity", None)
        return out

    def to_json(self) -> dict[str, Any]:
        return self.as_dict()

    def lines(self) -> list[str]:
        r = self.as_dict()
        item = f"{r['service_name']} ({r['service']})" if r["service_name"] else r["service"]
        lines = [
            f"{r['name'] or '(not in the register)'} {r['uscc']} applying for {item} on {r['as_of']}: {r['verdict']}"
        ]
        for m in r["measures"]:
            cause = m["cause"]
            why = (
                f"tier {cause['tier']} in cycle {cause['cycle']} (revision {cause['revision']})"
                if cause["type"] == "tier"
                else f"{cause['list']} list entry {cause['entry']}"
            )
            ignored = f" (not applied: {m['ignored_because']})" if m.get("ignored_because") else ""
            lines.append(f"  [{m['kind']}] {m['text']} — {m['department']}; basis {m['basis']}; because {why}{ignored}")
        if not r["measures"] and not r["reviews"]:
            lines.append("  no joint measure applies")
        for v in r["reviews"]:
            lines.append(f"  needs review: {v['reason']}")
        for d in r["decisions"]:
            lines.append(
                f"  decided by {d['pack']}@{d['version']} cycle {d['cycle']} (period {d['period']}, revision "
                f"{d['revision']}, as of {d['cycle_as_of']}): {d['tier_label']}"
            )
            for text in d["sources"]:
                lines.append(f"    {text}")
        return lines


# -- service items ------------------------------------------------------------------------------------------


def _body_services(body: dict) -> tuple[set[str], dict[str, str]]:
    """(service ids its measures address, declared id -> Chinese name) of a stored/raw version body."""
    version = body.get("version") or {}
    used = {
        str(s)
        for m in (version.get("measures") or {}).values()
        if isinstance(m, dict)
        for s in (m.get("services") or [])
    }
    names = {}
    for sid, name in (version.get("services") or {}).items():
        name = name.get("name") if isinstance(name, dict) else name
        if isinstance(name, str) and name.strip():
            names[str(sid)] = name.strip()
    return used, names


_bodies: dict[tuple, list[tuple[str, dict]]] = {}


def _pack_bodies() -> list[tuple[str, dict]]:
    """(pack id, version body) of every version of every pack in the pack directories (cached while the files
    stay as they are: a check request must not rebuild every version's body)."""
    state = packs_state()
    if state not in _bodies:
        with policies.filling:
            if state not in _bodies:
                bodies = [(v.pack.id, v.stored_body()) for pack_id in pack_files() for v in get_pack(pack_id).versions]
                _bodies.clear()
                _bodies[state] = bodies
    return _bodies[state]


def service_items(stored_bodies: Iterable[tuple[str, dict]] = ()) -> dict[str, ServiceItem]:
    """Service item id -> ServiceItem, over the shipped and configured packs (and the stored versions given)."""
    packs: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for pack_id, body in list(_pack_bodies()) + list(stored_bodies):
        used, declared = _body_services(body)
        for sid, name in declared.items():
            names.setdefault(sid, name)
        for sid in used | set(declared):
            if pack_id not in packs.setdefault(sid, []):
                packs[sid].append(pack_id)
    return {sid: ServiceItem(sid, names.get(sid), tuple(p)) for sid, p in sorted(packs.items())}


def resolve_service(service: str, items: dict[str, ServiceItem]) -> ServiceItem:
    """A service item by id or by its Chinese name; an unknown one is an error with a did-you-mean."""
    text = (service or "").strip()
    if text in items:
        return items[text]
    for item in items.values():
        if item.name == text or item.id.lower() == text.lower():
            return item
    hint = did_you_mean(text, list(items) + [i.name for i in items.values() if i.name])
    known = ", ".join(i.label for i in items.values())
    raise UnknownServiceItem(
        f"Unknown service item '{service}'{hint}. No policy pack has a measure for it; the service items are: {known}."
    )


# -- the check ----------------------------------------------------------------------------------------------


def _applies_to(pack_meta: dict, entity: dict) -> bool:
    subjects = pack_meta.get("subjects") or []
    return not subjects or entity.get("entity_type") in subjects


def _governing(item: ServiceItem, current: dict[str, dict], as_of: dt.date) -> dict[str, dict]:
    """Pack id -> {"meta", "title", "cycle" (or None)} of the packs that govern the service item on ``as_of``:
    by the version their current cycle used, else by the version in force (a pack without one does not)."""
    out: dict[str, dict] = {}
    for pack_id, cycle in current.items():
        if item.id in _body_services(cycle["pack_body"])[0]:
            meta = cycle["pack_body"].get("pack") or {}
            out[pack_id] = {"meta": meta, "title": meta.get("title") or pack_id, "cycle": cycle}
    for pack_id in pack_files():
        if pack_id in current or pack_id not in item.packs:
            continue
        pack = get_pack(pack_id)
        version = next((v for v in pack.versions if v.in_force(as_of)), None)
        if version is not None and item.id in _body_services(version.stored_body())[0]:
            out[pack_id] = {"meta": pack.meta, "title": pack.title, "cycle": None}
    return out


def check(
    store, codes: str | Sequence[str], service: str, as_of: dt.date | None = None, sources: bool = True
) -> list[CheckResult]:
    """The verdict for each entity code (in the order given) applying for ``service`` (id or Chinese name) on
    ``as_of`` (default today). Raises UnknownServiceItem for an unknown service item and CodeError for an
    invalid code; an entity not in the register is ``needs_review``. One check reads one set of pack files
    (:func:`policies.pinned`). ``sources=False``: the cited decisions' ``sources`` (where their decision facts came
    from, in words) are left empty, for a caller that does not show them (the check service)."""
    with pinned():
        return _check(store, codes, service, as_of, sources)


def _check(store, codes: str | Sequence[str], service: str, as_of: dt.date | None, sources: bool) -> list[CheckResult]:
    as_of = as_of or dt.date.today()
    codes = [codes] if isinstance(codes, str) else list(codes)
    resolved = [resolve_code(c) for c in codes]
    with store.read() as conn:
        current = qc.current_cycles(conn, as_of)
        item = resolve_service(service, service_items((p, c["pack_body"]) for p, c in current.items()))
        governing = _governing(item, current, as_of)
        cycle_of = {p: g["cycle"]["id"] for p, g in governing.items() if g["cycle"]}
        # One statement for the subjects, their decisions and whether they have a list entry at all: the entries
        # are loaded for those that do (on the service, most subjects have none).
        found, decided, listed = qc.subjects(conn, resolved, sorted(set(cycle_of.values())), as_of)
        entities = {code: found.get(code) for code in dict.fromkeys(resolved)}
        ids = [e["id"] for e in entities.values() if e]
        decisions = {p: decided[c] for p, c in cycle_of.items()}
        active = active_entries_of(conn, [i for i in ids if i in listed], as_of)
        entries = {i: active.get(i, []) for i in ids}
    results = []
    for code in resolved:
        entity = entities[code]
        result = CheckResult(
            code, entity["name"] if entity else None, item.id, item.name, as_of.isoformat(), "no_measure", entity=entity
        )
        if entity is None:
            result.reviews.append(
                Review(
                    "not_in_register",
                    f"主体 {code} 不在主体名录中，无法判断其信用状况；请核实代码，或导入该主体并运行评价周期后再查询。",
                )
            )
        else:
            _decide(result, item, entity, governing, decisions, entries[entity["id"]], sources)
        result.verdict = verdict(result)
        results.append(result)
    return results


def _decide(
    result: CheckResult,
    item: ServiceItem,
    entity: dict,
    governing: dict[str, dict],
    decisions: dict[str, dict[int, dict]],
    entries: list[dict],
    sources: bool = True,
) -> None:
    seen: set[tuple[str, str | None]] = set()
    for pack_id, g in sorted(governing.items()):
        if not _applies_to(g["meta"], entity):
            continue
        result.governing_packs.append(pack_id)
        cycle = g["cycle"]
        if cycle is None:
            result.reviews.append(
                Review(
                    "no_cycle",
                    f"{g['title']}（{pack_id}）尚无截至{result.as_of}已提交的评价周期，"
                    f"无法判断该主体在“{item.name or item.id}”事项上是否适用联合奖惩措施；"
                    f"请先运行该政策包的评价周期。",
                    pack=pack_id,
                )
            )
            continue
        d = decisions[pack_id].get(entity["id"])
        where = f"第{cycle['id']}号评价周期（{cycle['period']}，第{cycle['revision']}次）"
        if d is None:
            result.reviews.append(
                Review(
                    "not_evaluated",
                    f"{g['title']}（{pack_id}）的{where}未评价该主体"
                    f"（可能在该周期之后才登记）；请重新运行评价周期或人工核查。",
                    pack=pack_id,
                    cycle=cycle["id"],
                )
            )
            continue
        outcome = d["result"] or {}
        result.decisions.append(
            CitedDecision(
                pack_id,
                cycle["id"],
                cycle["revision"],
                cycle["period"],
                cycle["as_of"].isoformat(),
                cycle["version"],
                d["tier"],
                outcome.get("tier_label") or d["tier"],
                d["id"],
                source_lines(cycle, d.get("facts") or {}) if sources else [],
            )
        )
        for m in outcome.get("measures") or []:
            # Measures a list carries apply through its entries (below), while the entry is in effect.
            if (
                item.id in (m.get("services") or [])
                and not str(m.get("rule", "")).startswith("list:")
                and (m["id"], pack_id) not in seen
            ):
                seen.add((m["id"], pack_id))
                result.measures.append(
                    AppliedMeasure(
                        m["id"],
                        m["kind"],
                        m["text"],
                        m.get("basis") or "",
                        m.get("department") or "",
                        pack_id,
                        {
                            "type": "tier",
                            "tier": d["tier"],
                            "cycle": cycle["id"],
                            "revision": cycle["revision"],
                            "period": cycle["period"],
                            "rule": m.get("rule"),
                        },
                    )
                )
    for e in entries:
        for m in e.get("measures") or []:
            if item.id in (m.get("services") or []) and (m["id"], e.get("pack_id")) not in seen:
                seen.add((m["id"], e.get("pack_id")))
                result.measures.append(
                    AppliedMeasure(
                        m["id"],
                        m.get("kind") or "",
                        m.get("text") or "",
                        m.get("basis") or "",
                        m.get("department") or "",
                        e.get("pack_id"),
                        {
                            "type": "list",
                            "list": e["list"],
                            "entry": e["id"],
                            "state": e.get("state"),
                            "listed_from": str(e.get("listed_from") or ""),
                            # The last day of its publication period (until is its exclusive end), if it has one.
                            "valid_to": _last_day(e.get("until")),
                            "cycle": e.get("cycle_id"),
                        },
                    )
                )
    if any(m.kind == "sanction" for m in result.measures):
        for m in result.measures:
            if m.kind == "incentive":
                m.ignored_because = INCENTIVE_IGNORED


def _last_day(until: Any) -> str | None:
    """The last day of a period given by its exclusive end (an ISO date), or None for no end."""
    if not until:
        return None
    return (dt.date.fromisoformat(str(until)) - dt.timedelta(days=1)).isoformat()


def source_lines(cycle: dict, facts: dict) -> list[str]:
    """The stored cycles a decision's ``decision`` facts read (recorded in its cycle's summary), in words:
    ``纳税信用级别取自第12号评价周期（纳税信用评价，2025年度，第1次，截至2026年4月30日），为A级``."""
    recorded = (cycle.get("summary") or {}).get("sources") or {}
    body_facts = ((cycle.get("pack_body") or {}).get("version") or {}).get("facts") or {}
    out: list[str] = []
    for name, body in body_facts.items():
        source = body.get("source") if isinstance(body, dict) else None
        if not isinstance(source, dict) or source.get("decision") != "tier":
            continue
        key = decision_key(source)
        if key not in recorded:
            continue
        value = facts.get(name)
        shown = (body.get("value_labels") or {}).get(value, value)
        out.append(source_text(body.get("label") or name, source["pack"], recorded[key], shown))
    return out


def source_text(label: str, pack_id: str, item: dict | None, shown: Any) -> str:
    """One decision fact's origin for the party: ``纳税信用级别取自第12号评价周期（纳税信用评价，2025年度，第1次，
    截至2026年4月30日），为A级``; ``item`` is the cycle as a cycle's summary records it (None: none was in force)."""
    title = _pack_title(pack_id)
    shown = _tier_label(pack_id, shown)  # B -> B级 (a label given already stays)
    if item is None:
        return f"{label}：评价时尚无{title}的相应评价周期，按无级别处理"
    d = dt.date.fromisoformat(item["as_of"])
    return (
        f"{label}取自第{item['cycle']}号评价周期（{title}，{period_cn(item['period'])}，第{item['revision']}次，"
        f"截至{d.year}年{d.month}月{d.day}日）" + (f"，为{shown}" if shown is not None else "，该周期未评价该主体")
    )


def _tier_label(pack_id: str, tier: Any) -> Any:
    """A tier as the pack's versions label it (``B`` -> ``B级``); the value itself when no version does."""
    if tier is None:
        return None
    try:
        pack = get_pack(pack_id)
    except SupervisionError:
        return tier
    for v in reversed(pack.versions):
        if tier in v.tier_labels:
            return v.tier_labels[tier]
    return tier


def _pack_title(pack_id: str) -> str:
    try:
        return get_pack(pack_id).title
    except SupervisionError:
        return "相应政策包"


def verdict(result: CheckResult) -> str:
    """restricted if a sanction applies; else needs_review if anything is undecided; else incentive or no_measure."""
    if any(m.kind == "sanction" for m in result.measures):
        return "restricted"
    if result.reviews:
        return "needs_review"
    return "incentive" if result.measures else "no_measure"
