"""A small demo prints only paths that exist, and nothing it writes shows a Python repr, a bare field name, None
or template braces."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
# What a recipient must never read: Python reprs, None, template braces, an enumeration of field names.
BAD = re.compile(r"\('|\['|>None<|：None|,None,|\{\{|\}\}|（[一二三四五六七八九十]+）[a-z_]+[；。]")
IDENT = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")  # snake_case: a rule id, fact or code in text for the party
PATH = re.compile(r"(?<![\w/])(/[^\s,;:'()（）]+)")


def scan(out: pathlib.Path, printed: str) -> list[str]:
    """Problems: printed paths under ``out`` that do not exist, and files with a suspicious pattern."""
    problems = []
    paths = [p.rstrip(".") for p in PATH.findall(printed) if p.startswith(str(out))]
    assert paths, f"the demo printed no path under {out}:\n{printed}"
    for p in paths:
        if not pathlib.Path(p).exists():
            problems.append(f"printed but missing: {p}")
    checked = 0
    for f in sorted(out.rglob("*")):
        if f.suffix not in (".txt", ".html", ".csv") or not f.is_file():
            continue
        checked += 1
        text = f.read_text(encoding="utf-8-sig", errors="replace")
        found = BAD.search(text) or (f.suffix == ".txt" and "notices" in f.parts and IDENT.search(text))
        if found:
            problems.append(f"{f}: '{text[max(0, found.start() - 30) : found.end() + 30]}'")
    assert checked > 50, f"only {checked} files written"
    return problems


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("demo")
    out = work / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli import cli; cli()",
            "--db",
            f"sqlite:///{work / 'demo.db'}",
            "demo",
            "--entities",
            "300",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    return out, done


def test_small_demo_prints_existing_paths_and_writes_no_repr(small_demo):
    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    problems = scan(out, done.stdout)
    assert not problems, "\n".join(problems[:20])


def test_small_demo_fails_only_with_a_clear_message(small_demo):
    """Until then the demo stops at the inspection notices, naming template, line and the key name."""
    out, done = small_demo
    if done.returncode == 0:
        return
    assert "inspection.txt" in done.stderr and "line " in done.stderr and "bare key name" in done.stderr


def test_scan_finds_what_it_looks_for(tmp_path):
    out = tmp_path / "out"
    (out / "notices" / "x").mkdir(parents=True)
    for i in range(60):
        (out / f"f{i}.csv").write_text("甲,乙\n", encoding="utf-8")
    (out / "notices" / "x" / "a.txt").write_text("一、检查事项：（一）items；（二）region。\n", encoding="utf-8")
    (out / "notices" / "x" / "b.txt").write_text("依据 d_direct 规则\n", encoding="utf-8")
    (out / "b.html").write_text("<td>None</td><p>{{ x }}</p>", encoding="utf-8")
    problems = scan(out, f"written to {out / 'f1.csv'} and {out / 'missing' / 'index.html'}")
    assert any("printed but missing" in p and "missing/index.html" in p for p in problems)
    assert sum(1 for p in problems if "a.txt" in p or "b.txt" in p or "b.html" in p) == 3


# -- what the final reader found: region names, per-city authorities, dates the public and the clerk agree on ----

CITY_OF_PREFIX = {"3501": "福州", "3502": "厦门", "3505": "泉州"}


def _csv(path: pathlib.Path) -> list[list[str]]:
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def _supervise(out: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from cli import cli; cli()", "--db", f"sqlite:///{out.parent / 'demo.db'}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_public_plan_names_regions_and_leaves_no_cell_empty(small_demo):
    from engine.regions import region_labels

    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    page = (out / "plan" / "plan-1.html").read_text(encoding="utf-8")
    table = _csv(out / "plan" / "plan-1.csv")
    assert table[0][3] == "所在地区" and "行政区划代码" not in page
    data = json.loads((out / "plan" / "plan-1.json").read_text(encoding="utf-8"))
    names = region_labels({c["region"] for c in data["checks"]})
    for row, check in zip(table[1:], data["checks"]):
        assert row[3] == names[check["region"]] == check["region_name"] and not re.search(r"\d{6}", row[3])
        assert f"<td>{row[3]}</td>" in page
    assert any(r[3].startswith(("福州市", "厦门市")) for r in table[1:])
    assert "<td></td>" not in page, "an empty cell on the public plan"
    title = re.search(r"<title>(.*?)</title>", page).group(1)
    assert (
        title.startswith("泉州市市场监督管理局、")
        and "福州市市场监督管理局" in title
        and "厦门市市场监督管理局" in title
    )
    results = _csv(out / "plan" / "plan-1-results.csv")
    assert results[1:] and all(all(cell.strip() for cell in r) for r in results[1:])
    internal = _csv(out / "plan-internal" / "plan-1.csv")
    at = internal[0].index("所在地区")
    assert internal[0][at - 1] == "行政区划代码" and all(r[at] == names[r[at - 1]] for r in internal[1:])


def test_site_list_pages_name_every_city_authority_of_their_rows(small_demo):
    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    checked = 0
    for path in sorted((out / "site").glob("*/*/entries.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        by_row = [e["authority"] for e in data["entries"]]
        for e in data["entries"]:
            city = CITY_OF_PREFIX.get(e["code"][2:6]) or CITY_OF_PREFIX.get(e["code"][:4])
            assert city and city in e["authority"], (path, e["code"], e["authority"])
        assert set(data["authority"]) == set(by_row) or not by_row
        page = (path.parent / "index.html").read_text(encoding="utf-8")
        sub = re.search(r'<div class="sub">认定部门：([^　]*)　', page).group(1)
        title = re.search(r"<title>(.*?)</title>", page).group(1)
        for authority in set(by_row):
            assert authority in sub and authority in title, (path, authority)
        checked += len(set(by_row)) > 1
    assert checked, "no published list with rows of several cities"
    index = (out / "site" / "index.html").read_text(encoding="utf-8")
    assert "福州市" in index and "厦门市" in index


def test_lists_show_and_history_agree_with_the_notice_and_the_site(small_demo):
    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    # A published row whose pre-listing notice the demo wrote (the previous year's notices are stored, not written).
    found = []
    for path in sorted((out / "site").glob("*/*/entries.json")):
        for e in json.loads(path.read_text(encoding="utf-8"))["entries"]:
            notice = out / "notices" / e["pack"] / f"{e['decision_no']}.txt"
            if e["decision_doc"] == "列入名单告知书" and notice.exists():
                found.append((e, notice))
    assert found, "no published row with its pre-listing notice written"
    row, notice = found[0]
    history = _supervise(out, "lists", "history", row["code"])
    assert history.returncode == 0, history.stderr
    story = history.stdout[history.stdout.index(f"Entry {row['entry_id']} ") :]
    assert f"published through {row['published_until']}" in story, history.stdout
    deadline = re.search(r"objections until (\d{4}-\d{2}-\d{2})", story).group(1)
    y, m, d = (int(x) for x in deadline.split("-"))
    assert f"至{y}年{m}月{d}日止" in notice.read_text(encoding="utf-8")
    shown = _supervise(out, "lists", "show", row["list"], "--as-of", row["listed_from"], "--json")
    assert shown.returncode == 0, shown.stderr
    mine = next(e for e in json.loads(shown.stdout)["entries"] if e["id"] == row["entry_id"])
    assert mine["objection_deadline"] == deadline
    text = _supervise(out, "lists", "show", row["list"], "--as-of", row["listed_from"]).stdout
    assert f"{row['listed_from']} .. {row['published_until']}" in text


def test_lists_show_titles_a_list_name_shared_by_packs_with_every_title(small_demo):
    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    published = [json.loads(p.read_text(encoding="utf-8")) for p in (out / "site").glob("*/black/entries.json")]
    titles = {d["title"] for d in published if d["entries"]}  # the lists with entries: an empty one has no rows
    assert len(titles) > 1
    shown = _supervise(out, "lists", "show", "black", "--state", "all", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert all(t in data["title"] for t in titles) and {e["list_title"] for e in data["entries"]} <= titles


def test_site_header_and_report_name_the_demo_cities_and_the_pack_in_chinese(small_demo):
    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    index = (out / "site" / "index.html").read_text(encoding="utf-8")
    assert '<div class="site">泉州市、福州市、厦门市信用信息公示</div>' in index
    report = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert "<dt>政策包</dt><dd>纳税缴费信用评价（tax-credit）</dd>" in report
    assert "评价基准日2026年4月30日 · 泉州市、福州市、厦门市" in report


def test_lists_show_names_the_pack_of_a_list_name_several_packs_use(small_demo):
    """`black` is a list of tax-credit, market-credit-risk and epidemic-conduct: the title never names another
    pack's list alone, and PACK/LIST shows one pack's entries under its own title."""
    import json

    out, done = small_demo
    assert done.returncode == 0, done.stderr[-2000:]
    db = f"sqlite:///{out.parent / 'demo.db'}"

    def show(name):
        r = subprocess.run(
            [
                sys.executable,
                "-c",
                "from cli import cli; cli()",
                "--db",
                db,
                "--json",
                "lists",
                "show",
                name,
                "--as-of",
                "2026-06-14",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    both = show("black")
    packs = {e["pack_id"] for e in both["entries"]}
    assert len(packs) > 1, packs
    tax = show("tax-credit/black")
    assert tax["title"] == "重大税收违法失信主体名单"
    assert tax["entries"] and {e["pack_id"] for e in tax["entries"]} == {"tax-credit"}
    assert all(f"（{p}）" in both["title"] for p in packs) and tax["title"] in both["title"]
    assert len(tax["entries"]) < len(both["entries"])


def test_demo_people_sign_a_two_step_decision_and_can_log_in(small_demo):
    """The demo's users exist with the printed password; its two-step revocation's removal decision names the
    clerk (初审) and the reviewer (审核), and the history carries both names."""
    import sqlalchemy as sa

    from engine.access import users
    from engine.pipeline.demo_people import DEMO_PASSWORD, DEMO_USERS
    from engine.store import Store, schema

    out, done = small_demo
    assert done.returncode == 0, done.stderr
    assert f"users (password {DEMO_PASSWORD})" in done.stdout
    store = Store(f"sqlite:///{out.parent / 'demo.db'}")
    with store.transaction() as conn:
        assert users.authenticate(conn, "admin", DEMO_PASSWORD).role == "admin"
        for name, office, role in DEMO_USERS:
            user = users.authenticate(conn, name, DEMO_PASSWORD)
            assert (user.role, user.authority.id if user.authority else None) == (role, office)
        review = conn.execute(
            sa.select(schema.proposals.c.entry_id, schema.proposal_reviews.c.reviewed_by).join(
                schema.proposal_reviews, schema.proposal_reviews.c.proposal_id == schema.proposals.c.id
            )
        ).first()
    assert review is not None and review.reviewed_by == "李审核"
    removal = [
        f
        for f in (out / "notices" / "market-credit-risk").glob("*移出*.txt")
        if "初审：张经办（2026年6月14日）　审核：李审核（2026年6月14日）" in f.read_text(encoding="utf-8")
    ]
    assert len(removal) == 1, "the two-step removal decision names both, and no other notice does"
