"""The shipped market-supervision pack decides as the articles say (issue 15, ../shared/domain.md §10.2, §4.3, §5).

Each test goes through the real CLI, store (SQLite and PostgreSQL), durable-rules and Jinja notices with the shipped
pack ``policies/packs/market-credit-risk.yaml``, or a local copy of it where the test is about what a local pack may
change. Every test is named after the rule and cites its article.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from engine.facts import FactCompiler
from engine.store import Store
from policies import get_pack
from policies.loader import load_pack as load_pack_file
from tests.builders_engine import penalty_row
from tests.conftest import cli_json, cli_run, write_csv

REGION = "350503"  # 泉州 (the shipped pack's authority covers 3505)
SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "packs" / "market-credit-risk.yaml"
CJK_ONLY = re.compile(r"[A-Za-z_]{4,}")  # an English word or a rule id in text meant for the party


run, js = cli_run, cli_json


def new_entity(store: Store, factory, tmp_path: Path) -> str:
    row = factory.entity(code=factory.uscc(region=REGION), region=REGION, entity_type="enterprise")
    run(store, "import", "entities", str(write_csv(tmp_path / f"e{factory.n}.csv", [row])))
    return row["code"]


def records(store: Store, tmp_path: Path, rows: list[dict]) -> None:
    path = write_csv(tmp_path / f"r{len(list(tmp_path.iterdir()))}.csv", rows)
    run(store, "import", "records", str(path))


def abnormal(code: str, date: str, removed_on: str = "") -> dict:
    return {
        "code": code,
        "kind": "abnormal_operation",
        "date": date,
        "cause": "annual_report_missing",
        "removed_on": removed_on,
    }


def penalty(code: str, decision_no: str, date: str, severity: str, **over: str) -> dict:
    return penalty_row(code, decision_no=decision_no, date=date, severity=severity, **over)


def entries(store: Store, code: str) -> dict[str, dict]:
    return {e["list"]: e for e in js(store, "lists", "history", code)["entries"]}


def notice_text(store: Store, kind: str, entry_id: int) -> str:
    (number,) = [n["number"] for n in js(store, "notices", "list") if n["kind"] == kind and n["entry_id"] == entry_id]
    return run(store, "notices", "show", number).output


def local_pack(tmp_path: Path, old: str, new: str, name: str = "local.yaml") -> Path:
    """A local copy of the shipped pack with one passage changed (what a local regulator may do)."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# -- 经营异常名录 ------------------------------------------------------------------------------------------------


def test_abnormal_list_has_no_timer_and_ends_when_the_cause_is_cured(store, factory, tmp_path):
    """3号 Art.5 (§10.2): an 经营异常名录 entry never expires on a timer; it ends only when the cause is cured
    (``removed_on`` of the abnormal-operation record). The public list shows it "至移出之日", not a date."""
    code = new_entity(store, factory, tmp_path)
    records(store, tmp_path, [abnormal(code, "2024-01-10")])
    js(store, "cycle", "run", "--policy", "market-credit-risk", "--period", "2024-01-31", "--as-of", "2024-01-31")
    entry = entries(store, code)["abnormal"]
    assert entry["state"] == "listed" and entry["events"][-1]["data"]["until"] is None
    # Long past the 36 months the list once had: still listed, and shown until removal.
    adv = js(store, "lists", "advance", "--as-of", "2027-06-01")
    assert adv["expired"] == [] and entries(store, code)["abnormal"]["state"] == "listed"
    shown = js(store, "lists", "show", "abnormal", "--as-of", "2027-06-01")["entries"]
    assert [e["code"] for e in shown] == [code]
    site = tmp_path / "site"
    run(store, "lists", "publish", "--as-of", "2027-06-01", "--out", str(site))
    page = "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.html"))
    assert "至移出之日" in page and "None" not in page
    # The cause is cured: the entry ends as cured, with the removal decision naming the cure.
    records(store, tmp_path, [abnormal(code, "2024-01-10", removed_on="2026-11-20")])
    assert len(js(store, "lists", "advance", "--as-of", "2027-06-02")["cured"]) == 1
    entry = entries(store, code)["abnormal"]
    assert entry["state"] == "repaired"
    decision = notice_text(store, "removal_decision", entry["id"])
    assert (
        "经营异常名录记载的情形（" in decision
        and "因未按规定报送年度报告被列入经营异常名录）已于2026年11月20日消除" in decision
    )
    assert "根据《市场监督管理信用修复管理办法》（国市监信规〔2021〕3号）第五条的规定" in decision


