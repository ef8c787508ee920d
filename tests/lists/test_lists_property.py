"""Random sequences of list actions (Hypothesis): no entry skips a state, history is only ever appended to,
a refused action stores nothing, and what is published on a date is exactly what the rules allow then."""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ListError, UsageProblem
from engine.store import Store
from engine.values import add_months
from lists import lifecycle as L
from lists import measures as M
from lists import repair as R
from lists.publish import published_rows
from tests.builders_lists import add_cycle, add_entity, all_append_only_rows, pack_body

START = dt.date(2026, 1, 1)
# Short periods so that expiry, repair and extension all happen within a few dozen actions.
BODY = pack_body(
    black={
        "objection_days": 15,
        "min_months": 2,
        "max_months": 12,
        "repair": {
            "allowed": True,
            "min_months": 2,
            "requires": ["commitment", "obligations_fulfilled"],
            "max_repairs": {"count": 1, "years": 1},
        },
    },
    watch={
        "objection_days": 7,
        "min_months": 1,
        "max_months": 6,
        "extendable": 2,
        "repair": {"allowed": True, "min_months": 1, "requires": ["commitment"], "cooldown_months": 2},
    },
    red={"max_months": 2},
)
LISTS = BODY["version"]["lists"]
ALLOWED = {
    (None, "proposed"),
    ("proposed", "proposed"),
    ("proposed", "notified"),
    ("proposed", "revoked"),
    ("proposed", "listed"),  # only without an objection window (checked below)
    ("notified", "notified"),
    ("notified", "listed"),
    ("notified", "revoked"),
    ("listed", "listed"),
    ("listed", "expired"),
    ("listed", "repaired"),
    ("listed", "revoked"),
}
ACTIONS = ("serve", "object", "decide_objection", "advance", "revoke", "extend", "repair", "decide_repair", "ack")
# What makes sense for an entry in each state (revoking ends an entry, so it is offered rarely).
SENSIBLE = {
    "proposed": ("serve", "serve", "object", "advance", "revoke"),
    "notified": ("object", "decide_objection", "decide_objection", "advance", "advance", "revoke"),
    "listed": (
        "repair",
        "repair",
        "decide_repair",
        "decide_repair",
        "decide_repair",
        "extend",
        "advance",
        "ack",
        "revoke",
    ),
}

# (which entry, which action, days to move the clock, uphold/approve, months to extend, stray: any action on any
# entry instead of one that makes sense for it; strays exercise the refusals)
step = st.tuples(
    st.integers(0, 2),
    st.integers(0, 7),
    st.sampled_from((0, 1, 3, 7, 15, 30)),
    st.booleans(),
    st.integers(1, 3),
    st.integers(0, 5).map(lambda n: n == 0),
)


def oracle_published(entry: L.Entry, day: dt.date) -> bool:
    """Published on ``day`` by the rules, computed from the events without the library's helpers."""
    ldef = LISTS[entry.list]
    if not ldef.get("publish"):
        return False
    effective = [e for e in entry.events if e["valid_from"] <= day]
    listed = [e for e in effective if e["event"] == "listed"]
    if not listed or any(e["state"] in L.TERMINAL for e in effective):
        return False
    months = ldef["max_months"] + sum(e["data"]["months"] for e in effective if e["event"] == "extended")
    return listed[0]["valid_from"] <= day < add_months(listed[0]["valid_from"], months)


def check_entry(entry: L.Entry) -> None:
    ldef = LISTS[entry.list]
    states = [None] + [e["state"] for e in entry.events]
    for before, after in zip(states, states[1:]):
        assert (before, after) in ALLOWED, f"entry {entry.id} went {before} -> {after}"
    assert entry.events[0]["event"] == "proposed"
    days = [e["valid_from"] for e in entry.events]
    assert days == sorted(days), "valid_from never goes back"
    assert [e["seq"] for e in entry.events] == list(range(1, len(entry.events) + 1))
    listed = entry.event("listed")
    if listed is not None:
        before = entry.events[: entry.events.index(listed)]
        if ldef["objection_days"]:
            served = [e for e in before if e["event"] == "notified"]
            assert served and listed["valid_from"] > served[0]["valid_from"] + dt.timedelta(days=ldef["objection_days"])
        else:
            assert [e["event"] for e in before] == ["proposed"]
        filed = sum(1 for e in before if e["event"] == "objection_filed")
        decided = sum(1 for e in before if e["event"] in ("objection_rejected", "objection_upheld"))
        assert filed == decided, "never listed while an objection is pending"
    expired = entry.event("expired")
    if expired is not None:
        assert expired["valid_from"] == entry.until_on()


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    lists=st.lists(st.sampled_from(sorted(LISTS)), min_size=1, max_size=2),
    actions=st.lists(step, min_size=15, max_size=40),
)
def test_random_action_sequences_keep_the_rules(empty_db, factory, lists, actions):
    store = empty_db()
    try:
        run_actions(store, factory, lists, actions)
    finally:
        store.dispose()


