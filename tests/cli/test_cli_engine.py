"""`supervise evaluate` and `supervise check` on a small register, for every shipped pack."""

import datetime as dt
import json

import pytest

from cli import cli
from engine.pipeline.cycles import run_cycle
from tests.builders_engine import Register, tax, violation

AS_OF = "2026-04-30"


@pytest.fixture
def world(sqlite_store):
    reg = Register(sqlite_store)
    codes = {
        "good": reg.entity(
            records=[
                tax(2025, 96),
                ("honour", {"date": "2025-05-01", "title": "守合同重信用企业", "authority": "泉州市市场监督管理局"}),
            ]
        ),
        "bad": reg.entity(
            records=[
                tax(2025, 95),
                violation("2025-05-01", "false_preference_claim"),
                (
                    "penalty",
                    {
                        "date": "2025-10-01",
                        "severity": "serious",
                        "decision_no": "泉市监罚〔2025〕9号",
                        "authority": "泉州市市场监督管理局",
                        "field": "food",
                    },
                ),
                (
                    "conduct",
                    {
                        "date": "2026-01-10",
                        "code": "hoarding",
                        "polarity": "negative",
                        "field": "epidemic",
                        "severity": "serious",
                    },
                ),
            ]
        ),
        "young": reg.entity(established=dt.date(2025, 9, 1)),
        "abnormal": reg.entity(
            records=[tax(2025, 80), ("abnormal_operation", {"date": "2026-02-01", "cause": "annual_report_missing"})]
        ),
    }
    return sqlite_store, codes


def invoke(store, *args):
    return CliRunnerShim.run(store, args)


class CliRunnerShim:
    @staticmethod
    def run(store, args):
        from click.testing import CliRunner

        return CliRunner().invoke(cli, ["--db", store.url, *args])


@pytest.mark.parametrize(
    "pack, who, tier",
    [
        ("tax-credit", "good", "A"),
        ("tax-credit", "bad", "D"),
        ("tax-credit", "young", "M"),
        ("market-credit-risk", "bad", "D"),
        ("market-credit-risk", "abnormal", "C"),
        ("market-credit-risk", "good", "A"),
        ("market-credit-risk", "young", "B"),
        ("bank-tax", "good", "push"),
        ("bank-tax", "bad", "exclude"),
        ("bank-tax", "young", "review"),
        ("epidemic-conduct", "bad", "sanctioned"),
        ("epidemic-conduct", "good", "normal"),
    ],
)
def test_evaluate_every_pack(world, pack, who, tier):
    store, codes = world
    if pack == "bank-tax":  # 银税互动 reads the grade the tax pack stored (domain §10.3)
        run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    result = invoke(store, "evaluate", codes[who], "--policy", pack, "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tier"] == tier
    assert set(data) >= {"uscc", "as_of", "policy", "tier", "inspection", "lists", "measures", "reasons"}
    assert data["policy"]["id"] == pack and data["inspection"]["ratio"] >= 0
    assert any(r["outcome"] == "decisive" for r in data["reasons"])


def test_evaluate_explain_is_plain_chinese_with_basis(world):
    store, codes = world
    result = invoke(store, "evaluate", codes["bad"], "--policy", "tax-credit", "--as-of", AS_OF, "--explain")
    assert result.exit_code == 0
    assert "评价结果：D级" in result.output and "第十八条" in result.output and "拟列入" in result.output


def test_evaluate_errors_name_the_problem(world):
    store, codes = world
    bad_code = invoke(store, "evaluate", "91350100M000100Y4Z", "--policy", "tax-credit")
    assert bad_code.exit_code == 1 and "illegal character 'Z'" in bad_code.output
    unknown = invoke(store, "evaluate", "91350100M000100Y43", "--policy", "tax-credit")
    assert unknown.exit_code == 1 and "No entity with code 91350100M000100Y43" in unknown.output
    no_pack = invoke(store, "evaluate", codes["good"], "--policy", "tax-credt")
    assert no_pack.exit_code == 1 and "did you mean 'tax-credit'" in no_pack.output
    too_early = invoke(store, "evaluate", codes["good"], "--policy", "tax-credit", "--as-of", "2010-01-01")
    assert too_early.exit_code == 1 and "no version in force on 2010-01-01" in too_early.output


def test_check_uses_stored_decisions_and_lists(world):
    store, codes = world
    run_cycle(store, "tax-credit", "2025", as_of=dt.date(2026, 4, 30))
    run_cycle(store, "market-credit-risk", AS_OF, as_of=dt.date(2026, 4, 30))
    run_cycle(store, "epidemic-conduct", AS_OF, as_of=dt.date(2026, 4, 30))  # the third pack governing procurement
    bad = invoke(store, "check", codes["bad"], "--service", "government_procurement", "--as-of", AS_OF, "--json")
    assert bad.exit_code == 0, bad.output
    data = json.loads(bad.output)
    assert data["verdict"] == "restricted"
    assert any(m["kind"] == "sanction" and m["basis"] for m in data["measures"])
    good = invoke(store, "check", codes["good"], "--service", "invoice_supply", "--as-of", AS_OF)
    assert good.exit_code == 0 and "invoice_supply" in good.output
    none = invoke(store, "check", codes["young"], "--service", "government_procurement", "--as-of", AS_OF)
    assert none.exit_code == 0 and "no joint measure applies" in none.output