def test_abnormal_list_max_months_null_means_no_maximum_and_omitting_it_is_refused(tmp_path):
    """3号 Art.5: the pack format says "no maximum" as ``max_months: null``; a list that leaves the key out is
    refused, so no list loses its maximum by omission."""
    pack = load_pack_file(SHIPPED)
    assert pack.versions[-1].lists["abnormal"]["max_months"] is None
    gone = local_pack(tmp_path, "        max_months: null\n", "")
    with pytest.raises(Exception, match=r"lists\.abnormal\.max_months: 'max_months' is required"):
        load_pack_file(gone)


def test_still_abnormal_after_3_years_is_proposed_for_the_black_list(store, factory, tmp_path):
    """§10.2 (SAIC 2014 rule on Order 68, V): an entity still on the 经营异常名录 3 years after listing is proposed for
    the serious-illegal list, with the pre-listing notice; one whose cause was cured in time is not."""
    stuck, cured = new_entity(store, factory, tmp_path), new_entity(store, factory, tmp_path)
    records(store, tmp_path, [abnormal(stuck, "2023-01-05"), abnormal(cured, "2023-01-05", removed_on="2025-12-01")])
    day_before = js(store, "evaluate", stuck, "--policy", "market-credit-risk", "--as-of", "2026-01-04")
    assert day_before["facts"].get("abnormal_open_3y", 0) == 0
    assert [x["list"] for x in day_before["lists"]] == ["abnormal"]
    on_the_day = js(store, "evaluate", stuck, "--policy", "market-credit-risk", "--as-of", "2026-01-05")
    assert on_the_day["facts"]["abnormal_open_3y"] == 1
    (black,) = [x for x in on_the_day["lists"] if x["list"] == "black"]
    assert black["rule"] == "black-abnormal-3y" and "经营异常名录管理暂行办法" in black["basis"]

    cycle = js(
        store, "cycle", "run", "--policy", "market-credit-risk", "--period", "2026-01-05", "--as-of", "2026-01-05"
    )
    assert cycle["lists"]["proposed"] == {"black": 1, "abnormal": 1}
    run(store, "lists", "serve", "--cycle", str(cycle["cycle"]), "--on", "2026-01-06")
    assert "black" not in entries(store, cured)
    entry = entries(store, stuck)["black"]
    assert entry["state"] == "notified"
    notice = notice_text(store, "pre_listing", entry["id"])
    assert "被列入经营异常名录届满3年仍未履行相关义务，拟列入严重违法失信名单" in notice
    assert "2023年1月5日因未按规定报送年度报告被列入经营异常名录" in notice
    assert "《企业经营异常名录管理暂行办法》（原国家工商行政管理总局令第68号）" in notice
    assert "不适用告知承诺制" in notice and "法定代表人" not in notice
    repair = notice_text(store, "repair_instructions", entry["id"])
    assert "和《市场监督管理严重违法失信名单管理办法》（国家市场监督管理总局令第44号）第二十条的规定" in repair
    assert "（四）自列入之日起未再受到市场监督管理部门较重行政处罚" in repair
    assert not CJK_ONLY.findall(notice.split("测试企业")[1].replace("www.creditchina.gov.cn", ""))


def test_still_abnormal_after_3_years_is_a_pack_setting_a_local_pack_may_leave_out(store, factory, tmp_path):
    """§10.2: the move to the black list after 3 years is configurable per pack: on in the shipped pack (rule
    black-abnormal-3y), off in a local pack that leaves the rule out."""
    code = new_entity(store, factory, tmp_path)
    records(store, tmp_path, [abnormal(code, "2023-01-05")])
    text = SHIPPED.read_text(encoding="utf-8")
    start = text.index("      - id: black-abnormal-3y")
    end = text.index("      - id: abnormal-open")
    off = local_pack(tmp_path, text[start:end], "")
    got = js(store, "evaluate", code, "--policy", str(off), "--as-of", "2026-06-30")
    assert [x["list"] for x in got["lists"]] == ["abnormal"]
    shipped = js(store, "evaluate", code, "--policy", "market-credit-risk", "--as-of", "2026-06-30")
    assert sorted(x["list"] for x in shipped["lists"]) == ["abnormal", "black"]


