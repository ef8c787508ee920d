"""GET /api/v1/entities/{code} and GET /api/v1/lists/{list}/changes (issue 16, scope lists): the public view masks
as the public site masks, cites only the latest committed revision, never shows an unpublished list or a
pre-listing event; the feed pages by event id with no gap and no duplicate, filters by since, and refuses what
it should; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.pipeline.cycles import run_cycle
from engine.register.codes import make_uscc
from engine.service.api import create_app
from engine.service.apps import add_app
from engine.store import entities as qe
from engine.store import now, schema
from engine.values import CHINA
from lists import lifecycle as L
from tests.builders_engine import tax
from tests.builders_lists import add_cycle, add_entity
from tests.service.conftest import AS_OF, PERSON, STRANGER, Caller, sign

D = dt.date
ENTITY = "/api/v1/entities/"
RED = "/api/v1/lists/samr-credit.red/changes"


def feed(list_id: str = "samr-credit.red", **query) -> str:
    """The path of a feed request with its query string (signed with it)."""
    from urllib.parse import urlencode

    return f"/api/v1/lists/{list_id}/changes" + (f"?{urlencode(query)}" if query else "")


@pytest.fixture
def lists_caller(world):
    store, _ = world
    app = add_app(store, "数据共享平台", "lists")
    return Caller(TestClient(create_app(store)), app["app_key"], app["secret"])


def samr_entries(store, names: list[tuple[str, str]], *, kind: str = "enterprise", operator: str | None = None):
    """Entities (name, list) of the samr-credit test pack, proposed by one committed cycle in one transaction
    (red: listed at once, no objection window; black/watch: proposed). Returns {name: (code, entry id)}."""
    out = {}
    with store.transaction() as conn:
        proposals = []
        for name, list_name in names:
            code = make_uscc(
                "92" if kind == "individual_business" else "91", "350100", f"F{uuid.uuid4().int % 10**7:07d}"
            )
            if kind == "enterprise":
                eid = add_entity(conn, code, name)
            else:
                row = {
                    "code": code,
                    "code_kind": "uscc",
                    "name": name,
                    "entity_type": kind,
                    "region": "350100",
                    "industry": None,
                    "established_on": None,
                    "legal_rep": operator,
                }
                qe.upsert_entities(conn, [row])
                eid = qe.entity_ids(conn, [code])[code]
            proposals.append((eid, [list_name]))
            out[name] = code
        cycle = add_cycle(conn, AS_OF, proposals)
        proposed = L.propose_from_cycle(conn, cycle, AS_OF, "tester")["proposed"]
    by_entity = {p["entity_id"]: p["entry_id"] for p in proposed}
    with store.read() as conn:
        ids = qe.entity_ids(conn, list(out.values()))
    return {name: (code, by_entity[ids[code]]) for name, code in out.items()}


def red_listing_events(store) -> list[int]:
    EV, LE = schema.list_events, schema.list_entries
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(EV.c.id)
                .join(LE, LE.c.id == EV.c.entry_id)
                .where(LE.c.pack_id == "samr-credit", LE.c.list == "red", EV.c.event == "listed")
                .order_by(EV.c.id)
            ).scalars()
        )


def all_pages(caller, list_id: str = "samr-credit.red", limit: int = 2, **start) -> tuple[list[dict], int]:
    """Every change from ``start`` (since= or after=), page by page; (changes, the last next_after)."""
    got: list[dict] = []
    query = {**start, "limit": limit}
    for _ in range(100):
        response = caller.get(feed(list_id, **query))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["changes"]) <= limit
        got.extend(page["changes"])
        query = {"after": page["next_after"], "limit": limit}
        if not page["more"]:
            return got, page["next_after"]
    raise AssertionError("the feed never ended")


# -- the entity's public view -------------------------------------------------------------------------------


def test_entity_view_shows_tiers_published_entries_and_their_measures(world, lists_caller):
    store, codes = world
    response = lists_caller.get(ENTITY + codes["good"])
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["party"] == {"code": codes["good"], "name": "测试1有限公司", "entity_type": "企业"}
    [tier] = view["tiers"]
    assert (tier["pack"], tier["tier"], tier["tier_label"], tier["version"], tier["revision"]) == (
        "tax-credit",
        "A",
        "A级",
        "2025",
        1,
    )
    [entry] = view["entries"]
    assert entry["list"] == "tax-credit.red" and entry["list_title"] == "纳税信用A级纳税人名单"
    assert entry["state"] == "listed" and entry["listed_from"] == AS_OF.isoformat()
    assert entry["published_until"] == "2027-04-29"  # the last day, as the public site shows it
    assert entry["authority"] and entry["basis"].startswith("《纳税缴费信用管理办法》") and entry["reason"]
    assert entry["decision_no"] == "—"  # an incentive list without a decision number, as on the site
    assert {m["id"] for m in view["measures"]} == {"a-invoice-3-months", "a-bank-tax-loan", "a-joint-incentives"}
    assert all(m["cause"] == "list" and m["entry_id"] == entry["entry_id"] for m in view["measures"])
    bad = lists_caller.get(ENTITY + codes["bad"]).json()
    assert bad["tiers"][0]["tier"] == "D" and {m["cause"] for m in bad["measures"]} == {"tier"}
    assert all(m["cycle_id"] == bad["tiers"][0]["cycle_id"] for m in bad["measures"])
    doc = lists_caller.client.get("/api/v1/openapi.json").json()
    assert {"401", "403", "404", "422", "200"} <= set(doc["paths"]["/api/v1/entities/{code}"]["get"]["responses"])
    assert "published_until" in doc["components"]["schemas"]["PublicEntry"]["properties"]


def test_a_natural_person_is_masked_as_the_public_site_masks(world, lists_caller):
    response = lists_caller.get(ENTITY + PERSON)
    assert response.status_code == 200, response.text
    party = response.json()["party"]
    assert party == {"code": PERSON[:4] + "*" * 12 + PERSON[-2:], "name": "张**", "entity_type": "自然人"}
    assert PERSON not in response.text and "三丰" not in response.text


def test_an_individual_business_operator_is_masked_in_the_view_and_the_feed(world, lists_caller):
    store, _ = world
    made = samr_entries(store, [("泉州市鲤城区李四小吃店", "red")], kind="individual_business", operator="李四")
    code, entry_id = made["泉州市鲤城区李四小吃店"]
    view = lists_caller.get(ENTITY + code)
    assert view.status_code == 200, view.text
    assert view.json()["party"] == {"code": code, "name": "泉州市鲤城区李*小吃店", "entity_type": "个体工商户"}
    assert view.json()["entries"][0]["entry_id"] == entry_id
    with store.transaction() as conn:
        L.revoke(conn, entry_id, "经营者李四申请，撤销列入", AS_OF + dt.timedelta(days=3), "tester")
    changes, _ = all_pages(lists_caller, since="2020-01-01")
    mine = [c for c in changes if c["entry_id"] == entry_id]
    assert [c["event"] for c in mine] == ["listed", "revoked"]
    assert all(c["party"]["name"] == "泉州市鲤城区李*小吃店" for c in mine)
    assert mine[1]["reason"] == "经营者李*申请，撤销列入" and mine[1]["state"] == "revoked"
    raw = lists_caller.get(feed(since="2020-01-01")).text + lists_caller.get(ENTITY + code).text
    assert "李四" not in raw


def test_only_the_latest_committed_revision_is_cited(world, lists_caller):
    store, codes = world
    first = lists_caller.get(ENTITY + codes["plain"]).json()["tiers"][0]
    from tests.builders_engine import Register

    Register(store).records(codes["plain"], [tax(2025, 97)])
    second = run_cycle(store, "tax-credit", "2025", as_of=AS_OF, rerun=True)
    assert second["revision"] == 2
    view = lists_caller.get(ENTITY + codes["plain"]).json()
    [tier] = view["tiers"]
    assert tier["cycle_id"] == second["cycle"] != first["cycle_id"] and tier["revision"] == 2
    assert all(m["cycle_id"] in (None, second["cycle"]) for m in view["measures"])
    assert str(first["cycle_id"]) not in json.dumps([t["cycle_id"] for t in view["tiers"]])


def test_an_unpublished_list_never_shows(world, lists_caller):
    store, codes = world
    # The bad taxpayer's D-list entry (publish: false in the 2025 version: 'provided to the departments
    # concerned, not published') is served, waits out its objection window and is listed.
    with store.transaction() as conn:
        L.serve(conn, AS_OF, "tester", cycle_id=1)
        L.advance(conn, AS_OF + dt.timedelta(days=40))
    with store.read() as conn:
        EV = schema.list_events
        assert conn.execute(sa.select(sa.func.count()).where(EV.c.event == "listed")).scalar_one() == 2
    view = lists_caller.get(ENTITY + codes["bad"]).json()
    assert view["entries"] == [] and all(m["cause"] == "tier" for m in view["measures"])
    refused = lists_caller.get(feed("tax-credit.watch", since="2020-01-01"))
    assert refused.status_code == 404 and "is not published" in refused.json()["error"]
    # A samr-credit watch entry too: no view entry, no feed; its black entry is proposed only: not public yet.
    made = samr_entries(store, [("泉州观察甲有限公司", "watch"), ("泉州黑名单乙有限公司", "black")])
    with store.transaction() as conn:
        L.serve(conn, AS_OF, "tester", entry_id=made["泉州观察甲有限公司"][1])
        L.advance(conn, AS_OF + dt.timedelta(days=40))
    assert lists_caller.get(ENTITY + made["泉州观察甲有限公司"][0]).json()["entries"] == []
    assert lists_caller.get(feed("samr-credit.watch", since="2020-01-01")).status_code == 404
    black = lists_caller.get(feed("samr-credit.black", since="2020-01-01")).json()
    assert black["changes"] == [] and black["next_after"] > 0  # proposed and notified are not public events


# -- the delta feed -----------------------------------------------------------------------------------------


def test_the_feed_pages_by_event_id_with_no_gap_and_no_duplicate(world, lists_caller):
    store, _ = world
    names = [(f"泉州红名单{i}有限公司", "red") for i in range(7)]
    made = samr_entries(store, names)  # one transaction: every event in the same second
    expected = red_listing_events(store)
    assert len(expected) == 7
    changes, last = all_pages(lists_caller, since="2020-01-01", limit=2)
    assert [c["id"] for c in changes] == expected  # ordered, none missing, none twice
    assert {c["entry_id"] for c in changes} == {entry for _, entry in made.values()}
    first = changes[0]
    assert first["event"] == "listed" and first["state"] == "listed" and first["valid_from"] == AS_OF.isoformat()
    assert first["entry"]["list"] == "samr-credit.red" and first["entry"]["published_until"] == "2027-04-29"
    assert dt.datetime.fromisoformat(first["recorded_at"]).utcoffset() == dt.timedelta(hours=8)
    # Nothing new: the cursor stays; a later revocation is the only change after it.
    again = lists_caller.get(feed(after=last)).json()
    assert again["changes"] == [] and again["next_after"] == last and not again["more"]
    with store.transaction() as conn:
        L.revoke(conn, made["泉州红名单3有限公司"][1], "认定依据被撤销", AS_OF + dt.timedelta(days=5), "tester")
    newer, _ = all_pages(lists_caller, after=last)
    assert [(c["event"], c["entry_id"]) for c in newer] == [("revoked", made["泉州红名单3有限公司"][1])]
    assert newer[0]["entry"]["state"] == "revoked" and newer[0]["id"] > last


def test_since_filters_by_recording_time_and_a_naive_time_is_china_standard_time(world, lists_caller):
    store, _ = world
    samr_entries(store, [("泉州早期有限公司", "red")])
    cut = now()
    later = samr_entries(store, [("泉州后期有限公司", "red")])
    naive_cst = cut.astimezone(CHINA).replace(tzinfo=None).isoformat()
    for since in (naive_cst, cut.isoformat(), cut.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")):
        page = lists_caller.get(feed(since=since)).json()
        assert [c["entry_id"] for c in page["changes"]] == [later["泉州后期有限公司"][1]], since
    everything = lists_caller.get(feed(since="2026-01-01")).json()  # a date alone: from the start of that day
    assert len(everything["changes"]) == 2 and everything["since"] == "2026-01-01T00:00:00+08:00"
    # The cut's UTC wall time without a zone is read as CST, 8 hours before the cut: both entries (read as UTC it
    # would give only the later one).
    utc_naive = cut.astimezone(dt.UTC).replace(tzinfo=None).isoformat()
    assert len(lists_caller.get(feed(since=utc_naive)).json()["changes"]) == 2


@pytest.mark.pg
def test_an_event_committed_after_a_later_one_is_not_skipped(pg_url, key_file, tmp_path):
    """PostgreSQL draws event ids at insert: id N may commit after id N+1 is visible. The feed stops before the
    uncommitted id, and the client's next call gets both, in order."""
    from engine.store import Store

    store = Store(pg_url)
    store.init()
    made = samr_entries(store, [("泉州并发甲有限公司", "red"), ("泉州并发乙有限公司", "red")])
    app = add_app(store, "x", "lists")
    caller = Caller(TestClient(create_app(store)), app["app_key"], app["secret"])
    _, cursor = all_pages(caller, since="2020-01-01")

    def extend(conn, entry_id):
        seq = conn.execute(
            sa.select(sa.func.max(schema.list_events.c.seq)).where(schema.list_events.c.entry_id == entry_id)
        ).scalar_one()
        return conn.execute(
            sa.insert(schema.list_events)
            .values(
                entry_id=entry_id,
                seq=seq + 1,
                event="extended",
                state="listed",
                valid_from=AS_OF + dt.timedelta(days=9),
                recorded_at=now(),
                actor="tester",
                reason="延长公示",
                data={"until": "2027-10-30"},
            )
            .returning(schema.list_events.c.id)
        ).scalar_one()

    slow = store.engine.connect()
    slow_tx = slow.begin()
    first = extend(slow, made["泉州并发甲有限公司"][1])  # drawn first, committed last
    with store.transaction() as conn:
        second = extend(conn, made["泉州并发乙有限公司"][1])
    assert second > first
    waiting = caller.get(feed(after=cursor)).json()
    assert waiting["changes"] == [] and waiting["next_after"] < first  # never past the uncommitted event
    slow_tx.commit()
    slow.close()
    done, _ = all_pages(caller, after=waiting["next_after"])
    assert [c["id"] for c in done] == [first, second]
    assert done[0]["entry"]["published_until"] == "2027-10-29"


