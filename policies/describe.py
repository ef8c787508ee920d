"""Human and JSON views of policy packs: validate, list, show, diff (rule by rule)."""

from __future__ import annotations

import json
from typing import Any

from engine.errors import PolicyError
from engine.model import PackVersion
from engine.results import DictResult, ListResult
from policies import get_pack, load_file, pack_status


class ValidFiles(ListResult):
    """validate_files: one row per valid file (file, id, versions)."""

    def lines(self) -> list[str]:
        return [f"{p['file']}: valid ({', '.join(p['versions'])})" for p in self]


class PackSummaries(ListResult):
    """pack_summaries: one row per pack file (an invalid one with its problems)."""

    def lines(self) -> list[str]:
        lines = []
        for p in self:
            if not p["valid"]:
                more = len(p["problems"]) - 1
                lines.append(
                    f"{p['id']:<22} INVALID {p['problems'][0]}" + (f" (and {more} more problem(s))" if more > 0 else "")
                )
                continue
            lines.append(f"{p['id']:<22} {p['title']}  ({p['authority']}, {p['jurisdiction']})")
            for v in p["versions"]:
                lines.append(
                    f"    {v['version']:<8} {v['effective_from']} .. {v['effective_to'] or 'open':<10} "
                    f"{v['rules']} rules  {v['content_hash'][:12]}  {v['title']}"
                )
        return lines


class PackText(DictResult):
    """show_version and diff_versions: the JSON view, with the text view under "text"."""

    def lines(self) -> list[str]:
        return [self["text"]]


def validate_files(files) -> ValidFiles:
    """Validate each file; raise PolicyError with every problem of every file."""
    results, problems = ValidFiles(), []
    for f in files:
        try:
            pack = load_file(f)
        except PolicyError as exc:
            problems.extend(exc.problems or [str(exc)])
            continue
        results.append({"file": str(f), "id": pack.id, "versions": [v.version for v in pack.versions]})
    if problems:
        raise PolicyError(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found; fix "
            f"{'them' if len(problems) != 1 else 'it'} and validate again:\n" + "\n".join(problems),
            problems,
        )
    return results


def _version_row(v: PackVersion) -> dict:
    return {
        "version": v.version,
        "title": v.title,
        "effective_from": v.effective_from.isoformat(),
        "effective_to": v.effective_to.isoformat() if v.effective_to else None,
        "content_hash": v.content_hash,
        "rules": len(v.tier_rules) + len(v.list_rules) + len(v.measure_rules) + len(v.notice_rules),
    }


def pack_summaries() -> PackSummaries:
    """One row per pack file; an invalid pack has ``valid: false`` and its problems (the others are listed)."""
    rows = PackSummaries()
    for r in pack_status():
        p = r.get("pack")
        if p is None:
            rows.append(
                {"id": r["id"], "valid": False, "file": str(r["file"]), "error": r["error"], "problems": r["problems"]}
            )
            continue
        rows.append(
            {
                "id": p.id,
                "valid": True,
                "title": p.title,
                "authority": p.meta.get("authority"),
                "jurisdiction": p.meta.get("jurisdiction"),
                "file": str(p.path),
                "versions": [_version_row(v) for v in p.versions],
            }
        )
    return rows


def resolve(ref: str) -> PackVersion:
    """ID[@VERSION] or FILE[@VERSION] -> pack version (latest version when none is given)."""
    name, _, version = ref.partition("@")
    pack = get_pack(name)
    return pack.get_version(version) if version else pack.versions[-1]


def _rule_rows(v: PackVersion) -> list[dict]:
    rows = []
    for r in v.tier_rules + v.list_rules + v.measure_rules + v.notice_rules:
        target = r.tier or r.list or (", ".join(r.apply) if r.apply else None) or r.notice
        rows.append(
            {
                "id": r.id,
                "category": r.category,
                "target": target,
                "priority": r.priority,
                "when": r.condition_text,
                "reason": r.reason,
                "basis": r.basis,
            }
        )
    return rows