@pytest.mark.parametrize("as_of", [dt.date(2026, 1, 4), dt.date(2026, 1, 5), dt.date(2026, 2, 28)])
def test_abnormal_open_3y_both_fact_paths_agree(as_of):
    """3号 Art.5 / §10.2: ``open: abnormal_operation, open_for: 36m`` counts the entries listed at least 36 months
    before the as-of date and not removed by then; the single pass, the per-fact reference and ``matching`` agree."""
    fc = FactCompiler(get_pack("market-credit-risk").version_at(as_of), as_of)

    def rec(date: str, removed: str | None = None) -> tuple:
        data = {"date": date, "cause": "other", **({"removed_on": removed} if removed else {})}
        return ("abnormal_operation", dt.date.fromisoformat(date), data)

    recs = [rec("2022-12-01", "2025-12-31"), rec("2023-01-05"), rec("2023-01-06", "2026-02-01"), rec("2024-05-01")]
    entity = {"id": 1, "code": "C", "code_kind": "uscc", "entity_type": "enterprise", "established_on": None}
    one, each = fc.compute(entity, recs), fc.compute_each(entity, recs)
    assert repr(one) == repr(each)
    want = {dt.date(2026, 1, 4): 0, dt.date(2026, 1, 5): 1, dt.date(2026, 2, 28): 1}[as_of]
    assert one["abnormal_open_3y"] == want
    assert len(fc.matching(recs, ["abnormal_open_3y"]).get("abnormal_open_3y", [])) == want
    assert one["open_abnormal"] == (3 if as_of < dt.date(2026, 2, 1) else 2)


# -- 严重违法失信名单: early removal ------------------------------------------------------------------------------


def listed_black(store: Store, factory, tmp_path: Path) -> tuple[str, int]:
    """An entity on the black list for a serious food penalty (fulfilled), listed on 2025-07-17."""
    code = new_entity(store, factory, tmp_path)
    records(
        store, tmp_path, [penalty(code, "泉市监罚〔2025〕12号", "2025-03-01", "serious", fulfilled_on="2025-04-01")]
    )
    cycle = js(
        store, "cycle", "run", "--policy", "market-credit-risk", "--period", "2025-06-30", "--as-of", "2025-06-30"
    )
    run(store, "lists", "serve", "--cycle", str(cycle["cycle"]), "--on", "2025-07-01")
    run(store, "lists", "advance", "--as-of", "2025-07-31")
    entry = entries(store, code)["black"]
    assert entry["state"] == "listed" and entry["events"][-1]["valid_from"] == "2025-07-17"
    return code, entry["id"]


def apply(store: Store, tmp_path: Path, entry_id: int, on: str) -> dict:
    commitment = tmp_path / "承诺书.pdf"
    commitment.write_bytes(b"%PDF commitment")
    args = ("repair", "apply", "--entry", str(entry_id), "--commitment", str(commitment), "--on", on, "--json")
    result = run(store, *args, ok=False)  # a refusal exits 1 after printing the stored application
    assert result.exit_code in (0, 1), result.output
    return json.JSONDecoder().raw_decode(result.output)[0]


def test_black_list_early_removal_after_one_year_with_obligations_fulfilled(store, factory, tmp_path):
    """Order 44 Art.20 (3号): after >= 1 year on the list, obligations fulfilled and a 信用承诺, the entity may be
    removed early: no training, credit report, repair count or cooldown in the shipped default; a minor penalty
    (警告, small fine) since listing does not bar it."""
    code, entry_id = listed_black(store, factory, tmp_path)
    records(
        store,
        tmp_path,
        [penalty(code, "泉市监罚〔2025〕300号", "2025-10-10", "minor", field="advertising", amount="500")],
    )
    early = apply(store, tmp_path, entry_id, "2026-07-16")
    assert early["status"] == "refused" and early["eligibility"]["unmet"] == ["min_period"]
    r = apply(store, tmp_path, entry_id, "2026-07-17")
    assert r["status"] == "pending", r
    names = [c["condition"] for c in r["eligibility"]["conditions"]]
    assert names == ["min_period", "obligations_fulfilled", "no_heavier_penalty_since_listing", "commitment"]
    run(
        store,
        "repair",
        "decide",
        str(r["application_id"]),
        "--approve",
        "--reason",
        "符合提前移出条件",
        "--on",
        "2026-07-20",
    )
    entry = entries(store, code)["black"]
    assert entry["state"] == "repaired"
    decision = notice_text(store, "removal_decision", entry_id)
    assert "符合提前移出条件" in decision and "不适用告知承诺制" in decision  # the measures lifted, each named
    assert "根据《市场监督管理严重违法失信名单管理办法》（国家市场监督管理总局令第44号）第二十条的规定" in decision
    assert "第二条" not in decision