@pytest.fixture
def empty_db(sqlite_store, tmp_path):
    """A fresh database per example: a copy of the freshly initialised test database (no migration run each time)."""
    sqlite_store.dispose()
    template = pathlib.Path(sqlite_store.url.removeprefix("sqlite:///"))
    (tmp_path / "commitment.pdf").write_bytes(b"%PDF commitment")
    count = iter(range(10**6))

    def make() -> Store:
        path = tmp_path / f"example-{next(count)}.db"
        shutil.copyfile(template, path)
        return Store(f"sqlite:///{path}")

    return make


def run_actions(store: Store, factory, lists, actions) -> None:
    commitment = pathlib.Path(store.url.removeprefix("sqlite:///")).parent / "commitment.pdf"
    with store.transaction() as conn:
        proposals = [(add_entity(conn, factory.uscc(), f"性质测试{factory.n}有限公司"), [name]) for name in lists]
        cycle = add_cycle(conn, START, proposals, body=BODY)
        ids = [p["entry_id"] for p in L.propose_from_cycle(conn, cycle, None, "t")["proposed"]]
    day = START
    objections: dict[int, list[int]] = {i: [] for i in ids}
    applications: dict[int, list[int]] = {i: [] for i in ids}
    for which, choice, days, flag, months, stray in actions:
        with store.read() as conn:
            before = all_append_only_rows(conn)
            current = {e.id: e.state for e in L.load(conn, ids)}
        entry_id = ids[which % len(ids)]
        options = (
            ACTIONS
            if stray
            else [
                a
                for a in SENSIBLE.get(current[entry_id], ("advance", "ack"))
                if (a != "decide_objection" or objections[entry_id])
                and (a != "decide_repair" or applications[entry_id])
            ]
        )
        name = options[choice % len(options)]
        day += dt.timedelta(days=min(days, 7) if name.startswith("decide") else days)  # decisions come quickly
        try:
            with store.transaction() as conn:
                if name == "serve":
                    L.serve(conn, day, "t", entry_id=entry_id)
                elif name == "object":
                    objections[entry_id].append(L.file_objection(conn, entry_id, "异议", [], day, "t")["objection_id"])
                elif name == "decide_objection" and objections[entry_id]:
                    L.decide_objection(conn, objections[entry_id][-1], flag, "决定", day, "t")
                    objections[entry_id].pop()
                elif name == "advance":
                    L.advance(conn, day)
                elif name == "revoke":
                    L.revoke(conn, entry_id, "撤销", day, "t")
                elif name == "extend":
                    L.extend(conn, entry_id, months, "延期", day, "t")
                elif name == "repair":
                    made = R.apply(conn, entry_id, day, "t", str(commitment))
                    if made["status"] == "pending":
                        applications[entry_id].append(made["application_id"])
                elif name == "decide_repair" and applications[entry_id]:
                    R.decide(conn, applications[entry_id][-1], flag, "决定", day, "t")
                    applications[entry_id].pop()
                elif name == "ack":
                    tasks = M.pending(conn, day).tasks
                    if tasks:
                        M.ack(conn, tasks[choice % len(tasks)]["task_id"], "部门", day)
        except (ListError, UsageProblem):
            with store.read() as conn:
                assert all_append_only_rows(conn) == before, f"refused {name} stored something"
            continue
        with store.read() as conn:
            after = all_append_only_rows(conn)
        for table, rows in before.items():
            assert after[table][: len(rows)] == rows, f"{name} rewrote {table}"
    with store.transaction() as conn:
        L.advance(conn, day)
    with store.read() as conn:
        entries = L.load(conn, ids)
        for entry in entries:
            check_entry(entry)
            assert entry.due(day) is None, "advance left a due transition"
        probe = {START, day, day + dt.timedelta(days=400)}
        for entry in entries:
            for ev in entry.events:
                probe |= {ev["valid_from"] - dt.timedelta(days=1), ev["valid_from"]}
            if entry.until_on():
                probe |= {entry.until_on() - dt.timedelta(days=1), entry.until_on()}
        for d in sorted(probe):
            published = {r["entry_id"] for r in published_rows(conn, d) if r["entry_id"] in ids}
            assert published == {e.id for e in entries if oracle_published(e, d)}, f"publication on {d}"
