"""Public disclosure: a static site of the entries that may be public on a date.

An entry is published on day D when its list has ``publish: true``, it is listed on D and D is inside its
publication period (listed valid_from <= D < until). Natural persons' names and identity numbers are masked.
The site is an index plus one page per list with a search box (a few lines of inline JavaScript filter the rows
by name, code or decision number; ``?q=`` in the address fills the box on load), and per list CSV and JSON
downloads. Every value goes through Jinja2 autoescaping.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pathlib
import re
from typing import Any

import jinja2

from engine.codes import mask_name, mask_person_id
from engine.errors import ListError
from engine.store import audit
from engine.store import lists as q

from .lifecycle import Entry, jsonable, known_lists, load

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
COLUMNS = ("list", "list_title", "name", "code", "reason", "basis", "authority", "decision_no", "listed_from",
           "published_until")
HEADINGS = {"list": "名单", "list_title": "名单名称", "name": "名称", "code": "统一社会信用代码/身份证号",
            "reason": "列入事由", "basis": "依据", "authority": "认定部门", "decision_no": "决定文号",
            "listed_from": "列入日期", "published_until": "公示截止日"}


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("lists", "templates"),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True)


def public_row(entry: Entry, day: dt.date) -> dict[str, Any]:
    """What the public may see of an entry: masked name and code for natural persons."""
    r = entry.row
    person = r.get("code_kind") == "person"
    until = entry.until_on(day)  # exclusive end; the public sees the last day of publication
    return jsonable({"entry_id": entry.id, "list": entry.list, "list_title": entry.title,
                     "name": mask_name(r["entity_name"]) if person else r["entity_name"],
                     "code": mask_person_id(r["code"]) if person else r["code"],
                     "reason": r["reason"], "basis": r["basis"], "authority": r.get("authority") or "",
                     "decision_no": r.get("decision_no") or "", "listed_from": entry.listed_from,
                     "published_until": until - dt.timedelta(days=1) if until else None})


def published_rows(conn, day: dt.date) -> list[dict[str, Any]]:
    """Every row public on ``day``, ordered by list, listing date and code."""
    entries = load(conn, q.entry_ids(conn, ever="listed", ever_before=day))
    rows = [public_row(e, day) for e in entries if e.published_on(day)]
    return sorted(rows, key=lambda r: (r["list"], r["listed_from"], r["code"], r["entry_id"]))


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([HEADINGS[c] for c in COLUMNS])
    for r in rows:
        writer.writerow([r[c] if r[c] is not None else "" for c in COLUMNS])
    return "\ufeff" + out.getvalue()  # BOM: Excel opens UTF-8 CSV correctly


def publish(conn, out_dir: str | pathlib.Path, day: dt.date, actor: str = "system") -> dict[str, Any]:
    """Write the public site for ``day`` into ``out_dir`` (created if needed; our files are overwritten)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    titles = known_lists(conn)
    rows = published_rows(conn, day)
    public = set()
    for body in q.latest_pack_bodies(conn):
        public |= {n for n, d in ((body.get("version") or {}).get("lists") or {}).items() if (d or {}).get("publish")}
    public |= {r["list"] for r in rows}
    env = _env()
    lists = []
    for name in sorted(public):
        if not SAFE_NAME.fullmatch(name):
            raise ListError(f"List name '{name}' cannot be used as a file name on the public site; rename the list "
                            f"in the policy pack to letters, digits, '-' or '_'.")
        mine = [r for r in rows if r["list"] == name]
        lists.append({"name": name, "title": titles.get(name, name), "count": len(mine), "rows": mine})
    files = []
    context = {"as_of": day.isoformat(), "headings": HEADINGS}

    def write(name: str, text: str) -> None:
        (out / name).write_text(text, encoding="utf-8")
        files.append(name)

    write("index.html", env.get_template("index.html").render(lists=lists, rows=rows, **context))
    for item in lists:
        write(f"{item['name']}.html", env.get_template("list.html").render(item=item, lists=lists, **context))
        write(f"{item['name']}.csv", _csv(item["rows"]))
        write(f"{item['name']}.json", json.dumps({"list": item["name"], "title": item["title"], "as_of": day.isoformat(),
                                                   "count": item["count"], "entries": item["rows"]},
                                                  ensure_ascii=False, indent=2) + "\n")
    audit(conn, actor, "lists_publish", str(out), as_of=day.isoformat(),
          counts={i["name"]: i["count"] for i in lists})
    return {"out": str(out), "as_of": day.isoformat(), "counts": {i["name"]: i["count"] for i in lists},
            "files": files}
