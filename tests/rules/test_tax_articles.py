"""The tax-credit pack decides as the articles say (issue 15, ../shared/domain.md §10.1).

One test per finding, named after the rule, its article in the docstring. Entities are evaluated from the register
through the real store (SQLite and PostgreSQL), facts, durable-rules and the explanation a clerk reads out.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from engine.evaluate import explain_text
from engine.pipeline.evaluate import evaluate_entity
from policies import get_pack
from tests.builders_engine import Register, mini_pack, tax, violation
from tests.rules.test_policies import one, problems_of

D = dt.date


@pytest.fixture
def reg(store):
    return Register(store)


def rated(store, code: str, year: int, as_of: D | None = None) -> tuple[dict, str]:
    """(result, explanation) of the evaluation of ``year`` as the April after it."""
    result, version = evaluate_entity(store, code, "tax-credit", as_of or D(year + 1, 4, 30))
    assert result["period"] == str(year)
    return result, explain_text(result, version)


def decisive(result: dict) -> dict:
    return next(r for r in result["reasons"] if r["outcome"] == "decisive")


def test_direct_d_is_kept_next_year_and_bars_a_in_the_third(store, reg):
    """2025 Art.34(4): a direct-D entity keeps D in the next evaluation year and cannot be A in the year after."""
    code = reg.entity(
        established=D(2010, 1, 1), records=[violation("2024-05-10"), tax(2024, 95), tax(2025, 95), tax(2026, 95)]
    )
    r24, _ = rated(store, code, 2024)
    r25, text25 = rated(store, code, 2025)
    r26, _ = rated(store, code, 2026)
    assert (r24["tier"], decisive(r24)["rule"]) == ("D", "d-direct")
    assert (r25["tier"], decisive(r25)["rule"]) == ("D", "d-carry-over")
    assert "第三十四条第（四）项" in decisive(r25)["basis"] and "保留" in text25
    assert (r26["tier"], decisive(r26)["rule"]) == ("B", "b-score")  # 95 points, but the third year is not A


@pytest.mark.parametrize("item, article", [("run_by_abnormal_responsible", "十"), ("run_by_d_responsible", "十一")])
def test_items_ten_and_eleven_are_d_for_the_year_of_the_fact_only(store, reg, item, article):
    """2025 Art.34(4) exception: an entity rated D under Art.18 items (十) or (十一) (registered or run by the
    responsible person of a 非正常户 or of a D entity) is not kept at D: the next year is graded on its score (the
    previous year's D still bars A, Art.17), the year after may be A."""
    code = reg.entity(
        established=D(2010, 1, 1), records=[violation("2025-08-10", item), tax(2025, 95), tax(2026, 95), tax(2027, 95)]
    )
    r25, text25 = rated(store, code, 2025)
    assert r25["tier"] == "D" and f"第十八条第（{article}）项" in text25
    r26, _ = rated(store, code, 2026)
    assert (r26["tier"], decisive(r26)["rule"]) == ("B", "b-score")
    r27, _ = rated(store, code, 2027)
    assert (r27["tier"], decisive(r27)["rule"]) == ("A", "a-score")


def test_score_d_is_not_kept_the_next_score_loses_11_points(store, reg):
    """2025 Art.34(4) (and 2020 No.15 第三条): a D for a score under 40 is not carried over; the next year's
    evaluation deducts 11 points from the imported indicator score, and the explanation says so with its article."""
    code = reg.entity(established=D(2010, 1, 1), records=[tax(2024, 35), tax(2025, 85)])
    result, text = rated(store, code, 2025)
    assert result["facts"]["score"] == 74 and result["facts"]["score_deduction"] is True
    assert (result["tier"], decisive(result)["rule"]) == ("B", "b-score")
    assert "74分" in text and "加扣11分（加扣前85分）" in text and "第三十四条第（四）项" in text
    low = reg.entity(established=D(2010, 1, 1), records=[tax(2024, 35), tax(2025, 45)])
    result, text = rated(store, low, 2025)
    assert (result["tier"], decisive(result)["rule"]) == ("D", "d-score")
    assert "34分" in text and "加扣11分" in text
    # No deduction after a year that was not a score-D.
    fine = reg.entity(established=D(2010, 1, 1), records=[tax(2024, 75), tax(2025, 85)])
    result, text = rated(store, fine, 2025)
    assert result["facts"]["score"] == 85 and result["facts"]["score_deduction"] is False and "加扣" not in text


def test_score_d_two_years_back_lowers_last_years_score_first(store, reg):
    """2020 No.15 第三条 applied year after year: a score-D in 2023 costs 2024 eleven points, which can make 2024 a
    score-D in turn, and then 2025 loses 11 points too."""
    code = reg.entity(established=D(2010, 1, 1), records=[tax(2023, 30), tax(2024, 45), tax(2025, 85)])
    result, _ = rated(store, code, 2025)
    facts = result["facts"]
    assert facts["score_prev"] == 34 and facts["score_prev_deduction"] is True
    assert facts["score"] == 74 and facts["score_deduction"] is True


def test_operating_years_count_calendar_evaluation_years(store, reg):
    """2025 Art.16/Art.17 with §10.1: operating years count evaluation (calendar) years from the establishment
    date; an entity established on or before 1 January of a year has operated that whole year."""
    cases = {
        D(2023, 1, 1): ("A", "a-score"),  # 2023, 2024, 2025: three years, A is open
        D(2023, 1, 2): ("B", "b-score"),  # two whole years: fewer than 3 blocks A
        D(2025, 1, 1): ("B", "b-score"),  # operated the whole of 2025: not new, still blocked from A
        D(2025, 1, 2): ("M", "m-new-entity"),  # less than one evaluation year
    }
    for established, expected in cases.items():
        code = reg.entity(established=established, records=[tax(2025, 95)])
        result, _ = rated(store, code, 2025)
        assert (result["tier"], decisive(result)["rule"]) == expected, established


@pytest.mark.parametrize(
    "as_of, version, period",
    [
        (D(2014, 12, 31), "2014", "2014"),
        (D(2018, 4, 30), "2014", "2017"),
        (D(2018, 12, 31), "2018", "2018"),
        (D(2019, 4, 30), "2018", "2018"),
        (D(2019, 12, 31), "2020", "2019"),
        (D(2020, 4, 30), "2020", "2019"),
        (D(2025, 4, 30), "2020", "2024"),
        (D(2025, 7, 1), "2025", "2024"),
        (D(2026, 4, 30), "2025", "2025"),
    ],
)
def test_the_regime_of_each_evaluation_year(store, reg, as_of, version, period):
    """§10.1: 公告2014年第40号 from 2014-10-01, 公告2018年第8号 from the 2018 evaluation year, 公告2020年第15号 from
    the 2019 evaluation year, 公告2025年第12号 from 2025-07-01: an evaluation as of any date grades by that year's
    rules."""
    code = reg.entity(established=D(2010, 1, 1), records=[tax(int(period), 80)])
    result, _ = evaluate_entity(store, code, "tax-credit", as_of)
    assert (result["policy"]["version"], result["period"], result["tier"]) == (version, period, "B")


def test_2014_regime_keeps_every_d_two_years(store, reg):
    """2014 公告第40号 (Art.32, before 2020 No.15): every D, a score-D included, is kept for the next year, and
    the third year cannot be A."""
    code = reg.entity(established=D(2005, 1, 1), records=[tax(2015, 30), tax(2016, 95), tax(2017, 95), tax(2018, 95)])
    r16, _ = rated(store, code, 2016)
    assert (r16["policy"]["version"], r16["tier"], decisive(r16)["rule"]) == ("2014", "D", "d-carry-over")
    r17, _ = rated(store, code, 2017)
    assert (r17["tier"], decisive(r17)["rule"]) == ("B", "b-score")
    r18, _ = rated(store, code, 2018)  # the 2018 version: the 2015 D is three years back
    assert (r18["policy"]["version"], r18["tier"]) == ("2018", "A")


def test_2020_regime_keeps_only_a_direct_d(store, reg):
    """2020 No.15 第三条: from the 2019 evaluation year a score-D is not kept (11 points off instead), a direct-D
    is kept 2 years with no A in the third; items (十)/(十一) are kept too (the exception is the 2025 measures')."""
    score_d = reg.entity(established=D(2005, 1, 1), records=[tax(2018, 30), tax(2019, 85)])
    result, text = rated(store, score_d, 2019)
    assert (result["policy"]["version"], result["tier"], result["facts"]["score"]) == ("2020", "B", 74)
    assert "第三条" in text and "2020年第15号" in text
    run_by_d = reg.entity(
        established=D(2005, 1, 1), records=[violation("2019-03-01", "run_by_d_responsible"), tax(2020, 95)]
    )
    result, _ = rated(store, run_by_d, 2020)
    assert (result["tier"], decisive(result)["rule"]) == ("D", "d-carry-over")
    assert "2020年第15号" in decisive(result)["basis"] and "第三条" in decisive(result)["basis"]


def test_2014_regime_new_and_revenue_less_entities_not_rated_then_m(store, reg):
    """2014 公告第40号 第十七条: entities under one evaluation year, and (team choice) without revenue, are not
    rated; 公告2018年第8号 rates them M from the 2018 evaluation year (no revenue: with a score of 70 or more)."""
    new16 = reg.entity(established=D(2016, 3, 1), records=[tax(2016, 95)])
    result, _ = rated(store, new16, 2016)
    assert (result["policy"]["version"], result["tier"], decisive(result)["rule"]) == ("2014", "N", "n-new-entity")
    new18 = reg.entity(established=D(2018, 3, 1), records=[tax(2018, 95)])
    result, _ = rated(store, new18, 2018)
    assert (result["policy"]["version"], result["tier"], decisive(result)["rule"]) == ("2018", "M", "m-new-entity")
    assert "2018年第8号" in decisive(result)["basis"]
    idle = reg.entity(established=D(2005, 1, 1), records=[tax(2016, 80, has_revenue=False), tax(2018, 80, False)])
    assert rated(store, idle, 2016)[0]["tier"] == "N"
    assert rated(store, idle, 2018)[0]["tier"] == "M"


def test_continuing_direct_d_states_hold_while_they_last(store, reg):
    """2025 Art.18 items (八) and (九): export refunds suspended and not yet expired, a 非正常户 not yet lifted,
    make every year the state covers a direct-D year (then Art.34(4) keeps D one more year)."""
    household = ("tax_violation", {"date": "2023-05-10", "code": "abnormal_household", "ended_on": "2025-03-01"})
    code = reg.entity(established=D(2010, 1, 1), records=[household] + [tax(y, 95) for y in range(2023, 2028)])
    rules = [decisive(rated(store, code, year)[0])["rule"] for year in range(2023, 2028)]
    assert rules == ["d-direct", "d-direct", "d-direct", "d-carry-over", "b-score"]
    _, text = rated(store, code, 2025)
    assert "第十八条第（九）项" in text and "持续至2025年3月1日" in text


def test_d_list_is_published_until_the_2025_measures():
    """2014 公告第40号 第三十二条: the D list was published; the 2025 measures provide D results to the departments
    concerned instead (Art.34(5))."""
    pack = get_pack("tax-credit")
    published = {v.version: v.lists["watch"]["publish"] for v in pack.versions}
    assert published == {"2014": True, "2018": True, "2020": True, "2025": False}


def test_citations_as_the_articles_give_them():
    """§10.1 articles: 2014 thresholds are 第十八条; M comes from 公告2018年第8号; the carry-over is 2020 No.15
    第三条, titled 《关于纳税信用管理有关事项的公告》; the heavy-tax-violation memo is 发改财金〔2016〕2798号."""
    pack = get_pack("tax-credit")
    v14, v18, v20, v25 = (pack.get_version(x) for x in ("2014", "2018", "2020", "2025"))
    rules = {v.version: {r.id: r for r in v.tier_rules + v.list_rules} for v in (v14, v18, v20, v25)}
    assert "第十八条" in rules["2014"]["c-score"].basis and "第十九条" not in rules["2014"]["c-score"].basis
    assert (
        "2018年第8号" in rules["2018"]["m-new-entity"].basis and "第十七条" not in rules["2018"]["m-new-entity"].basis
    )
    carry = rules["2020"]["d-carry-over"].basis
    assert "关于纳税信用管理有关事项的公告" in carry and "第三条" in carry and "第四条" not in carry
    assert "第三十四条第（四）项" in rules["2025"]["d-carry-over"].basis
    for v in (v14, v18, v20, v25):
        texts = " ".join(m["basis"] for m in v.measures.values()) + rules[v.version]["black-major-dishonest"].basis
        assert "3062号" not in texts
    assert "发改财金〔2016〕2798号" in rules["2014"]["black-major-dishonest"].basis


def test_explanation_names_the_item_in_chinese_without_rule_ids(store, reg):
    """issue 15: the explanation names the exact condition that decided (which of the 13 direct-D items, with its
    article), in Chinese; rule ids, priorities and English stay in --json."""
    code = reg.entity(established=D(2010, 1, 1), records=[violation("2025-03-02", "false_preference_claim")])
    result, text = rated(store, code, 2025)
    assert result["tier"] == "D" and "第十八条第（七）项" in text and "提供虚假申报材料享受税收优惠政策" in text
    assert not re.search(r"[A-Za-z]{2,}", text.replace(code, "")), text


# -- the pack format: articles, adjustments, team choices ----------------------------------------------------


def test_validate_refuses_an_article_the_document_does_not_have(tmp_path, runner):
    """issue 15 proof: `supervise policy validate` checks every article a rule cites exists in that version's
    basis documents."""
    from cli import cli

    path = mini_pack(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("basis: {doc: doc1}}", "basis: {doc: doc1, article: 第九条}}", 1)
    text = re.sub(r"(\n\s+doc1: )\{title: ([^}]*)\}", r"\1{title: \2, articles: 8}", text, count=1)
    path.write_text(text, encoding="utf-8")
    p = one(problems_of(path), "第九条")
    assert "is not an article of doc1" in p and "第一条至第八条" in p
    result = runner.invoke(cli, ["policy", "validate", str(path)])
    assert result.exit_code == 1 and "第九条" in result.output
    undeclared = tmp_path / "undeclared"
    undeclared.mkdir()
    path = mini_pack(undeclared)
    path.write_text(
        path.read_text(encoding="utf-8").replace("basis: {doc: doc1}}", "basis: {doc: doc1, article: 第一条}}", 1),
        encoding="utf-8",
    )
    assert "declares no articles" in one(problems_of(path), "第一条")


def test_adjustments_are_checked(tmp_path):
    """An adjustment names a number fact declared before it, an amount, a condition and its legal basis."""
    path = mini_pack(tmp_path)
    text = path.read_text(encoding="utf-8")
    facts_at = text.index("    facts:\n") + len("    facts:\n")
    bad = (
        "      cut:\n        label: 扣分\n        type: number\n"
        '        source: {adjust: nosuch, add: 0, when: "score < 40", reason: "扣{nosuchfact}分"}\n'
    )
    path.write_text(text[:facts_at] + bad + text[facts_at:], encoding="utf-8")
    problems = problems_of(path)
    assert one(problems, "declare fact 'cut' as bool")
    assert one(problems, "'nosuch' is not a number fact declared before 'cut'")
    assert one(problems, "add is the amount added")
    assert one(problems, "an adjustment cites its legal basis")
    assert one(problems, "placeholder {nosuchfact} is not a fact")


def test_team_choice_needs_a_note_and_every_one_is_listed_in_the_docs(tmp_path):
    """issue 15 proof: where the primary text was not found the pack marks `status: team_choice` with a note, and
    docs/articles.md lists every such choice of the shipped packs."""
    import pathlib

    from policies import list_packs

    path = mini_pack(tmp_path)
    text = path.read_text(encoding="utf-8").replace(
        "basis: {doc: doc1}}", "basis: {doc: doc1}, status: team_choice}", 1
    )
    path.write_text(text, encoding="utf-8")
    assert "a team choice says in a note" in one(problems_of(path), "note")
    docs = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "articles.md").read_text(encoding="utf-8")
    for pack in list_packs():
        for v in pack.versions:
            for kind in ("facts", "tier_rules", "list_rules", "measure_rules", "notice_rules", "lists", "measures"):
                items = v.raw.get(kind) or []
                items = items.items() if isinstance(items, dict) else ((b.get("id"), b) for b in items)
                for name, body in items:
                    if isinstance(body, dict) and body.get("status") == "team_choice":
                        row = next(
                            (
                                line
                                for line in docs.splitlines()
                                if f"| `{pack.id}` {v.version} " in line and f"`{name}`" in line
                            ),
                            None,
                        )
                        assert row, (pack.id, v.version, name)


def test_green_channel_only_after_three_consecutive_a_years(store, reg):
    """2025 Art.33 (2014 Art.30): the green channel / dedicated staff is for taxpayers rated A three years in a row,
    not for every A: the pack reads its own stored grades of the two years before (decision facts), and a year
    without a cycle counts as not A."""
    from engine.pipeline.cycles import run_cycle

    steady = reg.entity(established=D(2010, 1, 1), records=[tax(2023, 95), tax(2024, 95), tax(2025, 95)])
    recent = reg.entity(established=D(2010, 1, 1), records=[tax(2023, 80), tax(2024, 95), tax(2025, 95)])
    for year in (2023, 2024):
        result, _ = rated(store, steady, year)
        assert result["tier"] == "A" and "a-green-channel" not in {m["id"] for m in result["measures"]}
        run_cycle(store, "tax-credit", str(year), as_of=D(year + 1, 4, 30))
    result, text = rated(store, steady, 2025)
    assert result["tier"] == "A" and "a-green-channel" in {m["id"] for m in result["measures"]}
    assert "连续3年A级" in text and "第三十三条" in text
    result, _ = rated(store, recent, 2025)
    assert result["tier"] == "A" and "a-green-channel" not in {m["id"] for m in result["measures"]}
    assert result["facts"]["tier_prev"] == "A" and result["facts"]["tier_prev2"] == "B"


def test_no_deduction_after_a_year_that_was_not_rated_by_score(store, reg):
    """2025 Art.34(4) deducts after a score-D only: the year before a new entity's first whole year was M (Art.16),
    so a low score in it is no D, costs nothing the next year and keeps no D (2014 rules: not rated at all)."""
    code = reg.entity(established=D(2024, 6, 30), records=[tax(2024, 3), tax(2025, 85)])
    prev, _ = rated(store, code, 2024)
    assert prev["tier"] == "M"
    result, text = rated(store, code, 2025)
    assert result["facts"]["score"] == 85 and result["facts"]["score_deduction"] is False and "加扣" not in text
    assert (result["tier"], decisive(result)["rule"]) == ("B", "b-score")  # under 3 years: not A
    old = reg.entity(established=D(2015, 6, 30), records=[tax(2015, 3), tax(2016, 85)])
    result, _ = rated(store, old, 2016)
    assert (result["policy"]["version"], result["tier"]) == ("2014", "B")  # 2015 was not rated: nothing kept


def test_tax_black_list_ends_with_the_designation():
    """SAT Order 54 (domain §1.6): the 重大税收违法失信主体 list mirrors another act's designation; its entries rest on
    the external-list record and end when the designation ends (ended_on), not on a term of the pack's own."""
    pack = get_pack("tax-credit")
    for v in pack.versions:
        spec = v.lists["black"].get("basis_records") or {}
        assert spec.get("kinds") == ["external_list"] and spec.get("where") == {"list": "major_tax_dishonest"}