def show_version(ref: str) -> PackText:
    v = resolve(ref)
    facts = [
        {"name": f.name, "label": f.label, "type": f.type if f.when is None else "condition", "source": f.source}
        for f in v.facts.values()
    ]
    result: dict[str, Any] = {
        "id": v.pack.id,
        "version": v.version,
        "title": v.title,
        "effective_from": v.effective_from.isoformat(),
        "effective_to": v.effective_to.isoformat() if v.effective_to else None,
        "period": v.period,
        "content_hash": v.content_hash,
        "basis": v.basis,
        "tiers": v.tier_order,
        "supervision": v.supervision,
        "facts": facts,
        "rules": _rule_rows(v),
        "lists": v.lists,
        "measures": v.measures,
    }
    lines = [
        f"{v.pack.title} ({v.pack.id}@{v.version}) {v.title}",
        f"in force {v.effective_from} .. {v.effective_to or 'open'}; rates each {v.period}; hash {v.content_hash[:12]}",
        "",
        "Supervision by tier:",
    ]
    for t in v.tier_order:
        s = v.supervision.get(t, {})
        lines.append(
            f"  {t:<3} {v.tier_labels[t]:<6} ratio {s.get('ratio', 0):.0%}, {s.get('per_year', 0):g}/year  {s.get('note', '')}"
        )
    lines += ["", "Rules:"]
    for r in result["rules"]:
        lines.append(
            f"  [{r['category']}] {r['id']} -> {r['target']}"
            + (f" (priority {r['priority']})" if r["category"] == "tier" else "")
        )
        lines.append(f"      当：{r['when']}")
        if r["basis"]:
            lines.append(f"      依据：{r['basis']}")
    lines += [
        "",
        "Lists: " + ", ".join(f"{k} ({d.get('title')})" for k, d in v.lists.items()),
        "Measures: " + ", ".join(v.measures),
    ]
    result["text"] = "\n".join(lines)
    return PackText(result)


def diff_versions(a: str, b: str) -> PackText:
    va, vb = resolve(a), resolve(b)
    ra = {r["id"]: r for r in _rule_rows(va)}
    rb = {r["id"]: r for r in _rule_rows(vb)}
    changes = []
    for rid in sorted(set(ra) | set(rb), key=lambda x: (x not in ra, x)):
        if rid not in rb:
            changes.append({"rule": rid, "change": "removed", "a": ra[rid], "b": None})
        elif rid not in ra:
            changes.append({"rule": rid, "change": "added", "a": None, "b": rb[rid]})
        else:
            fields = [k for k in ("target", "priority", "when", "reason", "basis") if ra[rid][k] != rb[rid][k]]
            if fields:
                changes.append({"rule": rid, "change": "changed", "fields": fields, "a": ra[rid], "b": rb[rid]})

    def table_diff(x: dict, y: dict) -> list[dict]:
        out = []
        for k in sorted(set(x) | set(y)):
            if json.dumps(x.get(k), sort_keys=True, ensure_ascii=False) != json.dumps(
                y.get(k), sort_keys=True, ensure_ascii=False
            ):
                out.append({"key": k, "a": x.get(k), "b": y.get(k)})
        return out

    result: dict[str, Any] = {
        "a": f"{va.pack.id}@{va.version}",
        "b": f"{vb.pack.id}@{vb.version}",
        "rules": changes,
        "supervision": table_diff(va.supervision, vb.supervision),
        "lists": table_diff(va.lists, vb.lists),
        "measures": table_diff(va.measures, vb.measures),
        "facts": table_diff(
            {n: f.source or f.label for n, f in va.facts.items()}, {n: f.source or f.label for n, f in vb.facts.items()}
        ),
    }
    lines = [f"{result['a']} -> {result['b']}"]
    for c in changes:
        if c["change"] == "changed":
            lines.append(f"~ {c['rule']}: " + "; ".join(f"{f}: {c['a'][f]} -> {c['b'][f]}" for f in c["fields"]))
        else:
            lines.append(f"{'+' if c['change'] == 'added' else '-'} {c['rule']}")
    for key in ("supervision", "lists", "measures", "facts"):
        for d in result[key]:
            lines.append(f"~ {key}.{d['key']} changed")
    if len(lines) == 1:
        lines.append("no differences")
    result["text"] = "\n".join(lines)
    return PackText(result)
