"""双随机、一公开 plans: inspectors import, draw, verify, show, export, publish, results."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import math

import pytest
import sqlalchemy as sa

from cli import cli
from engine import plans
from engine.errors import CycleNotFound, IntakeError, PlanError
from engine.plans import plan as plan_module
from engine.register.codes import mask_name, mask_person_id
from engine.store import plans as q
from engine.store import schema
from engine.store.cycles import get_cycle
from policies import base_record_kinds
from tests.builders_plans import (
    TIER_RATIOS,
    add_inspectors,
    build_cycle,
    entity_rows,
    insert_cycle,
    insert_entities,
    inspector_rows,
    pack_body,
)
from tests.conftest import write_csv

KINDS = base_record_kinds()


def _count(store, table) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _stored(store, plan_id):
    return plans.plan_details(store, plan_id, dt.date(2025, 7, 1))


# -- pure helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ratio,size,expected",
    [
        (0.1, 30, 3),
        (0.2, 5, 1),
        (0.05, 52, 3),
        (0.6, 36, 22),
        (1.0, 10, 10),
        (0.0, 10, 0),
        (0.01, 1, 1),
        (1 / 3, 3, 1),
        (0.5, 0, 0),
    ],
)
def test_sample_count_is_ceil_of_the_printed_ratio(ratio, size, expected):
    assert plans.sample_count(ratio, size) == expected


@pytest.mark.parametrize(
    "inspector,entity,covered",
    [
        ("350500", "350503", True),
        ("3505", "350503", True),
        ("350503", "350503", True),
        ("350502", "350503", False),
        ("350000", "350503", True),
        ("350100", "350503", False),
        ("350500", None, False),
    ],
)
def test_region_matching_by_prefix(inspector, entity, covered):
    assert plans.covers(inspector, entity) is covered


def test_working_days_skip_weekends_and_holidays():
    from engine import calendar as wc
    from engine import deadlines

    friday = dt.date(2025, 7, 4)
    assert wc.for_version({}).add_working_days(friday, 1) == dt.date(2025, 7, 7)
    assert deadlines.publication_deadline({}, friday, 20) == dt.date(2025, 8, 1)
    version = {"publication": {"holidays": ["2025-07-07"], "working_weekends": ["2025-07-05"]}}
    assert deadlines.publication_deadline(version, friday, 1) == dt.date(2025, 7, 5)
    assert deadlines.publication_deadline(version, friday, 2) == dt.date(2025, 7, 8)


def test_entity_rank_is_the_documented_sha256():
    candidates = [plans.Candidate(f"91350503{i:010d}", i, "B", 0.25, False, "350503") for i in range(40)]
    inspectors = [plans.Inspector(f"I{i}", f"n{i}", "市场监管", "350500", max_checks=50) for i in range(4)]
    result = plans.draw(candidates, inspectors, "S-1", per_check=2)
    expected = sorted(candidates, key=lambda c: hashlib.sha256(f"S-1|{plans.ALGORITHM}|{c.code}".encode()).digest())
    assert [c.code for c in result.checks] == [c.code for c in expected[:10]]
    first = result.checks[0]
    assert first.rank == hashlib.sha256(f"S-1|{plans.ALGORITHM}|{first.code}".encode()).hexdigest()
    # The first check goes to the two best-ranked inspectors (all loads are 0 then).
    ranked = sorted(inspectors, key=lambda i: plans.inspector_rank_key("S-1", first.code, i.code))
    assert set(first.inspectors) == {ranked[0].code, ranked[1].code}
    lines = "".join(sorted(f"{c.code}\tB\t0.25\t0\n" for c in candidates))
    assert result.candidates_fingerprint == hashlib.sha256(lines.encode()).hexdigest()


def test_load_is_spread_evenly_and_specialty_needs_met():
    items = (plans.Item("food", "食品安全检查", specialty="食品安全"),)
    candidates = [plans.Candidate(f"C{i:04d}", i, "C", 1.0, False, "350503") for i in range(30)]
    inspectors = [
        plans.Inspector(
            f"I{i}", f"n{i}", "市场监管", "350503", specialties=("食品安全",) if i < 3 else ("价格",), max_checks=100
        )
        for i in range(10)
    ]
    result = plans.draw(candidates, inspectors, "x", 2, plans.DrawOptions(items=items))
    load = {i.code: 0 for i in inspectors}
    for c in result.checks:
        assert {"I0", "I1", "I2"} & set(c.inspectors)
        assert c.items == ("food",)
        for code in c.inspectors:
            load[code] += 1
    food = [load[f"I{i}"] for i in range(3)]
    other = [load[f"I{i}"] for i in range(3, 10)]
    assert max(food) - min(food) <= 1 and max(other) - min(other) <= 1
    with pytest.raises(plans.InspectorShortage) as exc:
        plans.draw(candidates, inspectors[3:], "x", 2, plans.DrawOptions(items=items))
    assert "specialty 食品安全" in str(exc.value) and "30 checks short by 30 inspector slots" in str(exc.value)


# -- draw and verify on both databases ---------------------------------------------------------------


def test_draw_counts_constraints_verify_and_another_seed(store):
    cycle_id, rows = build_cycle(store, n=400, forced_share=0.04, persons_every=9)
    pool = inspector_rows(24, max_checks=40)
    pool[0]["conflicts"] = [r["code"] for r in rows[:50]]
    add_inspectors(store, pool)
    r = plans.draw_plan(store, cycle_id, "2025-07-01-4711", per_check=2)
    by_tier: dict[str, list] = {}
    for row in rows:
        by_tier.setdefault(row["tier"], []).append(row)
    for s in r["strata"]:
        members = by_tier[s["tier"]]
        assert s["population"] == len(members)
        assert s["drawn"] == math.ceil(round(TIER_RATIOS[s["tier"]] * len(members), 9))
        forced_not_drawn = s["forced_added"]
        assert s["checks"] == s["drawn"] + forced_not_drawn
    details = _stored(store, r["plan_id"])
    drawn = {c["code"] for c in details["checks"]}
    assert {row["code"] for row in rows if row["forced"]} <= drawn
    assert {row["code"] for row in rows if row["tier"] == "D"} <= drawn
    assert len(details["checks"]) == r["checks"]
    load: dict[str, int] = {}
    region = {p["code"]: p["region"] for p in pool}
    for c in details["checks"]:
        codes = [i["code"] for i in c["inspectors"]]
        assert len(codes) >= 2 and len(set(codes)) == len(codes)
        for code in codes:
            load[code] = load.get(code, 0) + 1
            assert plans.covers(region[code], c["region"])
            if code == pool[0]["code"]:
                assert c["code"] not in pool[0]["conflicts"]
    assert max(load.values()) <= 40
    v = plans.verify_plan(store, r["plan_id"])
    assert v["verified"], v["differences"]
    assert "verified" in v["message"]
    other = plans.draw_plan(store, cycle_id, "another-seed", per_check=2, redraw=True, reason="测试另一种子")
    assert other["plan_fingerprint"] != r["plan_fingerprint"]
    assert {c["code"] for c in _stored(store, other["plan_id"])["checks"]} != drawn
    assert plans.verify_plan(store, other["plan_id"])["verified"]
    again = plans.draw(*_inputs(store, r["plan_id"]), "2025-07-01-4711", 2)
    assert again.plan_fingerprint == r["plan_fingerprint"]


def _inputs(store, plan_id):
    with store.read() as conn:
        plan = q.get_plan(conn, plan_id)
        cands = plan_module._load_candidates(conn, plan["cycle_id"])
    return cands, [plan_module._inspector_from(s) for s in plan["params"]["inspectors"]]


def test_verify_survives_later_imports_and_detects_tampering(store):
    cycle_id, rows = build_cycle(store, n=120)
    pool = inspector_rows(12, max_checks=30)
    add_inspectors(store, pool)
    r = plans.draw_plan(store, cycle_id, "s")
    # Later changes to the inspector pool and the register do not break verification.
    add_inspectors(store, [{**p, "max_checks": 1, "region": "350100", "name": "改名"} for p in pool])
    with store.transaction() as conn:
        conn.execute(sa.update(schema.entities).values(region="350100"))
    assert plans.verify_plan(store, r["plan_id"])["verified"]
    with store.transaction() as conn:
        a = conn.execute(sa.select(schema.plan_assignments).order_by(schema.plan_assignments.c.id)).mappings().first()
        others = conn.execute(sa.select(schema.inspectors.c.id)).scalars().all()
        in_check = (
            conn.execute(
                sa.select(schema.plan_assignments.c.inspector_id).where(
                    schema.plan_assignments.c.check_id == a["check_id"]
                )
            )
            .scalars()
            .all()
        )
        swap = next(i for i in others if i not in in_check)
        conn.execute(
            sa.update(schema.plan_assignments).where(schema.plan_assignments.c.id == a["id"]).values(inspector_id=swap)
        )
    v = plans.verify_plan(store, r["plan_id"])
    assert not v["verified"]
    assert any("check 1: inspectors stored" in d for d in v["differences"])
    assert any("stored rows" in d for d in v["differences"])


def test_shortage_names_region_and_stores_nothing(store):
    cycle_id, _rows = build_cycle(store, n=80, regions=("350502", "350503"))
    add_inspectors(store, [{**p, "region": "350502"} for p in inspector_rows(3, max_checks=100, city_every=0)])
    with pytest.raises(plans.InspectorShortage) as exc:
        plans.draw_plan(store, cycle_id, "s")
    text = str(exc.value)
    assert "region 350503" in text and "nothing was stored" in text and "short by" in text
    assert "region 350502" not in text
    assert _count(store, schema.plans) == 0 and _count(store, schema.plan_checks) == 0


def test_capacity_shortage_counts_slots(store):
    cycle_id, rows = build_cycle(store, n=40, regions=("350503",), weights={"D": 1.0})
    add_inspectors(store, inspector_rows(3, regions=("350503",), max_checks=10, city_every=0))
    with pytest.raises(plans.InspectorShortage) as exc:
        plans.draw_plan(store, cycle_id, "s", per_check=2)
    # 40 checks x 2 = 80 slots, 3 inspectors x 10 = 30 slots.
    assert "short by 50 inspector slots" in str(exc.value)


def test_unknown_and_uncommitted_cycle(store):
    with pytest.raises(CycleNotFound, match="No cycle with id 99; 'supervise cycle list'"):
        plans.draw_plan(store, 99, "s")
    cycle_id, rows = build_cycle(store, n=5)
    with store.transaction() as conn:  # a second revision of the same pack and period supersedes the first
        ids = conn.execute(sa.select(schema.decisions.c.entity_id)).scalars().all()
        newer = insert_cycle(conn, [(i, "B", 0.2, False) for i in ids])
    with pytest.raises(
        PlanError, match=f"superseded, not the committed current revision; draw the plan on cycle {newer}"
    ):
        plans.draw_plan(store, cycle_id, "s")


def test_recusal_and_conflicts(sqlite_store):
    store = sqlite_store
    cycle_id, rows = build_cycle(store, n=60, regions=("350503",), townships=True, weights={"D": 1.0})
    pool = inspector_rows(8, regions=("350503",), max_checks=60, city_every=0)
    for i, p in enumerate(pool):
        p["home_region"] = f"350503{(i % 3) + 1:03d}"
    pool[1]["conflicts"] = [rows[0]["code"], rows[1]["code"]]
    add_inspectors(store, pool)
    r = plans.draw_plan(store, cycle_id, "s", recusal_same_township=True)
    home = {p["code"]: p["home_region"] for p in pool}
    township = {row["code"]: row["extra"]["township"] for row in rows}
    for c in _stored(store, r["plan_id"])["checks"]:
        for i in c["inspectors"]:
            assert home[i["code"]] != township[c["code"]]
            assert not (i["code"] == pool[1]["code"] and c["code"] in pool[1]["conflicts"])
    assert plans.verify_plan(store, r["plan_id"])["verified"]


def test_exclude_recent_clean_results(store):
    body = pack_body(inspection={"exclude_clean_within_months": 12})
    cycle_id, rows = build_cycle(store, n=50, regions=("350503",), weights={"D": 1.0}, body=body)
    from engine.store.records import insert_records

    with store.transaction() as conn:
        recs = []
        for i, row in enumerate(rows[:6]):
            date = dt.date(2025, 1, 10) if i < 4 else dt.date(2023, 1, 10)  # last two: outside the window
            recs.append(
                {
                    "entity_id": row["id"],
                    "kind": "inspection_result",
                    "date": date,
                    "natural_key": str(i),
                    "data": {"date": date.isoformat(), "outcome": "clean", "check_id": i},
                }
            )
        recs.append(
            {
                "entity_id": rows[7]["id"],
                "kind": "inspection_result",
                "date": dt.date(2025, 1, 10),
                "natural_key": "p",
                "data": {"date": "2025-01-10", "outcome": "problems", "check_id": 99},
            }
        )
        insert_records(conn, recs, source="test")
    add_inspectors(store, inspector_rows(6, regions=("350503",), max_checks=100, city_every=0))
    r = plans.draw_plan(store, cycle_id, "s")
    assert r["excluded"] == 4 and r["exclude_clean_months"] == 12
    drawn = {c["code"] for c in _stored(store, r["plan_id"])["checks"]}
    assert drawn == {row["code"] for row in rows[4:]}
    assert plans.verify_plan(store, r["plan_id"])["verified"]
    r0 = plans.draw_plan(store, cycle_id, "s", exclude_clean_months=0, redraw=True, reason="不排除近期检查")
    assert r0["checks"] == 50


# -- inspectors import ----------------------------------------------------------------------------------

INSPECTOR_CSV = [
    {
        "编号": "ZF001",
        "姓名": "林一",
        "部门": "泉州市市场监督管理局",
        "region": "3505",
        "专业": "食品安全;价格",
        "max_checks": "10",
        "conflicts": "",
        "home_region": "350503001",
    },
    {
        "编号": "ZF002",
        "姓名": "陈二",
        "部门": "泉州市市场监督管理局",
        "region": "350503",
        "专业": "企业公示、广告",
        "max_checks": "5",
        "conflicts": "",
        "home_region": "",
    },
]


def test_import_inspectors_csv_and_upsert(store, tmp_path, factory):
    conflict = factory.uscc(region="350503")
    rows = [dict(r) for r in INSPECTOR_CSV]
    rows[1]["conflicts"] = conflict
    path = write_csv(tmp_path / "inspectors.csv", rows)
    report = plans.import_inspectors(store, path)
    assert (report.inserted, report.updated) == (2, 0)
    with store.read() as conn:
        pool = {i["code"]: i for i in q.active_inspectors(conn)}
    assert pool["ZF001"]["region"] == "350500" and pool["ZF001"]["specialties"] == ["食品安全", "价格"]
    assert pool["ZF002"]["specialties"] == ["企业公示", "广告"] and pool["ZF002"]["conflicts"] == [conflict]
    rows[0]["max_checks"] = "12"
    report = plans.import_inspectors(store, write_csv(tmp_path / "inspectors.csv", rows))
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 1)


def test_import_inspectors_invalid_rows_store_nothing(store, tmp_path):
    rows = [dict(r) for r in INSPECTOR_CSV]
    rows[0]["region"] = "35050"
    rows[1]["max_checks"] = "many"
    rows[1]["conflicts"] = "91350100XXXXXXXXX1"
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(IntakeError) as exc:
        plans.import_inspectors(store, path)
    text = str(exc.value)
    assert f"{path}:2:region:" in text and f"{path}:3:max_checks:" in text and f"{path}:3:conflicts:" in text
    assert _count(store, schema.inspectors) == 0
    report = plans.import_inspectors(store, path, skip_invalid=True)
    assert report.inserted == 0 and report.rejected == 2 and report.rejects_file.endswith("bad.rejects.csv")


def test_import_inspectors_jsonl_and_xlsx(sqlite_store, tmp_path):
    import openpyxl

    path = tmp_path / "i.jsonl"
    path.write_text(
        json.dumps(
            {
                "code": "J1",
                "name": "张",
                "department": "税务",
                "region": 350503,
                "specialties": ["纳税"],
                "max_checks": 3,
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    assert plans.import_inspectors(sqlite_store, path).inserted == 1
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["code", "name", "department", "region", "specialties", "max_checks", "home_region"])
    sheet.append(["X1", "李", "市场监管", 350500, "食品安全、价格", 4, 350503001])
    book.save(tmp_path / "i.xlsx")
    assert plans.import_inspectors(sqlite_store, tmp_path / "i.xlsx").inserted == 1
    with sqlite_store.read() as conn:
        x1 = next(i for i in q.active_inspectors(conn) if i["code"] == "X1")
    assert x1["home_region"] == "350503001" and x1["specialties"] == ["食品安全", "价格"]


# -- results -----------------------------------------------------------------------------------------


def _plan_with_checks(store, n=30):
    cycle_id, rows = build_cycle(store, n=n, regions=("350503",), weights={"D": 1.0}, persons_every=5)
    add_inspectors(store, inspector_rows(4, regions=("350503",), max_checks=100, city_every=0))
    r = plans.draw_plan(store, cycle_id, "s")
    return r["plan_id"], _stored(store, r["plan_id"])["checks"]


def test_results_import_records_and_abnormal(store, tmp_path):
    plan_id, checks = _plan_with_checks(store)
    rows = [
        {
            "plan": plan_id,
            "check": 1,
            "code": checks[0]["code"],
            "outcome": "未发现问题",
            "penalty_ref": "",
            "inspected_on": "2025-07-10",
        },
        {
            "plan": plan_id,
            "check": "",
            "code": checks[1]["code"],
            "outcome": "发现问题",
            "penalty_ref": "泉市监罚〔2025〕12号",
            "inspected_on": "2025-07-11",
        },
        {
            "plan": plan_id,
            "check": 3,
            "code": "",
            "outcome": "查无下落（通过登记的住所无法联系）",
            "penalty_ref": "",
            "inspected_on": "2025-07-12",
        },
        {"plan": plan_id, "check": 4, "code": "", "outcome": "refused", "penalty_ref": "", "inspected_on": "2025/7/12"},
    ]
    report = plans.import_results(store, write_csv(tmp_path / "results.csv", rows), KINDS)
    assert report.inserted == 4
    with store.read() as conn:
        recs = conn.execute(
            sa.select(schema.records.c.entity_id, schema.records.c.kind, schema.records.c.data).order_by(
                schema.records.c.id
            )
        ).all()
    kinds = [r.kind for r in recs]
    assert kinds.count("inspection_result") == 4 and kinds.count("abnormal_operation") == 1
    abnormal = next(r for r in recs if r.kind == "abnormal_operation")
    assert abnormal.data == {"date": "2025-07-12", "cause": "unreachable_address"}
    outcomes = {r.data["check_id"]: r.data["outcome"] for r in recs if r.kind == "inspection_result"}
    assert sorted(outcomes.values()) == ["clean", "not_found", "problems", "refused"]
    again = write_csv(tmp_path / "again.csv", [rows[0]])
    with pytest.raises(IntakeError, match="already has a result"):
        plans.import_results(store, again, KINDS)


def test_results_import_errors_store_nothing(store, tmp_path):
    plan_id, checks = _plan_with_checks(store)
    rows = [
        {"plan": plan_id, "check": 1, "code": "", "outcome": "clean", "penalty_ref": "", "inspected_on": "2025-07-10"},
        {
            "plan": plan_id,
            "check": 999,
            "code": "",
            "outcome": "clean",
            "penalty_ref": "",
            "inspected_on": "2025-07-10",
        },
        {"plan": plan_id, "check": 1, "code": "", "outcome": "clean", "penalty_ref": "", "inspected_on": "2025-07-10"},
        {
            "plan": plan_id,
            "check": 2,
            "code": "",
            "outcome": "problems",
            "penalty_ref": "",
            "inspected_on": "2025-07-10",
        },
        {
            "plan": plan_id,
            "check": 5,
            "code": checks[6]["code"],
            "outcome": "clean",
            "penalty_ref": "",
            "inspected_on": "2025-07-10",
        },
        {"plan": 77, "check": 1, "code": "", "outcome": "clean", "penalty_ref": "", "inspected_on": "2025-07-10"},
        {"plan": plan_id, "check": 6, "code": "", "outcome": "maybe", "penalty_ref": "", "inspected_on": "2025-07-10"},
    ]
    path = write_csv(tmp_path / "r.csv", rows)
    with pytest.raises(IntakeError) as exc:
        plans.import_results(store, path, KINDS)
    text = str(exc.value)
    assert f"{path}:3:check: check 999 is not in plan {plan_id}" in text
    assert f"{path}:4:check: check 1 of plan {plan_id} already has a result in row 2" in text
    assert f"{path}:5:penalty_ref:" in text
    assert f"{path}:6:code: check 5 of plan {plan_id} is for entity" in text
    assert f"{path}:7:plan: no plan 77" in text
    assert f"{path}:8:outcome:" in text
    assert _count(store, schema.check_results) == 0 and _count(store, schema.records) == 0


def test_publish_results_deadline_flags(store, tmp_path):
    plan_id, checks = _plan_with_checks(store)
    rows = [{"plan": plan_id, "check": i, "outcome": "clean", "inspected_on": "2025-07-01"} for i in (1, 2)]
    plans.import_results(store, write_csv(tmp_path / "r1.csv", rows), KINDS)
    # 20 working days after Tue 2025-07-01 is Tue 2025-07-29.
    d = plans.plan_details(store, plan_id, dt.date(2025, 7, 29))
    assert d["flags"] == [] and d["checks"][0]["result"]["deadline"] == dt.date(2025, 7, 29)
    d = plans.plan_details(store, plan_id, dt.date(2025, 7, 30))
    assert [f["flag"] for f in d["flags"]] == ["overdue", "overdue"]
    out = plans.publish_results(store, plan_id, tmp_path / "pub", on=dt.date(2025, 8, 4))
    assert len(out["late"]) == 2
    plans.import_results(
        store,
        write_csv(
            tmp_path / "r2.csv", [{"plan": plan_id, "check": 3, "outcome": "clean", "inspected_on": "2025-08-01"}]
        ),
        KINDS,
    )
    plans.publish_results(store, plan_id, tmp_path / "pub", on=dt.date(2025, 8, 5))
    d = plans.plan_details(store, plan_id, dt.date(2025, 12, 1))
    assert [(f["seq"], f["flag"]) for f in d["flags"]] == [(1, "published_late"), (2, "published_late")]
    third = d["checks"][2]["result"]
    assert third["published_on"] == dt.date(2025, 8, 5) and third["flag"] is None
    assert [p["kind"] for p in d["publications"]] == ["results", "results"]


def test_publish_plan_masks_persons_and_escapes(store, tmp_path):
    plan_id, checks = _plan_with_checks(store)
    with store.transaction() as conn:
        first = checks[0]
        conn.execute(
            sa.update(schema.entities)
            .where(schema.entities.c.code == first["code"])
            .values(name="<script>alert(1)</script>&Co")
        )
    out = plans.publish_plan(store, plan_id, tmp_path / "public", on=dt.date(2025, 7, 2))
    page = (tmp_path / "public" / f"plan-{plan_id}.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;&amp;Co" in page
    persons = [c for c in checks if c["code_kind"] == "person"]
    assert persons
    for c in persons:
        assert c["code"] not in page and c["name"] not in page
        assert mask_person_id(c["code"]) in page and mask_name(c["name"]) in page
    data = json.loads((tmp_path / "public" / f"plan-{plan_id}.json").read_text(encoding="utf-8"))
    assert len(data["checks"]) == len(checks) and data["seed"] == "s"
    assert data["checks"][0]["inspectors"][0]["department"] == "泉州市市场监督管理局"
    with open(tmp_path / "public" / f"plan-{plan_id}.csv", encoding="utf-8-sig") as handle:
        assert len(list(csv.reader(handle))) == len(checks) + 1
    assert out["published_on"] == dt.date(2025, 7, 2)
    assert [p["kind"] for p in _stored(store, plan_id)["publications"]] == ["plan"]


def test_export_csv_and_xlsx(sqlite_store, tmp_path):
    import openpyxl

    plan_id, checks = _plan_with_checks(sqlite_store, n=10)
    plans.export_plan(sqlite_store, plan_id, "csv", tmp_path / "p.csv")
    with open(tmp_path / "p.csv", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["统一社会信用代码/证件号码"] for r in rows] == [c["code"] for c in checks]
    assert all(len(r["执法证号"].split("、")) == 2 for r in rows)
    plans.export_plan(sqlite_store, plan_id, "xlsx", tmp_path / "p.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "p.xlsx").active
    assert sheet.max_row == len(checks) + 1


# -- CLI --------------------------------------------------------------------------------------------


def test_cli_full_flow(runner, sqlite_url, sqlite_store, tmp_path, factory):
    db = ["--db", sqlite_url]
    cycle_id, rows = build_cycle(sqlite_store, n=60, regions=("350503",), weights={"C": 0.5, "D": 0.5})
    path = write_csv(
        tmp_path / "inspectors.csv",
        [
            {
                "code": f"ZF{i}",
                "name": f"人员{i}",
                "department": "泉州市市场监督管理局",
                "region": "3505",
                "specialties": "食品安全、价格",
                "max_checks": 40,
            }
            for i in range(5)
        ],
    )
    res = runner.invoke(cli, [*db, "import", "inspectors", str(path)])
    assert res.exit_code == 0, res.output
    assert "5 new" in res.output and "inspectors" in res.output
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "2025-07-01"])
    assert res.exit_code == 0, res.output
    assert "Plan 1 drawn for cycle" in res.output and "supervise plan verify 1" in res.output
    res = runner.invoke(cli, [*db, "plan", "verify", "1"])
    assert res.exit_code == 0 and "Plan 1 verified" in res.output
    res = runner.invoke(cli, [*db, "plan", "show", "1", "--json"])
    assert res.exit_code == 0
    shown = json.loads(res.output)
    assert shown["totals"]["checks"] == len(shown["checks"]) and shown["strata"]
    res = runner.invoke(cli, [*db, "plan", "show", "1", "--limit", "3"])
    assert res.exit_code == 0 and "more (--limit 0 lists all" in res.output
    res = runner.invoke(cli, [*db, "plan", "export", "1", "--format", "xlsx", "--out", str(tmp_path / "p.xlsx")])
    assert res.exit_code == 0 and "written to" in res.output
    res = runner.invoke(cli, [*db, "plan", "publish", "1", "--out", str(tmp_path / "pub"), "--on", "2025-07-02"])
    assert res.exit_code == 0 and "published on 2025-07-02" in res.output
    first = shown["checks"][0]
    results = write_csv(
        tmp_path / "results.csv",
        [
            {
                "计划编号": 1,
                "序号": 1,
                "统一社会信用代码": first["code"],
                "检查结果": "未发现问题",
                "检查日期": "2025-07-10",
            }
        ],
    )
    res = runner.invoke(cli, [*db, "plan", "results", "import", str(results)])
    assert res.exit_code == 0, res.output
    assert "1 new" in res.output
    bad = write_csv(tmp_path / "bad.csv", [{"plan": 1, "check": 500, "outcome": "clean", "inspected_on": "2025-07-10"}])
    res = runner.invoke(cli, [*db, "plan", "results", "import", str(bad)])
    assert res.exit_code == 1 and "check 500 is not in plan 1" in res.output and "nothing was stored" in res.output
    res = runner.invoke(
        cli, [*db, "plan", "results", "publish", "1", "--out", str(tmp_path / "pub"), "--on", "2025-09-01"]
    )
    assert res.exit_code == 0 and "published after their deadline" in res.output
    res = runner.invoke(cli, [*db, "plan", "show", "1", "--as-of", "2025-09-02"])
    assert res.exit_code == 0 and "LATE: check 1" in res.output


def test_cli_errors(runner, sqlite_url, sqlite_store, tmp_path):
    db = ["--db", sqlite_url]
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", "42", "--seed", "x"])
    assert res.exit_code == 1 and "No cycle with id 42" in res.output
    cycle_id, _rows = build_cycle(sqlite_store, n=30, regions=("350503",), weights={"D": 1.0})
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "x"])
    assert res.exit_code == 1 and "import inspectors" in res.output
    add_inspectors(sqlite_store, inspector_rows(1, regions=("350503",), max_checks=100, city_every=0))
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "x"])
    assert res.exit_code == 1
    assert "cannot cover the draw" in res.output
    assert "region 350503: 30 checks short by 30 inspector slots" in res.output
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "x", "--per-check", "0"])
    assert res.exit_code == 2 and "--per-check" in res.output
    res = runner.invoke(cli, [*db, "plan", "verify", "9"])
    assert res.exit_code == 1 and "No plan 9" in res.output
    res = runner.invoke(cli, [*db, "plan", "draw", "--cycle", str(cycle_id), "--seed", "x", "--per-check", "1"])
    assert res.exit_code == 0, res.output
    with sqlite_store.transaction() as conn:
        conn.execute(sa.update(schema.plan_checks).where(schema.plan_checks.c.seq == 2).values(reason="forced"))
    res = runner.invoke(cli, [*db, "plan", "verify", "1"])
    assert res.exit_code == 1 and "does NOT verify" in res.output and "check 2: reason stored forced" in res.output


def test_every_plan_command_has_help_and_example(runner):
    group = cli.commands["plan"]
    names = [[n] for n in group.commands if n != "results"]
    names += [["results", n] for n in group.commands["results"].commands]
    for name in names:
        res = runner.invoke(cli, ["plan", *name, "--help"])
        assert res.exit_code == 0 and "Example:" in res.output, name
    res = runner.invoke(cli, ["import", "inspectors", "--help"])
    assert res.exit_code == 0 and "Example:" in res.output


def test_cycle_builder_matches_contract(sqlite_store):
    with sqlite_store.transaction() as conn:
        ids = insert_entities(conn, entity_rows(3))
        cycle_id = insert_cycle(conn, [(i, "B", 0.2, False) for i in ids.values()])
        cycle = get_cycle(conn, cycle_id)
    assert cycle["status"] == "committed" and cycle["pack_body"]["version"]["inspection"] == {}
