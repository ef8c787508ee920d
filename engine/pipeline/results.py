"""Typed results of the cycle functions (run, show, diff): the JSON document ``--json`` prints
(``to_json()``) and the text the command prints (``lines()``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.results import DictResult, ListResult, Result

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
    for key, item in (
        r.get("sources") or {}
    ).items():  # the stored cycles its decision facts read (replay rereads them)
        lines.append(
            f"Read the decisions of {item['pack']} cycle {item['cycle']} (period {item['period']}, revision "
            f"{item['revision']}, as of {item['as_of']})."
            if item
            else f"Read no cycle for {key}: none was in force (missing: none, so those facts are null)."
        )
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
    known_at: str | None = None  # the knowledge date: the record versions recorded by then were evaluated

    def lines(self) -> list[str]:
        head = f"{self.status} (revision {self.revision}, pack hash {self.content_hash[:12]})"
        if self.known_at:
            head += f"; decided with the record versions known at {self.known_at} (cycle replay uses them)"
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


class Simulation(dict):
    """What simulate returns: the draft pack, the cycle compared with (against), tiers, transitions, changes,
    inspections per region, lists and measures, and the run's figures. A dict (its JSON document as is)."""

    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def lines(self) -> list[str]:
        """Compact tables for the terminal."""
        r = self
        p, base = r["policy"], r["against"]
        lines = [
            f"Simulation of {p['id']}@{p['version']} ({p['file']}, hash {p['content_hash'][:12]}) as of {r['as_of']}: "
            f"{r['entities']:,} entities evaluated, {r['distinct_vectors']} distinct evaluations, "
            f"{r['wall_seconds']:.1f}s. Nothing was stored."
        ]
        if base:
            lines.append(
                f"Against cycle {base['cycle']} ({base['pack']}@{base['version']}, period {base['period']}, "
                f"as of {base['as_of']}, {base['entities']:,} entities)."
            )
        else:
            lines.append("No cycle of this pack to compare with: absolute figures only.")
        lines.append("")
        head = f"{'tier':<6}" + (
            f"{'against':>10}{'draft':>10}{'change':>9}{'checks a':>10}{'checks d':>10}"
            if base
            else f"{'entities':>10}{'ratio':>8}{'checks':>9}"
        )
        lines.append(head)
        for t in r["tiers"]:
            if base:
                lines.append(
                    f"{t['tier']:<6}{t['against']:>10,}{t['draft']:>10,}{t['change']:>+9,}"
                    f"{t['against_expected_inspections']:>10,}{t['draft_expected_inspections']:>10,}"
                )
            else:
                ratio = f"{t['draft_ratio']:.0%}" if t["draft_ratio"] is not None else "-"
                lines.append(f"{t['tier']:<6}{t['draft']:>10,}{ratio:>8}{t['draft_expected_inspections']:>9,}")
        insp = r["inspections"]
        lines.append(
            f"expected inspections: {insp['against']:,} -> {insp['draft']:,} ({insp['change']:+,})"
            if base
            else f"expected inspections: {insp['draft']:,}"
        )
        if base:
            tiers = [t["tier"] for t in r["tiers"]]
            matrix = {(x["from"], x["to"]): x["entities"] for x in r["transitions"]}
            cols = tiers + (["(none)"] if any(b is None for _, b in matrix) else [])
            rows = tiers + (["(new)"] if any(a is None for a, _ in matrix) else [])
            lines += [
                "",
                "transitions: rows = tier in the cycle, columns = tier with the draft",
                "      " + "".join(f"{c:>9}" for c in cols),
            ]
            for a in rows:
                ka = None if a == "(new)" else a
                lines.append(
                    f"{a:<6}" + "".join(f"{matrix.get((ka, None if c == '(none)' else c), 0):>9,}" for c in cols)
                )
            ch = r["changes"]
            lines.append(
                f"{ch['tier_up']:,} up, {ch['tier_down']:,} down, {ch['unchanged']:,} unchanged, "
                f"{ch['new']:,} new, {ch['left']:,} no longer evaluated"
            )
        regions: dict[str, list[float]] = {}
        for w in insp["per_region"]:
            acc = regions.setdefault(w["region"] or "-", [0.0, 0.0])
            acc[0] += w.get("against", 0.0)
            acc[1] += w["draft"]
        if regions:
            lines += [
                "",
                f"{'region':<8}" + (f"{'against':>10}{'draft':>10}{'change':>10}" if base else f"{'checks':>10}"),
            ]
            for region, (x, y) in sorted(regions.items()):
                lines.append(f"{region:<8}" + (f"{x:>10,.1f}{y:>10,.1f}{y - x:>+10,.1f}" if base else f"{y:>10,.1f}"))
        if r["lists"]:
            lines += [
                "",
                f"{'list':<10}"
                + (f"{'against':>10}{'draft':>10}{'entering':>10}{'leaving':>10}" if base else f"{'entities':>10}"),
            ]
            for x in r["lists"]:
                lines.append(
                    f"{x['list']:<10}"
                    + (
                        f"{x['against']:>10,}{x['draft']:>10,}{x['entering']:>10,}{x['leaving']:>10,}"
                        if base
                        else f"{x['draft']:>10,}"
                    )
                )
        if r["measures"]:
            width = max(len(m["id"]) for m in r["measures"]) + 2
            lines += [
                "",
                f"{'measure':<{width}}"
                + (f"{'against':>10}{'draft':>10}{'gained':>9}{'lost':>9}" if base else f"{'entities':>10}"),
            ]
            for m in r["measures"]:
                lines.append(
                    f"{m['id']:<{width}}"
                    + (
                        f"{m['against']:>10,}{m['draft']:>10,}{m['gained']:>9,}{m['lost']:>9,}"
                        if base
                        else f"{m['draft']:>10,}"
                    )
                )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


class CycleList(ListResult):
    """list_cycles: one row per stored cycle (superseded revisions included)."""

    def lines(self) -> list[str]:
        return [
            f"{r['id']:>4} {r['pack']}@{r['version']} {r['period']} r{r['revision']} "
            f"as of {r['as_of']} {r['entities']} entities {r['status']}"
            for r in self
        ] or ["No cycles yet."]


class Replay(DictResult):
    """replay_cycle: cycle, pack, version, as_of, entities, identical, differences (at most 100)."""

    def lines(self) -> list[str]:
        if self["identical"]:
            return [f"Cycle {self['cycle']} replayed: {self['entities']} decisions identical."]
        return [
            f"Cycle {self['cycle']} replay differs for {len(self['differences'])} entities: {self['differences'][:5]}"
        ]


class ReportFiles(DictResult):
    """write_report: the cycle, the files written, its entities, expected inspections and headline."""

    def lines(self) -> list[str]:
        return [
            f"Report of cycle {self['cycle']} ({self['entities']:,} entities, {self['expected_inspections']:,} "
            f"expected inspections) written to {self['html']}, {self['json']} and {self['csv']}."
        ]


class DemoRun(DictResult):
    """run_demo: database, as_of, seed and the stages (title and lines each)."""

    def lines(self) -> list[str]:
        lines = [f"Demo on {self['database']}"]
        for stage in self["stages"]:
            lines.append(f"== {stage['title']}")
            lines.extend(f"   {line}" for line in stage["lines"])
        return lines
