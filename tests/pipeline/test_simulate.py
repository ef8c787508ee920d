"""`supervise simulate`: a draft pack over the whole register, compared with a stored cycle, writing nothing."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import re

import pytest

from cli import cli
from engine.errors import CycleNotFound, PolicyError
from engine.pipeline.cycles import run_cycle
from engine.pipeline.simulate import simulate
from engine.store import reports as qr
from policies import PACKS_DIR
from tests.pipeline.test_report import build_register, two_cycles

SHIPPED = (PACKS_DIR / "tax-credit.yaml").read_text(encoding="utf-8")


def draft(
    tmp_path: pathlib.Path, *changes: tuple[str, str], subjects: str | None = None, name: str = "draft.yaml"
) -> pathlib.Path:
    """The shipped pack with text replaced in its 2025 version only (the earlier versions keep their anchors)."""
    cut = SHIPPED.index('  - version: "2025"')
    head, tail = SHIPPED[:cut], SHIPPED[cut:]
    for old, new in changes:
        assert old in tail, old
        tail = tail.replace(old, new)
    if subjects is not None:
        start = head.index("subjects:")
        end = head.index("\n\nversions:")
        head = head[:start] + f"subjects: [{subjects}]" + head[end:]
    path = tmp_path / name
    path.write_text(head + tail, encoding="utf-8")
    return path


# A needs 96 points in the draft: the ten entities with 95 fall from A to B.
STRICTER_A = (
    ('when: {all: ["score >= 90", not blocked_a]}', 'when: {all: ["score >= 96", not blocked_a]}'),
    (
        '{all: ["score >= 70", "score < 90"]}, {all: ["score >= 90", blocked_a]}',
        '{all: ["score >= 70", "score < 96"]}, {all: ["score >= 96", blocked_a]}',
    ),
)


@pytest.fixture(scope="module")
def drafts(tmp_path_factory) -> dict[str, pathlib.Path]:
    """Draft files written once per module: the loader caches a validated pack by path and mtime, and validating
    the tax-credit pack takes seconds."""
    d = tmp_path_factory.mktemp("drafts")
    bad = d / "bad.yaml"  # the supervision rows are shared by every version (YAML anchors)
    bad.write_text(
        SHIPPED.replace("A: &sup_a {ratio: 0.05, per_year: 1", "A: &sup_a {ratio: 5, per_year: 1"), encoding="utf-8"
    )
    return {
        "same": draft(d, name="same.yaml"),
        "stricter": draft(d, *STRICTER_A, name="stricter.yaml"),
        "individuals": draft(d, subjects="individual_business", name="individuals.yaml"),
        "bad": bad,
    }


def counts(store) -> dict[str, int]:
    with store.read() as conn:
        return qr.table_counts(conn)


def test_draft_against_the_latest_cycle_writes_nothing(store, drafts):
    build_register(store)
    _, second = two_cycles(store)
    before = counts(store)
    r = simulate(store, str(drafts["stricter"]))
    assert counts(store) == before
    assert r["against"]["cycle"] == second["cycle"] and r["as_of"] == "2026-04-30"
    assert r["entities"] == 40 and r["policy"]["version"] == "2025"
    tiers = {t["tier"]: t for t in r["tiers"]}
    assert {t: (tiers[t]["against"], tiers[t]["draft"]) for t in "ABCD"} == {
        "A": (10, 0),
        "B": (10, 20),
        "C": (10, 10),
        "D": (10, 10),
    }
    assert tiers["B"]["change"] == 10 and tiers["A"]["change"] == -10
    assert {(x["from"], x["to"]): x["entities"] for x in r["transitions"]} == {
        ("A", "B"): 10,
        ("B", "B"): 10,
        ("C", "C"): 10,
        ("D", "D"): 10,
    }
    assert r["changes"] == {"tier_up": 0, "tier_down": 10, "unchanged": 30, "new": 0, "left": 0}
    # Expected inspections: A 10 x 5% = 0.5 -> 1, B 10 x 15% = 1.5 -> 2 against B 20 x 15% = 3 in the draft.
    assert (tiers["A"]["against_expected_inspections"], tiers["A"]["draft_expected_inspections"]) == (1, 0)
    assert (tiers["B"]["against_expected_inspections"], tiers["B"]["draft_expected_inspections"]) == (2, 3)
    assert r["inspections"]["against"] == 17 and r["inspections"]["draft"] == 17 and r["inspections"]["change"] == 0
    regions = {(w["region"], w["tier"]): w for w in r["inspections"]["per_region"]}
    assert sum(w["draft"] for w in regions.values()) == pytest.approx(17.0)
    assert sum(w["against"] for w in regions.values()) == pytest.approx(16.0)
    lists = {x["list"]: x for x in r["lists"]}
    assert (lists["red"]["against"], lists["red"]["draft"], lists["red"]["entering"], lists["red"]["leaving"]) == (
        10,
        0,
        0,
        10,
    )
    assert (lists["watch"]["entering"], lists["watch"]["leaving"], lists["watch"]["draft"]) == (0, 0, 10)
    measures = {m["id"]: m for m in r["measures"]}
    assert (measures["a-bank-tax-loan"]["lost"], measures["a-bank-tax-loan"]["draft"]) == (10, 0)
    assert (measures["b-coaching"]["gained"], measures["b-coaching"]["draft"]) == (10, 20)
    assert measures["d-invoice-limit"]["gained"] == measures["d-invoice-limit"]["lost"] == 0


def test_against_an_older_cycle_and_as_of(store, drafts):
    build_register(store)
    first, _ = two_cycles(store)
    r = simulate(store, str(drafts["stricter"]), against=first["cycle"], as_of=dt.date(2026, 4, 30))
    assert r["against"]["cycle"] == first["cycle"] and r["against"]["version"] == "2020"
    # Everyone was B in the 2024 cycle; with the draft: 20 B, 10 C, 10 D.
    assert {(x["from"], x["to"]): x["entities"] for x in r["transitions"]} == {
        ("B", "B"): 20,
        ("B", "C"): 10,
        ("B", "D"): 10,
    }
    assert r["changes"]["tier_down"] == 20
    lists = {x["list"]: x for x in r["lists"]}
    assert (lists["watch"]["against"], lists["watch"]["entering"]) == (0, 10)


def test_no_cycle_gives_absolute_figures(store, drafts):
    build_register(store)
    before = counts(store)
    r = simulate(store, str(drafts["same"]), as_of=dt.date(2026, 4, 30))
    assert counts(store) == before
    assert r["against"] is None and r["transitions"] is None and r["changes"] is None
    tiers = {t["tier"]: t for t in r["tiers"]}
    assert {t: tiers[t]["draft"] for t in "ABCD"} == {"A": 10, "B": 10, "C": 10, "D": 10}
    assert "against" not in tiers["A"] and r["inspections"]["draft"] == 17
    assert {x["list"]: x["draft"] for x in r["lists"]} == {"red": 10, "watch": 10}


def test_entities_outside_the_draft_subjects_leave(store, drafts):
    build_register(store, enterprises=40, individuals=4, odd_region=False)
    _, second = two_cycles(store)
    r = simulate(store, str(drafts["individuals"]))
    assert r["against"]["cycle"] == second["cycle"] and r["entities"] == 4
    assert r["changes"]["left"] == 40 and r["changes"]["unchanged"] == 4
    assert sum(x["entities"] for x in r["transitions"] if x["to"] is None) == 40


def test_cli_text_and_json(store, runner, drafts):
    build_register(store)
    _, second = two_cycles(store)
    path = drafts["stricter"]
    before = counts(store)
    result = runner.invoke(cli, ["--db", store.url, "simulate", "--policy", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Against cycle {second['cycle']} (tax-credit@2025" in out and "Nothing was stored." in out
    assert "0 up, 10 down, 30 unchanged" in out
    assert "expected inspections: 17 -> 17 (+0)" in out
    assert "red" in out and "a-bank-tax-loan" in out and "350502" in out
    result = runner.invoke(cli, ["--db", store.url, "simulate", "--policy", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["changes"]["tier_down"] == 10 and data["policy"]["file"] == str(path.resolve())
    assert counts(store) == before


def test_cli_bad_input(store, runner, drafts):
    build_register(store)
    good = drafts["same"]
    result = runner.invoke(cli, ["--db", store.url, "simulate", "--policy", str(good), "--against", "999"])
    assert result.exit_code == 1 and "No cycle with id 999" in result.output
    bad = drafts["bad"]
    result = runner.invoke(cli, ["--db", store.url, "simulate", "--policy", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:" in result.output and "supervision.A.ratio: ratio must be a number from 0 to 1" in result.output
    line = int(re.search(rf"{re.escape(str(bad))}:(\d+): versions\.0\.supervision\.A\.ratio", result.output)[1])
    assert "A: &sup_a {ratio: 5" in bad.read_text(encoding="utf-8").splitlines()[line - 1]
    result = runner.invoke(cli, ["--db", store.url, "simulate", "--policy", str(good), "--as-of", "30/04/2026"])
    assert result.exit_code == 2 and "not a date" in result.output
    with pytest.raises(CycleNotFound):
        simulate(store, str(good), against=12345)
    with pytest.raises(PolicyError):
        simulate(store, str(bad))


def test_version_not_in_force(store, drafts, runner):
    build_register(store)
    result = runner.invoke(
        cli, ["--db", store.url, "simulate", "--policy", str(drafts["same"]), "--as-of", "2010-01-01"]
    )
    assert result.exit_code == 1 and "has no version in force on 2010-01-01" in result.output


def test_lists_stage_skip_helper_is_only_for_lists(store):
    """Without entities the cycle fails in the engine itself (not in lists): the helper must re-raise that."""
    from engine.errors import CycleError

    with pytest.raises(CycleError):
        run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))


def test_read_only_connection_refuses_writes(store):
    build_register(store, enterprises=4, odd_region=False)
    with store.read() as conn, qr.read_only(conn):
        with pytest.raises(Exception, match="(?i)read-?only"):
            conn.exec_driver_sql("DELETE FROM records")
    with store.transaction() as conn:  # the pooled connection takes writes again afterwards
        conn.exec_driver_sql("DELETE FROM records")
    assert counts(store)["records"] == 0
