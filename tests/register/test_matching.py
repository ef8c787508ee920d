"""Records without a USCC (issue 18): the older codes, the crosswalk, names, matching and `supervise match`."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import CodeError, IntakeError, PolicyError
from engine.pipeline.demo import build_register
from engine.register import crosswalk
from engine.register import entities as register
from engine.register.codes import (
    make_reg_no,
    make_uscc,
    org_code_check_char,
    org_code_problem,
    reg_no_check_char,
    uscc_check_char,
    validate_org_code,
    validate_reg_no,
)
from engine.register.matchconfig import MatchSettings, parse_settings
from engine.register.matching import MatchError, NameIndex, Query, decide, match, match_query
from engine.register.names import parse_name
from engine.store import entities as q
from engine.store import matching as mq
from engine.store import schema
from policies import base_limits, record_kinds
from policies.loader import base_matching
from tests.conftest import cli_json, cli_run, write_csv

LIMITS = base_limits()
PUBLISHED = ["91350100M000100Y43", "91350200776049653A", "91440101MA5CJQ4N59", "9135021359498494XQ"]


def bad_org_uscc(region: str = "350503", body: str = "12345678") -> str:
    """A USCC whose own check character is right but whose positions 9-17 fail GB 11714 (as some real ones do)."""
    wrong = next(c for c in "0123456789" if c != org_code_check_char(body))
    body17 = "91" + region + body + wrong
    return body17 + uscc_check_char(body17)


# -- codes ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_carry_a_valid_organisation_code(code):
    assert org_code_problem(code) is None
    assert validate_org_code(code[8:17]) == code[8:17]
    assert validate_org_code(f"{code[8:16]}-{code[16]}") == code[8:17]


def test_organisation_code_given_alone_is_folded_and_checked():
    assert validate_org_code("ｍａ５ｃｊｑ４ｎ－５") == "MA5CJQ4N5"  # full-width, lower case, full-width hyphen
    with pytest.raises(CodeError, match=r"check character is 4, expected 5 \(GB 11714\)"):
        validate_org_code("MA5CJQ4N-4")
    with pytest.raises(CodeError, match="has 8 characters; a 组织机构代码 has 9"):
        validate_org_code("12345678")
    with pytest.raises(CodeError, match="illegal character"):
        validate_org_code("1234*678-9")


def test_uscc_inner_check_names_the_positions():
    code = bad_org_uscc()
    problem = org_code_problem(code)
    assert problem and "positions 9-17" in problem and "GB 11714" in problem


def test_reg_no_check_is_iso_7064_mod_11_10():
    # The same system as the German VAT number: DE 12345678 8 is valid.
    assert reg_no_check_char("12345678") == "8"
    reg_no = make_reg_no("350503", 1234)
    assert validate_reg_no(reg_no) == reg_no and len(reg_no) == 15
    with pytest.raises(CodeError, match="has 14 characters; a 注册号 has 15 digits"):
        validate_reg_no(reg_no[:-1])
    with pytest.raises(CodeError, match="'A' at position 3"):
        validate_reg_no("35A503000012349")
    with pytest.raises(CodeError, match="not a province's code"):
        validate_reg_no("990503000012349")
    wrong = str((int(reg_no[-1]) + 1) % 10)
    with pytest.raises(CodeError, match=f"check character is {wrong}, expected {reg_no[-1]}"):
        validate_reg_no(reg_no[:-1] + wrong)


@given(st.integers(0, 10**8 - 1), st.integers(6, 13), st.integers(1, 9))
def test_reg_no_check_catches_every_single_digit_error(seq, pos, delta):
    reg_no = make_reg_no("350503", seq)
    changed = reg_no[:pos] + str((int(reg_no[pos]) + delta) % 10) + reg_no[pos + 1 :]
    with pytest.raises(CodeError):
        validate_reg_no(changed)


def test_demo_codes_carry_a_valid_organisation_code(sqlite_store, tmp_path):
    build_register(sqlite_store, entities=400, seed=3, out=tmp_path / "demo")
    with sqlite_store.read() as conn:
        codes = [r.code for r in conn.execute(schema.entities.select()) if r.code_kind == "uscc"]
    assert len(codes) > 300
    assert [c for c in codes if org_code_problem(c)] == []


# -- the inner check on import ----------------------------------------------------------------------------


def test_inner_check_is_a_counted_warning_by_default(store, tmp_path, factory):
    path = write_csv(tmp_path / "e.csv", [factory.entity(), factory.entity(code=bad_org_uscc(), name="甲有限公司")])
    report = register.import_entities(store, path, LIMITS)
    assert report.inserted == 2 and report.org_code_warnings == 1
    assert any(w.startswith(f"{path}:3:code:") and "GB 11714" in w for w in report.warnings)
    assert report.as_dict()["org_code_warnings"] == 1


def test_strict_org_code_refuses_the_file_naming_the_row(store, tmp_path, factory):
    path = write_csv(tmp_path / "e.csv", [factory.entity(), factory.entity(code=bad_org_uscc(), name="甲有限公司")])
    with pytest.raises(IntakeError) as info:
        register.import_entities(store, path, LIMITS, strict_org_code=True)
    assert any(e.startswith(f"{path}:3:code:") and "positions 9-17" in e for e in info.value.errors)
    with store.read() as conn:
        assert q.entity_count(conn) == 0
    result = cli_run(store, "import", "entities", str(path), "--strict-org-code", ok=False)
    assert result.exit_code != 0 and f"{path}:3:code:" in result.output


def test_records_import_counts_the_inner_check_too(store, tmp_path, factory):
    code = bad_org_uscc()
    register.import_entities(store, write_csv(tmp_path / "e.csv", [factory.entity(code=code)]), LIMITS)
    rows = [{"code": code, "kind": "commitment", "date": "2025-01-02", "due_on": "2025-06-30", "matter": "守法经营"}]
    report = register.import_records(store, write_csv(tmp_path / "r.csv", rows), record_kinds())
    assert report.inserted == 1 and report.org_code_warnings == 1


def test_entity_file_reg_no_column_is_checked(store, tmp_path, factory):
    good = make_reg_no("350503", 77)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    path = write_csv(tmp_path / "e.csv", [factory.entity(注册号=good), factory.entity(注册号=bad)])
    with pytest.raises(IntakeError) as info:
        register.import_entities(store, path, LIMITS)
    assert [e for e in info.value.errors if e.startswith(f"{path}:3:reg_no:") and "ISO 7064" in e]
    report = register.import_entities(store, path, LIMITS, skip_invalid=True)
    assert report.inserted == 1


# -- the crosswalk ------------------------------------------------------------------------------------------


def test_crosswalk_import_is_all_or_nothing(store, tmp_path):
    uscc = make_uscc("91", "350503", "MA2Y3K4P")
    reg_no = make_reg_no("350503", 5)
    bad_reg = reg_no[:-1] + str((int(reg_no[-1]) + 3) % 10)
    rows = [
        {"注册号": reg_no, "统一社会信用代码": uscc, "变更日期": "2016-05-01"},
        {"注册号": bad_reg, "统一社会信用代码": uscc},
        {"注册号": make_reg_no("350503", 6), "统一社会信用代码": uscc[:-1] + "0"},
    ]
    path = write_csv(tmp_path / "x.csv", rows)
    with pytest.raises(IntakeError) as info:
        crosswalk.import_crosswalk(store, path)
    errors = info.value.errors
    assert any(e.startswith(f"{path}:3:reg_no:") and "expected" in e for e in errors)
    assert any(e.startswith(f"{path}:4:code:") and "check character" in e for e in errors)
    with store.read() as conn:
        assert q.count(conn, schema.reg_no_crosswalk) == 0
    good = write_csv(tmp_path / "ok.csv", [rows[0], {"统一社会信用代码": uscc, "曾用名": "泉州市旧名贸易有限公司"}])
    report = crosswalk.import_crosswalk(store, good)
    assert (report.inserted, report.updated) == (2, 0)
    again = crosswalk.import_crosswalk(store, good)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_crosswalk_row_needs_a_number_or_a_name(store, tmp_path):
    path = write_csv(tmp_path / "x.csv", [{"code": make_uscc("91", "350503", "MA2Y3K4P"), "reg_no": ""}])
    with pytest.raises(IntakeError, match=r"x.csv:2:reg_no: the row gives neither"):
        crosswalk.import_crosswalk(store, path)


# -- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "泉州市祥诚物流有限公司",
        "祥诚物流有限公司",
        "福建泉州祥誠物流有限責任公司",  # 繁体, 有限责任公司 is 有限公司
        "祥诚（泉州）物流有限公司",  # full-width brackets, region inside
        "丰泽区 祥诚物流",
    ],
)
def test_name_variants_reduce_to_one_core(written):
    parts = parse_name(written)
    assert (parts.core, parts.trade) == ("祥诚物流", "祥诚")


def test_name_keeps_the_form_and_the_region_hint():
    parts = parse_name("泉州市安溪县恒达茶业股份有限公司")
    assert parts.form == "股份有限公司" and parts.regions == ("350500", "350524") and parts.trade == "恒达"
    assert parse_name("厦门华安贸易有限公司").trade == "华安"  # a county's short name inside a 字号 stays


# -- matching -------------------------------------------------------------------------------------------------


@pytest.fixture
def register_(store, tmp_path):
    """Five entities: two share the 字号 祥诚 in different districts of 泉州, one has a former name and 注册号."""
    codes = {
        "xc_fz": make_uscc("91", "350503", "MA2XC001"),
        "xc_lc": make_uscc("91", "350502", "MA2XC002"),
        "hd": make_uscc("91", "350524", "MA2HD003"),
        "old": make_uscc("91", "350582", "15489739"),
        "twin": make_uscc("91", "350104", "MA2TW005"),
    }
    reg_no = make_reg_no("350582", 4242)
    rows = [
        {
            "code": codes["xc_fz"],
            "name": "泉州市祥诚物流有限公司",
            "legal_rep": "林强",
            "industry": "交通运输、仓储和邮政业",
        },
        {"code": codes["xc_lc"], "name": "泉州市祥诚贸易有限公司", "legal_rep": "陈伟", "industry": "批发和零售业"},
        {"code": codes["hd"], "name": "安溪县恒达茶业股份有限公司", "legal_rep": "王芳", "industry": "制造业"},
        {
            "code": codes["old"],
            "name": "晋江市新宇鞋业有限公司",
            "legal_rep": "蔡明",
            "industry": "制造业",
            "注册号": reg_no,
        },
        {"code": codes["twin"], "name": "福州市华联商贸有限公司", "legal_rep": "刘洋", "industry": "批发和零售业"},
    ]
    register.import_entities(store, write_csv(tmp_path / "reg.csv", rows), LIMITS)
    crosswalk.import_crosswalk(
        store,
        write_csv(
            tmp_path / "cw.csv",
            [
                {"code": codes["hd"], "reg_no": make_reg_no("350524", 99), "changed_on": "2016-03-01"},
                {"code": codes["old"], "former_name": "晋江市青阳新宇鞋厂", "changed_on": "2012-08-01"},
            ],
        ),
    )
    return codes | {"reg_no": reg_no, "hd_reg_no": make_reg_no("350524", 99)}


def run(store, **query):
    with store.read() as conn:
        return match_query(conn, Query(**query), base_matching())


def test_org_code_and_reg_no_find_the_entity(store, register_):
    hd = register_["hd"]
    by_org = run(store, code=f"{hd[8:16]}-{hd[16]}")
    assert (by_org["outcome"], by_org["method"], by_org["code"]) == ("linked", "org_code", hd)
    by_cross = run(store, code=register_["hd_reg_no"])
    assert (by_cross["outcome"], by_cross["code"]) == ("linked", hd) and "换照对照表" in by_cross["explanation"]
    by_field = run(store, code=register_["reg_no"])
    assert by_field["code"] == register_["old"] and "登记库原注册号" in by_field["explanation"]
    missing = run(store, code=make_reg_no("350503", 1))
    assert missing["outcome"] == "rejected" and missing["code"] is None


def test_a_malformed_code_says_why(store, register_):
    with pytest.raises(CodeError, match="GB 11714"):
        run(store, code="MA2HD003-0" if org_code_check_char("MA2HD003") != "0" else "MA2HD003-1")
    with pytest.raises(CodeError, match="ISO 7064"):
        run(store, code=register_["reg_no"][:-1] + str((int(register_["reg_no"][-1]) + 1) % 10))


def test_a_code_with_a_contradicting_name_goes_to_review(store, register_):
    out = run(store, code=register_["hd"][8:17], name="厦门市完全不同科技有限公司")
    assert out["outcome"] == "review" and "代码一致但名称不符" in out["candidates"][0]["reasons"]


@pytest.mark.parametrize(
    "name,region",
    [
        ("泉州市祥诚物流有限公司", None),
        ("祥誠物流有限公司", "350503"),  # 繁体, without region prefix
        ("祥诚（泉州）物流", "350503"),
        ("安溪恒达茶业股份有限公司", None),
    ],
)
def test_name_variants_are_linked(store, register_, name, region):
    out = run(store, name=name, region=region)
    assert out["outcome"] == "linked", out
    assert out["explanation"] and out["method"] == "name"


def test_a_former_name_is_linked_with_its_date(store, register_):
    out = run(store, name="晋江市青阳新宇鞋厂", region="350582")
    assert out["outcome"] == "linked" and out["code"] == register_["old"] and out["method"] == "former_name"
    assert "使用至2012-08-01" in out["explanation"]


def test_a_typo_needs_the_legal_representative(store, register_):
    alone = run(store, name="泉州市祥城物流有限公司", region="350503")
    assert alone["outcome"] == "review" and alone["code"] is None
    with_rep = run(store, name="泉州市祥城物流有限公司", region="350503", legal_rep="林强")
    assert with_rep["outcome"] == "linked" and "法定代表人一致" in with_rep["explanation"]


def test_an_equal_score_tie_is_never_linked(store, tmp_path, register_):
    # A second 华联商贸 in another district of 福州, the row names neither district.
    twin2 = make_uscc("91", "350111", "MA2TW006")
    register.import_entities(
        store, write_csv(tmp_path / "t.csv", [{"code": twin2, "name": "福州市华联商贸有限公司"}]), LIMITS
    )
    out = run(store, name="福州华联商贸有限公司")
    assert out["outcome"] == "review" and out["code"] is None
    assert out["candidates"][0]["score"] == out["candidates"][1]["score"] == 100
    assert "得分相同" in out["why"]
    # Even with thresholds that would link anything.
    loose = MatchSettings(link_score=0, link_margin=0, review_score=0)
    assert decide(out["candidates"], loose)[0] == "review"
    # The district tells them apart.
    assert run(store, name="福州华联商贸有限公司", region="350111")["code"] == twin2


def test_the_shared_trade_name_in_another_district_is_told_apart(store, register_):
    out = run(store, name="祥诚物流有限公司", region="350502")  # 祥诚 of 鲤城区 trades, not 物流
    assert out["outcome"] != "linked" or out["code"] == register_["xc_fz"]


def test_an_unknown_entity_is_rejected(store, register_):
    out = run(store, name="泉州市永不存在光电有限公司", region="350503")
    assert out["outcome"] == "rejected" and out["code"] is None


def test_match_command_shows_candidates_with_reasons(store, register_):
    out = cli_json(store, "match", "祥誠物流", "--region", "350503")
    assert out["outcome"] == "linked" and out["code"] == register_["xc_fz"]
    assert out["candidates"][0]["reasons"] and out["candidates"][0]["method"] == "name"
    text = cli_run(store, "match", register_["hd"][8:17]).output
    assert "org_code" in text and register_["hd"] in text
    bad = cli_run(store, "match", "祥诚", "--region", "359999", ok=False)
    assert bad.exit_code != 0 and "--region 359999" in bad.output
    wrong = cli_run(store, "match", "MA2HD003-Z", ok=False)
    assert wrong.exit_code != 0 and "组织机构代码" in wrong.output


def test_match_library_refuses_an_empty_query(store):
    with pytest.raises(MatchError, match="Nothing to match"):
        match(store, "  ")


def test_settings_are_checked():
    assert base_matching().link_score >= base_matching().review_score
    with pytest.raises(PolicyError, match="matching.link_scor: not a setting"):
        parse_settings({"link_scor": 3}, "record_kinds.yaml")
    with pytest.raises(PolicyError, match="must not exceed link_score"):
        parse_settings({"review_score": 95}, "record_kinds.yaml")
    with pytest.raises(PolicyError, match="strict_org_code: expected true or false"):
        parse_settings({"strict_org_code": "yes"}, "record_kinds.yaml")


def test_dates_are_kept_on_the_crosswalk(store, register_):
    with store.read() as conn:
        row = conn.execute(schema.reg_no_crosswalk.select()).mappings().one()
    assert row["changed_on"] == dt.date(2016, 3, 1)


def test_a_branch_shares_its_company_s_trade_name_and_names_its_own_district():
    parts = parse_name("泉州市祥诚物流有限公司晋江分公司")
    assert (parts.trade, parts.form, parts.regions) == ("祥诚", "分公司", ("350582",))
    assert parse_name("泉州市祥诚物流有限公司晋江市分公司").core == parts.core == "祥诚物流晋江"


def test_a_region_name_several_divisions_share_names_them_all():
    assert {"350102", "320106"} <= set(parse_name("鼓楼区祥诚小吃店").regions)  # 福州's and 南京's 鼓楼区


def test_a_branch_and_its_company_are_told_apart(store, tmp_path, register_):
    branch = make_uscc("91", "350582", "MA2XC009")
    rows = [{"code": branch, "name": "泉州市祥诚物流有限公司晋江分公司", "legal_rep": "黄明", "region": "350582"}]
    register.import_entities(store, write_csv(tmp_path / "b.csv", rows), LIMITS)
    assert run(store, name="泉州市祥诚物流有限公司晋江分公司")["code"] == branch
    assert run(store, name="泉州市祥诚物流有限公司")["code"] == register_["xc_fz"]
    assert run(store, name="泉州市祥诚物流有限公司", region="350503")["code"] == register_["xc_fz"]


def test_a_candidate_in_another_district_than_the_row_names_is_not_linked(store, register_):
    out = run(store, name="泉州市祥诚物流有限公司", region="350582")  # registered in 丰泽区
    assert out["outcome"] == "review" and "不是本行所写的区县" in out["why"]
    loose = dataclasses.replace(base_matching(), link_other_district=True)
    with store.read() as conn:
        assert match_query(conn, Query(name="泉州市祥诚物流有限公司", region="350582"), loose)["outcome"] == "linked"


def test_a_typo_in_the_industry_words_keeps_the_trade_name(store, register_):
    out = run(store, name="泉州市祥诚物硫有限公司", region="350503")
    assert out["outcome"] == "linked" and out["code"] == register_["xc_fz"], out
    assert "字号一致" in out["explanation"]


@pytest.mark.parametrize(
    "name,region",
    [
        ("泉州市祥诚物流有限公司", None),
        ("祥城物流", "350503"),  # a typo in the 字号
        ("泉州市祥诚物硫有限公司", None),  # a typo in the industry words
        ("祥诚（泉州）物流", "350503"),
        ("安溪恒达茶业股份有限公司", None),
        ("晋江市青阳新宇鞋厂", "350582"),  # a former name
        ("福州华联商贸有限公司", None),
    ],
)
def test_one_row_finds_the_candidates_the_whole_index_finds(store, register_, name, region):
    """match_query without an index reads only the names its LIKE patterns find; the outcome is the whole index's."""
    with store.read() as conn:
        alone = match_query(conn, Query(name=name, region=region), base_matching())
        whole = match_query(conn, Query(name=name, region=region), base_matching(), NameIndex(mq.name_candidates(conn)))
    assert alone == whole