def test_black_list_early_removal_barred_by_a_heavier_penalty_in_any_field(store, factory, tmp_path):
    """Order 44 Art.20(三): a new 较重 (general or serious) market-supervision penalty in any field since listing bars
    early removal; the refusal names it by its decision number, in Chinese. One annulled by the application date
    (Order 44 Art.19) no longer bars."""
    code, entry_id = listed_black(store, factory, tmp_path)
    heavier = penalty(
        code, "泉市监罚〔2025〕301号", "2025-11-03", "general", field="advertising", fulfilled_on="2025-12-01"
    )
    records(store, tmp_path, [heavier])
    r = apply(store, tmp_path, entry_id, "2026-07-20")
    assert r["status"] == "refused" and r["eligibility"]["unmet"] == ["no_heavier_penalty_since_listing"]
    assert r["eligibility"]["earliest_on"] is None  # waiting does not help: this entry cannot be removed early
    (cond,) = [c for c in r["eligibility"]["conditions"] if c["condition"] == "no_heavier_penalty_since_listing"]
    assert cond["detail"] == (
        "自2025年7月17日列入以来受到较重行政处罚：泉市监罚〔2025〕301号（2025年11月3日，泉州市市场监督管理局作出），"
        "不符合提前移出条件"
    )
    assert "泉市监罚〔2025〕301号" in r["message"] and "cannot be repaired" in r["message"]
    records(store, tmp_path, [heavier | {"annulled_on": "2026-05-01"}])
    assert apply(store, tmp_path, entry_id, "2026-07-21")["status"] == "pending"


def test_black_list_default_has_no_repair_count_or_cooldown_a_local_pack_may_add_them(store, factory, tmp_path):
    """§10.2 (Order 44; crsrw.com 88153): "at most 2 repairs in 5 years" and a 12-month cooldown are local examples,
    not Order 44: the shipped default has neither; the format keeps both for a local pack, which then enforces them."""
    repair = load_pack_file(SHIPPED).versions[-1].lists["black"]["repair"]
    assert "max_repairs" not in repair and "cooldown_months" not in repair
    assert repair["requires"] == ["obligations_fulfilled", "commitment", "no_heavier_penalty_since_listing"]
    local = local_pack(
        tmp_path,
        "          decide_days: 15\n",
        "          decide_days: 15\n          max_repairs: {count: 1, years: 5}\n          cooldown_months: 12\n",
    )
    assert load_pack_file(local).versions[-1].lists["black"]["repair"]["max_repairs"] == {"count": 1, "years": 5}
    # The local pack enforces its limit: a second early removal within 5 years of the first is refused.
    code = new_entity(store, factory, tmp_path)
    records(store, tmp_path, [penalty(code, "泉市监罚〔2024〕5号", "2024-03-01", "serious", fulfilled_on="2024-04-01")])
    first = js(store, "cycle", "run", "--policy", str(local), "--period", "2024-06-30", "--as-of", "2024-06-30")
    run(store, "lists", "serve", "--cycle", str(first["cycle"]), "--on", "2024-07-01")
    run(store, "lists", "advance", "--as-of", "2024-07-31")
    entry_id = entries(store, code)["black"]["id"]
    r = apply(store, tmp_path, entry_id, "2025-07-20")
    run(store, "repair", "decide", str(r["application_id"]), "--approve", "--reason", "符合条件", "--on", "2025-07-21")
    records(store, tmp_path, [penalty(code, "泉市监罚〔2025〕9号", "2025-08-01", "serious", fulfilled_on="2025-08-10")])
    second = js(store, "cycle", "run", "--policy", str(local), "--period", "2025-08-31", "--as-of", "2025-08-31")
    run(store, "lists", "serve", "--cycle", str(second["cycle"]), "--on", "2025-09-01")
    run(store, "lists", "advance", "--as-of", "2025-09-30")
    again = entries(store, code)["black"]
    assert again["state"] == "listed" and again["id"] != entry_id
    refused = apply(store, tmp_path, again["id"], "2026-09-30")
    assert refused["status"] == "refused" and refused["eligibility"]["unmet"] == ["max_repairs"]


# -- penalties up to their annulment; measures; citations -----------------------------------------------------


