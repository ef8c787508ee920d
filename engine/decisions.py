"""Decision precedence: which of the rules that fired decides, and why the others are ignored.

The order is documented in docs/precedence.md (one test per row in tests/rules/test_evaluate.py):
  P1 tier: the fired tier rule with the highest priority decides;
  P2 tier: at equal priority the stricter tier (later in tiers.order) wins;
  P3 tier: no tier rule fired -> default_tier;
  P4 lists: the same list proposed by several rules -> one proposal, the first rule in pack order decides;
  P5 lists: an incentive list is not proposed together with a sanction or watch list (the stricter wins);
  P6 inspection: a proposed list with force_inspection raises the ratio to 100% and marks the entity forced;
  P7 measures: where a sanction and an incentive address the same service item, the sanction applies and
      the incentive is ignored.

``engine.evaluate`` fires the rules and words the reasons; ``policies.loader`` uses ``decide_tier`` to check a
version's tier table exhaustively. Both decide through the functions here, so the precedence lives only here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from engine.model import PackVersion, Rule

STRICTNESS = {"incentive": 0, "watch": 1, "sanction": 2}
INCENTIVE_LIST_IGNORED = "同时拟列入惩戒或重点关注名单，不列入激励名单"


def decide_tier(v: PackVersion, fired: list[Rule]) -> tuple[str | None, Rule | None, list[Rule]]:
    """P1-P3: ``(tier, decisive rule, the other fired rules)``. The highest priority wins; at equal priority the
    stricter (later in tiers.order) tier wins; no rule fired -> ``default_tier`` and no decisive rule."""
    if not fired:
        return v.default_tier, None, []
    rank: dict[str | None, int] = {t: i for i, t in enumerate(v.tier_order)}
    best = max(fired, key=lambda r: (r.priority, rank.get(r.tier, -1)))
    return best.tier, best, [r for r in fired if r is not best]


def tier_ignored_because(best: Rule, rule: Rule) -> str:
    """Why a fired tier rule did not decide: a higher priority (P1) or, at equal priority, a stricter tier (P2)."""
    if rule.priority < best.priority:
        return f"规则 {best.id} 优先级更高（{best.priority} > {rule.priority}）"
    return f"同一优先级下规则 {best.id} 给出更严格的等级 {best.tier}"


def propose_lists(v: PackVersion, fired: Iterable[Rule]) -> tuple[dict[str, dict], list[tuple[Rule, str | None]]]:
    """P4: the lists the fired list rules propose, by name, in rule order, and per list rule ``(rule, None)``
    when its proposal stands or ``(rule, why it is ignored)`` when an earlier rule proposed the same list."""
    lists: dict[str, dict] = {}
    outcomes: list[tuple[Rule, str | None]] = []
    for r in fired:
        if r.category != "list":
            continue
        name = cast(str, r.list)  # set on every list rule by the loader
        if name in lists:
            outcomes.append((r, f"名单 {name} 已由规则 {lists[name]['rule']} 提出"))
            continue
        d = v.lists[name]
        lists[name] = {
            "list": name,
            "title": d.get("title", name),
            "kind": d.get("kind"),
            "action": "propose",
            "rule": r.id,
            "reason": r.reason,
            "basis": r.basis,
        }
        outcomes.append((r, None))
    return lists, outcomes


def drop_incentive_lists(lists: dict[str, dict]) -> list[dict]:
    """P5: with a sanction or watch list proposed, remove the incentive lists from ``lists`` (in place); returns the
    removed proposals (ignored because of INCENTIVE_LIST_IGNORED)."""
    strict = max((STRICTNESS.get(x["kind"], 0) for x in lists.values()), default=0)
    if strict == 0:
        return []
    return [lists.pop(name) for name in [n for n, x in lists.items() if x["kind"] == "incentive"]]


def inspection(v: PackVersion, tier: str | None, lists: Iterable[str]) -> tuple[dict, bool]:
    """P6: ``(supervision row, forced)``: the tier's row, or 100% and the list's checks per year when a proposed
    list has ``force_inspection``."""
    none = {"ratio": 0.0, "per_year": 0.0, "note": ""}
    sup = dict(v.supervision.get(tier, none) if tier is not None else none)
    forced = False
    for name in lists:
        d = v.lists[name]
        if d.get("force_inspection"):
            forced = True
            sup = {
                "ratio": 1.0,
                "per_year": max(sup["per_year"], float(d.get("per_year", sup["per_year"]) or 0)),
                "note": f"列入{d.get('title', name)}，纳入重点检查",
            }
    return sup, forced


def collect_measures(v: PackVersion, fired: Iterable[Rule], lists: Iterable[str]) -> dict[str, dict]:
    """The measures the fired measure rules apply, then those of the proposed lists; the first source of a
    measure is kept (``rule`` is the rule id or ``list:NAME``)."""
    measures: dict[str, dict] = {}
    for r in fired:
        if r.category == "measure":
            for mid in r.apply:
                measures.setdefault(mid, {**v.measures[mid], "rule": r.id})
    for name in lists:
        for mid in v.lists[name].get("measures") or []:
            measures.setdefault(mid, {**v.measures[mid], "rule": f"list:{name}"})
    return measures


def sanctions_first(measures: Iterable[dict]) -> tuple[list[dict], list[tuple[dict, list[str]]]]:
    """P7: ``(kept, ignored)``: an incentive measure addressing a service item a sanction also addresses is
    ignored, with the service items in common (sorted)."""
    measures = list(measures)
    sanctioned = {s for m in measures if m["kind"] == "sanction" for s in m["services"]}
    kept: list[dict] = []
    ignored: list[tuple[dict, list[str]]] = []
    for m in measures:
        clash = sorted(set(m["services"]) & sanctioned) if m["kind"] == "incentive" else []
        if clash:
            ignored.append((m, clash))
        else:
            kept.append(m)
    return kept, ignored
