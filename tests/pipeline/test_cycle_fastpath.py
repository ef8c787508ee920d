"""The bulk paths of a cycle give exactly what the reference paths give.

- FactCompiler.compute (one pass over an entity's records) == compute_each (one compiled function per fact),
  value and type; compute_stored == the stored form of compute.
- Evaluator.outcomes (a fact at a time over a batch, per-fact value classes) == [Evaluator.outcome(f)], on facts
  that mix floats, ints, bools, None, NaN and missing keys, and on stored-form facts.
- records_for_range == records_for per entity (order included), on SQLite and PostgreSQL; decisions written by
  insert_decisions read back as the JSON and booleans they were.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from engine.evaluate import Evaluator
from engine.facts import FactCompiler, SourceCycle
from engine.pipeline.cycles import run_cycle
from engine.pipeline.parallel import BatchEvaluator
from engine.store import cycles as qc
from engine.store import entities as qe
from engine.store import records as rq
from engine.store import schema
from policies import get_pack
from tests.builders_engine import Register, tax
from tests.builders_engine import abnormal_row as abnormal
from tests.builders_engine import penalty_row as penalty

AS_OF = dt.date(2026, 4, 30)
FIELDS = ("food", "quality", "consumer", "drugs", "advertising", "other")
VIOLATIONS = ("invoice_abuse", "invoice_abuse", "abnormal_household", "export_refund_suspended", "tax_crime")


def _day(rnd: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rnd.randrange((end - start).days + 1))


def random_records(rnd: random.Random) -> list[tuple[str, dt.date, dict]]:
    """Records of every kind the shipped packs read, with same-date ties and edge values."""
    recs: list[tuple[str, dt.date, dict]] = []
    tie = _day(rnd, dt.date(2023, 1, 1), AS_OF)
    for year in (2023, 2024, 2025):
        if rnd.random() < 0.8:
            score = rnd.choice([round(rnd.uniform(0, 100), 1), 90, 70, 40, 39.9, 100, 0])
            recs.append(
                (
                    "tax_evaluation",
                    dt.date(year, 12, 31),
                    {"year": year, "score": score, "has_revenue": rnd.random() < 0.9},
                )
            )
    for _ in range(rnd.choice((0, 0, 1, 2))):
        d = tie if rnd.random() < 0.3 else _day(rnd, dt.date(2022, 1, 1), dt.date(2025, 12, 31))
        data = {"date": d.isoformat(), "code": rnd.choice(VIOLATIONS)}
        if rnd.random() < 0.5:  # an end (lasts_until: ended_on), often on a period boundary or by the as-of date
            ends = rnd.choice((dt.date(2024, 1, 1), dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2024, 12, 31)))
            ends = rnd.choice((ends, AS_OF, AS_OF + dt.timedelta(days=1), _day(rnd, d, dt.date(2027, 1, 1))))
            data["ended_on"] = max(ends, d).isoformat()
        recs.append(("tax_violation", d, data))
    if rnd.random() < 0.2:
        year = rnd.choice((2024, 2025))
        recs.append(
            (
                "no_a_condition",
                dt.date(year, 12, 31),
                {"year": year, "code": rnd.choice(("zero_vat_returns", "bad_books"))},
            )
        )
    for _ in range(rnd.choice((0, 1, 2, 3))):
        d = tie if rnd.random() < 0.3 else _day(rnd, dt.date(2022, 1, 1), AS_OF)
        data = {
            "date": d.isoformat(),
            "severity": rnd.choice(("minor", "general", "serious")),
            "decision_no": f"D{rnd.random()}",
            "authority": "局",
            "field": rnd.choice(FIELDS),
            "amount": rnd.choice((100.0, 5000.0, 5000, 2.5)),
        }
        if rnd.random() < 0.3:
            data["fulfilled_on"] = _day(rnd, d, AS_OF).isoformat()
        if rnd.random() < 0.3:  # in_force_until: annulled_on, around the as-of dates the tests use
            near = rnd.choice((AS_OF, dt.date(2025, 4, 30)))
            ends = rnd.choice((near - dt.timedelta(days=1), near, near + dt.timedelta(days=1)))
            data["annulled_on"] = max(ends, d).isoformat()
        recs.append(("penalty", d, data))
    for kind, end, extra in (
        ("abnormal_operation", "removed_on", {"cause": "other"}),
        ("external_list", "ended_on", {"list": None}),
    ):
        if rnd.random() < 0.4:
            d = _day(rnd, dt.date(2021, 1, 1), AS_OF)
            data = {"date": d.isoformat(), **extra}
            if kind == "external_list":
                data["list"] = rnd.choice(("major_tax_dishonest", "serious_illegal", "court_dishonest"))
            if rnd.random() < 0.5:
                data[end] = rnd.choice((AS_OF, AS_OF - dt.timedelta(days=1), AS_OF + dt.timedelta(days=1))).isoformat()
            recs.append((kind, d, data))
    for _ in range(rnd.choice((0, 1, 2))):
        d = _day(rnd, dt.date(2023, 1, 1), AS_OF)
        data = {"date": d.isoformat(), "due_on": (d + dt.timedelta(days=90)).isoformat(), "matter": "x"}
        if rnd.random() < 0.7:
            data["kept"] = rnd.random() < 0.5
        recs.append(("commitment", d, data))
    for _ in range(rnd.choice((0, 1, 2))):
        d = tie if rnd.random() < 0.3 else _day(rnd, dt.date(2023, 1, 1), AS_OF)
        recs.append(
            (
                "inspection_result",
                d,
                {
                    "date": d.isoformat(),
                    "check_id": rnd.randrange(10**6),
                    "outcome": rnd.choice(("clean", "problems", "not_found", "refused")),
                },
            )
        )
    if rnd.random() < 0.2:
        d = _day(rnd, dt.date(2022, 1, 1), AS_OF)
        recs.append(("honour", d, {"date": d.isoformat(), "title": "t", "authority": "a"}))
    recs.sort(key=lambda r: r[1])  # records_for order: by date (then kind, id)
    return recs


def random_entity(rnd: random.Random, i: int) -> dict:
    return {
        "id": i,
        "code": f"C{i}",
        "code_kind": rnd.choice(("uscc", "uscc", "person")),
        "name": "n",
        "entity_type": "enterprise",
        "region": "350503",
        "industry": rnd.choice(("制造", None)),
        "established_on": None if rnd.random() < 0.05 else _day(rnd, dt.date(1990, 1, 1), AS_OF),
    }


def stored_form(facts: dict) -> dict:
    return {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in facts.items() if v is not None}


@pytest.mark.parametrize(
    "pack,as_of",
    [
        ("tax-credit", AS_OF),
        ("tax-credit", dt.date(2025, 4, 30)),
        ("market-credit-risk", AS_OF),
        ("market-credit-risk", dt.date(2025, 4, 30)),
        ("bank-tax", AS_OF),
    ],
)
def test_single_pass_facts_match_the_per_fact_functions(pack, as_of):
    fc = FactCompiler(get_pack(pack).version_at(as_of), as_of)
    rnd = random.Random(11)
    for i in range(3000):
        entity, recs = random_entity(rnd, i), random_records(rnd)
        one, each = fc.compute(entity, recs, "B"), fc.compute_each(entity, recs, "B")
        assert repr(one) == repr(each), (entity, recs)
        assert repr(fc.compute_stored(entity, recs, "B")) == repr(stored_form(each))


@pytest.mark.parametrize("pack", ["tax-credit", "market-credit-risk", "bank-tax"])
def test_evaluation_rows_match_the_stored_dict_path(pack):
    """BatchEvaluator builds a decision row from the facts as a list of values (FactCompiler.values,
    stored_json, Evaluator.outcomes_of) without the stored dict: the same JSON text as json.dumps of
    compute_stored and the same vector key as Evaluator.outcomes of that dict, on every entity."""
    version = get_pack(pack).version_at(AS_OF)
    fc, ev = FactCompiler(version, AS_OF), Evaluator(version, AS_OF)
    rnd = random.Random(21)
    pairs = [(random_entity(rnd, i), random_records(rnd)) for i in range(3000)]
    values = [fc.values(e, r, "B") for e, r in pairs]
    stored = [fc.compute_stored(e, r, "B") for e, r in pairs]
    assert [fc.stored(v) for v in values] == stored
    assert [fc.stored_json(v) for v in values] == [json.dumps(f) for f in stored]
    assert [fc.stored_json(v) for v in values] == [json.dumps(f) for f in stored]  # again, from the kept texts
    assert [k for k, _ in ev.outcomes_of(values, fc.names)] == [
        k for k, _ in Evaluator(version, AS_OF).outcomes(stored)
    ]

    be = BatchEvaluator(version, AS_OF)
    batch = [{**e, "id": i + 1, "entity_type": "enterprise"} for i, (e, _) in enumerate(pairs)]
    rows, new, read = be.evaluate(batch, {i + 1: r for i, (_, r) in enumerate(pairs)})
    want_facts = [json.dumps(fc.compute_stored(e, r)) for e, r in zip(batch, (r for _, r in pairs))]
    assert read == len(batch) and [row[6] for row in rows] == want_facts[: len(rows)]
    assert {row[1] for row in rows} == set(new)


def test_stored_json_is_the_json_text_of_every_value_shape():
    """Values that are equal but print differently (True, 1, 1.0), integral floats, NaN, -0.0, strings that need
    escaping and unhashable values: each fact's text is kept by value and type, and a list or mapping falls back to
    encoding the whole dict."""
    version = get_pack("market-credit-risk").version_at(AS_OF)
    fc = FactCompiler(version, AS_OF)
    n = len(fc.names)
    shapes = [True, 1, 1.0, 0, 0.0, -0.0, False, 2.5, float("nan"), float("inf"), '引号"\n', None, 10**20, 3.0]
    rnd = random.Random(5)
    for _ in range(400):
        values = [rnd.choice(shapes) for _ in range(n)]
        if rnd.random() < 0.05:
            values[rnd.randrange(n)] = rnd.choice([[1, 2], {"a": 1}])
        assert fc.stored_json(values) == json.dumps(fc.stored(values))


def test_single_pass_decision_facts_match_the_per_fact_functions():
    """bank-tax reads the tax grade of a stored cycle (engine.facts decision source): both paths agree."""
    version = get_pack("bank-tax").version_at(AS_OF)
    rnd = random.Random(12)
    tiers = {i: rnd.choice("ABMNCD") for i in range(3000) if rnd.random() < 0.9}
    fc = FactCompiler(version, AS_OF, {"tax-credit@period": SourceCycle(9, "tax-credit", "2025", 1, AS_OF, tiers)})
    for i in range(3000):
        entity, recs = random_entity(rnd, i), random_records(rnd)
        one, each = fc.compute(entity, recs, None), fc.compute_each(entity, recs, None)
        assert repr(one) == repr(each) and one["tax_grade"] == tiers.get(i) and one["tax_grade_cycle"] == 9
        assert repr(fc.compute_stored(entity, recs, None)) == repr(stored_form(each))


@dataclass
class _Fact:
    source: dict
    type: str = "number"
    default: Any = None


class _Version:
    """Just what FactCompiler reads: every kind of source, with date_field, picks and list-valued where."""

    period = "year"

    def source_facts(self):
        return {
            "latest_amount": _Fact({"record": "penalty", "field": "amount", "window": "3y"}),
            "max_amount": _Fact({"record": "penalty", "field": "amount", "window": "all", "pick": "max"}),
            "min_amount": _Fact(
                {
                    "record": "penalty",
                    "field": "amount",
                    "window": "all",
                    "pick": "min",
                    "where": {"field": ["food", "quality"]},
                }
            ),
            "latest_field": _Fact({"record": "penalty", "field": "field", "window": "12m"}, "enum", "none"),
            "due_in_period": _Fact({"count": "commitment", "window": "period", "date_field": "due_on"}, "int"),
            "kept_flag": _Fact({"record": "commitment", "field": "kept", "date_field": "due_on"}, "bool", True),
            "broken": _Fact({"count": "commitment", "window": "24m", "where": {"kept": False}}, "int"),
            "open_lists": _Fact(
                {"open": "external_list", "end": "ended_on", "where": {"list": ["serious_illegal", "court_dishonest"]}},
                "int",
            ),
            "in_force": _Fact({"count": "penalty", "window": "3y", "in_force_until": "annulled_on"}, "int"),
            "in_force_fields": _Fact(
                {"count": "penalty", "window": "all", "in_force_until": ["fulfilled_on", "annulled_on"]}, "int"
            ),
            "in_force_amount": _Fact(
                {"record": "penalty", "field": "amount", "pick": "max", "in_force_until": "annulled_on"}
            ),
            "lasting": _Fact({"count": "tax_violation", "window": "period-1", "lasts_until": "ended_on"}, "int"),
            "lasting_where": _Fact(
                {
                    "count": "tax_violation",
                    "window": "12m",
                    "lasts_until": "ended_on",
                    "where": {"code": ["abnormal_household", "export_refund_suspended"]},
                },
                "int",
            ),
            "lasting_in_force": _Fact(
                {"count": "tax_violation", "window": "period", "lasts_until": "ended_on", "in_force_until": "ended_on"},
                "int",
            ),
            "lasting_code": _Fact(
                {"record": "tax_violation", "field": "code", "window": "period-2", "lasts_until": "ended_on"}, "enum"
            ),
            "lasting_paid": _Fact(
                {"count": "penalty", "window": "period", "date_field": "fulfilled_on", "lasts_until": "annulled_on"},
                "int",
            ),
            "person": _Fact({"entity": "is_person"}, "bool"),
            "industry": _Fact({"entity": "industry"}, "enum"),
            "years": _Fact({"entity": "years_operating", "at": "period_start"}, "number", -1.0),
            "prev": _Fact({"previous": "tier"}, "enum"),
        }


def test_single_pass_facts_cover_every_source_shape():
    fc = FactCompiler(_Version(), AS_OF)
    rnd = random.Random(5)
    for i in range(3000):
        entity, recs = random_entity(rnd, i), random_records(rnd)
        prev = rnd.choice(("A", "D", None))
        one = fc.compute(entity, recs, prev)
        assert repr(one) == repr(fc.compute_each(entity, recs, prev)), (entity, recs)
        matched = fc.matching(recs)
        for name, fact in fc.version.source_facts().items():
            if "count" in fact.source or "open" in fact.source:
                assert len(matched.get(name, ())) == one[name], (name, recs)


def random_facts(rnd: random.Random) -> dict:
    def num():
        return rnd.choice(
            [
                None,
                0.0,
                1.0,
                1,
                True,
                False,
                2.0,
                39.9,
                40,
                40.0,
                70.0,
                89.99,
                90,
                95.5,
                math.nan,
                round(rnd.uniform(0, 100), 1),
            ]
        )

    facts = {
        name: num()
        for name in (
            "score",
            "score_prev",
            "years_operating",
            "direct_d",
            "direct_d_prev",
            "direct_d_prev2",
            "direct_d_state",
            "direct_d_state_prev",
            "direct_d_state_prev2",
            "zero_vat",
            "bad_books",
            "major_dishonest",
        )
    }
    facts["has_revenue"] = rnd.choice([True, False, None, 1, 0.0])
    for name in list(facts):
        if rnd.random() < 0.05:
            del facts[name]
    return facts


def test_batch_outcomes_match_single_outcomes():
    version = get_pack("tax-credit").version_at(AS_OF)
    batch_ev, single_ev = Evaluator(version, AS_OF), Evaluator(version, AS_OF)
    rnd = random.Random(3)
    for _ in range(20):
        facts_list = [random_facts(rnd) for _ in range(500)]
        got = batch_ev.outcomes(facts_list)
        want = [single_ev.outcome(f) for f in facts_list]
        assert [k for k, _ in got] == [k for k, _ in want]
        assert [o["tier"] for _, o in got] == [o["tier"] for _, o in want]
    assert batch_ev.distinct == single_ev.distinct
    assert batch_ev.outcomes([]) == []


def test_stored_form_facts_give_the_same_vector():
    version = get_pack("market-credit-risk").version_at(AS_OF)
    fc = FactCompiler(version, AS_OF)
    ev = Evaluator(version, AS_OF)
    rnd = random.Random(8)
    pairs = [(random_entity(rnd, i), random_records(rnd)) for i in range(2000)]
    stored = [fc.compute_stored(e, r) for e, r in pairs]
    full = [fc.compute(e, r) for e, r in pairs]
    assert [k for k, _ in ev.outcomes(stored)] == [ev.outcome(f)[0] for f in full]


def test_records_for_range_matches_records_for(store):
    reg = Register(store)
    codes = [
        reg.entity(records=[tax(2024, 80), tax(2025, 91)]),
        reg.entity(
            records=[
                (
                    "penalty",
                    {
                        "date": "2025-03-01",
                        "severity": "minor",
                        "decision_no": "P2",
                        "authority": "局",
                        "field": "food",
                    },
                ),
                (
                    "penalty",
                    {
                        "date": "2025-03-01",
                        "severity": "serious",
                        "decision_no": "P1",
                        "authority": "局",
                        "field": "quality",
                    },
                ),
                ("honour", {"date": "2025-03-01", "title": "t", "authority": "a"}),
                ("honour", {"date": "2026-06-01", "title": "later", "authority": "a"}),
            ]
        ),
        reg.entity(),
        reg.entity(records=[tax(2025, 55)]),
    ]
    with store.read() as conn:
        ids = qe.entity_ids(conn, codes)
        first, last = min(ids.values()), max(ids.values())
        for kinds in (None, ["penalty", "tax_evaluation"], ["honour"]):
            got = rq.records_for_range(conn, first, last, AS_OF, kinds)
            for _code, eid in ids.items():
                want = [
                    (r["kind"], r["date"], r["data"])
                    for r in rq.record_rows(conn, [eid], AS_OF).get(eid, [])
                    if kinds is None or r["kind"] in kinds
                ]
                assert got.get(eid, []) == want
        batch = next(qe.iter_entities(conn))
        assert [e["id"] for e in batch] == sorted(ids.values())
        assert all(isinstance(e["established_on"], dt.date) for e in batch)
        assert set(batch[0]) == {
            "id",
            "code",
            "code_kind",
            "name",
            "entity_type",
            "region",
            "industry",
            "established_on",
        }


def test_stored_decisions_read_back(store):
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    reg.entity(records=[tax(2025, 30), ("external_list", {"date": "2025-01-01", "list": "major_tax_dishonest"})])
    result = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    with store.read() as conn:
        decided = qc.decided(conn, result["cycle"])
        rows = [qc.decision_for(conn, result["cycle"], eid) for eid in sorted(decided)]
    assert [(d["tier"], d["forced"]) for d in rows] == [("A", False), ("D", True)]
    assert [decided[d["entity_id"]][:4] for d in rows] == [
        (d["tier"], d["ratio"], d["per_year"], d["forced"]) for d in rows
    ]
    assert rows[0]["facts"]["score"] == 95 and isinstance(rows[0]["facts"]["score"], int)
    assert rows[1]["facts"]["major_dishonest"] == 1 and "score_prev" not in rows[1]["facts"]
    assert rows[0]["facts"]["has_revenue"] is True


def test_insert_decisions_keeps_any_json(store):
    reg = Register(store)
    reg.entity(records=[tax(2025, 95)])
    extra = reg.entity()
    result = run_cycle(store, "tax-credit", "2025", as_of=AS_OF)
    odd = {"text": '中文\t\\n "quoted" \\u00e9 é\nline', "n": 1, "x": 1.5, "b": False, "l": [1, "a"], "empty": ""}
    with store.transaction() as conn:
        eid = qe.entity_ids(conn, [extra])[extra]
        oid = next(iter(qc.outcomes_of(conn, result["cycle"])))
        conn.execute(sa.delete(schema.decisions).where(schema.decisions.c.entity_id == eid))
        # rows as the evaluation makes them: facts serialised where they were computed (see engine.parallel)
        ids = qc.insert_decisions(
            conn, result["cycle"], [(eid, "k", "B", 0.25, 1.5, True, json.dumps(odd))], {"k": oid}
        )
        assert len(ids) == 1
    with store.read() as conn:
        row = qc.decision_for(conn, result["cycle"], eid)
    assert row["facts"] == odd and row["forced"] is True and row["ratio"] == 0.25 and row["tier"] == "B"


def test_record_rows_of_some_kinds_are_those_of_all_kinds_filtered(store, factory, tmp_path):
    """record_rows filters the kinds in SQL (the list proposals read two kinds): the same rows, in the same order,
    as reading every kind and keeping those, for current versions and as known before a correction."""
    from tests.conftest import cli_run, write_csv

    codes = []
    for _ in range(3):
        row = factory.entity(code=factory.uscc(region="350503"), region="350503", entity_type="enterprise")
        codes.append(row["code"])
        cli_run(store, "import", "entities", str(write_csv(tmp_path / "e.csv", [row])))

    rows = [penalty(c, decision_no=f"罚{i}号") for i, c in enumerate(codes)] + [abnormal(c) for c in codes]
    cli_run(store, "import", "records", str(write_csv(tmp_path / "a.csv", rows)))
    before = dt.datetime.now(dt.UTC)
    fixed = [penalty(codes[1], decision_no="罚1号", date="2024-01-02"), abnormal(codes[1], "2026-01-01")]
    cli_run(store, "import", "records", str(write_csv(tmp_path / "b.csv", fixed)))
    with store.read() as conn:
        ids = sorted(conn.execute(sa.select(schema.entities.c.id)).scalars())
        for known in (before, None):
            every = rq.record_rows(conn, ids, AS_OF, None, known)
            for kinds in (["penalty"], ["abnormal_operation", "penalty"], ["tax_violation"]):
                want = {e: [r for r in rs if r["kind"] in kinds] for e, rs in every.items()}
                assert rq.record_rows(conn, ids, AS_OF, kinds, known) == {e: rs for e, rs in want.items() if rs}


def test_outcomes_inserted_together_are_stored_as_one_by_one(store):
    """A cycle stores the outcomes of a batch in one statement (insert_outcomes): the same rows, ids in order,
    and result JSON as insert_outcome row by row."""
    version = get_pack("market-credit-risk").version_at(AS_OF)
    ev, rnd = Evaluator(version, AS_OF), random.Random(2)
    outcomes = dict(ev.outcome(random_facts(rnd)) for _ in range(300))
    items = [(key, o["tier"], o) for key, o in outcomes.items()]
    with store.transaction() as conn:
        pv = qc.ensure_policy_version(conn, version)
        made = []
        for period in ("one", "all"):
            made.append(
                qc.create_cycle(
                    conn,
                    pack_id="market-credit-risk",
                    period=period,
                    revision=1,
                    as_of=AS_OF,
                    policy_version_id=pv,
                    status="committed",
                    started_at=dt.datetime.now(dt.UTC),
                    entity_count=0,
                    actor="test",
                )
            )
        one = [qc.insert_outcome(conn, made[0], key, tier, result) for key, tier, result in items]
        together = qc.insert_outcomes(conn, made[1], items)
        assert together == list(range(one[-1] + 1, one[-1] + 1 + len(items))) or store.dialect == "postgresql"
        assert qc.insert_outcomes(conn, made[1], []) == []
        a, b = qc.outcomes_of(conn, made[0]), qc.outcomes_of(conn, made[1])
    assert [a[i] for i in one] == [b[i] for i in together]
    assert [b[i]["result"] for i in together] == [json.loads(json.dumps(o)) for _, _, o in items]
