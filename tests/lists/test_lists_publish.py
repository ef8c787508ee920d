"""Public disclosure site: a page per list of each pack, what is published on a date, the listing document number,
masking of natural persons and 个体工商户 operators read from the written files, escaping, CSV formula
neutralisation, pagination, and search and pagination in a real Chromium (screenshot checked)."""

from __future__ import annotations

import csv
import datetime as dt
import html.parser
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest
import sqlalchemy as sa

from engine.store import now, schema
from lists import lifecycle as L
from lists.publish import PAGE_SIZE, publish, published_rows
from tests.builders_lists import add_cycle, add_entity, pack_body, scenario

D = dt.date
REQUIRE_BROWSER = os.environ.get("REQUIRE_PG") == "1"  # CI installs chromium (make deps)
CHROMIUM = "/usr/bin/chromium"


def run(store, func, *args, **kwargs):
    with store.transaction() as conn:
        return func(conn, *args, **kwargs)


def party(conn, code: str, name: str, entity_type: str, legal_rep: str | None = None, code_kind: str = "uscc") -> int:
    stamp = now()
    return conn.execute(
        sa.insert(schema.entities)
        .values(
            code=code,
            code_kind=code_kind,
            name=name,
            entity_type=entity_type,
            region="350100",
            legal_rep=legal_rep,
            created_at=stamp,
            updated_at=stamp,
        )
        .returning(schema.entities.c.id)
    ).scalar_one()


def tax_body() -> dict:
    """A second pack with its own 'black' list (another title, another authority)."""
    body = pack_body()
    body["pack"] = {
        "id": "tax-credit",
        "title": "纳税缴费信用评价",
        "authority": "国家税务总局泉州市税务局",
        "authority_short": "泉税",
        "document_prefix": "泉税信",
        "jurisdiction": "泉州市",
    }
    body["version"]["lists"] = {
        "black": {
            **body["version"]["lists"]["black"],
            "title": "重大税收违法失信主体名单",
            "authority": "国家税务总局泉州市税务局",
        }
    }
    return body


def site(store, factory, tmp_path, day=D(2026, 6, 1)):  # noqa: B008 (a date is immutable)
    """Market pack: black entries for two companies (one with markup in its name, one whose name is a formula),
    red for a natural person, an unpublished watch entry, a black entry still in its objection window. Tax pack:
    a black entry of the same list id."""
    s = scenario(store, factory, lists=("black", "black", "watch", "red"))
    with store.transaction() as conn:
        evil = add_entity(conn, factory.uscc(), '<script>alert("x")</script>恶意&公司')
        formula = add_entity(conn, factory.uscc(), '=HYPERLINK("http://x","点我")')
        pending = add_entity(conn, factory.uscc(), "窗口期内有限公司")
        taxed = add_entity(conn, factory.uscc(), "泉州偷税贸易有限公司")
        c1 = add_cycle(conn, D(2026, 4, 30), [(evil, ["black"]), (formula, ["black"])])
        c2 = add_cycle(conn, D(2026, 5, 20), [(pending, ["black"])])
        c3 = add_cycle(conn, D(2026, 4, 30), [(taxed, ["black"])], body=tax_body())
    for cycle in (s["cycle"], c1, c3):
        run(store, L.propose_from_cycle, cycle, None, "t")
        run(store, L.serve, D(2026, 5, 6), "t", cycle_id=cycle)
    run(store, L.propose_from_cycle, c2, None, "t")
    run(store, L.serve, D(2026, 5, 25), "t", cycle_id=c2)
    run(store, L.advance, day)
    out = tmp_path / "site"
    result = run(store, publish, out, day)
    return s, out, result


