"""Plan outputs: the working list export (CSV/XLSX) and the public pages of a plan and its results (一公开)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any

from engine import templating
from engine.errors import PlanError, UsageProblem
from engine.exports import write_csv, write_xlsx
from engine.outpaths import output_dir, output_file
from engine.plans.algorithm import OUTCOME_LABELS
from engine.plans.plan import plan_details
from engine.plans.views import PlanExported, PlanPublished, ResultsPublished
from engine.regions import region_labels
from engine.register.codes import public_party
from engine.store import Store, audit
from engine.store import plans as q

# The working list's columns: (key, header). Headers are Chinese for the clerk; `plan show --json` keeps the keys.
EXPORT_COLUMNS = [
    ("seq", "序号"),
    ("check_id", "检查编号"),
    ("code", "统一社会信用代码/证件号码"),
    ("name", "检查对象"),
    ("region", "行政区划代码"),
    ("region_name", "所在地区"),
    ("tier", "信用风险分类"),
    ("reason", "抽取方式"),
    ("rank_key", "排序值"),
    ("items", "抽查事项"),
    ("inspector_codes", "执法证号"),
    ("inspectors", "执法检查人员"),
    ("departments", "所属部门"),
    ("outcome", "检查结果"),
    ("inspected_on", "检查日期"),
    ("penalty_ref", "处罚决定书文号"),
    ("deadline", "结果公示期限"),
    ("results_published_on", "结果公示日期"),
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
        out.append(
            [
                c["seq"],
                c["check_id"],
                c["code"],
                c["name"],
                c["region"] or "",
                places[c["region"]],
                labels.get(c["tier"], c["tier"]),
                REASON_LABELS.get(c["reason"], c["reason"]),
                c["rank_key"],
                "、".join(i["title"] for i in c["items"]),
                "、".join(i["code"] for i in c["inspectors"]),
                "、".join(i["name"] for i in c["inspectors"]),
                "、".join(dict.fromkeys(i["department"] for i in c["inspectors"])),
                OUTCOME_LABELS.get(r.get("outcome") or "", r.get("outcome") or ""),
                r.get("inspected_on"),
                r.get("penalty_ref") or "",
                r.get("deadline"),
                r.get("published_on"),
                FLAG_LABELS.get(r.get("flag") or "", r.get("flag") or ""),
            ]
        )
    return out


def export_plan(store: Store, plan_id: int, fmt: str, out: str | pathlib.Path) -> dict[str, Any]:
    """Write the internal working list of a plan (unmasked; Chinese headers) as CSV or XLSX."""
    fmt = fmt.lower()
    if fmt not in ("csv", "xlsx"):
        raise UsageProblem(f"--format {fmt} is not supported; use csv or xlsx.")
    details = plan_details(store, plan_id)
    out = output_file(out)
    rows = _export_rows(details)
    header = [h for _key, h in EXPORT_COLUMNS]
    if fmt == "csv":
        write_csv(out, header, rows)
    else:
        write_xlsx(out, header, rows, sheet_title=f"抽查计划{plan_id}")
    return PlanExported({"plan_id": plan_id, "format": fmt, "file": str(out), "checks": len(rows)})


def _public_entity(c: dict[str, Any]) -> tuple[str, str]:
    """The check's party as published: :func:`engine.codes.public_party` (natural persons by entity type,
    个体工商户 operator names)."""
    shown = public_party(c["name"], c["code"], c.get("entity_type"), c.get("legal_rep"))
    return shown["name"], shown["code"]


def _render(template: str, context: dict[str, Any]) -> str:
    """A public page from ``engine/plans/templates`` (plan.html, results.html)."""
    return templating.environment("engine.plans").get_template(template).render(**context)


def _out_dir(out: str | pathlib.Path) -> pathlib.Path:
    return output_dir(out, create=True)  # created in an existing folder only, like every --out


def publish_plan(
    store: Store, plan_id: int, out: str | pathlib.Path, on: dt.date | None = None, actor: str = "cli"
) -> dict[str, Any]:
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
        public.append(
            {
                "seq": c["seq"],
                "name": name,
                "code": code,
                "region": c["region"] or "",
                "region_name": places[c["region"]],
                "item_titles": "、".join(i["title"] for i in c["items"]),
                "inspector_text": "、".join(f"{i['name']}（{i['department']}）" for i in c["inspectors"]),
                "inspectors": [{"name": i["name"], "department": i["department"]} for i in c["inspectors"]],
            }
        )
    labels = details.get("tier_labels") or {}
    tiers = [t | {"label": labels.get(t["tier"], t["tier"])} for t in details["tiers"]]
    totals = {k: sum(t[k] for t in tiers) for k in ("population", "checks", "forced", "sampled")}
    items = [
        {
            "id": i["id"],
            "title": i["title"],
            "department": i.get("department") or "",
            "tiers": "、".join(labels.get(t, t) for t in i.get("tiers") or ()),
        }
        for i in details["items"]
    ]
    context = {
        "title": title,
        "authority": authority,
        "period": details["period"] or "",
        "plan_id": plan_id,
        "published_on": on.isoformat(),
        "seed": details["seed"],
        "algorithm": details["algorithm"],
        "candidates_fingerprint": details["candidates_fingerprint"],
        "inspectors_fingerprint": details["inspectors_fingerprint"],
        "plan_fingerprint": details["plan_fingerprint"],
        "tiers": tiers,
        "totals": totals,
        "items": items,
        "checks": public,
    }
    stem = f"plan-{plan_id}"
    html_path, csv_path, json_path = (folder / f"{stem}.html", folder / f"{stem}.csv", folder / f"{stem}.json")
    html_path.write_text(_render("plan.html", context), encoding="utf-8")
    header = (
        ["序号", "检查对象", "统一社会信用代码/证件号码", "所在地区"]
        + (["抽查事项"] if items else [])
        + ["执法检查人员"]
    )
    write_csv(
        csv_path,
        header,
        [
            [p["seq"], p["name"], p["code"], p["region_name"]]
            + ([p["item_titles"]] if items else [])
            + [p["inspector_text"]]
            for p in public
        ],
    )
    json_path.write_text(
        json.dumps(
            context
            | {
                "strata": details["strata"],
                "checks": [
                    {
                        "seq": p["seq"],
                        "name": p["name"],
                        "code": p["code"],
                        "region": p["region"],
                        "region_name": p["region_name"],
                        "items": p["item_titles"],
                        "inspectors": p["inspectors"],
                    }
                    for p in public
                ],
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    with store.transaction() as conn:
        q.insert_publication(conn, plan_id, "plan", on, str(folder))
        audit(conn, actor, "plan_publish", f"plan:{plan_id}", path=str(folder), checks=len(public))
    return PlanPublished(
        {
            "plan_id": plan_id,
            "published_on": on,
            "checks": len(public),
            "files": [str(html_path), str(csv_path), str(json_path)],
        }
    )


def publish_results(
    store: Store, plan_id: int, out: str | pathlib.Path, on: dt.date | None = None, actor: str = "cli"
) -> dict[str, Any]:
    """Publish the plan's results recorded so far (HTML, CSV, JSON) and record the date."""
    on = on or dt.date.today()
    details = plan_details(store, plan_id, on)
    with_results = [c for c in details["checks"] if c["result"]]
    if not with_results:
        raise PlanError(
            f"Plan {plan_id} has no results to publish; import them with 'supervise plan results import FILE' first."
        )
    folder = _out_dir(out)
    rows = []
    late = []
    for c in with_results:
        name, code = _public_entity(c)
        r = c["result"]
        rows.append(
            {
                "seq": c["seq"],
                "name": name,
                "code": code,
                "inspected_on": r["inspected_on"].isoformat(),
                "outcome": OUTCOME_LABELS.get(r["outcome"], r["outcome"]),
                "penalty_ref": r["penalty_ref"] or "—",
            }
        )
        if r["published_on"] is None and on > r["deadline"]:
            late.append({"seq": c["seq"], "code": c["code"], "deadline": r["deadline"]})
    authority = "、".join(details["authorities"]) or details["authority"] or ""
    title = f"{authority}双随机抽查结果（{details['period'] or ''}）".strip()
    context = {
        "title": title,
        "authority": authority,
        "period": details["period"] or "",
        "plan_id": plan_id,
        "published_on": on.isoformat(),
        "results": rows,
    }
    stem = f"plan-{plan_id}-results"
    html_path, csv_path, json_path = (folder / f"{stem}.html", folder / f"{stem}.csv", folder / f"{stem}.json")
    html_path.write_text(_render("results.html", context), encoding="utf-8")
    write_csv(
        csv_path,
        ["序号", "检查对象", "统一社会信用代码/证件号码", "检查日期", "检查结果", "处罚决定书文号"],
        [[r["seq"], r["name"], r["code"], r["inspected_on"], r["outcome"], r["penalty_ref"]] for r in rows],
    )
    json_path.write_text(json.dumps(context, ensure_ascii=False, indent=2), encoding="utf-8")
    with store.transaction() as conn:
        q.insert_publication(conn, plan_id, "results", on, str(folder))
        audit(
            conn, actor, "plan_results_publish", f"plan:{plan_id}", path=str(folder), results=len(rows), late=len(late)
        )
    return ResultsPublished(
        {
            "plan_id": plan_id,
            "published_on": on,
            "results": len(rows),
            "late": late,
            "files": [str(html_path), str(csv_path), str(json_path)],
        }
    )
