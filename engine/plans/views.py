"""What the plan functions return (draw_plan, plan_details, list_plans) with their text views: ``to_json()`` is
the document ``--json`` prints, ``lines()`` the text the command prints.

They are dicts (and a list) still: the plan publication, the demo and many tests read their keys."""

from __future__ import annotations

from typing import Any


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g}%"


def strata_lines(tiers: list[dict[str, Any]]) -> list[str]:
    """One line per tier (of tier_summary): checks = forced (must be inspected, drawn by lot or not) + sampled
    (the rest)."""
    ratios = {t["tier"]: "/".join(_pct(r["ratio"]) for r in t["ratios"]) for t in tiers}
    w = max([8] + [len(r) + 2 for r in ratios.values()])
    lines = [f"{'tier':<6}{'population':>11}{'excluded':>10}{'ratio':>{w}}{'checks':>8}{'forced':>8}{'sampled':>8}"]
    for t in tiers:
        lines.append(
            f"{t['tier']:<6}{t['population']:>11}{t['excluded']:>10}{ratios[t['tier']]:>{w}}{t['checks']:>8}"
            f"{t['forced']:>8}{t['sampled']:>8}"
        )
    return lines


class _View(dict):
    def to_json(self) -> dict[str, Any]:
        return dict(self)

    def lines(self) -> list[str]:
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self.lines())


class PlanDrawn(_View):
    """A plan just drawn and stored (draw_plan): ids, seed, counts, strata and tiers, fingerprints, redraw."""

    def lines(self) -> list[str]:
        r = self
        lines = [
            f"Plan {r['plan_id']} drawn for cycle {r['cycle_id']} with seed '{r['seed']}' ({r['algorithm']}): "
            f"{r['checks']} checks ({r['forced']} forced, {r['sampled']} sampled), at least "
            f"{r['per_check']} inspectors each; {r['inspectors_used']} of {r['inspectors_in_pool']} "
            f"inspectors used."
        ]
        if r["earlier_plans"]:
            lines.append(
                f"Redraw (reason: {r['reason']}); the period's earlier plans "
                f"{', '.join(map(str, r['earlier_plans']))} stay stored, and their checks counted against "
                f"the inspectors' max_checks."
            )
        lines += strata_lines(r["tiers"])
        if r["exclude_clean_months"]:
            lines.append(
                f"{r['excluded']} entities left out: inspected clean within {r['exclude_clean_months']} "
                f"months before the cycle's as-of date."
            )
        lines.append(
            f"Fingerprints: candidates {r['candidates_fingerprint'][:16]}…, inspectors "
            f"{r['inspectors_fingerprint'][:16]}…, plan {r['plan_fingerprint'][:16]}…"
        )
        lines.append(f"Check it with: supervise plan verify {r['plan_id']}")
        return lines


class PlanDetails(_View):
    """Everything about a plan (plan_details): strata, checks with inspectors, results, publications, flags."""

    def lines(self, limit: int = 20) -> list[str]:
        """The text of 'plan show': at most ``limit`` checks listed (0: all)."""
        r = self
        t = r["totals"]
        lines = [
            f"Plan {r['plan_id']}: cycle {r['cycle_id']} ({r['pack_id']} {r['period']}, as of {r['as_of']}), "
            f"seed '{r['seed']}' ({r['algorithm']}), {t['checks']} checks ({t['sampled']} sampled, "
            f"{t['forced']} forced), {r['per_check']}+ inspectors each, {t['inspectors_used']} inspectors."
        ]
        lines += strata_lines(r["tiers"])
        shown = r["checks"] if limit <= 0 else r["checks"][:limit]
        for c in shown:
            who = ", ".join(f"{i['name']} ({i['department']})" for i in c["inspectors"])
            res = c["result"]
            state = (
                (
                    f"{res['outcome']} on {res['inspected_on']}, {res['status']}"
                    + (f", {res['flag'].replace('_', ' ')}" if res["flag"] else "")
                )
                if res
                else "no result"
            )
            lines.append(f"  {c['seq']:>5} {c['code']} {c['name']} [{c['tier']}, {c['reason']}] {who} — {state}")
        if len(shown) < len(r["checks"]):
            lines.append(f"  ... {len(r['checks']) - len(shown)} more (--limit 0 lists all, --json for everything)")
        pubs = {p["kind"]: p["published_on"] for p in r["publications"]}
        lines.append(
            f"Results: {t['results']} of {t['checks']}. Plan published: {pubs.get('plan') or 'no'}; "
            f"results last published: {pubs.get('results') or 'no'}. Deadline: "
            f"{r['results_deadline_working_days']} working days after each inspection."
        )
        for f in r["flags"]:
            if f["flag"] == "published_late":
                lines.append(
                    f"  LATE: check {f['seq']} ({f['code']}) inspected {f['inspected_on']}, deadline "
                    f"{f['deadline']}, published {f['published_on']}"
                )
            else:
                lines.append(
                    f"  OVERDUE: check {f['seq']} ({f['code']}) inspected {f['inspected_on']}, deadline "
                    f"{f['deadline']}, not published as of {r['checked_on']}"
                )
        return lines


class PlanList(list):
    """The stored plans (list_plans), one dict each."""

    def to_json(self) -> list[dict[str, Any]]:
        return list(self)

    def lines(self) -> list[str]:
        if not self:
            return ["No plans yet; draw one with 'supervise plan draw --cycle ID --seed SEED'."]
        lines = [f"{'id':>4}  {'cycle':<32}  {'seed':<24}  {'drawn at (UTC)':<16}  {'checks':>7}  status"]
        for r in self:
            cycle = f"{r['cycle_id']} ({r['pack_id']} {r['period']})"
            status = r["status"].replace("_", " ")
            if r["redraw"]:
                status += (
                    f"; redraw after plan {', '.join(map(str, r['redraw']['earlier_plans']))}: {r['redraw']['reason']}"
                )
            lines.append(
                f"{r['id']:>4}  {cycle:<32}  {r['seed']:<24}  {r['drawn_at']:%Y-%m-%d %H:%M}  "
                f"{r['checks']:>7}  {status}"
            )
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


class PlanVerified(_View):
    """verify_plan: plan_id, cycle_id, verified, checks, seed, algorithm, plan_fingerprint, differences, message."""

    def lines(self) -> list[str]:
        return [self["message"]]


class PlanExported(_View):
    """export_plan: plan_id, format, file, checks."""

    def lines(self) -> list[str]:
        return [f"Plan {self['plan_id']}: {self['checks']} checks written to {self['file']}."]


class PlanPublished(_View):
    """publish_plan: plan_id, published_on, checks, files."""

    def lines(self) -> list[str]:
        return [
            f"Plan {self['plan_id']} published on {self['published_on']}: {self['checks']} checks in "
            + ", ".join(self["files"])
        ]


class ResultsPublished(_View):
    """publish_results: plan_id, published_on, results, late (seq, deadline, ...), files."""

    def lines(self) -> list[str]:
        line = (
            f"Results of plan {self['plan_id']} published on {self['published_on']}: {self['results']} results in "
            + ", ".join(self["files"])
        )
        if self["late"]:
            line += f"\n{len(self['late'])} results are published after their deadline: " + ", ".join(
                f"check {x['seq']} (deadline {x['deadline']})" for x in self["late"][:20]
            )
        return [line]