def files(out: pathlib.Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def read_csv(path: pathlib.Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


class Cells(html.parser.HTMLParser):
    """Rows of a page: data-entry ids, hidden flags and each row's cell texts."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self.cell: list[str] | None = None
        self.links: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-entry" in a:
            self.rows.append({"entry": a["data-entry"], "hidden": "hidden" in a, "cells": []})
        elif tag == "td" and self.rows and self.cell is None:
            self.cell = []
        elif tag == "a" and "href" in a:
            self.links.append(a["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.rows[-1]["cells"].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)
        if self._in_title:
            self.title += data


def parse(text: str) -> Cells:
    p = Cells()
    p.feed(text)
    return p


def test_each_pack_list_has_its_own_pages_titled_with_its_name_and_authority(store, factory, tmp_path):
    s, out, result = site(store, factory, tmp_path)
    assert result.counts == {"samr-credit/black": 4, "samr-credit/red": 1, "tax-credit/black": 1}
    assert files(out) == ["index.html"] + [
        f"{d}/{f}"
        for d in ("samr-credit/black", "samr-credit/red", "tax-credit/black")
        for f in ("entries.csv", "entries.json", "index.html", "search.js")
    ]
    market = (out / "samr-credit/black/index.html").read_text(encoding="utf-8")
    tax = (out / "tax-credit/black/index.html").read_text(encoding="utf-8")
    assert parse(market).title.startswith("严重违法失信名单 - 泉州市市场监督管理局")
    assert parse(tax).title.startswith("重大税收违法失信主体名单 - 国家税务总局泉州市税务局")
    assert "泉州偷税贸易有限公司" in tax and "泉州偷税贸易有限公司" not in market
    # every row names its list and the listing authority
    for page, title, authority in (
        (market, "严重违法失信名单", "泉州市市场监督管理局"),
        (tax, "重大税收违法失信主体名单", "国家税务总局泉州市税务局"),
    ):
        rows = parse(page).rows
        assert rows and all(r["cells"][1] == title and r["cells"][6] == authority for r in rows)
    index = (out / "index.html").read_text(encoding="utf-8")
    listed = {r.split("/index.html")[0] for r in parse(index).links if r.endswith("/index.html")}
    assert {"samr-credit/black", "samr-credit/red", "tax-credit/black"} <= listed
    assert '<td class="num count">4 条</td>' in index and '<td class="num count">1 条</td>' in index
    assert "watch" not in index and "重点关注名单" not in index
    with store.read() as conn:
        assert [r["list"] for r in published_rows(conn, D(2026, 5, 21))] == ["red"]  # black windows still running
        assert len(published_rows(conn, D(2026, 5, 22))) == 6
        assert [r["list"] for r in published_rows(conn, D(2027, 4, 30))] == [
            "black"
        ] * 5  # red period ended (the pending one not yet advanced)
        assert published_rows(conn, D(2029, 5, 22)) == []  # black period ended (36 months), advance or not
        audit = (
            conn.execute(sa.select(schema.audit_log).where(schema.audit_log.c.action == "lists_publish"))
            .mappings()
            .one()
        )
    assert audit["detail"]["counts"] == result.counts


def test_decision_number_is_the_stored_listing_document_and_no_cell_is_empty(store, factory, tmp_path):
    _, out, result = site(store, factory, tmp_path)
    with store.read() as conn:
        N, LE = schema.notices, schema.list_entries
        pre = dict(conn.execute(sa.select(N.c.entry_id, N.c.number).where(N.c.kind == "pre_listing")).all())
        red = conn.execute(sa.select(LE.c.id).where(LE.c.list == "red")).scalar_one()
    data = json.loads((out / "samr-credit/black/entries.json").read_text(encoding="utf-8"))
    assert len(data["entries"]) == 4
    for row in data["entries"]:
        assert row["decision_no"] == pre[row["entry_id"]] and row["decision_doc"] == "列入名单告知书"
        assert row["decision_no"].startswith("泉市监信告知〔2026〕")
    tax = json.loads((out / "tax-credit/black/entries.json").read_text(encoding="utf-8"))["entries"]
    assert tax[0]["decision_no"].startswith("泉税信告知〔2026〕") and tax[0]["authority"] == "国家税务总局泉州市税务局"
    (red_row,) = json.loads((out / "samr-credit/red/entries.json").read_text(encoding="utf-8"))["entries"]
    assert red_row["entry_id"] == red and red_row["decision_no"] == "—"  # an incentive list: optional, none issued
    assert result.missing_documents == []
    for name in files(out):
        if name.endswith(".html"):
            for row in parse((out / name).read_text(encoding="utf-8")).rows:
                assert all(row["cells"]) and "None" not in row["cells"], (name, row)
        elif name.endswith(".csv"):
            for row in read_csv(out / name):
                assert all(v.strip() for v in row.values()) and "None" not in row.values(), (name, row)


def test_listing_document_falls_back_to_the_stored_basis_records(store, factory, tmp_path):
    """A sanction list without an objection window is listed at once, before any notice: the number is the
    penalty decision its basis records name; with none stored at all the cell says so and the result counts it."""
    body = pack_body(black={"objection_days": 0})
    s = scenario(store, factory, lists=("black",), body=body)
    with store.transaction() as conn:
        bare = add_entity(conn, factory.uscc(), "无记录有限公司")
        c2 = add_cycle(conn, D(2026, 4, 30), [(bare, ["black"])], body=body)
    run(store, L.propose_from_cycle, s["cycle"], None, "t")
    run(store, L.propose_from_cycle, c2, None, "t")
    result = run(store, publish, tmp_path / "site", D(2026, 5, 1))
    rows = {r["主体名称"]: r for r in read_csv(tmp_path / "site/samr-credit/black/entries.csv")}
    assert rows["泉州甲0食品有限公司"]["决定文号"] == "泉市监罚〔2026〕100号"
    assert rows["无记录有限公司"]["决定文号"] == "未记载"
    assert len(result.missing_documents) == 1


def test_natural_persons_and_operators_are_masked_in_every_written_file(store, factory, tmp_path):
    """A natural person whose code is not an identity number (masked by entity type) and a 个体工商户 registered
    under its operator's name: neither the names nor the person's code appear in any file of the site."""
    day = D(2026, 6, 1)
    person_code = "E1234567890123"  # a passport-like number, not a valid identity number
    with store.transaction() as conn:
        person = party(conn, person_code, "欧阳娜娜", "natural_person", code_kind="uscc")
        shop_code = factory.uscc("92")
        shop = party(conn, shop_code, "丰泽区司马光明", "individual_business", legal_rep="司马光明")
        rep = party(conn, factory.uscc(), "泉州公孙胜有限公司", "enterprise", legal_rep="端木赐")
        cycle = add_cycle(conn, D(2026, 4, 30), [(person, ["red"]), (shop, ["black"]), (rep, ["black"])])
    run(store, L.propose_from_cycle, cycle, None, "t")
    run(store, L.serve, D(2026, 5, 6), "t", cycle_id=cycle)
    run(store, L.advance, day)
    out = tmp_path / "site"
    result = run(store, publish, out, day)
    assert result.counts == {"samr-credit/black": 2, "samr-credit/red": 1}
    written = files(out)
    assert {n.rsplit(".", 1)[1] for n in written} == {"html", "csv", "json", "js"}
    for name in written:
        text = (out / name).read_text(encoding="utf-8")
        for secret in ("欧阳娜娜", "娜娜", person_code, "司马光明", "端木赐"):
            assert secret not in text, (name, secret)
    (red,) = json.loads((out / "samr-credit/red/entries.json").read_text(encoding="utf-8"))["entries"]
    assert red["name"] == "欧***" and red["code"] == "E123********23" and red["entity_type"] == "自然人"
    black = {
        r["entry_id"]: r for r in json.loads((out / "samr-credit/black/entries.json").read_text("utf-8"))["entries"]
    }
    assert sorted(r["name"] for r in black.values()) == ["丰泽区司***", "泉州公孙胜有限公司"]
    assert shop_code in (out / "samr-credit/black/index.html").read_text(encoding="utf-8")  # a USCC stays public


def test_values_are_escaped_and_csv_formulas_neutralised(store, factory, tmp_path):
    _, out, _ = site(store, factory, tmp_path)
    page = (out / "samr-credit/black/index.html").read_text(encoding="utf-8")
    assert '<script>alert("x")' not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;恶意&amp;公司" in page
    script = (out / "samr-credit/black/search.js").read_text(encoding="utf-8")
    assert "</script>" not in script and "<\\/script>" in script
    rows = read_csv(out / "samr-credit/black/entries.csv")
    names = [r["主体名称"] for r in rows]
    assert '<script>alert("x")</script>恶意&公司' in names
    assert '\'=HYPERLINK("http://x","点我")' in names  # neutralised: a spreadsheet shows it as text
    assert [r["序号"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["列入日期"] == "2026-05-22" and rows[0]["公示截止日期"] == "2029-05-21"
    assert rows[0]["名单名称"] == "严重违法失信名单" and rows[0]["认定部门"] == "泉州市市场监督管理局"
    assert rows[0]["列入依据"].startswith("市场监督管理严重违法失信名单管理办法")
    data = json.loads((out / "samr-credit/black/entries.json").read_text(encoding="utf-8"))
    assert data["count"] == 4 and data["as_of"] == "2026-06-01" and data["authority"] == ["泉州市市场监督管理局"]


def many(store, factory, n: int, day: dt.date = D(2026, 5, 1)) -> list[int]:  # noqa: B008 (a date is immutable)
    """``n`` companies on a red list (no objection window: listed at once)."""
    with store.transaction() as conn:
        ids = [add_entity(conn, factory.uscc(), f"泉州第{i:03d}号贸易有限公司") for i in range(1, n + 1)]
        cycle = add_cycle(conn, D(2026, 4, 30), [(i, ["red"]) for i in ids])
    run(store, L.propose_from_cycle, cycle, None, "t")
    return ids


def test_pages_of_fifty_rows_and_stale_pages_removed(sqlite_store, factory, tmp_path):
    many(sqlite_store, factory, 2 * PAGE_SIZE + 20)
    out = tmp_path / "site"
    run(sqlite_store, publish, out, D(2026, 5, 1))
    folder = out / "samr-credit/red"
    assert sorted(p.name for p in folder.glob("*.html")) == ["index.html", "page-2.html", "page-3.html"]
    pages = [parse((folder / n).read_text(encoding="utf-8")) for n in ("index.html", "page-2.html", "page-3.html")]
    assert [len(p.rows) for p in pages] == [PAGE_SIZE, PAGE_SIZE, 20]
    assert pages[2].rows[0]["cells"][0] == str(2 * PAGE_SIZE + 1)
    assert "page-2.html" in pages[0].links and "page-3.html" in pages[0].links and "index.html" in pages[1].links
    assert "第 3/3 页" in (folder / "page-3.html").read_text(encoding="utf-8")
    (folder / "page-9.html").write_text("stale", encoding="utf-8")
    with sqlite_store.transaction() as conn:  # after the red period no row is left: one empty page
        publish(conn, out, D(2027, 6, 1))
    assert sorted(p.name for p in folder.glob("*.html")) == ["index.html"]
    assert "暂无公示信息" in (folder / "index.html").read_text(encoding="utf-8")


# -- in a real browser ----------------------------------------------------------------------------------------


def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        path = shutil.which("chromium")
        if path is None:
            if REQUIRE_BROWSER:
                pytest.fail(f"REQUIRE_PG=1 (CI) but {CHROMIUM} is missing; run 'make deps' (apt-get install chromium)")
            pytest.skip("chromium is not installed (apt-get install chromium)")
        return path
    return CHROMIUM


def browse(binary: str, url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def shown(dom: str) -> list[tuple[str, list[str]]]:
    """(entry id, cells) of the rows a browser shows: rows of a hidden tbody or hidden rows are not shown."""

    class Visible(Cells):
        def __init__(self):
            super().__init__()
            self.body_hidden = False

        def handle_starttag(self, tag, attrs):
            if tag == "tbody":
                self.body_hidden = "hidden" in dict(attrs)
            if tag == "tr" and "data-entry" in dict(attrs) and self.body_hidden:
                self.rows.append({"entry": None, "hidden": True, "cells": []})
                return
            super().handle_starttag(tag, attrs)

    p = Visible()
    p.feed(dom)
    return [(r["entry"], r["cells"]) for r in p.rows if r["entry"] and not r["hidden"]]


@pytest.mark.chromium
def test_search_pagination_and_screenshot_in_chromium(sqlite_store, factory, tmp_path):
    binary = chromium()
    many(sqlite_store, factory, 2 * PAGE_SIZE + 20)
    s, out, _ = site(sqlite_store, factory, tmp_path, day=D(2026, 6, 1))
    red = out / "samr-credit/red"

    def visible(page: pathlib.Path, query: str = "") -> list[tuple[str, list[str]]]:
        return shown(browse(binary, page.as_uri() + (f"?q={query}" if query else ""), "--dump-dom"))

    first = visible(red / "index.html")
    assert len(first) == PAGE_SIZE and first[0][1][0] == "1"
    # search on page 1 finds a row that lives on page 3, by name and by code (case-insensitive)
    hit = visible(red / "index.html", "第118号")
    assert [c[2] for _, c in hit] == ["泉州第118号贸易有限公司"]
    code = hit[0][1][3]
    assert [c[2] for _, c in visible(red / "index.html", code.lower())] == ["泉州第118号贸易有限公司"]
    assert visible(red / "index.html", "不存在的公司") == []
    # the result links to the page the row is on
    dom = browse(binary, (red / "index.html").as_uri() + "?q=第118号", "--dump-dom")
    link = next(h for h in parse(dom).links if "#e" in h)
    assert link.startswith("page-3.html#e")
    third = visible(red / link.split("#")[0])
    assert len(third) == 21 and link.split("#e")[1] in {e for e, _ in third}  # rows 101-121
    # pagination links of the rendered page lead to existing pages
    for href in {
        h for h in parse(browse(binary, (red / "index.html").as_uri(), "--dump-dom")).links if h.startswith("page-")
    }:
        assert (red / href).is_file()
        assert visible(red / href)
    # the index searches every list; a masked person is found by the masked name, never by the real code
    assert [c[1] for _, c in visible(out / "index.html", "恶意")] == ["严重违法失信名单"]
    assert visible(out / "index.html", s["codes"][3]) == []
    assert [c[2] for _, c in visible(out / "index.html", "张")] == ["张**"]
    for page, name in ((red / "index.html", "list.png"), (out / "index.html", "index.png")):
        shot = tmp_path / name
        browse(binary, page.as_uri(), f"--screenshot={shot}", "--window-size=1366,900", "--hide-scrollbars")
        assert shot.is_file() and shot.stat().st_size > 30_000  # a rendered page, not a blank one
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("SITE_SHOT_DIR"):  # to look at them: SITE_SHOT_DIR=/tmp/shots pytest -m chromium
        for name in ("list.png", "index.png"):
            shutil.copy(tmp_path / name, pathlib.Path(os.environ["SITE_SHOT_DIR"]) / name)


@pytest.mark.chromium
def test_typing_in_the_search_box_and_clicking_the_pages_with_playwright(sqlite_store, factory, tmp_path):
    """A person's use of the page: type into the box, see the rows filtered across pages, clear it, page through
    with 下一页 / 末页 / a page number, follow a result's link (Playwright driving /usr/bin/chromium; no browser
    download)."""
    binary = chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE_BROWSER:
            pytest.fail("REQUIRE_PG=1 (CI) but playwright is not installed; 'make venv' installs the test extra")
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    many(sqlite_store, factory, 2 * PAGE_SIZE + 20)
    out = tmp_path / "site"
    run(sqlite_store, publish, out, D(2026, 5, 1))
    red = out / "samr-credit/red"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=binary, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto((red / "index.html").as_uri())
            static = page.locator("#page tr[data-entry]")
            found = page.locator("#results tr[data-entry]")
            assert static.count() == PAGE_SIZE and page.locator("#page").is_visible()
            page.fill("#q", "第11")  # 第110号 ... 第119号 live on page 3, 第011号 is not a match
            assert found.count() == 10 and not page.locator("#page").is_visible()
            assert page.locator(".pager").first.is_hidden()
            assert "共 10 条" in page.locator("#status").inner_text()
            page.fill("#q", "")
            assert found.count() == 0 and static.count() == PAGE_SIZE and page.locator(".pager").first.is_visible()
            page.fill("#q", "第007号")
            page.click("button[type=submit]")
            assert found.count() == 1
            page.click("button[type=reset]")
            page.wait_for_function("document.getElementById('results').hidden")
            page.click(".pager >> text=下一页")
            assert page.url.endswith("/page-2.html") and static.first.locator("td").first.inner_text() == "51"
            page.click(".pager >> text=末页")
            assert page.url.endswith("/page-3.html") and static.count() == 20
            page.click(".pager >> text=首页")
            assert page.url.endswith("/index.html")
            page.click(".pager a >> text=2")
            assert page.url.endswith("/page-2.html")
            page.fill("#q", "第120号")
            with page.expect_navigation():
                found.first.locator("a").click()
            assert "/page-3.html#e" in page.url
            target = page.url.split("#")[1]
            assert page.locator(f"tr#{target}").is_visible()
            page.goto((out / "index.html").as_uri())
            page.click("#lists >> text=守信激励对象名单")
            assert page.url.endswith("/samr-credit/red/index.html")
        finally:
            browser.close()
