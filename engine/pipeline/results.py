"""Typed results of the cycle functions (run, show, diff): the JSON document ``--json`` prints
(``to_json()``) and the text the command prints (``lines()``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.results import Result

_AS_OF_FROM = {"period_end": " (the end of the period)", "option": ""}


def cycle_summary_lines(r: dict[str, Any]) -> list[str]:
    """The text of a cycle's summary: headline, tiers, changes against the previous cycle, list proposals."""
    origin = r.get("as_of_from") or "option"
    origin = _AS_OF_FROM.get(origin, f" (kept from {origin}; --as-of sets another date)")
    wall = f" in {r['wall_seconds']:.1f}s" if r.get("wall_seconds") is not None else ""
    lines = [
        f"Cycle {r['cycle']}: {r['pack']}@{r['version']} period {r['period']} as of {r['as_of']}{origin}, "
        f"revision {r['revision']}, {r['entities']} entities ({r['distinct_vectors']} distinct evaluations)"
        f"{wall}."
    ]
    lines.append(f"{'tier':<6}{'entities':>10}{'ratio':>8}{'per year':>10}{'expected checks':>17}")
    for t in r["tiers"]:
        ratio = f"{t['ratio']:.0%}" if t["ratio"] is not None else "-"
        lines.append(
            f"{t['tier']:<6}{t['entities']:>10}{ratio:>8}{(t['per_year'] or 0):>10g}{t['expected_inspections']:>17}"
        )
    ch = r.get("changes")
    if ch:
        lines.append(
            f"Against cycle {ch['previous_cycle']}: {ch['tier_up']} up, {ch['tier_down']} down, "
            f"{ch['unchanged']} unchanged."
        )
    lists = r.get("lists") or {}
    if lists.get("expired_since_previous"):
        lines.append(
            "Expired since the previous cycle: "
            + ", ".join(f"{k} {v}" for k, v in lists["expired_since_previous"].items())
        )
    if lists.get("proposed"):
        lines.append(
            "List proposals: "
            + ", ".join(f"{k} {v}" for k, v in lists["proposed"].items())
            + f" ({sum(lists.get('listed_at_once', {}).values())} listed at once, "
            f"{sum(lists.get('already_listed', {}).values())} already on their list)"
        )
        lines.append(
            f"Issue their notices (pre-listing notices, 两书同达) with: supervise notices issue --cycle {r['cycle']}"
        )
    return lines


class CycleRun(dict):
    """What run_cycle returns: cycle, pack, version, period, as_of, revision, supersedes, entities and the
    stored summary's keys (tiers, changes, lists, distinct_vectors, timings, wall_seconds, ...).

    A dict (its JSON document as is): tests and the demo read its keys, and the summary's keys vary with the
    pack (lists or none)."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def lines(self) -> list[str]:
        return cycle_summary_lines(self)

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class CycleView(Result):
    """A stored cycle (show_cycle): its row and its stored summary."""

    id: int
    pack: str
    version: str
    content_hash: str
    period: str
    revision: int
    as_of: str
    status: str
    superseded_by: int | None
    supersedes: int | None
    entities: int
    started_at: str
    committed_at: str
    summary: dict[str, Any]

    def lines(self) -> list[str]:
        head = f"{self.status} (revision {self.revision}, pack hash {self.content_hash[:12]})"
        rest = cycle_summary_lines(
            {
                **self.summary,
                "cycle": self.id,
                "pack": self.pack,
                "version": self.version,
                "period": self.period,
                "as_of": self.as_of,
                "revision": self.revision,
                "entities": self.entities,
            }
        )
        return [head, *rest]


@dataclass
class CycleDiff(Result):
    """Two cycles compared (diff_cycles): tiers, transitions, lists, workload per region and tier."""

    a: dict[str, Any]
    b: dict[str, Any]
    tiers: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    lists: list[dict[str, Any]]
    workload: list[dict[str, Any]]
    expected_inspections: dict[str, float]

    def lines(self) -> list[str]:
        a, b = self.a["id"], self.b["id"]
        tiers = [t["tier"] for t in self.tiers]
        matrix = {(t["from"], t["to"]): t["entities"] for t in self.transitions}
        lines = [
            f"Cycle {a} -> {b}: rows = tier in {a}, columns = tier in {b}",
            "      " + "".join(f"{t:>8}" for t in tiers),
        ]
        for x in tiers:
            lines.append(f"{x:<6}" + "".join(f"{matrix.get((x, y), 0):>8}" for y in tiers))
        for lst in self.lists:
            lines.append(f"list {lst['list']}: {lst['a']} -> {lst['b']} ({lst['change']:+d})")
        e = self.expected_inspections
        lines.append(f"expected inspections: {e['a']:g} -> {e['b']:g}")
        regions: dict = {}
        for w in self.workload:
            row = regions.setdefault(w["region"], [w["region_name"], 0.0, 0.0])
            row[1] += w["a"]
            row[2] += w["b"]
        if regions:
            lines.append("expected inspections by region:")
            for code, (name, x, y) in sorted(regions.items(), key=lambda kv: (-abs(kv[1][2] - kv[1][1]), kv[0] or "")):
                lines.append(f"  {name} ({code or '-'}): {x:.1f} -> {y:.1f} ({y - x:+.1f})")
        return lines
