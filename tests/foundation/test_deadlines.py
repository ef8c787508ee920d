"""One deadline function on one calendar, and one issuing authority per region.

The agreement test runs every shipped pack that has a list with an objection window on a demo register (both
databases), serves the pre-listing notices and checks that the deadline the notice prints, the one `lists show`
prints and the listing date on the public site come from the same computation; it also checks that each city's
entities get their own city's authority on the notice and on the list entry.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from cli import cli
from engine import calendar as wc
from engine import deadlines
from engine.errors import CycleError, PolicyError
from engine.pipeline.demo import DEMO_CITIES, build_register, demo_authorities, demo_pack
from engine.store import schema
from policies import PACKS_DIR

D = dt.date
AS_OF = D(2026, 4, 30)
SERVED = D(2026, 5, 6)
# Shipped pack -> the period its cycle runs for on AS_OF (a new shipped pack with an objection window needs a line)
PERIODS = {
    "tax-credit": "2025",
    "market-credit-risk": AS_OF.isoformat(),
    "epidemic-conduct": AS_OF.isoformat(),
    "bank-tax": "2025",
}


def _windowed() -> dict[str, list[str]]:
    """Shipped pack id -> its lists with objection_days > 0 (in any version)."""
    out: dict[str, list[str]] = {}
    for path in sorted(PACKS_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        names = sorted(
            {
                n
                for v in raw["versions"]
                for n, d in (v.get("lists") or {}).items()
                if int(d.get("objection_days") or 0) > 0
            }
        )
        if names:
            out[raw["id"]] = names
    return out


# -- the calendar and the counting rules -----------------------------------------------------------------


def test_national_holidays_and_working_weekends_come_from_the_data_file():
    cal = wc.national()
    assert not cal.is_working_day(D(2026, 5, 4))  # 劳动节 (a Monday)
    assert cal.is_working_day(D(2026, 5, 9))  # Saturday worked (调休)
    assert not cal.is_working_day(D(2026, 5, 10)) and cal.is_working_day(D(2026, 5, 11))
    pack = wc.for_version(
        {"publication": {"holidays": [{"from": "2026-05-11", "to": "2026-05-12"}], "working_weekends": ["2026-05-10"]}}
    )
    assert not pack.is_working_day(D(2026, 5, 11)) and pack.is_working_day(D(2026, 5, 10))
    with pytest.raises(PolicyError, match="'soon' is not a date"):
        wc.for_version({"publication": {"holidays": ["soon"]}})


def test_a_versions_calendar_is_built_once_per_set_of_extra_days():
    """for_version builds the calendar of the same extra days once (every deadline of a run asks for it): equal
    days give that calendar, other days their own, and days that are not dates are refused every time."""
    body = {
        "publication": {"holidays": [{"from": "2026-05-11", "to": "2026-05-12"}], "working_weekends": ["2026-05-10"]}
    }
    first = wc.for_version(body)
    assert wc.for_version({"publication": {**body["publication"]}}) is first
    other = wc.for_version({"publication": {"holidays": ["2026-05-13"]}})
    assert other is not first and not other.is_working_day(D(2026, 5, 13)) and first.is_working_day(D(2026, 5, 13))
    for _ in range(2):
        with pytest.raises(PolicyError, match="'later' is not a date"):
            wc.for_version({"publication": {"holidays": ["later"]}})


@pytest.mark.parametrize(
    "rule,start,days,end",
    [
        ({"unit": "calendar", "holiday": "none"}, D(2026, 5, 6), 10, D(2026, 5, 16)),  # Saturday stands
        ({"unit": "calendar", "holiday": "roll"}, D(2026, 5, 6), 10, D(2026, 5, 18)),  # Saturday -> Monday
        ({"unit": "calendar", "holiday": "roll"}, D(2026, 4, 20), 15, D(2026, 5, 6)),  # 5 May holiday -> 6 May
        # 征管法实施细则第109条: 劳动节 1-5 May (5 days) inside the period adds 5 days
        ({"unit": "calendar", "holiday": "extend"}, D(2026, 4, 28), 15, D(2026, 5, 18)),
        ({"unit": "calendar", "holiday": "extend"}, D(2026, 5, 6), 15, D(2026, 5, 21)),  # nothing to extend
        ({"unit": "working"}, D(2026, 4, 30), 10, D(2026, 5, 18)),
        ({"unit": "working"}, D(2026, 9, 30), 1, D(2026, 10, 8)),  # 国庆 1-7 October
    ],
)
def test_counting_rules(rule, start, days, end):
    assert deadlines.deadline({"deadlines": {"objection": rule}}, "objection", start, days) == end


def test_deadline_rules_are_validated_by_the_loader(tmp_path):
    from policies.loader import load_pack

    raw = yaml.safe_load((PACKS_DIR / "epidemic-conduct.yaml").read_text(encoding="utf-8"))
    raw["versions"][0]["deadlines"] = {"objection": {"unit": "weeks"}, "reply": {"unit": "working"}}
    raw["authorities"] = [
        {"region": "35", "name": "福建省", "document_prefix": "闽"},
        {"region": "35", "name": "again", "document_prefix": "x"},
        {"region": 3505},
    ]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_pack(path)
    text = "\n".join(err.value.problems)
    assert "deadlines.objection.unit: 'weeks' is not one of calendar, working" in text
    assert "deadlines.reply: 'reply' is not a deadline kind" in text
    assert "authorities.1.region: region 35 already has an authority (item 0)" in text
    assert "authorities.2.name: 'name' is required" in text and "authorities.2.document_prefix" in text


# -- the printers agree, and each city has its own authority ---------------------------------------------


def _notice_deadline(text: str) -> D:
    m = re.search(r"至(\d{4})年(\d{1,2})月(\d{1,2})日止", text)
    assert m, text
    return D(int(m[1]), int(m[2]), int(m[3]))


def test_notice_lists_show_and_site_print_one_deadline_and_the_regions_authority(store, tmp_path):
    from engine.pipeline.cycles import run_cycle
    from lists import lifecycle
    from lists.publish import publish
    from notices.issue import render_notice

    windowed = _windowed()
    assert set(windowed) <= set(PERIODS), f"add the period of {set(windowed) - set(PERIODS)} to PERIODS"
    build_register(store, 1000, 42, AS_OF)  # enough for an entry on every windowed list in every demo city
    expected: dict[tuple[str, str], dict] = {}
    for pack_id in windowed:
        path = demo_pack(pack_id, tmp_path / "packs")
        cycle = run_cycle(store, str(path), PERIODS[pack_id], as_of=AS_OF, actor="test")["cycle"]
        with store.transaction() as conn:
            lifecycle.serve(conn, SERVED, "test", cycle_id=cycle)
        for a in demo_authorities(yaml.safe_load(path.read_text(encoding="utf-8"))):
            expected[(pack_id, a["region"])] = a
    runner = CliRunner()
    shown: dict[str, str] = {}
    for name in sorted({n for names in windowed.values() for n in names}):
        r = runner.invoke(
            cli,
            ["--db", store.url, "lists", "show", name, "--state", "notified", "--as-of", SERVED.isoformat()],
            catch_exceptions=False,
        )
        assert r.exit_code == 0, r.output
        shown[name] = r.output
    with store.transaction() as conn:
        lifecycle.advance(conn, D(2026, 7, 1), "test")
        publish(conn, tmp_path / "site", D(2026, 7, 1), "test")
    pages = {
        name: (tmp_path / "site" / f"{name}.html").read_text(encoding="utf-8")
        for name in shown
        if (tmp_path / "site" / f"{name}.html").exists()
    }  # lists with publish: true
    listed: dict[int, str] = {}
    for name in shown:
        r = runner.invoke(
            cli, ["--db", store.url, "--json", "lists", "show", name, "--as-of", "2026-07-01"], catch_exceptions=False
        )
        listed.update({e["id"]: e["listed_from"] for e in __import__("json").loads(r.output)["entries"]})

    with store.read() as conn:
        E, LE, N = schema.entities, schema.list_entries, schema.notices
        rows = (
            conn.execute(
                sa.select(
                    LE.c.id,
                    LE.c.pack_id,
                    LE.c.list,
                    LE.c.authority,
                    E.c.region,
                    E.c.code,
                    N.c.number,
                    N.c.issued_on,
                    N.c.template,
                    N.c.context,
                )
                .join(E, E.c.id == LE.c.entity_id)
                .join(N, N.c.entry_id == LE.c.id)
                .where(N.c.kind == "pre_listing")
            )
            .mappings()
            .all()
        )
    seen, cities = set(), set()
    for row in rows:
        assert row["list"] in windowed[row["pack_id"]]
        text = render_notice(row, "txt")
        deadline = _notice_deadline(text)
        assert row["issued_on"] == SERVED  # issued when served
        # lists show: the entry's line names the same deadline
        line = next(ln for ln in shown[row["list"]].splitlines() if re.match(rf"\s*{row['id']} ", ln))
        assert f"objections until {deadline.isoformat()}" in line, line
        # listed the day after that deadline (no objection was filed): in lists show, and on the site page
        assert listed[row["id"]] == deadlines.listable_from(deadline).isoformat()
        page = pages.get(row["list"])
        m = re.search(rf'<tr [^>]*data-entry="{row["id"]}">(.*?)</tr>', page, re.S) if page else None
        if page is not None:
            assert m, f"entry {row['id']} not on the {row['list']} page"
            assert f'<td class="date">{deadlines.listable_from(deadline).isoformat()}</td>' in m[1]
        # and the deadline is the pack's rule applied to the service date
        version = yaml.safe_load((PACKS_DIR / f"{row['pack_id']}.yaml").read_text(encoding="utf-8"))["versions"][-1]
        assert deadline == deadlines.objection_end(version, version["lists"][row["list"]], SERVED)
        # the authority of the entity's region, on the notice, its number and the list entry (and the site)
        authority = expected[(row["pack_id"], row["region"][:4])]
        assert row["authority"] == authority["name"] and authority["name"] in text
        assert row["number"].startswith(authority["document_prefix"])
        if m:
            assert html.escape(authority["name"]) in m[1]
        seen.add((row["pack_id"], row["list"]))
        cities.add(row["region"][:4])
    assert seen == {(p, n) for p, names in windowed.items() for n in names}  # every windowed list was checked
    assert cities == {region for region, _, _ in DEMO_CITIES}


def test_an_entity_outside_every_authority_stops_the_cycle_and_stores_nothing(store, tmp_path):
    from engine.pipeline.cycles import run_cycle
    from engine.store import entities as qe

    build_register(store, 300, 7, AS_OF)
    with store.transaction() as conn:
        qe.upsert_entities(
            conn,
            [
                {
                    "code": "91330203MA2H000009",
                    "name": "宁波市海曙示例贸易有限公司",
                    "entity_type": "enterprise",
                    "region": "330203",
                    "industry": None,
                    "established_on": D(2018, 3, 1),
                    "legal_rep": "张三",
                    "code_kind": "uscc",
                }
            ],
        )
    path = demo_pack("market-credit-risk", tmp_path)
    with pytest.raises(CycleError) as err:
        run_cycle(store, str(path), AS_OF.isoformat(), as_of=AS_OF, actor="test")
    message = str(err.value)
    assert "Entity 91330203MA2H000009 (宁波市海曙示例贸易有限公司) is in region 330203" in message
    assert "outside every issuing authority of pack market-credit-risk" in message
    assert "Add an authority for region \"3302\" under 'authorities:'" in message and str(path) in message
    with store.read() as conn:
        for table in (schema.cycles, schema.decisions, schema.list_entries, schema.notices, schema.policy_versions):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0, table.name
    r = CliRunner().invoke(
        cli,
        [
            "--db",
            store.url,
            "cycle",
            "run",
            "--policy",
            str(path),
            "--period",
            AS_OF.isoformat(),
            "--as-of",
            AS_OF.isoformat(),
        ],
    )
    assert r.exit_code == 1 and "region 330203" in r.output
