"""Public disclosure: a static site of the entries that may be public on a date, styled as a government
credit-disclosure page.

An entry is published on day D when its list has ``publish: true``, it is listed on D and D is inside its
publication period (listed valid_from <= D < until).

Lists belong to their pack: two packs' ``black`` lists are two lists, so every list has its own folder
``<pack>/<list>/`` with ``index.html`` (rows 1-50), ``page-2.html`` ..., ``entries.csv`` (written through
:func:`engine.exports.write_csv`), ``entries.json`` and ``search.js`` (the list's rows as a script, so the search
box finds rows on every page without a server or a build step: a file:// page may load a script but not fetch
JSON). ``index.html`` at the top links every list with its count and searches all of them.

Every row names its list (名单名称) and the listing authority (认定部门). Every published party goes through
:func:`engine.register.codes.public_party` (natural persons by entity type, 个体工商户 operators); the operator's name itself
is never written. Every value goes through Jinja2 autoescaping (HTML) or JSON encoding (scripts).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import jinja2

from engine import templating
from engine.errors import ListError
from engine.exports import write_csv
from engine.register.codes import ENTITY_TYPE_LABELS, public_party
from engine.store import audit
from engine.store import lists as q
from lists.lifecycle import Entry, basis_text, jsonable, load
from lists.results import PublishedLists

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
PAGE_SIZE = 50
COLUMNS = (
    "list_title",
    "name",
    "code",
    "reason",
    "basis",
    "authority",
    "decision_no",
    "listed_from",
    "published_until",
)
HEADINGS = {
    "list_title": "名单名称",
    "name": "主体名称",
    "code": "统一社会信用代码/证件号码",
    "reason": "列入事由",
    "basis": "列入依据",
    "authority": "认定部门",
    "decision_no": "决定文号",
    "listed_from": "列入日期",
    "published_until": "公示截止日期",
}
# The stored documents that carry an entry's listing decision number, best first: a listing decision (where a pack
# issues one), the pre-listing notice (列入名单告知书: reasons, basis and rights of the listing), the commendation
# of an incentive list, the repair instructions served with the listing (两书同达; the only document of lists
# without an objection window such as 经营异常名录).
LISTING_DOCUMENTS = ("listing_decision", "pre_listing", "commendation", "repair_instructions")
DOCUMENT_TITLES = {
    "listing_decision": "列入决定书",
    "pre_listing": "列入名单告知书",
    "commendation": "守信激励告知书",
    "repair_instructions": "信用修复告知书",
    "penalty": "行政处罚决定书",
    "tax_violation": "税务处理决定书",
    "entry": "列入决定书",
}
NO_END = "至移出之日"  # a list without a maximum period: published until removed
NOT_REQUIRED = "—"  # optional by law: an incentive list's decision number
NOT_RECORDED = "未记载"  # required but nothing stored: counted in the result as ``missing_documents``


def _env() -> jinja2.Environment:
    return templating.environment("lists")


def listing_authority(entry: Entry) -> str:
    """The body that listed the entry: what the entry stored when it was proposed (the pack's list authority),
    else the list's or the pack's authority. The one place to switch to a per-region authority model."""
    return entry.row.get("authority") or entry.list_def.get("authority") or ""


def listing_document(entry: Entry, notices: Sequence[dict[str, Any]]) -> tuple[str, str] | None:
    """(document number, what the document is) of the entry's listing, from what is stored: the entry's own
    ``decision_no``, else its notices issued by the publication date (:data:`LISTING_DOCUMENTS` order), else the
    decisions its basis records name (penalty decision numbers); None when nothing is stored."""
    if entry.row.get("decision_no"):
        return str(entry.row["decision_no"]), DOCUMENT_TITLES["entry"]
    first: dict[str, str] = {}
    for n in notices:
        first.setdefault(n["kind"], n["number"])
    for kind in LISTING_DOCUMENTS:
        if kind in first:
            return first[kind], DOCUMENT_TITLES[kind]
    records = [r for r in entry.data.get("records") or [] if r.get("ref")]
    if records:
        kinds = {r.get("kind") for r in records}
        what = DOCUMENT_TITLES.get(records[0].get("kind"), "决定书") if len(kinds) == 1 else "决定书"
        return "；".join(dict.fromkeys(str(r["ref"]) for r in records)), what
    return None


def public_row(
    entry: Entry, day: dt.date, notices: Sequence[dict[str, Any]] = (), operator: str | None = None
) -> dict[str, Any]:
    """What the public may see of an entry (party masked by :func:`engine.register.codes.public_party`)."""
    r = entry.row
    party = public_party(r["entity_name"], r["code"], r.get("entity_type"), operator)
    until = entry.until_on(day)  # exclusive end; the public sees the last day of publication
    doc = listing_document(entry, notices)
    incentive = entry.list_def.get("kind") == "incentive"
    return jsonable(
        {
            "entry_id": entry.id,
            "pack": r["pack_id"],
            "list": entry.list,
            "list_title": entry.title,
            "name": party["name"],
            "code": party["code"],
            "entity_type": ENTITY_TYPE_LABELS.get(r.get("entity_type") or "", "其他组织"),
            "reason": r["reason"] or NOT_RECORDED,
            "basis": r["basis"] or NOT_RECORDED,
            "authority": listing_authority(entry) or NOT_RECORDED,
            "decision_no": doc[0] if doc else (NOT_REQUIRED if incentive else NOT_RECORDED),
            "decision_doc": doc[1] if doc else "",
            "listed_from": entry.listed_from,
            "published_until": until - dt.timedelta(days=1) if until else NO_END,
        }
    )


def published_rows(conn, day: dt.date) -> list[dict[str, Any]]:
    """Every row public on ``day``, ordered by pack, list, listing date and code."""
    entries = [e for e in load(conn, q.entry_ids(conn, ever="listed", ever_before=day)) if e.published_on(day)]
    ids = [e.id for e in entries]
    notices: dict[int, list[dict[str, Any]]] = {}
    for n in q.notices_for(conn, ids):  # ordered by issued_on, id
        if n["issued_on"] <= day:
            notices.setdefault(n["entry_id"], []).append(n)
    operators = q.operators(conn, {e.row["entity_id"] for e in entries})
    rows = [public_row(e, day, notices.get(e.id, ()), operators.get(e.row["entity_id"])) for e in entries]
    return sorted(rows, key=lambda r: (r["pack"], r["list"], r["listed_from"], r["code"], r["entry_id"]))


def _safe(name: str, what: str) -> str:
    if not SAFE_NAME.fullmatch(name or ""):
        raise ListError(
            f"{what} '{name}' cannot be used as a folder name on the public site; rename it in the "
            f"policy pack to letters, digits, '-' or '_'."
        )
    return name


def _catalogue(conn, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every published list (``publish: true`` in a pack's newest version, or with rows today) with its pack,
    title, authority, jurisdiction and legal bases, ordered by pack and list."""
    found: dict[tuple[str | None, str], dict[str, Any]] = {}
    for body in q.latest_pack_bodies(conn):
        pack, version = body.get("pack") or {}, body.get("version") or {}
        rules = version.get("list_rules") or []
        for name, ldef in (version.get("lists") or {}).items():
            ldef = ldef or {}
            if not ldef.get("publish"):
                continue
            bases = [basis_text(version, r.get("basis")) for r in rules if r.get("list") == name and r.get("basis")]
            found[(pack.get("id"), name)] = {
                "pack": pack.get("id"),
                "name": name,
                "title": ldef.get("title") or name,
                "pack_title": pack.get("title") or pack.get("id"),
                "kind": ldef.get("kind") or "",
                "authority": ldef.get("authority") or pack.get("authority") or "",
                "jurisdiction": pack.get("jurisdiction") or "",
                "bases": [b for b in bases if b],
            }
    for r in rows:
        item = found.setdefault(
            (r["pack"], r["list"]),
            {
                "pack": r["pack"],
                "name": r["list"],
                "title": r["list_title"],
                "pack_title": r["pack"],
                "kind": "",
                "authority": r["authority"],
                "jurisdiction": "",
                "bases": [],
            },
        )
        if item.setdefault("row_bases", []).count(r["basis"]) == 0 and r["basis"]:
            item["row_bases"].append(r["basis"])
    lists = []
    for key in sorted(found):
        item = found[key]
        _safe(item["pack"], "Pack id")
        _safe(item["name"], f"List name of pack {item['pack']}")
        mine = [r for r in rows if (r["pack"], r["list"]) == key]
        # The page's issuing bodies: every authority its rows name (a pack with per-region authorities lists
        # through each city's own), the list's or pack's authority first; without rows the list's or pack's.
        named = list(dict.fromkeys(r["authority"] for r in mine if r["authority"] != NOT_RECORDED))
        named.sort(key=lambda a: a != item["authority"])
        authorities = named or ([item["authority"]] if item["authority"] else [])
        item["bases"] = item.pop("row_bases", None) or item["bases"]  # as stored with the entries, else the rules'
        item.update(
            rows=mine,
            count=len(mine),
            authorities=authorities,
            dir=f"{item['pack']}/{item['name']}",
            pages=max(1, -(-len(mine) // PAGE_SIZE)),
        )
        lists.append(item)
    return lists


def page_name(number: int) -> str:
    return "index.html" if number == 1 else f"page-{number}.html"


def _search_script(item: dict[str, Any]) -> str:
    """The list's rows for the search box: masked like the pages, each with the page it is on."""
    fields = ("entry_id", *COLUMNS, "decision_doc")
    rows = [{**{k: r[k] for k in fields}, "page": page_name(i // PAGE_SIZE + 1)} for i, r in enumerate(item["rows"])]
    data = {"dir": item["dir"], "title": item["title"], "authority": "、".join(item["authorities"]), "rows": rows}
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return "// 名单检索数据（自动生成）\n(window.SITE_LISTS = window.SITE_LISTS || []).push(" + text + ");\n"


def publish(conn, out_dir: str | pathlib.Path, day: dt.date, actor: str = "system") -> PublishedLists:
    """Write the public site for ``day`` into ``out_dir`` (created if needed; our files are overwritten, pages
    beyond the list's last page removed)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = published_rows(conn, day)
    lists = _catalogue(conn, rows)
    env = _env()
    files: list[str] = []
    jurisdiction = next((i["jurisdiction"] for i in lists if i["jurisdiction"]), "")
    context = {
        "as_of": day.isoformat(),
        "headings": HEADINGS,
        "columns": COLUMNS,
        "lists": lists,
        "jurisdiction": jurisdiction,
        "page_size": PAGE_SIZE,
        "page_name": page_name,
    }

    def write(name: str, text: str) -> None:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        files.append(name)

    write("index.html", env.get_template("index.html").render(root="", **context))
    page_tpl = env.get_template("list.html")
    for item in lists:
        folder = out / item["dir"]
        folder.mkdir(parents=True, exist_ok=True)
        keep = {page_name(n) for n in range(1, item["pages"] + 1)}
        for old in folder.glob("page-*.html"):
            if old.name not in keep:
                old.unlink()
        for number in range(1, item["pages"] + 1):
            start = (number - 1) * PAGE_SIZE
            write(
                f"{item['dir']}/{page_name(number)}",
                page_tpl.render(
                    root="../../",
                    item=item,
                    page=number,
                    start=start,
                    rows=item["rows"][start : start + PAGE_SIZE],
                    **context,
                ),
            )
        write_csv(
            folder / "entries.csv",
            ["序号", *(HEADINGS[c] for c in COLUMNS)],
            ([i, *(r[c] for c in COLUMNS)] for i, r in enumerate(item["rows"], 1)),
        )
        files.append(f"{item['dir']}/entries.csv")
        write(
            f"{item['dir']}/entries.json",
            json.dumps(
                {
                    "pack": item["pack"],
                    "list": item["name"],
                    "title": item["title"],
                    "authority": item["authorities"],
                    "basis": item["bases"],
                    "as_of": day.isoformat(),
                    "count": item["count"],
                    "entries": [{k: v for k, v in r.items()} for r in item["rows"]],
                },
                ensure_ascii=False,
                indent=2,
            )
            + "\n",
        )
        write(f"{item['dir']}/search.js", _search_script(item))
    counts = {i["dir"]: i["count"] for i in lists}
    missing = [r["entry_id"] for r in rows if r["decision_no"] == NOT_RECORDED]
    audit(conn, actor, "lists_publish", str(out), as_of=day.isoformat(), counts=counts, missing_documents=missing)
    return PublishedLists(out=str(out), as_of=day.isoformat(), counts=counts, files=files, missing_documents=missing)
