"""Valid time in fact sources: ``in_force_until`` (a record counts only while the as-of date is before its end)
and ``lasts_until`` (a record is a continuing state that counts in every window it overlaps).

Semantics at the boundary dates through FactCompiler (single pass, per-fact reference and ``matching``), the
validator's refusals, and the shipped packs end to end through the real engine (engine.pipeline.evaluate) with the
wording ``evaluate --explain`` prints.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

from engine.evaluate import explain_text
from engine.facts import FactCompiler
from engine.pipeline.cycles import run_cycle
from engine.pipeline.evaluate import evaluate_entity
from policies import get_pack, record_kinds
from policies.loader import RECORD_KINDS_YAML, load_pack
from tests.builders_engine import Register, mini_pack, tax
from tests.rules.test_policies import LINE, one, problems_of

D = dt.date


@dataclass
class _Fact:
    source: dict
    type: str = "int"
    default: Any = None


class _Version:
    """Just what FactCompiler reads."""

    def __init__(self, facts: dict[str, dict], period: str = "year"):
        self.period = period
        self._facts = {
            name: _Fact(src, "int" if "count" in src else ("number" if src.get("field") == "amount" else "enum"))
            for name, src in facts.items()
        }

    def source_facts(self):
        return self._facts


def _facts(facts: dict[str, dict], as_of: dt.date, records: list, period: str = "year") -> dict:
    """The values, after checking the single pass, the reference and ``matching`` agree."""
    fc = FactCompiler(_Version(facts, period), as_of)
    one_pass, each = fc.compute({}, records), fc.compute_each({}, records)
    assert repr(one_pass) == repr(each)
    matched = fc.matching(records)
    for name, value in one_pass.items():
        if "count" in facts[name]:
            assert len(matched.get(name, [])) == value, name
    return one_pass


def _penalty(date: str, annulled_on: str | None = None, severity: str = "serious") -> tuple:
    data = {"date": date, "severity": severity, "decision_no": f"P-{date}-{annulled_on}", "authority": "局"}
    if annulled_on:
        data["annulled_on"] = annulled_on
    return ("penalty", D.fromisoformat(date), data)


def _state(date: str, ended_on: str | None = None, code: str = "abnormal_household") -> tuple:
    data = {"date": date, "code": code}
    if ended_on:
        data["ended_on"] = ended_on
    return ("tax_violation", D.fromisoformat(date), data)


# -- in_force_until ------------------------------------------------------------------------------------------------

IN_FORCE = {
    "in_force": {"count": "penalty", "window": "3y", "in_force_until": "annulled_on"},
    "ignoring": {"count": "penalty", "window": "3y"},
    "latest_severity": {"record": "penalty", "field": "severity", "in_force_until": ["annulled_on"]},
}


@pytest.mark.parametrize(
    "as_of, counts",
    [
        (D(2025, 5, 31), True),  # the day before the annulment: still in force
        (D(2025, 6, 1), False),  # the day of the annulment
        (D(2025, 6, 2), False),  # the day after
    ],
)
def test_in_force_until_the_annulment(as_of, counts):
    records = [_penalty("2025-03-01", annulled_on="2025-06-01")]
    facts = {k: v for k, v in IN_FORCE.items() if k != "latest_severity"}
    got = _facts(facts, as_of, records)
    assert got == {"in_force": 1.0 if counts else 0.0, "ignoring": 1.0}
    fc = FactCompiler(_Version({"latest_severity": IN_FORCE["latest_severity"]}), as_of)
    assert fc.compute({}, records) == fc.compute_each({}, records) == {"latest_severity": "serious" if counts else None}


def test_in_force_until_no_end_and_several_end_fields():
    as_of = D(2025, 6, 1)
    src = {"count": "penalty", "window": "3y", "in_force_until": ["fulfilled_on", "annulled_on"]}
    records = [
        _penalty("2025-01-01"),  # no end: in force
        _penalty("2025-01-02", annulled_on="2025-07-01"),  # ends later: in force
        ("penalty", D(2025, 1, 3), {"date": "2025-01-03", "severity": "minor", "fulfilled_on": "2025-05-01"}),
        ("penalty", D(2025, 1, 4), {"date": "2025-01-04", "severity": "minor", "fulfilled_on": "2025-09-01"}),
        _penalty("2025-06-02"),  # after the as-of date: never
    ]
    assert _facts({"n": src}, as_of, records) == {"n": 3.0}


# -- lasts_until ---------------------------------------------------------------------------------------------------

LASTING = {
    "period": {"count": "tax_violation", "window": "period", "lasts_until": "ended_on"},
    "period_1": {"count": "tax_violation", "window": "period-1", "lasts_until": "ended_on"},
    "period_2": {"count": "tax_violation", "window": "period-2", "lasts_until": "ended_on"},
    "event_only": {"count": "tax_violation", "window": "period"},
}
AS_OF = D(2026, 4, 30)  # rates 2025: period 2025, period-1 2024, period-2 2023


@pytest.mark.parametrize(
    "ended_on, years",
    [
        (None, (2025, 2024, 2023)),  # not lifted: every year since 2023
        ("2024-03-01", (2024, 2023)),  # lifted in 2024: 2023 and 2024
        ("2024-12-31", (2024, 2023)),  # lifted on the last day of 2024: it lasted into 2024 only
        ("2025-01-01", (2024, 2023)),  # lifted on the first day of 2025: the end is exclusive, not in 2025
        ("2025-01-02", (2025, 2024, 2023)),  # lifted the day after: it lasted one day of 2025
        ("2024-01-01", (2023,)),  # lifted on 1 January 2024: never in 2024
        ("2023-12-31", (2023,)),
    ],
)
def test_lasts_until_counts_every_period_it_covers(ended_on, years):
    got = _facts(LASTING, AS_OF, [_state("2023-05-10", ended_on)])
    want = {"period": 2025 in years, "period_1": 2024 in years, "period_2": 2023 in years}
    assert {k: bool(v) for k, v in got.items() if k != "event_only"} == want
    assert got["event_only"] == 0.0  # as an event it belongs to 2023 only


def test_lasts_until_never_before_the_state_starts():
    records = [_state("2025-06-01"), _state("2026-05-01")]  # the second starts after the as-of date
    assert _facts(LASTING, AS_OF, records) == {"period": 1.0, "period_1": 0.0, "period_2": 0.0, "event_only": 1.0}
    # A rolling window ending on the as-of date: the state started that day, or the day after
    src = {"n": {"count": "tax_violation", "window": "12m", "lasts_until": "ended_on"}}
    assert _facts(src, D(2026, 4, 30), [_state("2026-04-30")]) == {"n": 1.0}
    assert _facts(src, D(2026, 4, 29), [_state("2026-04-30")]) == {"n": 0.0}
    # ended on the window's first day (2025-05-01 for 12m to 2026-04-30): not in it; the day after: in it
    assert _facts(src, AS_OF, [_state("2024-01-01", "2025-05-01")]) == {"n": 0.0}
    assert _facts(src, AS_OF, [_state("2024-01-01", "2025-05-02")]) == {"n": 1.0}


def test_lasts_until_with_a_date_field_a_pick_and_in_force_until_together():
    facts = {
        # test shapes, not real rules: date_field moves the state's start; in_force_until on the same end stops
        # the state counting from the as-of date on
        "due": {"count": "penalty", "window": "period", "date_field": "fulfilled_on", "lasts_until": "annulled_on"},
        "both": {"count": "penalty", "window": "period", "lasts_until": "annulled_on", "in_force_until": "annulled_on"},
        "amount": {"record": "penalty", "field": "amount", "window": "period", "lasts_until": "annulled_on"},
    }
    records = [
        ("penalty", D(2023, 1, 1), {"date": "2023-01-01", "amount": 5.0, "annulled_on": "2026-01-01"}),
        ("penalty", D(2024, 1, 1), {"date": "2024-01-01", "amount": 7.0, "fulfilled_on": "2025-02-01"}),
        ("penalty", D(2024, 2, 1), {"date": "2024-02-01", "amount": 9.0, "annulled_on": "2025-01-01"}),
    ]
    fc = FactCompiler(_Version(facts), AS_OF)
    got = fc.compute({}, records)
    assert repr(got) == repr(fc.compute_each({}, records))
    # due: only the second has a fulfilled_on (2025-02-01, in 2025, no end) -> 1
    # both: the first overlaps 2025 but is annulled before the as-of date; the second lasts; the third ended
    # amount: the latest record overlapping 2025 with an amount is the second (2024-01-01 is later than 2023)
    assert got == {"due": 1.0, "both": 1.0, "amount": 7.0}
    assert [r[1] for r in fc.matching(records)["both"]] == [D(2024, 1, 1)]


def test_shipped_kinds_document_their_end_dates():
    kinds = record_kinds()
    spec = kinds["tax_violation"].fields["ended_on"]
    assert (spec.type, spec.not_before, spec.future_days, spec.required) == ("date", "date", 3660, False)
    for kind, fld in (
        ("penalty", "annulled_on"),
        ("abnormal_operation", "removed_on"),
        ("external_list", "ended_on"),
        ("tax_violation", "ended_on"),
    ):
        assert kinds[kind].fields[fld].type == "date"
    comment = RECORD_KINDS_YAML.read_text(encoding="utf-8").split("limits:", 1)[0]
    for name in ("annulled_on", "removed_on", "external_list.ended_on", "tax_violation.ended_on"):
        assert name in comment, name


# -- the validator -------------------------------------------------------------------------------------------------


def _pack_with_source(tmp_path, source: str, extra_kinds: str = ""):
    path = mini_pack(tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "source: {count: penalty, window: 3y}" in text
    text = text.replace("source: {count: penalty, window: 3y}", f"source: {source}")
    if extra_kinds:
        text = text.replace("versions:\n", textwrap.dedent(extra_kinds).lstrip() + "versions:\n", 1)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "source, needle, where, hint",
    [
        (
            "{count: penalty, window: 3y, in_force_until: annuled_on}",
            "'annuled_on' is not a field of penalty",
            "facts.bad.source.in_force_until",
            "did you mean 'annulled_on'",
        ),
        (
            "{count: penalty, window: 3y, in_force_until: [fulfilled_on, anulled_on]}",
            "'anulled_on' is not a field of penalty",
            "facts.bad.source.in_force_until.1",
            "did you mean 'annulled_on'",
        ),
        (
            "{count: penalty, window: 3y, lasts_until: severity}",
            "penalty.severity is of type enum, not a date",
            "facts.bad.source.lasts_until",
            "its end dates: fulfilled_on, annulled_on",
        ),
        (
            "{count: penalty, window: 3y, lasts_until: date}",
            "'date' is the date penalty counts from",
            "facts.bad.source.lasts_until",
            "not an end date",
        ),
        (
            "{count: penalty, window: 3y, date_field: fulfilled_on, in_force_until: fulfilled_on}",
            "'fulfilled_on' is the date penalty counts from",
            "facts.bad.source.in_force_until",
            "not an end date",
        ),
        (
            "{count: tax_evaluation, window: 3y, in_force_until: year}",
            "tax_evaluation.year is of type year, not a date",
            "facts.bad.source.in_force_until",
            "tax_evaluation has no end date",
        ),
        (
            "{count: penalty, lasts_until: annulled_on}",
            "over window 'all' every state overlaps",
            "facts.bad.source.lasts_until",
            "in_force_until",
        ),
        (
            "{count: penalty, window: 3y, in_force_until: []}",
            "in_force_until is a date field of the kind, or a list of them",
            "facts.bad.source.in_force_until",
            "",
        ),
        (
            "{count: penalty, window: 3y, in_force_until: [annulled_on, annulled_on]}",
            "'annulled_on' is listed twice",
            "facts.bad.source.in_force_until.1",
            "",
        ),
        (
            "{open: abnormal_operation, end: removed_on, in_force_until: removed_on}",
            "unknown key 'in_force_until'",
            "facts.bad.source.in_force_until",
            "",
        ),
        (
            "{open: abnormal_operation, end: removed_on, lasts_until: removed_on}",
            "unknown key 'lasts_until'",
            "facts.bad.source.lasts_until",
            "",
        ),
        (
            "{open: abnormal_operation, end: cause}",
            "abnormal_operation.cause is of type enum, not a date",
            "facts.bad.source.end",
            "its end dates: removed_on",
        ),
        (
            "{entity: years_operating, in_force_until: annulled_on}",
            "unknown key 'in_force_until'",
            "facts.bad.source.in_force_until",
            "",
        ),
        (
            "{previous: tier, lasts_until: ended_on}",
            "unknown key 'lasts_until'",
            "facts.bad.source.lasts_until",
            "",
        ),
    ],
)
def test_validator_refuses_bad_end_fields(tmp_path, source, needle, where, hint):
    p = one(problems_of(_pack_with_source(tmp_path, source)), needle)
    assert LINE.match(p) and "mini.yaml:" in p and f": versions.0.{where}: " in p, p
    assert hint in p


def test_validator_accepts_a_pack_kind_with_its_own_end_date(tmp_path):
    kinds = """
    record_kinds:
      licence_suspension:
        title: 许可暂停
        fields:
          date: {type: date, required: true}
          resumed_on: {type: date, not_before: date}
          note: {type: string}
        date: date
        key: [date]
    """
    ok = _pack_with_source(tmp_path, "{count: licence_suspension, window: 3y, lasts_until: resumed_on}", kinds)
    assert load_pack(ok).versions
    bad = _pack_with_source(tmp_path, "{count: licence_suspension, window: 3y, lasts_until: resumd_on}", kinds)
    p = one(problems_of(bad), "'resumd_on' is not a field of licence_suspension")
    assert "did you mean 'resumed_on'" in p
    bad = _pack_with_source(tmp_path, "{count: licence_suspension, window: 3y, in_force_until: note}", kinds)
    one(problems_of(bad), "licence_suspension.note is of type string, not a date")


# -- the shipped packs end to end ----------------------------------------------------------------------------------


@pytest.fixture
def reg(sqlite_store):
    return Register(sqlite_store)


def _household(date: str = "2023-05-10", ended_on: str | None = None, code: str = "abnormal_household"):
    data = {"date": date, "code": code}
    if ended_on:
        data["ended_on"] = ended_on
    return ("tax_violation", data)


def _decisive(result) -> dict:
    return next(r for r in result["reasons"] if r["outcome"] == "decisive")


@pytest.mark.parametrize(
    "ended_on, tier, rule",
    [
        (None, "D", "d-direct"),  # 非正常户 since 2023, not lifted: D in 2025 (Art.18 item 9)
        ("2025-01-02", "D", "d-direct"),  # lifted during 2025: it covered part of 2025
        ("2025-01-01", "D", "d-carry-over"),  # lifted on 1 January 2025: last covered 2024, D carried over
        ("2024-03-01", "D", "d-carry-over"),
        ("2024-01-01", "B", "b-score"),  # last covered 2023 (two years before): not A in 2025
        ("2023-06-01", "B", "b-score"),
    ],
)
def test_tax_credit_counts_a_continuing_state_in_every_year(sqlite_store, reg, ended_on, tier, rule):
    code = reg.entity(established=D(2010, 1, 1), records=[tax(2025, 95), _household(ended_on=ended_on)])
    result, version = evaluate_entity(sqlite_store, code, "tax-credit", AS_OF)
    assert (result["tier"], _decisive(result)["rule"]) == (tier, rule)
    assert result["period"] == "2025" and version.version == "2025"


def test_tax_credit_events_stay_in_their_year(sqlite_store, reg):
    # the same date as an event (not a state) only decides 2023, so 2025 is B (blocked from A), not D
    code = reg.entity(established=D(2010, 1, 1), records=[tax(2025, 95), _household(code="invoice_abuse")])
    result, _ = evaluate_entity(sqlite_store, code, "tax-credit", AS_OF)
    assert (result["tier"], _decisive(result)["rule"]) == ("B", "b-score")
    # an export-refund suspension with a known end after the as-of date still lasts
    code = reg.entity(
        established=D(2010, 1, 1),
        records=[tax(2025, 95), _household("2022-09-01", "2027-09-01", code="export_refund_suspended")],
    )
    result, _ = evaluate_entity(sqlite_store, code, "tax-credit", AS_OF)
    assert (result["tier"], _decisive(result)["rule"]) == ("D", "d-direct")


def test_tax_credit_explain_names_the_continuing_state(sqlite_store, reg):
    code = reg.entity(
        established=D(2010, 1, 1),
        records=[tax(2025, 95), _household(), _household("2022-09-01", "2025-03-01", "export_refund_suspended")],
    )
    result, version = evaluate_entity(sqlite_store, code, "tax-credit", AS_OF)
    assert _decisive(result)["rule"] == "d-direct"
    cited = [item["text"] for item in result["evidence"]["d-direct"]]
    assert cited == [
        "2022年9月1日，骗取出口退税被停止出口退（免）税资格未到期"
        "（《纳税缴费信用管理办法》（国家税务总局公告2025年第12号）第十八条第（八）项；持续至2025年3月1日）",
        "2023年5月10日，被认定为非正常户或者走逃（失联）户"
        "（《纳税缴费信用管理办法》（国家税务总局公告2025年第12号）第十八条第（九）项）",
    ]
    text = explain_text(result, version)
    assert "理由：评价年度存在直接判为D级的情形（第十八条所列13项之一）：2022年9月1日" in text
    assert "评价年度内存续的直接判为D级的情形数（停止出口退（免）税资格未到期、非正常户未解除）" in text
    assert "ended_on" not in text and "direct_d" not in text


def test_tax_credit_2020_version_shares_the_state_facts(sqlite_store, reg):
    code = reg.entity(established=D(2010, 1, 1), records=[tax(2024, 95), _household("2022-05-10")])
    result, version = evaluate_entity(sqlite_store, code, "tax-credit", D(2025, 4, 30))
    assert version.version == "2020" and result["period"] == "2024"
    assert (result["tier"], _decisive(result)["rule"]) == ("D", "d-direct")


def test_tax_credit_direct_d_codes_are_all_counted_once():
    """Every direct-D code is either an event or a state in every version, and never both."""
    codes = set(record_kinds()["tax_violation"].fields["code"].values)
    for version in get_pack("tax-credit").versions:
        facts = version.source_facts()
        for suffix in ("", "_prev", "_prev2"):
            events = set(facts[f"direct_d{suffix}"].source["where"]["code"])
            states = set(facts[f"direct_d_state{suffix}"].source["where"]["code"])
            assert events | states == codes and not events & states
            assert states == {"export_refund_suspended", "abnormal_household"}
            assert facts[f"direct_d_state{suffix}"].source["lasts_until"] == "ended_on"


@pytest.mark.parametrize(
    "as_of, tier",
    [(D(2025, 5, 31), "D"), (D(2025, 6, 1), "B"), (D(2025, 6, 2), "B")],
)
def test_market_penalty_counts_until_its_annulment(sqlite_store, reg, as_of, tier):
    penalty = {
        "date": "2025-03-01",
        "severity": "serious",
        "decision_no": "泉市监罚〔2025〕12号",
        "authority": "泉州市市场监督管理局",
        "field": "food",
        "annulled_on": "2025-06-01",
    }
    code = reg.entity(records=[("penalty", penalty)])
    result, _ = evaluate_entity(sqlite_store, code, "market-credit-risk", as_of)
    assert result["tier"] == tier
    if tier == "D":
        assert "泉州市市场监督管理局于2025年3月1日作出的行政处罚决定" in result["evidence"]["risk-d"][0]["text"]


def test_bank_tax_excludes_a_household_listed_before_its_window(sqlite_store, reg):
    """The household state makes the tax grade D; 银税互动 reads that grade (domain §10.3) and excludes it."""
    code = reg.entity(established=D(2010, 1, 1), records=[tax(2025, 95), _household("2022-05-10")])
    lifted = reg.entity(established=D(2010, 1, 1), records=[tax(2025, 95), _household("2022-05-10", "2024-01-01")])
    run_cycle(sqlite_store, "tax-credit", "2025", as_of=AS_OF)
    result, _ = evaluate_entity(sqlite_store, code, "bank-tax", AS_OF)
    assert result["tier"] == "exclude" and result["facts"]["tax_grade"] == "D"
    result, _ = evaluate_entity(sqlite_store, lifted, "bank-tax", AS_OF)
    assert result["tier"] != "exclude"