# -- refusals -----------------------------------------------------------------------------------------------


def test_unsigned_wrong_scope_and_tampered_query_are_refused(world, lists_caller):
    store, codes = world
    path = feed("tax-credit.red", since="2026-01-01T00:00:00+08:00")
    assert lists_caller.get(path, drop=("X-Signature",)).status_code == 401
    assert lists_caller.client.get(ENTITY + codes["good"]).status_code == 401
    checker = add_app(store, "审批系统", "check,feedback")
    other = Caller(lists_caller.client, checker["app_key"], checker["secret"])
    for p in (path, ENTITY + codes["good"]):
        refused = other.get(p)
        assert refused.status_code == 403 and "lacks the scope 'lists'" in refused.json()["error"]
    # The query string is signed: a request signed for one since= and sent with another is refused.
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signed_for = feed("tax-credit.red", since="2026-11-01T00:00:00+08:00")
    headers = {
        "X-App-Key": lists_caller.app_key,
        "X-Timestamp": stamp,
        "X-Nonce": nonce,
        "X-Signature": sign(lists_caller.secret, "GET", signed_for, stamp, nonce, b""),
    }
    tampered = lists_caller.client.get(feed("tax-credit.red", since="2020-01-01T00:00:00+08:00"), headers=headers)
    assert tampered.status_code == 401 and "does not match" in tampered.json()["error"]
    assert lists_caller.client.get(signed_for, headers=headers).status_code == 200


