"""Public disclosure: what is published on a date, masking, escaping, downloads, and the search in Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import html.parser
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import sqlalchemy as sa

from tests.builders_lists import add_cycle, add_entity, scenario
from engine.store import schema
from lists import lifecycle as L
from lists.publish import publish, published_rows

D = dt.date
REQUIRE_BROWSER = os.environ.get("REQUIRE_PG") == "1"  # CI installs chromium (make deps)


def run(store, func, *args, **kwargs):
    with store.transaction() as conn:
        return func(conn, *args, **kwargs)


def site(store, factory, tmp_path, day=D(2026, 6, 1)):
    """Black entries for two companies (one with markup in its name), red for a natural person, one watch entry
    (unpublished list) and one black entry still in its objection window."""
    s = scenario(store, factory, lists=("black", "black", "watch", "red"))
    with store.transaction() as conn:
        evil = add_entity(conn, factory.uscc(), '<script>alert("x")</script>恶意&公司')
        pending = add_entity(conn, factory.uscc(), "窗口期内有限公司")
        c1 = add_cycle(conn, D(2026, 4, 30), [(evil, ["black"])])
        c2 = add_cycle(conn, D(2026, 5, 20), [(pending, ["black"])])
    for cycle in (s["cycle"], c1):
        run(store, L.propose_from_cycle, cycle, None, "t")
        run(store, L.serve, D(2026, 5, 6), "t", cycle_id=cycle)
    run(store, L.propose_from_cycle, c2, None, "t")
    run(store, L.serve, D(2026, 5, 25), "t", cycle_id=c2)
    run(store, L.advance, day)
    out = tmp_path / "site"
    result = run(store, publish, out, day)
    return s, out, result


def test_only_entries_in_their_publication_period_are_published(store, factory, tmp_path):
    s, out, result = site(store, factory, tmp_path)
    assert result["counts"] == {"black": 3, "red": 1}
    assert sorted(p.name for p in out.iterdir()) == ["black.csv", "black.html", "black.json", "index.html",
                                                      "red.csv", "red.html", "red.json"]
    with store.read() as conn:
        assert [r["list"] for r in published_rows(conn, D(2026, 5, 21))] == ["red"]  # black window still running
        assert len(published_rows(conn, D(2026, 5, 22))) == 4
        assert [r["list"] for r in published_rows(conn, D(2027, 4, 30))] == ["black"] * 3  # red period ended
        assert published_rows(conn, D(2029, 5, 22)) == []  # black period ended (36 months), advance or not
        audit = conn.execute(sa.select(schema.audit_log).where(schema.audit_log.c.action == "lists_publish")
                             ).mappings().one()
    assert audit["detail"]["counts"] == {"black": 3, "red": 1}


def test_natural_persons_are_masked_everywhere(store, factory, tmp_path):
    s, out, _ = site(store, factory, tmp_path)
    person_code = s["codes"][3]
    data = json.loads((out / "red.json").read_text(encoding="utf-8"))
    (row,) = data["entries"]
    assert row["name"] == "张**" and row["code"] == person_code[:4] + "*" * 12 + person_code[-2:]
    for path in out.iterdir():
        text = path.read_text(encoding="utf-8")
        assert person_code not in text and "张三丰" not in text


def test_every_value_is_escaped_and_downloads_match(store, factory, tmp_path):
    _, out, _ = site(store, factory, tmp_path)
    page = (out / "black.html").read_text(encoding="utf-8")
    assert '<script>alert("x")' not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;恶意&amp;公司" in page
    with (out / "black.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["名称"] for r in rows][2] == '<script>alert("x")</script>恶意&公司'
    assert rows[0]["列入日期"] == "2026-05-22" and rows[0]["公示截止日"] == "2029-05-21"
    assert rows[0]["依据"].startswith("市场监督管理严重违法失信名单管理办法")
    data = json.loads((out / "black.json").read_text(encoding="utf-8"))
    assert data["count"] == 3 and data["as_of"] == "2026-06-01"
    assert "watch" not in (out / "index.html").read_text(encoding="utf-8")


class Rows(html.parser.HTMLParser):
    """Collect the result rows of a dumped DOM: (entry id, hidden?)."""

    def __init__(self):
        super().__init__()
        self.rows: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-entry" in a:
            self.rows.append((a["data-entry"], "hidden" in a))


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if REQUIRE_BROWSER:
            pytest.fail("REQUIRE_PG=1 (CI) but chromium is not installed; run 'make deps' (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def browse(binary: str, url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run",
                               f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.chromium
def test_search_filters_rows_in_a_real_browser(sqlite_store, factory, tmp_path):
    binary = chromium()
    s, out, _ = site(sqlite_store, factory, tmp_path)
    page = (out / "black.html").as_uri()

    def visible(query: str, name: str = "black.html") -> list[str]:
        parser = Rows()
        parser.feed(browse(binary, f"{(out / name).as_uri()}?q={query}", "--dump-dom"))
        return [entry for entry, hidden in parser.rows if not hidden]

    assert visible("") == ["1", "2", "5"]
    assert visible(s["codes"][1]) == ["2"]                      # by code
    assert visible(s["codes"][1].lower()) == ["2"]              # case-insensitive
    assert visible("恶意") == ["5"]                             # by (part of) the name
    assert visible("不存在的公司") == []
    assert visible("张", "index.html") == ["4"]                 # masked person found by the masked name
    assert visible(s["codes"][3], "index.html") == []           # never by the real identity number
    shot = tmp_path / "black.png"
    browse(binary, f"{page}?q=食品", f"--screenshot={shot}", "--window-size=1280,800")
    assert shot.stat().st_size > 10_000
