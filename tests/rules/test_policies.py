"""Policy packs: shipped packs validate; each kind of error is rejected as file:line: key.path: reason."""

import re
import shutil

import pytest

from engine.errors import PolicyError
from policies import PACKS_DIR, get_pack, list_packs
from policies.loader import load_pack
from tests.builders_engine import DEFAULT_LIST_RULES, DEFAULT_TIER_RULES, mini_pack

LINE = re.compile(r"^.+\.yaml:\d+: [\w.\-\[\]]+: .+")


@pytest.mark.parametrize("path", sorted(PACKS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_packs_validate(path):
    pack = load_pack(path)
    assert pack.versions
    for v in pack.versions:
        assert v.tier_rules and len(v.content_hash) == 64
        for r in v.tier_rules + v.list_rules:
            assert r.basis, f"{r.id} cites no basis"


def test_shipped_packs_are_the_ones_the_issue_names():
    assert {p.id for p in list_packs()} >= {"tax-credit", "market-credit-risk", "bank-tax", "epidemic-conduct"}


def problems_of(path):
    with pytest.raises(PolicyError) as info:
        load_pack(path)
    for p in info.value.problems:
        assert LINE.match(p), p
    return info.value.problems


def one(problems, needle):
    hits = [p for p in problems if needle in p]
    assert hits, f"no problem mentions {needle!r}: {problems}"
    return hits[0]


def test_unknown_fact_with_did_you_mean(tmp_path):
    rules = DEFAULT_TIER_RULES.replace('when: "score >= 80"', 'when: "scor >= 80"')
    p = one(problems_of(mini_pack(tmp_path, tier_rules=rules)), "unknown fact 'scor'")
    assert "did you mean 'score'" in p and "tier_rules.0.when" in p


def test_unknown_measure_with_did_you_mean(tmp_path):
    p = one(
        problems_of(mini_pack(tmp_path, measure_rules='      - {id: m, when: "tier == A", apply: [m-in]}')),
        "unknown measure 'm-in'",
    )
    assert "did you mean 'm-inc'" in p and "measure_rules.0.apply.0" in p


def test_type_error_is_reported(tmp_path):
    rules = DEFAULT_TIER_RULES.replace('when: "bad >= 1"', 'when: "bad == yes"')
    one(problems_of(mini_pack(tmp_path, tier_rules=rules)), "fact 'bad' is a number")


def test_comparing_a_tier_with_an_unknown_tier(tmp_path):
    lists = DEFAULT_LIST_RULES.replace('"tier == A"', '"tier == AA"')
    assert "did you mean 'A'" in one(problems_of(mini_pack(tmp_path, list_rules=lists)), "'AA'")


def test_overlapping_version_dates(tmp_path):
    path = mini_pack(tmp_path)
    text = path.read_text(encoding="utf-8")
    version = text[text.index("  - version") :]
    text += version.replace('version: "1"', 'version: "2"').replace("2020-01-01", "2021-01-01")
    path.write_text(text, encoding="utf-8")
    p = one(problems_of(path), "must not overlap")
    assert "versions.1.effective_from" in p


def test_incomplete_tier_table(tmp_path):
    rules = "\n".join(DEFAULT_TIER_RULES.splitlines()[:2])  # no rule for score < 50 or missing score
    p = one(problems_of(mini_pack(tmp_path, tier_rules=rules, list_rules="      []")), "not complete")
    assert "score=" in p and "tier_rules" in p


def test_tier_table_not_unique(tmp_path):
    rules = DEFAULT_TIER_RULES.replace('when: {all: ["score >= 50", "score < 80"]}', 'when: "score >= 50"')
    p = one(problems_of(mini_pack(tmp_path, tier_rules=rules)), "not unique")
    assert "a (tier A)" in p and "b (tier B)" in p


def test_rule_that_can_never_fire(tmp_path):
    rules = (
        DEFAULT_TIER_RULES
        + '\n      - {id: dead, tier: C, priority: 60, when: {all: ["score > 90", "score < 10"]}, basis: {doc: doc1}}'
    )
    p = one(problems_of(mini_pack(tmp_path, tier_rules=rules)), "rule dead can never fire")
    assert "tier_rules.4.when" in p


def test_rule_that_never_decides(tmp_path):
    rules = DEFAULT_TIER_RULES + '\n      - {id: shadow, tier: B, priority: 5, when: "bad >= 3", basis: {doc: doc1}}'
    one(problems_of(mini_pack(tmp_path, tier_rules=rules)), "rule shadow can never decide the tier")


def test_unknown_key_and_basis(tmp_path):
    rules = DEFAULT_TIER_RULES.replace("priority: 10, when", "priorty: 10, when", 1).replace(
        "{doc: doc1}", "{doc: doc2}", 1
    )
    problems = problems_of(mini_pack(tmp_path, tier_rules=rules))
    assert "did you mean 'priority'" in one(problems, "unknown key 'priorty'")
    one(problems, "unknown basis document 'doc2'")


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nversions:\n  - version: [1\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_pack(path)
    assert re.match(r".*broken\.yaml:\d+: not valid YAML", str(info.value))


def test_eval_is_never_used_for_conditions(tmp_path):
    rules = DEFAULT_TIER_RULES.replace('when: "score >= 80"', "when: \"__import__('os').system('echo hi') >= 1\"")
    one(problems_of(mini_pack(tmp_path, tier_rules=rules)), "cannot read condition")


def test_cli_validate_reports_each_problem(runner, tmp_path):
    from cli import cli

    rules = DEFAULT_TIER_RULES.replace('when: "score >= 80"', 'when: "scor >= 80"')
    path = mini_pack(tmp_path, tier_rules=rules)
    result = runner.invoke(cli, ["policy", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:" in result.output and "did you mean 'score'" in result.output
    ok = runner.invoke(cli, ["policy", "validate", *map(str, sorted(PACKS_DIR.glob("*.yaml")))])
    assert ok.exit_code == 0 and "tax-credit.yaml: valid (2014, 2018, 2020, 2025)" in ok.output


def test_cli_show_and_diff(runner):
    from cli import cli

    shown = runner.invoke(cli, ["policy", "show", "tax-credit@2025"])
    assert shown.exit_code == 0 and "d-direct" in shown.output and "第十八条" in shown.output
    diff = runner.invoke(cli, ["policy", "diff", "tax-credit@2014", "tax-credit@2025", "--json"])
    assert diff.exit_code == 0
    import json

    changed = {c["rule"]: c for c in json.loads(diff.output)["rules"]}
    assert "basis" in changed["d-direct"]["fields"]
    bad = runner.invoke(cli, ["policy", "show", "tax-credt"])
    assert bad.exit_code == 1 and "did you mean 'tax-credit'" in bad.output


def test_user_pack_dir_overrides(tmp_path, monkeypatch):
    shutil.copy(PACKS_DIR / "bank-tax.yaml", tmp_path / "bank-tax.yaml")
    monkeypatch.setenv("SUPERVISE_POLICIES", str(tmp_path))
    assert get_pack("bank-tax").path == (tmp_path / "bank-tax.yaml").resolve()


def _cross_product_outcomes(v, conditions, tiers=None):
    """The brute-force reference: every combination of every fact's value classes, evaluated in full."""
    import itertools

    from engine import conditions as C
    from policies.loader import fact_classes

    by_fact: dict = {}
    for cond in conditions:
        for a in C.atoms(cond):
            by_fact.setdefault(a.fact, []).append(a)
    names = list(by_fact)
    classes = []
    for n in names:  # one value per truth pattern of the fact's own atoms, as the old check did
        reps = fact_classes(v.facts[n], by_fact[n]) if n != "tier" else list(tiers or v.tier_order)
        classes.append(list({tuple(a.test(r) for a in by_fact[n]): r for r in reversed(reps)}.values()))
    index = {a: i for i, a in enumerate(dict.fromkeys(a for n in names for a in by_fact[n]))}
    vectors = set()
    for combo in itertools.product(*classes):
        values = dict(zip(names, combo))
        vectors.add(tuple(a.test(values[a.fact]) for a in index))
    return {tuple(C.evaluate(c, vec, index) for c in conditions) for vec in vectors}


@pytest.mark.parametrize("version", ["2014", "2025"])
def test_table_check_reaches_exactly_the_cross_products_outcomes(version):
    """The tier and list table checks enumerate residual conditions fact by fact instead of the cross product of
    every fact's classes (which grew 8-fold with the tax pack's continuing-state facts): on the shipped tax pack
    they reach the same set of rule outcomes, and each outcome's witness values really give it."""
    from engine import conditions as C
    from policies.loader import _outcomes

    v = get_pack("tax-credit").get_version(version)
    for rules, tiers in ((v.tier_rules, None), (v.list_rules + v.measure_rules + v.notice_rules, v.tier_order)):
        conds = [r.when for r in rules]
        got = dict(_outcomes(v, conds, tiers))
        assert set(got) == _cross_product_outcomes(v, conds, tiers)
        for truth, witness in got.items():
            index = {a: i for i, a in enumerate(dict.fromkeys(a for c in conds for a in C.atoms(c)))}
            vec = [a.test(witness[a.fact]) for a in index]
            assert tuple(C.evaluate(c, vec, index) for c in conds) == truth


def test_discovery_is_cached_but_sees_every_change_to_the_pack_files(tmp_path, monkeypatch):
    """The pack scan is cached by the files' state (the check service asks for it on every request), so an edited,
    added, broken or removed pack file must still be seen at once by a long-running process."""
    from policies import discover

    monkeypatch.setenv("SUPERVISE_POLICIES", str(tmp_path))
    pack = tmp_path / "bank-tax.yaml"
    shutil.copy(PACKS_DIR / "bank-tax.yaml", pack)
    assert get_pack("bank-tax").title == "银税互动信用贷款推送"
    assert discover() == discover()  # a repeated scan of unchanged files agrees

    pack.write_text(
        pack.read_text(encoding="utf-8").replace("title: 银税互动信用贷款推送", "title: 银税互动（本地）"), "utf-8"
    )
    assert get_pack("bank-tax").title == "银税互动（本地）"  # edited: read again

    other = tmp_path / "bank-tax-2.yaml"
    other.write_text(pack.read_text(encoding="utf-8").replace("id: bank-tax", "id: bank-tax-2"), encoding="utf-8")
    assert discover()[0]["bank-tax-2"] == other  # added
    other.write_bytes(b"id: bank-tax-2\ntitle: \xff\n")
    found, broken = discover(report=False)
    assert "bank-tax-2" not in found and "not UTF-8" in broken["bank-tax-2"][1]  # broken
    other.unlink()
    assert "bank-tax-2" not in discover()[0] and "bank-tax-2" not in discover()[1]  # removed
    pack.unlink()
    assert get_pack("bank-tax").path == (PACKS_DIR / "bank-tax.yaml").resolve()  # the shipped one again
