"""Cycle report: one self-contained HTML page (and report.json) a director reads instead of a table.

Everything comes from the stored cycle, never from a new evaluation: the cycle summary (tiers, transitions against
the previous cycle of the same pack, list proposals), decisions aggregated per stored outcome (lists, measures)
and per region and tier (expected inspections = sum of the stored sampling ratios), and the notices the cycle calls
for (its decisions and every event of the list entries it created) against those stored
(``notices.issue.cycle_notice_counts``).

Regions are shown by name (``engine.regions``; within one province without the province's name); report.json keeps
the code (``region``) next to the name (``region_name``). Tiers are shown graded first, in the pack's order, then
the unrated tier (label 未评价), whatever its place in the pack's order, which only decides what counts as
moving up or down.

Charts are inline SVG built here from plain numbers: ``_Chart`` collects shapes (rect, text, line) as dicts and
the template ``_chart.html`` draws them, so every label goes through Jinja's autoescape like any other value;
no JavaScript, fonts or images are loaded, and the page works offline and prints on A4.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import pathlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment

from engine import templating
from engine.errors import CycleNotFound
from engine.exports import write_csv
from engine.pipeline.results import ReportFiles
from engine.regions import is_region, region_labels
from engine.store import Store
from engine.store import bank as qbank
from engine.store import cycles as q
from engine.store import reports as qr
from engine.values import CHINA, period_cn
from notices.issue import cycle_notice_counts

TOP_REGIONS = 20  # regions drawn one bar each; the rest share one bar ("其他地区"), the table lists all
LIST_KIND_LABELS = {"incentive": "守信激励", "watch": "重点关注", "sanction": "失信惩戒"}
LIST_KIND_COLOURS = {"incentive": "#2e7d4f", "watch": "#d08a1c", "sanction": "#b3261e"}
NOTICE_LABELS = {
    "warning": "失信提示函",
    "interview": "警示约谈通知书",
    "pre_listing": "列入名单告知书",
    "repair_instructions": "信用修复告知书",
    "inspection": "检查通知书",
    "commendation": "守信激励告知书",
    "removal_decision": "移出名单决定书",
}
MEASURE_KIND_LABELS = {"incentive": "激励", "sanction": "惩戒"}
UNRATED_LABEL = "未评价"  # a tier with this label holds the entities not graded: shown after the graded tiers
UNRATED_COLOUR = "#9aa5b1"


# -- figures from the store ----------------------------------------------------------------------------------


def report_data(store: Store, cycle_id: int) -> dict[str, Any]:
    """All figures of the report for a stored cycle (the content of report.json)."""
    with store.read() as conn:
        c = q.get_cycle(conn, cycle_id)
        summary = c["summary"] or {}
        changes = summary.get("changes") or None
        prev = None
        if changes:
            try:
                prev = q.get_cycle(conn, changes["previous_cycle"])
            except CycleNotFound:
                prev = None
        workload = q.region_tier_workload(conn, cycle_id)
        per_list, measures = _outcome_aggregates(q.outcomes_of(conn, cycle_id), qr.outcome_counts(conn, cycle_id))
        prev_lists = (
            _outcome_aggregates(q.outcomes_of(conn, prev["id"]), qr.outcome_counts(conn, prev["id"]))[0] if prev else {}
        )
        notices = _notice_counts(conn, c)
        bank_loans = qbank.cycle_loan_document(conn, c, dt.datetime.now(CHINA).date())  # a bank-tax cycle: 银税互动贷款
    body = c["pack_body"] or {}
    pack, version = body.get("pack") or {}, body.get("version") or {}
    tiers_def = version.get("tiers") or {}
    order = list(tiers_def.get("order") or [])
    labels = dict(tiers_def.get("labels") or {})
    total = int(c["entity_count"] or 0)
    prev_tiers = {t["tier"]: t["entities"] for t in ((prev or {}).get("summary") or {}).get("tiers") or []}
    tiers = []
    for t in summary.get("tiers") or []:
        row = {
            "tier": t["tier"],
            "label": t.get("label") or labels.get(t["tier"], t["tier"]),
            "entities": t["entities"],
            "share": round(t["entities"] / total, 4) if total else 0.0,
            "ratio": t.get("ratio"),
            "per_year": t.get("per_year"),
            "expected_inspections": t.get("expected_inspections", 0),
            "forced": t.get("forced", 0),
        }
        if changes:
            row["previous"] = prev_tiers.get(t["tier"], 0)
            row["change"] = t["entities"] - row["previous"]
        tiers.append(row)
    for t in order:  # tiers of the pack that no entity reached still get a (zero) row
        if t not in {x["tier"] for x in tiers}:
            row = {
                "tier": t,
                "label": labels.get(t, t),
                "entities": 0,
                "share": 0.0,
                "ratio": (version.get("supervision") or {}).get(t, {}).get("ratio"),
                "per_year": (version.get("supervision") or {}).get(t, {}).get("per_year"),
                "expected_inspections": 0,
                "forced": 0,
            }
            if changes:
                row.update({"previous": prev_tiers.get(t, 0), "change": -prev_tiers.get(t, 0)})
            tiers.append(row)
    rank = {t: i for i, t in enumerate(order)}
    tiers.sort(key=lambda r: (rank.get(r["tier"], len(rank)), r["tier"]))
    tier_order = [t["tier"] for t in tiers]  # the pack's order: what counts as up and down
    tiers.sort(key=lambda r: r["label"].startswith(UNRATED_LABEL))  # stable: graded first, then unrated
    display = {t["tier"]: i for i, t in enumerate(tiers)}

    transitions = None
    if changes:
        moved = sum(x["entities"] for x in changes.get("transitions") or [])
        transitions = {
            "previous_cycle": changes["previous_cycle"],
            "previous": (
                {
                    "id": prev["id"],
                    "period": prev["period"],
                    "as_of": prev["as_of"].isoformat(),
                    "version": prev["version"],
                    "entities": prev["entity_count"],
                }
                if prev
                else None
            ),
            "tier_up": changes.get("tier_up", 0),
            "tier_down": changes.get("tier_down", 0),
            "unchanged": changes.get("unchanged", 0),
            "matched": moved,
            "new": max(total - moved, 0),
            "left": max(int(prev["entity_count"]) - moved, 0) if prev else None,
            "matrix": [
                {"from": x["from"], "to": x["to"], "entities": x["entities"]} for x in changes.get("transitions") or []
            ],
        }

    regions = _regions(workload, display)
    lists = _lists(version.get("lists") or {}, per_list, prev_lists if changes else None, summary.get("lists") or {})
    measures_def = version.get("measures") or {}
    measure_rows = [
        {
            "id": mid,
            "kind": m["kind"],
            "kind_label": MEASURE_KIND_LABELS.get(m["kind"], m["kind"] or ""),
            "text": (measures_def.get(mid) or {}).get("text") or m["text"],
            "department": m["department"],
            "entities": m["entities"],
        }
        for mid, m in sorted(measures.items(), key=lambda kv: (kv[1]["kind"] != "sanction", kv[0]))
    ]
    notice_rows = [
        {
            "kind": k,
            "label": NOTICE_LABELS.get(k, k),
            "due": n["due"],
            "issued": n["issued"],
            "pending": None if n["due"] is None else max(n["due"] - n["issued"], 0),
        }
        for k, n in notices.items()
    ]
    data = {
        "cycle": {
            "id": c["id"],
            "period": c["period"],
            "revision": c["revision"],
            "as_of": c["as_of"].isoformat(),
            "status": c["status"],
            "superseded_by": c["superseded_by"],
            "supersedes": c["supersedes_id"],
            "entities": total,
            "committed_at": c["committed_at"].isoformat() if c["committed_at"] else None,
        },
        "pack": {
            "id": c["pack_id"],
            "title": pack.get("title") or c["pack_id"],
            "authority": pack.get("authority"),
            "jurisdiction": pack.get("jurisdiction"),
            "version": c["version"],
            "version_title": version.get("title"),
            "content_hash": c["content_hash"],
        },
        "tier_order": tier_order,
        "display_order": [t["tier"] for t in tiers],
        "unrated": [t["tier"] for t in tiers if t["label"].startswith(UNRATED_LABEL)],
        "tier_labels": {t["tier"]: t["label"] for t in tiers},
        "tiers": tiers,
        "expected_inspections": summary.get("expected_inspections", sum(t["expected_inspections"] for t in tiers)),
        "forced_inspections": sum(t["forced"] for t in tiers),
        "transitions": transitions,
        "regions": regions,
        "unknown_regions": [r["region"] for r in regions if r["region"] and not is_region(r["region"])],
        "lists": lists,
        "measures": measure_rows,
        "notices": notice_rows,
        "bank_loans": bank_loans,
    }
    data["headline"] = headline(data)
    return data


def _notice_counts(conn, cycle: dict) -> dict[str, dict]:
    """Notices per kind the cycle calls for (``due``) and stored (``issued``); none for a cycle not committed."""
    if cycle["status"] not in ("committed", "superseded"):
        return {}
    return cycle_notice_counts(conn, cycle["id"])


def _outcome_aggregates(
    outcomes: dict[int, dict], counts: dict[int, int]
) -> tuple[Counter[str], dict[str, dict[str, Any]]]:
    """Entities per proposed list and per measure, from the stored outcomes."""
    per_list: Counter[str] = Counter()
    measures: dict[str, dict[str, Any]] = {}
    for oid, n in counts.items():
        result = outcomes[oid]["result"]
        for name in {item["list"] for item in result.get("lists") or []}:
            per_list[name] += n
        for m in result.get("measures") or []:
            row = measures.setdefault(
                m["id"],
                {
                    "kind": m.get("kind"),
                    "text": m.get("text") or "",
                    "department": m.get("department") or "",
                    "entities": 0,
                },
            )
            row["entities"] += n
    return per_list, measures


def region_names(codes: list[str | None]) -> dict[str | None, str]:
    """Display name per region code (:func:`engine.regions.region_labels`): the full name, without the province
    when every known code is in the same one; ``区划代码…（未知）`` for a code not in GB/T 2260, 未填写 for none."""
    return region_labels(codes)


def _regions(workload: list[dict], rank: dict[str, int]) -> list[dict]:
    regions: dict[str | None, dict] = {}
    names = region_names(sorted({w["region"] or "" for w in workload}))
    for w in workload:
        code = w["region"] or None
        r = regions.setdefault(
            code,
            {
                "region": code,
                "region_name": names[code or ""],
                "entities": 0,
                "expected": 0.0,
                "forced": 0,
                "tiers": {},
            },
        )
        r["entities"] += w["entities"]
        r["expected"] += w["expected_inspections"]
        r["forced"] += w["forced"]
        r["tiers"][w["tier"]] = {
            "entities": w["entities"],
            "expected": round(w["expected_inspections"], 2),
            "forced": w["forced"],
        }
    out = sorted(regions.values(), key=lambda r: (-r["expected"], r["region"] or ""))
    for r in out:
        r["expected"] = round(r["expected"], 2)
        r["tiers"] = dict(sorted(r["tiers"].items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    return out


def _lists(defs: dict, per_list: dict[str, int], prev: dict[str, int] | None, proposals: dict) -> list[dict]:
    """Per list: entities the rules proposed (and the previous cycle's figure), entries the cycle created, listed
    at once, skipped as already on the list and expired since the previous cycle (the cycle summary's counts)."""

    def counts(key: str) -> dict | None:
        value = proposals.get(key)
        return value if isinstance(value, dict) else None

    created, listed, skipped = counts("proposed"), counts("listed_at_once"), counts("already_listed")
    expired = counts("expired_since_previous")
    rows = []
    for name in list(defs) + sorted((set(per_list) | set(prev or {})) - set(defs)):
        d = defs.get(name) or {}
        row = {
            "list": name,
            "title": d.get("title") or name,
            "kind": d.get("kind"),
            "kind_label": LIST_KIND_LABELS.get(d.get("kind") or "", d.get("kind") or ""),
            "authority": d.get("authority"),
            "proposed_by_rules": per_list.get(name, 0),
            "previous": prev.get(name, 0) if prev is not None else None,
            "new_entries": created.get(name, 0) if created is not None else None,
            "listed_at_once": listed.get(name, 0) if listed is not None else None,
            "already_listed": skipped.get(name, 0) if skipped is not None else None,
            "expired": expired.get(name, 0) if expired is not None else None,
        }
        if prev is not None:
            row["change"] = row["proposed_by_rules"] - row["previous"]
        rows.append(row)
    return rows


# -- the headline ---------------------------------------------------------------------------------------------


def _n(value: float) -> str:
    return f"{value:,.0f}"


_pct = templating.percent  # the same renderings as the templates' pct and cn_date filters
_date_cn = templating.cn_date


_period_cn = period_cn  # one rendering of period labels (engine.values)


def headline(data: dict) -> list[str]:
    """The summary paragraph in Chinese, as sentences (plain text; the template escapes it)."""
    c, p = data["cycle"], data["pack"]
    tiers = [t for t in data["tiers"] if t["entities"]]
    out = [
        f"{p['authority'] or ''}{p['title']}{_period_cn(c['period'])}监管周期（第{c['id']}号周期，政策版本"
        f"{p['version']}，评价基准日{_date_cn(c['as_of'])}）共评价经营主体{_n(c['entities'])}户，其中"
        + "、".join(f"{t['label']}{_n(t['entities'])}户（占{_pct(t['share'])}）" for t in tiers)
        + "。"
    ]
    tr = data["transitions"]
    if tr:
        moves = [t for t in data["tiers"] if t.get("change")]
        moves.sort(key=lambda t: -abs(t["change"]))
        prev = tr["previous"]
        where = (
            f"第{tr['previous_cycle']}号周期（{_period_cn(prev['period'])}）"
            if prev
            else f"第{tr['previous_cycle']}号周期"
        )
        text = (
            f"与上一周期{where}相比，信用等级上升{_n(tr['tier_up'])}户、下降{_n(tr['tier_down'])}户、"
            f"保持不变{_n(tr['unchanged'])}户"
        )
        if tr["new"]:
            text += f"，新纳入评价{_n(tr['new'])}户"
        if moves:
            text += "；" + "，".join(
                f"{t['label']}{'增加' if t['change'] > 0 else '减少'}{_n(abs(t['change']))}户" for t in moves[:3]
            )
        out.append(text + "。")
    else:
        out.append("本政策包此前没有可比周期，本报告不含等级变化分析。")
    text = f"按各等级抽查比例测算，预计需实施检查{_n(data['expected_inspections'])}户"
    if data["forced_inspections"]:
        text += f"，其中{_n(data['forced_inspections'])}户因列入重点关注或惩戒名单须全部纳入检查"
    if data["regions"]:
        top = data["regions"][0]
        text += f"；检查任务最重的地区为{top['region_name']}（约{top['expected']:,.1f}户）"
    out.append(text + "。")
    proposed = [x for x in data["lists"] if x["proposed_by_rules"]]
    if proposed:
        text = "本周期依规则拟列入" + "、".join(f"{x['title']}{_n(x['proposed_by_rules'])}户" for x in proposed)
        created = sum(x["new_entries"] or 0 for x in proposed)
        skipped = sum(x["already_listed"] or 0 for x in proposed)
        if any(x["new_entries"] is not None for x in proposed):
            text += f"；新增拟列入名单{_n(created)}户" + (f"，另有{_n(skipped)}户已在名单中" if skipped else "")
        out.append(text + "。")
    expired = [x for x in data["lists"] if x.get("expired")]
    if expired:
        out.append(
            "自上一周期以来公示期届满移出" + "、".join(f"{x['title']}{_n(x['expired'])}户" for x in expired) + "。"
        )
    due = [x for x in data["notices"] if x["due"]]
    if due:
        text = (
            "本周期需制发告知文书"
            + _n(sum(x["due"] for x in due))
            + "份（"
            + "、".join(f"{x['label']}{_n(x['due'])}份" for x in due)
            + "）"
        )
        pending = sum(x["pending"] for x in due)
        text += f"，尚有{_n(pending)}份待制发" if pending else "，均已制发"
        out.append(text + "。")
    return out


# -- charts -----------------------------------------------------------------------------------------------------

TIER_RAMP = (
    (0.106, 0.478, 0.243),
    (0.467, 0.659, 0.251),
    (0.878, 0.663, 0.051),
    (0.894, 0.424, 0.039),
    (0.702, 0.149, 0.118),
)  # green, yellow-green, amber, orange, red


def tier_colours(order: list[str], unrated: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """A colour per tier along the pack's tier order: the first (best) green, through amber, the last red; the
    unrated tiers grey."""
    out = {t: UNRATED_COLOUR for t in unrated}
    order = [t for t in order if t not in out]
    for i, t in enumerate(order):
        pos = (i / (len(order) - 1) if len(order) > 1 else 0.0) * (len(TIER_RAMP) - 1)
        k = min(int(pos), len(TIER_RAMP) - 2)
        out[t] = _mix(TIER_RAMP[k], TIER_RAMP[k + 1], pos - k)
    return out


@dataclass
class _Chart:
    """Shapes of one SVG chart; ``_chart.html`` draws them (and escapes every text)."""

    width: int
    height: int
    title: str
    shapes: list[dict] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str | None = None, **extra) -> None:
        self.shapes.append(
            {
                "kind": "rect",
                "x": round(x, 1),
                "y": round(y, 1),
                "w": round(max(w, 0), 1),
                "h": round(h, 1),
                "fill": fill,
                "tip": tip,
                **extra,
            }
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        anchor: str = "start",
        size: int = 13,
        fill: str = "#1f2933",
        weight: str = "normal",
    ) -> None:
        self.shapes.append(
            {
                "kind": "text",
                "x": round(x, 1),
                "y": round(y, 1),
                "text": str(text),
                "anchor": anchor,
                "size": size,
                "fill": fill,
                "weight": weight,
            }
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#c9d1d9", dash: bool = False) -> None:
        self.shapes.append(
            {
                "kind": "line",
                "x1": round(x1, 1),
                "y1": round(y1, 1),
                "x2": round(x2, 1),
                "y2": round(y2, 1),
                "stroke": stroke,
                "dash": dash,
            }
        )

    def as_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "title": self.title, "shapes": self.shapes}


def _scale(value: float, most: int = 5) -> tuple[float, int]:
    """(axis maximum, number of ticks): a round step (1, 2 or 5 times a power of ten), at most ``most`` ticks."""
    if value <= 0:
        return 1.0, 1
    raw = value / most
    exp = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(s * exp for s in (1, 2, 5, 10) if s * exp >= raw)
    ticks = max(1, math.ceil(value / step - 1e-9))
    return step * ticks, ticks


def _axis(ch: _Chart, x0: float, x1: float, y0: float, y1: float, value: float) -> float:
    """Vertical grid lines and tick labels under a horizontal bar chart; returns the axis maximum."""
    top, ticks = _scale(value)
    digits = 0 if (top / ticks) >= 1 else 1
    for i in range(ticks + 1):
        x = x0 + (x1 - x0) * i / ticks
        ch.line(x, y0, x, y1, "#e3e8ee" if i else "#9aa5b1")
        ch.text(x, y1 + 16, f"{top * i / ticks:,.{digits}f}", "middle", 11, "#616e7c")
    return top


def chart_tiers(data: dict, colours: dict[str, str]) -> dict:
    rows = data["tiers"]
    label_w, right_w, bar_h, gap, top = 70, 130, 26, 12, 10
    width = 640
    height = top + len(rows) * (bar_h + gap) + 24
    ch = _Chart(width, height, "信用等级分布（户数）")
    x0, x1 = label_w, width - right_w
    peak = _axis(ch, x0, x1, top - 4, height - 24, max((r["entities"] for r in rows), default=0))
    for i, r in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = (x1 - x0) * r["entities"] / peak
        ch.text(x0 - 10, y + bar_h / 2 + 5, r["label"], "end", 14, "#1f2933", "bold")
        ch.rect(x0, y, w, bar_h, colours.get(r["tier"], "#7b8794"), f"{r['label']}：{r['entities']:,}户")
        ch.text(x0 + w + 8, y + bar_h / 2 + 5, f"{r['entities']:,}户  {_pct(r['share'])}", "start", 13)
    return ch.as_dict()


def chart_transitions(data: dict, colours: dict[str, str]) -> dict | None:
    tr = data["transitions"]
    if not tr:
        return None
    order = data["display_order"]
    rank = {t: i for i, t in enumerate(data["tier_order"])}
    labels = {t["tier"]: t["label"] for t in data["tiers"]}
    seen = {x["from"] for x in tr["matrix"] if x["entities"]} | {x["to"] for x in tr["matrix"] if x["entities"]}
    order = [t for t in order if t in seen] + sorted(seen - set(order))  # tiers nobody held in either cycle: no row
    if not order:
        return None
    cells = {(x["from"], x["to"]): x["entities"] for x in tr["matrix"]}
    row_total: Counter[str] = Counter()
    for (a, _), n in cells.items():
        row_total[a] += n
    cell, left, head = 64, 100, 62
    size = len(order)
    width, height = left + size * cell + 30, head + size * cell + 46
    ch = _Chart(width, height, "等级迁移矩阵（行：上一周期等级；列：本周期等级）")
    ch.text(left + size * cell / 2, 14, "本周期等级 →", "middle", 12, "#616e7c")
    ch.text(left - 10, head - 30, "上周期等级", "end", 12, "#616e7c")
    ch.text(left - 10, head - 14, "↓", "end", 12, "#616e7c")
    for j, t in enumerate(order):
        ch.rect(left + j * cell + 4, head - 26, cell - 8, 4, colours.get(t, "#7b8794"))
        ch.text(left + j * cell + cell / 2, head - 8, labels.get(t, t), "middle", 13, "#1f2933", "bold")
    for i, a in enumerate(order):
        ch.rect(left - 8, head + i * cell + 4, 4, cell - 10, colours.get(a, "#7b8794"))
        ch.text(left - 14, head + i * cell + cell / 2 + 5, labels.get(a, a), "end", 13, "#1f2933", "bold")
        for j, b in enumerate(order):
            n = cells.get((a, b), 0)
            share = n / row_total[a] if row_total[a] else 0.0
            ra, rb = rank.get(a, len(rank)), rank.get(b, len(rank))  # the pack's order decides up and down
            if ra == rb:
                base = (0.12, 0.31, 0.47)  # unchanged: administrative blue
            elif rb < ra:
                base = (0.16, 0.49, 0.31)  # up to a better tier: green
            else:
                base = (0.70, 0.15, 0.12)  # down to a worse tier: red
            strength = 0.0 if n == 0 else 0.15 + 0.85 * share
            fill = _mix((1.0, 1.0, 1.0), base, strength)
            ch.rect(
                left + j * cell,
                head + i * cell,
                cell - 2,
                cell - 2,
                fill,
                f"{labels.get(a, a)} → {labels.get(b, b)}：{n:,}户（占上周期该等级{_pct(share)}）",
                stroke="#d5dbe1" if n == 0 else "none",
            )
            if n:
                ink = "#ffffff" if strength > 0.55 else "#1f2933"
                ch.text(
                    left + j * cell + cell / 2 - 1,
                    head + i * cell + cell / 2 + 1,
                    f"{n:,}",
                    "middle",
                    13 if n < 100000 else 11,
                    ink,
                    "bold",
                )
                ch.text(left + j * cell + cell / 2 - 1, head + i * cell + cell / 2 + 16, _pct(share), "middle", 10, ink)
    ly = head + size * cell + 22
    for k, (name, base) in enumerate(
        (("等级上升", (0.16, 0.49, 0.31)), ("保持不变", (0.12, 0.31, 0.47)), ("等级下降", (0.70, 0.15, 0.12)))
    ):
        x = left + k * 100
        ch.rect(x, ly - 10, 14, 14, _mix((1.0, 1.0, 1.0), base, 0.8))
        ch.text(x + 20, ly + 2, name, "start", 12, "#3e4c59")
    return ch.as_dict()


def _mix(a: tuple, b: tuple, t: float) -> str:
    r, g, bl = (a[i] + (b[i] - a[i]) * t for i in range(3))
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(bl * 255):02x}"


def chart_regions(data: dict, colours: dict[str, str]) -> dict | None:
    regions = data["regions"]
    if not regions:
        return None
    order = data["display_order"]
    labels = {t["tier"]: t["label"] for t in data["tiers"]}
    shown = regions[:TOP_REGIONS]
    rest = regions[TOP_REGIONS:]
    if rest:
        other = {
            "region": None,
            "region_name": f"其他{len(rest)}个地区",
            "expected": sum(r["expected"] for r in rest),
            "tiers": {},
        }
        for r in rest:
            for t, v in r["tiers"].items():
                acc = other["tiers"].setdefault(t, {"expected": 0.0})
                acc["expected"] += v["expected"]
        shown = shown + [other]
    longest = max(len(r["region_name"]) for r in shown)
    label_w, right_w, bar_h, gap, top = min(max(110, 20 + 13 * longest), 260), 80, 20, 9, 40
    width = 640
    height = top + len(shown) * (bar_h + gap) + 26
    ch = _Chart(width, height, "各地区预计检查户数（按等级分段）")
    used = [t for t in order if any(t in r["tiers"] for r in shown)]
    x = label_w
    for t in used:
        ch.rect(x, 6, 12, 12, colours.get(t, "#7b8794"))
        ch.text(x + 17, 17, labels.get(t, t), "start", 12, "#3e4c59")
        x += 24 + 14 * len(labels.get(t, t))
    x0, x1 = label_w, width - right_w
    peak = _axis(ch, x0, x1, top - 6, height - 26, max(r["expected"] for r in shown))
    for i, r in enumerate(shown):
        y = top + i * (bar_h + gap)
        ch.text(x0 - 10, y + bar_h / 2 + 5, r["region_name"], "end", 13)
        xx = x0
        for t in used:
            v = r["tiers"].get(t, {}).get("expected", 0.0)
            if not v:
                continue
            w = (x1 - x0) * v / peak
            ch.rect(xx, y, w, bar_h, colours.get(t, "#7b8794"), f"{r['region_name']} {labels.get(t, t)}：约{v:,.1f}户")
            xx += w
        ch.text(xx + 6, y + bar_h / 2 + 5, f"{r['expected']:,.1f}", "start", 12, "#1f2933", "bold")
    return ch.as_dict()


def chart_lists(data: dict) -> dict | None:
    rows = [x for x in data["lists"] if x["proposed_by_rules"] or x.get("previous")]
    if not rows:
        return None
    has_prev = data["transitions"] is not None
    left, right_w, bar_h, top, title_h = 14, 70, 18, 34, 22
    group = title_h + bar_h * (2 if has_prev else 1) + 14
    width = 640
    height = top + len(rows) * group + 18
    ch = _Chart(width, height, "名单拟列入户数（依规则）")
    if has_prev:
        ch.rect(left, 6, 12, 12, "#b8c2cc")
        ch.text(left + 17, 17, "上一周期", "start", 12, "#3e4c59")
        ch.rect(left + 100, 6, 12, 12, "#52606d")
        ch.text(left + 117, 17, "本周期（颜色按名单类别：激励绿、关注橙、惩戒红）", "start", 12, "#3e4c59")
    x0, x1 = left, width - right_w
    peak = _axis(
        ch, x0, x1, top - 6, height - 18, max(max(x["proposed_by_rules"], x.get("previous") or 0) for x in rows)
    )
    for i, x in enumerate(rows):
        y = top + i * group
        ch.text(
            x0 + 4,
            y + 15,
            f"{x['title']}（{x['kind_label']}）" if x["kind_label"] else x["title"],
            "start",
            13,
            "#1f2933",
            "bold",
        )
        y += title_h
        if has_prev:
            w = (x1 - x0) * (x["previous"] or 0) / peak
            ch.rect(x0, y, w, bar_h - 2, "#b8c2cc", f"{x['title']} 上一周期：{x['previous']:,}户")
            ch.text(x0 + w + 6, y + bar_h - 5, f"{x['previous']:,}", "start", 11, "#616e7c")
            y += bar_h
        w = (x1 - x0) * x["proposed_by_rules"] / peak
        ch.rect(
            x0,
            y,
            w,
            bar_h - 2,
            LIST_KIND_COLOURS.get(x["kind"], "#52606d"),
            f"{x['title']} 本周期：{x['proposed_by_rules']:,}户",
        )
        ch.text(x0 + w + 6, y + bar_h - 5, f"{x['proposed_by_rules']:,}", "start", 12, "#1f2933", "bold")
    return ch.as_dict()


# -- rendering ------------------------------------------------------------------------------------------------


def _environment() -> Environment:
    return templating.environment("engine.pipeline", trim=True, keep_trailing_newline=False)


def render_html(data: dict, generated_at: dt.datetime | None = None) -> str:
    """The report page for figures from ``report_data``."""
    colours = tier_colours(data["tier_order"], data["unrated"])
    charts = {
        "tiers": chart_tiers(data, colours),
        "transitions": chart_transitions(data, colours),
        "regions": chart_regions(data, colours),
        "lists": chart_lists(data),
    }
    generated_at = generated_at or dt.datetime.now().astimezone()
    return (
        _environment()
        .get_template("report.html")
        .render(d=data, charts=charts, colours=colours, generated=generated_at.strftime("%Y-%m-%d %H:%M"))
    )


def write_regions_csv(data: dict, path: str | pathlib.Path) -> int:
    """表4 as a spreadsheet (``engine.exports.write_csv``): per region its code, name, entities, expected
    inspections per tier (display order), forced and total; returns the row count."""
    tiers = [t for t in data["tiers"] if t["entities"]]
    header = ["区划代码", "地区", "主体户数", *[f"{t['label']}预计检查" for t in tiers], "必查", "预计检查合计"]
    rows = (
        [
            r["region"] or "",
            r["region_name"],
            r["entities"],
            *[r["tiers"][t["tier"]]["expected"] if t["tier"] in r["tiers"] else 0 for t in tiers],
            r["forced"],
            r["expected"],
        ]
        for r in data["regions"]
    )
    return write_csv(path, header, rows)


def write_report(store: Store, cycle_id: int, out_dir: str | pathlib.Path) -> ReportFiles:
    """Write ``index.html``, ``report.json`` and ``regions.csv`` (表4) for a stored cycle into ``out_dir``
    (created if missing)."""
    data = report_data(store, cycle_id)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html_path, json_path, csv_path = out / "index.html", out / "report.json", out / "regions.csv"
    html_path.write_text(render_html(data), encoding="utf-8")
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    write_regions_csv(data, csv_path)
    return ReportFiles(
        {
            "cycle": cycle_id,
            "html": str(html_path),
            "json": str(json_path),
            "csv": str(csv_path),
            "entities": data["cycle"]["entities"],
            "expected_inspections": data["expected_inspections"],
            "headline": data["headline"],
        }
    )
