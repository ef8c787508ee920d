"""银税互动 for partner banks (issue 16): authorisations and their revocation, the credit answer only while an
authorisation of the calling bank is in force (every answer and refusal in the decision log), reported loans and
`supervise report bank-tax`; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from engine.pipeline.cycles import run_cycle
from engine.register.codes import make_uscc
from engine.service.api import create_app
from engine.service.apps import add_app
from engine.service.log import export_log, show_check
from engine.store import schema
from engine.values import CHINA
from tests.builders_engine import Register, tax
from tests.conftest import cli_json, cli_run
from tests.service.conftest import AS_OF, Caller, check_body, check_count, count
from tests.service.test_service_api import _break_the_log

AUTH = "/api/v1/bank/authorisations"
UNKNOWN = make_uscc("91", "350503", "T0000099")  # a valid code nobody registered
LOANS = "/api/v1/bank/loans"


def credit_path(code: str) -> str:
    return f"/api/v1/bank/credit/{code}"


def today() -> dt.date:
    return dt.datetime.now(CHINA).date()


def authorisation(code: str, *, start: int = -30, end: int = 335, scope=("grade", "decision", "indicators"), **over):
    """An authorisation body valid from ``start`` to ``end`` days from today (computed at call time)."""
    body = {
        "code": code,
        "scope": list(scope),
        "valid_from": (today() + dt.timedelta(days=start)).isoformat(),
        "valid_to": (today() + dt.timedelta(days=end)).isoformat(),
        "document_ref": "授权书-2026-001",
    }
    body.update(over)
    return body


def loan(code: str, ref: str, amount="1500000.00", day: dt.date | str = "2026-05-20", **over) -> dict:
    body = {
        "code": code,
        "amount": amount,
        "loan_date": day if isinstance(day, str) else day.isoformat(),
        "term_months": 12,
        "product": "税易贷",
        "loan_ref": ref,
    }
    body.update(over)
    return body


@pytest.fixture
def banks(world):
    """(store, codes, bank, other bank, a check app): world plus a committed bank-tax 2025 cycle."""
    store, codes = world
    run_cycle(store, "bank-tax", "2025", as_of=AS_OF)
    made = [
        add_app(store, name, scopes) for name, scopes in (("某银行", "bank"), ("另一银行", "bank"), ("政务", "check"))
    ]
    client = TestClient(create_app(store))
    bank, other, checker = (Caller(client, m["app_key"], m["secret"]) for m in made)
    return store, codes, bank, other, checker


def rows(store, table) -> int:
    return count(store, table)


# -- authorisations -----------------------------------------------------------------------------------------


def test_openapi_documents_the_bank_routes(banks):
    _, _, bank, _, _ = banks
    paths = bank.client.get("/api/v1/openapi.json").json()["paths"]
    assert {"401", "403", "422", "503"} <= set(paths[AUTH]["post"]["responses"])
    assert {"404", "409"} <= set(paths[AUTH + "/{authorisation_id}"]["delete"]["responses"])
    assert {"403", "422", "503"} <= set(paths["/api/v1/bank/credit/{code}"]["get"]["responses"])
    assert "409" in paths[LOANS]["post"]["responses"]


def test_an_authorisation_is_recorded_with_an_id(banks):
    store, codes, bank, _, _ = banks
    response = bank.post(AUTH, authorisation(codes["good"]))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["id"] >= 1 and out["code"] == codes["good"] and out["in_force"] is True
    assert out["scope"] == ["grade", "decision", "indicators"] and out["revoked_at"] is None
    assert rows(store, schema.bank_authorisations) == 1


@pytest.mark.parametrize(
    "spoil, says",
    [
        ({"code": "91350503T0000001XA"}, "check character"),
        ({"code": "UNREGISTERED"}, "not in the register"),
        ({"valid_to": "2026-01-01", "valid_from": "2026-01-01"}, "is not after valid_from"),
        ({"valid_to": None}, "valid_to"),
        ({"scope": ["grade", "everything"]}, "scope"),
        ({"scope": []}, "scope"),
        ({"document_ref": ""}, "document_ref"),
    ],
)
def test_a_bad_authorisation_is_422_and_writes_nothing(banks, spoil, says):
    store, codes, bank, _, _ = banks
    body = authorisation(codes["good"])
    body.update(spoil)
    if body["valid_to"] is None:
        del body["valid_to"]
    if body["code"] == "UNREGISTERED":
        body["code"] = UNKNOWN
    response = bank.post(AUTH, body)
    assert response.status_code == 422, response.text
    assert says in response.json()["error"]
    if "register" in says:
        assert body["code"] in response.json()["error"]
    assert rows(store, schema.bank_authorisations) == 0


def test_only_a_bank_may_call_the_bank_routes_and_a_bank_may_not_check(banks):
    store, codes, bank, _, checker = banks
    for response in (
        checker.post(AUTH, authorisation(codes["good"])),
        checker.get(credit_path(codes["good"])),
        checker.post(LOANS, loan(codes["good"], "L-1")),
        checker.delete(AUTH + "/1"),
    ):
        assert response.status_code == 403 and "lacks the scope 'bank'" in response.json()["error"]
    refused = bank.post("/api/v1/checks", check_body(codes["good"]))
    assert refused.status_code == 403 and "lacks the scope 'check'" in refused.json()["error"]
    assert rows(store, schema.bank_authorisations) == rows(store, schema.bank_loans) == check_count(store) == 0


def test_a_revocation_is_a_row_once_and_only_the_banks_own(banks):
    store, codes, bank, other, _ = banks
    auth_id = bank.post(AUTH, authorisation(codes["good"])).json()["id"]
    stranger = other.delete(f"{AUTH}/{auth_id}")
    assert stranger.status_code == 404 and f"No authorisation {auth_id}" in stranger.json()["error"]
    first = bank.delete(f"{AUTH}/{auth_id}")
    assert first.status_code == 200, first.text
    assert first.json()["revoked_at"] and first.json()["in_force"] is False
    again = bank.delete(f"{AUTH}/{auth_id}")
    assert again.status_code == 409 and "already revoked on" in again.json()["error"]
    assert bank.delete(f"{AUTH}/999999").status_code == 404
    # History: the authorisation stays, its revocation is a row of its own.
    assert rows(store, schema.bank_authorisations) == 1 and rows(store, schema.bank_revocations) == 1


@pytest.mark.parametrize("table", ["bank_authorisations", "bank_revocations", "bank_loans"])
def test_the_bank_history_refuses_update_and_delete(banks, table):
    store, codes, bank, _, _ = banks
    auth_id = bank.post(AUTH, authorisation(codes["good"])).json()["id"]
    bank.delete(f"{AUTH}/{auth_id}")
    assert bank.post(LOANS, loan(codes["good"], "L-1")).status_code == 200
    t = getattr(schema, table)
    for statement in (sa.update(t).values(id=t.c.id), sa.delete(t)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.transaction() as conn:
                conn.execute(statement)
    assert rows(store, t) == 1


# -- the credit answer --------------------------------------------------------------------------------------


def test_an_authorised_bank_gets_the_grade_the_decision_and_only_the_shared_indicators(banks):
    store, codes, bank, _, _ = banks
    auth_id = bank.post(AUTH, authorisation(codes["good"])).json()["id"]
    response = bank.get(credit_path(codes["good"]))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["status"] == "answered" and out["why"] == [] and out["authorisations"] == [auth_id]
    assert out["grade"]["grade"] == "A" and out["grade"]["label"] == "A级" and out["grade"]["revision"] == 1
    decision = out["decision"]
    assert decision["tier"] == "push" and decision["label"] == "可推送合作银行"
    assert decision["reason"] == "纳税信用级别为A级，可推送合作银行申请纳税信用贷款"
    assert "税总发〔2015〕96号" in decision["basis"]
    # The pack's bank_share lists tax_grade, major_dishonest, court_dishonest: tax_grade_cycle is not shared.
    shown = {i["fact"]: (i["value"], i["shown"]) for i in out["indicators"]}
    assert shown == {"tax_grade": ("A", "A级"), "major_dishonest": (0, "否"), "court_dishonest": (0, "否")}
    assert out["withheld"] == []
    bad = bank.post(AUTH, authorisation(codes["bad"]))
    assert bad.status_code == 200
    refused = bank.get(credit_path(codes["bad"])).json()
    assert refused["decision"]["tier"] == "exclude" and refused["grade"]["grade"] == "D"
    assert "不予推送" in refused["decision"]["reason"]


def test_each_credit_answer_is_a_row_of_the_decision_log(banks, tmp_path):
    store, codes, bank, _, _ = banks
    bank.post(AUTH, authorisation(codes["good"]))
    answers = [bank.get(credit_path(codes["good"])).json() for _ in range(2)]
    assert check_count(store) == 2
    out = tmp_path / "log.jsonl"
    assert export_log(store, str(out))["checks"] == 2
    logged = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in logged] == [a["credit_id"] for a in answers]
    assert {r["service_item"] for r in logged} == {"bank_credit"} and logged[0]["app_name"] == "某银行"
    assert logged[0]["answer"]["credit"]["decision"]["tier"] == "push"
    assert logged[0]["request"]["code"] == codes["good"]
    shown = show_check(store, answers[0]["credit_id"])
    assert "bank credit" in "\n".join(shown.lines()) and "push" in "\n".join(shown.lines())


def test_credit_without_an_authorisation_of_this_bank_is_403_none_and_logged(banks):
    store, codes, bank, other, _ = banks
    other.post(AUTH, authorisation(codes["good"]))  # another bank's authorisation does not count
    response = bank.get(credit_path(codes["good"]))
    assert response.status_code == 403
    error = response.json()
    assert error["reason"] == "none" and "has no authorisation of taxpayer" in error["error"]
    assert "grade" not in error and "decision" not in error
    with store.read() as conn:
        logged = conn.execute(sa.select(schema.checks.c.answer)).scalars().all()
    assert [row["refused"]["reason"] for row in logged] == ["none"]


@pytest.mark.parametrize(
    "start, end, revoke, reason, says",
    [
        (-60, -1, False, "expired", "expired on {to}"),
        (3, 30, False, "not_yet_valid", "is not yet valid (valid from {from_})"),
        (-30, 30, True, "revoked", "was revoked on {day}"),
    ],
)
def test_credit_outside_the_authorisation_is_403_naming_why(banks, start, end, revoke, reason, says):
    store, codes, bank, _, _ = banks
    body = authorisation(codes["good"], start=start, end=end)
    auth_id = bank.post(AUTH, body).json()["id"]
    if revoke:
        assert bank.delete(f"{AUTH}/{auth_id}").status_code == 200
    response = bank.get(credit_path(codes["good"]))
    assert response.status_code == 403, response.text
    error = response.json()
    assert error["reason"] == reason
    expected = says.format(to=body["valid_to"], from_=body["valid_from"], day=today().isoformat())
    assert f"authorisation {auth_id} " + expected in error["error"]
    assert check_count(store) == 1 and error["credit_id"] >= 1


def test_a_bad_or_unknown_code_is_422_and_not_logged(banks):
    store, codes, bank, _, _ = banks
    assert bank.get(credit_path("91350503T0000001XA")).status_code == 422
    response = bank.get(credit_path(UNKNOWN))
    assert response.status_code == 422 and UNKNOWN in response.json()["error"]
    assert check_count(store) == 0


def test_the_answer_covers_only_the_authorised_scope(banks):
    _, codes, bank, _, _ = banks
    bank.post(AUTH, authorisation(codes["good"], scope=["grade"]))
    out = bank.get(credit_path(codes["good"])).json()
    assert out["grade"]["grade"] == "A" and out["decision"] is None and out["indicators"] == []
    assert out["scope"] == ["grade"] and out["withheld"] == ["decision", "indicators"]


def test_without_a_committed_bank_tax_cycle_the_answer_is_needs_review(world):
    store, codes = world  # tax-credit committed, bank-tax never run
    made = add_app(store, "某银行", "bank")
    bank = Caller(TestClient(create_app(store)), made["app_key"], made["secret"])
    bank.post(AUTH, authorisation(codes["good"]))
    out = bank.get(credit_path(codes["good"])).json()
    assert out["status"] == "needs_review" and out["decision"] is None
    assert out["grade"]["grade"] == "A"  # the grade is still the committed tax cycle's
    assert "银税互动推送（bank-tax）尚无" in out["why"][0]
    assert check_count(store) == 1


def test_a_rerun_tax_cycle_is_cited_and_a_decision_on_the_superseded_one_needs_review(banks):
    store, codes, bank, _, _ = banks
    first = bank.post(AUTH, authorisation(codes["good"]))
    assert first.status_code == 200
    before = bank.get(credit_path(codes["good"])).json()
    run_cycle(store, "tax-credit", "2025", as_of=AS_OF, rerun=True)
    after = bank.get(credit_path(codes["good"])).json()
    assert after["grade"]["revision"] == 2 and after["grade"]["cycle_id"] != before["grade"]["cycle_id"]
    old, new = before["grade"]["cycle_id"], after["grade"]["cycle_id"]
    assert after["status"] == "needs_review" and f"第{old}号评价周期已被第{new}号更正" in after["why"][0]


def test_a_credit_answer_whose_log_cannot_be_written_is_503(banks):
    store, codes, bank, _, _ = banks
    bank.post(AUTH, authorisation(codes["good"]))
    _break_the_log(store)
    response = bank.get(credit_path(codes["good"]))
    assert response.status_code == 503
    assert "decision log could not be written" in response.json()["error"] and "grade" not in response.json()
    assert check_count(store) == 0


# -- loans and the report -----------------------------------------------------------------------------------


def test_a_reported_loan_is_stored_in_fen(banks):
    store, codes, bank, other, _ = banks
    response = bank.post(LOANS, loan(codes["good"], "L-1", amount="1500000.05"))
    assert response.status_code == 200, response.text
    out = response.json()
    assert out["amount"] == "1500000.05" and out["amount_fen"] == 150000005 and out["loan_id"] >= 1
    # The reference is unique per bank: another bank may use the same one.
    assert other.post(LOANS, loan(codes["good"], "L-1")).status_code == 200
    duplicate = bank.post(LOANS, loan(codes["good"], "L-1", amount="2.00"))
    assert duplicate.status_code == 409 and "reported before" in duplicate.json()["error"]
    with store.read() as conn:
        stored = conn.execute(sa.select(schema.bank_loans.c.amount_fen).order_by(schema.bank_loans.c.id)).scalars()
        assert list(stored) == [150000005, 150000000]


@pytest.mark.parametrize(
    "amount, says",
    [
        (1500000.05, "decimal string"),
        (1500000, "decimal string"),
        ("1500000.055", "not an amount"),
        ("0", "not an amount"),
        ("-5.00", "not an amount"),
        ("1e6", "not an amount"),
        ("12345678901234", "not an amount"),
    ],
)
def test_an_amount_that_is_not_an_exact_decimal_string_is_422(banks, amount, says):
    store, codes, bank, _, _ = banks
    response = bank.post(LOANS, loan(codes["good"], "L-1", amount=amount))
    assert response.status_code == 422, response.text
    assert "amount" in response.json()["error"] and says in response.json()["error"]
    assert rows(store, schema.bank_loans) == 0


def test_a_bad_loan_is_422_and_writes_nothing(banks):
    store, codes, bank, _, _ = banks
    unknown = UNKNOWN
    for body, says in (
        (loan("91350503T0000001XA", "L-1"), "check character"),
        (loan(unknown, "L-1"), "not in the register"),
        (loan(codes["good"], "L-1", day=today() + dt.timedelta(days=2)), "is after today"),
        (loan(codes["good"], "L-1", term_months=0), "term_months"),
        (loan(codes["good"], "L-1", rate="4.35"), "rate"),
    ):
        response = bank.post(LOANS, body)
        assert response.status_code == 422 and says in response.json()["error"], response.text
    assert rows(store, schema.bank_loans) == 0


def test_report_bank_tax_gives_loans_and_amounts_by_grade_at_the_loan_date_and_by_month(banks):
    store, codes, bank, other, _ = banks
    reg = Register(store)
    reg.n = 50  # past the codes the world fixture registered
    fresh = reg.entity(records=[tax(2025, 80)])  # registered after the cycle: not rated
    reported = [
        (bank, codes["good"], "A-1", "1200000.00", "2026-05-20"),  # A on the loan date (cycle as of 2026-04-30)
        (bank, codes["good"], "A-2", "800000.50", "2026-06-03"),
        (other, codes["plain"], "B-1", "350000.00", "2026-06-30"),  # B
        (bank, codes["good"], "E-1", "100000.00", "2026-03-10"),  # before any tax cycle: no grade then
        (other, fresh, "N-1", "50000.00", "2026-07-01"),  # not rated by the cycle
        (bank, codes["good"], "X-1", "999.99", "2025-12-31"),  # outside the period
    ]
    for caller, code, ref, amount, day in reported:
        assert caller.post(LOANS, loan(code, ref, amount=amount, day=day)).status_code == 200
    out = cli_json(store, "report", "bank-tax", "--period", "2026-Q1..2026-Q3")
    assert (out["from"], out["to"], out["label"]) == ("2026-01-01", "2026-09-30", "2026年第一季度至2026年第三季度")
    assert out["banks"] == 2
    assert out["total"]["loans"] == 5 and out["total"]["amount_yuan"] == "2500000.50"
    assert out["total"]["amount_wan"] == "250.00" and out["total"]["amount_yi"] == "0.03"
    assert out["total"]["shown"] == "5笔，250.00万元"
    grades = {g["grade"]: (g["label"], g["loans"], g["amount_yuan"]) for g in out["by_grade"]}
    assert grades == {
        "A": ("A级", 2, "2000000.50"),
        "B": ("B级", 1, "350000.00"),
        "none": ("无纳税信用级别", 2, "150000.00"),
    }
    assert [g["grade"] for g in out["by_grade"]] == ["A", "B", "none"]
    months = {m["month"]: (m["loans"], m["amount_wan"]) for m in out["by_month"]}
    assert list(months) == [f"2026-{m:02d}" for m in range(1, 10)]
    assert (
        months["2026-03"] == (1, "10.00") and months["2026-05"] == (1, "120.00") and months["2026-06"] == (2, "115.00")
    )
    assert months["2026-07"] == (1, "5.00") and months["2026-08"] == (0, "0.00")
    text = cli_run(store, "report", "bank-tax", "--period", "2026-Q1..2026-Q3").output
    assert "合计 5 笔，金额 250.00 万元（0.03 亿元）" in text and "A级" in text and "2026-06" in text


def test_report_shows_press_release_units():
    from engine.store.bank import amount_cn, count_cn

    assert (count_cn(4_656_000), amount_cn(1_198_000_000_000_00)) == ("465.6万笔", "1.198万亿元")
    assert (count_cn(12), amount_cn(8_530_000_000_00), amount_cn(1_205_000_00)) == (
        "12笔",
        "85.30亿元",
        "120.50万元",
    )


def test_report_refuses_a_period_it_cannot_read(store):
    result = cli_run(store, "report", "bank-tax", "--period", "2026-Q5", ok=False)
    assert result.exit_code == 2 and "--period '2026-Q5' is not a period" in result.output
    backwards = cli_run(store, "report", "bank-tax", "--period", "2026-09..2026-01", ok=False)
    assert backwards.exit_code == 2 and "not after its last" in backwards.output


def test_the_bank_tax_cycle_report_has_a_page_of_the_loans_while_its_decisions_spoke(banks, tmp_path):
    store, codes, bank, _, _ = banks
    for ref, amount, day in (("A-1", "1200000.00", "2026-05-20"), ("A-2", "800000.00", "2026-06-03")):
        assert bank.post(LOANS, loan(codes["good"], ref, amount=amount, day=day)).status_code == 200
    assert bank.post(LOANS, loan(codes["good"], "E-1", amount="5.00", day="2026-04-29")).status_code == 200  # before
    with store.read() as conn:
        cycle_id = conn.execute(sa.select(schema.cycles.c.id).where(schema.cycles.c.pack_id == "bank-tax")).scalar_one()
    files = cli_json(store, "cycle", "report", str(cycle_id), "--out", str(tmp_path / "r"))
    data = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    loans = data["bank_loans"]
    assert loans["from"] == AS_OF.isoformat() and loans["total"]["loans"] == 2
    assert loans["total"]["amount_wan"] == "200.00" and loans["by_grade"][0]["label"] == "A级"
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "六、银税互动贷款" in html and "200.00万元" in html and files["cycle"] == cycle_id
    # the sentence a reader reads: Chinese dates, no figure said twice
    assert "2026年4月30日至" in html and "金额200.00万元（0.02亿元）。" in html and "（2笔，200.00万元）" not in html
    tax_cycle = cli_json(store, "cycle", "report", str(cycle_id - 1), "--out", str(tmp_path / "t"))
    assert json.loads((tmp_path / "t" / "report.json").read_text(encoding="utf-8"))["bank_loans"] is None
    assert tax_cycle["cycle"] == cycle_id - 1


def test_the_stored_credit_answer_masks_an_operators_name(banks):
    store, _, bank, _, _ = banks
    from engine.store import entities as qe

    code = make_uscc("92", "350503", "T0000077")
    row = {
        "code": code,
        "code_kind": "uscc",
        "name": "晋江市李四光食品店",
        "entity_type": "individual_business",
        "region": "350503",
        "industry": "零售",
        "established_on": dt.date(2015, 1, 1),
        "legal_rep": "李四光",
    }
    with store.transaction() as conn:
        qe.upsert_entities(conn, [row])
    bank.post(AUTH, authorisation(code))
    out = bank.get(credit_path(code)).json()
    assert out["name"] == "晋江市李四光食品店"  # the authorised bank sees the taxpayer as registered
    assert out["status"] == "needs_review" and "未评价该纳税人" in out["why"][0]  # registered after the cycles
    with store.read() as conn:
        stored = conn.execute(sa.select(schema.checks.c.answer)).scalar_one()
    assert "李四光" not in json.dumps(stored, ensure_ascii=False)
    assert stored["credit"]["name"].startswith("晋江市李")


def test_feedback_on_a_credit_row_is_422_not_a_crash(banks):
    store, codes, _, _, _ = banks
    made = add_app(store, "银行兼反馈", "bank,feedback")
    both = Caller(TestClient(create_app(store)), made["app_key"], made["secret"])
    both.post(AUTH, authorisation(codes["good"]))
    credit_id = both.get(credit_path(codes["good"])).json()["credit_id"]
    body = {"ref": "r0", "applied": True, "action": "发放贷款", "operator": "客户经理", "at": "2026-12-01T10:00:00"}
    response = both.post(f"/api/v1/checks/{credit_id}/feedback", body)
    assert response.status_code == 422 and "has no subject with ref 'r0'" in response.json()["error"]


def test_the_pack_loader_refuses_an_unknown_fact_in_bank_share(store, tmp_path):
    import pathlib

    pack = pathlib.Path(__file__).resolve().parents[2] / "policies" / "packs" / "bank-tax.yaml"
    text = pack.read_text(encoding="utf-8")
    shared = "facts: [tax_grade, major_dishonest, court_dishonest]"
    assert shared in text
    bad = tmp_path / "bank-tax.yaml"
    bad.write_text(text.replace(shared, "facts: [tax_grade, major_dishonets, tax_grade]"), encoding="utf-8")
    result = cli_run(store, "policy", "validate", str(bad), ok=False)
    assert result.exit_code == 1
    assert "bank_share.facts.1: unknown fact 'major_dishonets' (did you mean 'major_dishonest'?)" in result.output
    assert "bank_share.facts.2: fact 'tax_grade' is listed twice" in result.output


def test_a_count_of_records_in_force_is_shown_in_words():
    """An indicator counting open records (a fact with an `open:` source) reads 否 / 是（N条） to the bank, not 0."""
    from engine.service.bank import _shown

    fact = {"type": "int", "label": "被列为失信被执行人（未届满）", "source": {"open": "external_list"}}
    assert (_shown(fact, 0), _shown(fact, 2)) == ("否", "是（2条）")
    assert _shown({"type": "enum", "value_labels": {"B": "B级"}}, "B") == "B级"
    assert _shown({"type": "int"}, 85) == "85"