def test_bad_codes_lists_times_and_cursors_are_named(world, lists_caller):
    invalid = lists_caller.get(ENTITY + "91350100M00010")
    assert invalid.status_code == 422 and invalid.json()["code"] == "91350100M00010"
    assert "统一社会信用代码" in invalid.json()["error"]
    unknown = lists_caller.get(ENTITY + STRANGER)
    assert unknown.status_code == 404 and "No entity with code" in unknown.json()["error"]
    assert STRANGER not in unknown.text  # an identity number is masked even in the refusal
    typo = lists_caller.get(feed("tax-credit.rde", since="2026-01-01"))
    assert typo.status_code == 404 and "did you mean 'tax-credit.red'?" in typo.json()["error"]
    bare = lists_caller.get(feed("red", since="2026-01-01"))
    assert bare.status_code == 404 and "lists named so: tax-credit.red" in bare.json()["error"]
    not_a_time = lists_caller.get(feed("tax-credit.red", since="last tuesday"))
    assert not_a_time.status_code == 422 and "since 'last tuesday' is not an ISO 8601" in not_a_time.json()["error"]
    nothing = lists_caller.get(feed("tax-credit.red"))
    assert nothing.status_code == 422 and "since=" in nothing.json()["error"]
    beyond = lists_caller.get(feed("tax-credit.red", after=10**6))
    assert beyond.status_code == 422 and "beyond the newest list event" in beyond.json()["error"]
    assert lists_caller.get(feed("tax-credit.red", after=0, limit=0)).status_code == 422
    assert lists_caller.get(ENTITY + "x" * 65).status_code == 422


def test_the_readme_feed_loop_signs_and_pages_correctly(world, lists_caller, capsys):
    import pathlib
    import re
    import types

    section = (pathlib.Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8").split("## Check service")[1]
    client_block, get_block = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    namespace: dict = {}
    exec(client_block, namespace)
    client = lists_caller.client
    shim = types.SimpleNamespace(
        get=lambda url, headers, **_: client.get(url.removeprefix("http://testserver"), headers=headers)
    )
    namespace.update(APP_KEY=lists_caller.app_key, SECRET=lists_caller.secret, BASE="http://testserver", httpx=shim)
    exec(get_block, namespace)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and " listed " in printed[0] and printed[0].endswith("2027-04-29")  # the A taxpayer