def test_penalty_counts_until_its_annulment_date(store, factory, tmp_path):
    """Order 44 Art.19: a penalty annulled later counts up to its ``annulled_on`` date: an evaluation as of an earlier
    date still sees it (risk class D), one as of the annulment date or later does not."""
    code = new_entity(store, factory, tmp_path)
    records(store, tmp_path, [penalty(code, "泉市监罚〔2025〕12号", "2025-11-03", "serious", annulled_on="2026-03-05")])
    before = js(store, "evaluate", code, "--policy", "market-credit-risk", "--as-of", "2026-03-04")
    assert before["facts"]["serious_penalties_3y"] == 1 and before["tier"] == "D"
    after = js(store, "evaluate", code, "--policy", "market-credit-risk", "--as-of", "2026-03-05")
    assert after["facts"].get("serious_penalties_3y", 0) == 0 and after["tier"] != "D"


def test_order_44_measures_and_35_citations_as_section_10_2():
    """Order 44 (§10.2, P): the serious-illegal list's measures are stricter inspection, limits on procurement /
    bidding, state land and honours, and 不适用告知承诺制; restricting officers' posts is not Order 44's. 国办发〔2019〕
    35号: incentives cite items (七)-(八), joint sanctions (十). Uncertain citations are marked team_choice."""
    version = load_pack_file(SHIPPED).versions[-1]
    black = version.lists["black"]["measures"]
    texts = [version.measures[m]["text"] for m in black]
    assert texts == [
        "列为重点监管对象，提高检查频次",
        "依法限制参加政府采购",
        "依法限制参与工程招投标",
        "依法限制取得国有土地使用权",
        "不得授予相关荣誉称号",
        "不适用告知承诺制",
    ]
    assert not any("法定代表人" in m["text"] for m in version.measures.values())
    raw = version.raw
    for mid in black:
        assert raw["measures"][mid]["status"] == "team_choice" and raw["measures"][mid]["note"]
    incentives = [m for m in raw["measures"].values() if m["kind"] == "incentive"]
    assert {m["basis"]["article"] for m in incentives} == {"（一）", "（七）、（八）"}
    rules = {r["id"]: r for r in raw["list_rules"]}
    assert rules["red-low-risk-honoured"]["basis"]["article"] == "（七）、（八）"
    assert rules["black-abnormal-3y"]["status"] == "team_choice"
    # Every article cited is declared under its basis document's articles.
    cited = [(m["basis"]["doc"], m["basis"].get("article")) for m in raw["measures"].values()]
    cited += [(r["basis"]["doc"], r["basis"].get("article")) for r in raw["list_rules"] + raw["tier_rules"]]
    for doc, article in cited:
        for part in (article or "").split("、") if article else ():
            assert part in raw["basis"][doc]["articles"], (doc, part)


def test_pack_format_status_team_choice_needs_a_note_and_open_for_is_a_duration(tmp_path):
    """docs/policy-format.md: ``status: team_choice`` (primary text not found) comes with its ``note``; ``open_for``
    of an open source is a duration Nm / Ny."""
    bad = local_pack(
        tmp_path,
        "        status: team_choice\n        note: >-\n          §10.2 (V)",
        "        status: guessed\n        note: >-\n          §10.2 (V)",
    )
    with pytest.raises(Exception, match=r"'guessed' is not a status; use team_choice"):
        load_pack_file(bad)
    worse = local_pack(tmp_path, "open_for: 36m}", "open_for: three years}", name="worse.yaml")
    with pytest.raises(Exception, match=r"'three years' is not a duration"):
        load_pack_file(worse)


def test_annulled_penalty_revokes_the_listing_and_the_decision_cites_art_19(store, factory, tmp_path):
    """Order 44 Art.19: when the penalty behind a listing is annulled, the listing is cancelled from the annulment
    date and publication stops; the removal decision cites Art.19, not the listing article."""
    code, entry_id = listed_black(store, factory, tmp_path)
    fixed = penalty(code, "泉市监罚〔2025〕12号", "2025-03-01", "serious", fulfilled_on="2025-04-01")
    records(store, tmp_path, [fixed | {"annulled_on": "2025-09-10"}])
    assert js(store, "lists", "advance", "--as-of", "2025-09-12")["revoked"] == [entry_id]
    entry = entries(store, code)["black"]
    assert entry["state"] == "revoked" and entry["events"][-1]["valid_from"] == "2025-09-10"
    decision = notice_text(store, "removal_decision", entry_id)
    assert "行政处罚决定（泉市监罚〔2025〕12号）已于2025年9月10日被依法撤销" in decision
    assert "根据《市场监督管理严重违法失信名单管理办法》（国家市场监督管理总局令第44号）第十九条的规定" in decision
