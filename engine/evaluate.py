"""Evaluation of entities against a pack version: facts -> predicate vector -> durable-rules -> outcome.

Entities that agree on every predicate share one evaluation (``Evaluator.outcome`` memoises by vector), so
durable-rules runs once per distinct vector, not once per entity.

Which of the fired rules decides, and why the others are ignored (precedence P1-P7, docs/precedence.md), is
``engine.decisions``; this module fires the rules and words the reasons. Loading a pack by name and evaluating an
entity from the register is the pipeline's (``engine.pipeline.evaluate``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from engine import authorities
from engine import conditions as C
from engine import decisions as D
from engine.evidence import with_evidence
from engine.facts import FactCompiler, Period, SourceCycle
from engine.model import PackVersion, Rule
from engine.rules import engine as rule_engine
from engine.values import cite, fill, period_cn


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Evaluator:
    """Use this to evaluate many entities against one pack version at one as-of date."""

    def __init__(self, version: PackVersion, as_of: dt.date, decided: Mapping[str, SourceCycle | None] | None = None):
        self.version = version
        self.as_of = as_of
        self.facts = FactCompiler(version, as_of, decided)
        self.period: Period = self.facts.period
        self.index1 = {a: i for i, a in enumerate(version.atoms1)}
        self.index2 = {a: i for i, a in enumerate(version.atoms2)}
        eng = rule_engine()
        h = version.content_hash[:20]
        self.rs1 = eng.ruleset(f"{version.pack.id}-{h}-tiers", {r.id: r.when for r in version.tier_rules}, self.index1)
        stage2 = {r.id: r.when for r in version.list_rules + version.measure_rules + version.notice_rules}
        self.rs2 = eng.ruleset(f"{version.pack.id}-{h}-consequences", stage2, self.index2)
        self.rules = {
            r.id: r for r in version.tier_rules + version.list_rules + version.measure_rules + version.notice_rules
        }
        self._atoms2_plain = [(i, a) for i, a in enumerate(version.atoms2) if a.fact != "tier"]
        self._atoms2_tier = [(i, a) for i, a in enumerate(version.atoms2) if a.fact == "tier"]
        self.memo: dict[bytes, tuple[str, dict]] = {}
        self.distinct = 0
        # Batch path (outcomes()): per fact, a cache from value to the id of the truth values of that fact's atoms
        # (its interval between the pack's thresholds, or its class for other types). The tuple of those ids fixes
        # the predicate vector, so it keys a second memo in front of ``memo``: per entity that is one dict lookup per
        # fact instead of testing every atom.
        by_fact: dict[str, list[C.Atom]] = {}
        for a in list(version.atoms1) + [a for _, a in self._atoms2_plain]:
            if a not in by_fact.setdefault(a.fact, []):
                by_fact[a.fact].append(a)
        # (fact, cache for non-bool values, cache for bools, truth tuple -> id, atoms). Bools have their own cache:
        # True == 1.0 and hash alike, but 'x >= 1' is false for True.
        self._classes: list[
            tuple[str, dict[Any, int], dict[Any, int], dict[tuple[bool, ...], int], tuple[C.Atom, ...]]
        ] = [(fact, {}, {}, {}, tuple(atoms)) for fact, atoms in by_fact.items()]
        self._by_class: dict[tuple, tuple[str, dict]] = {}

    def vector(self, facts: dict[str, Any]) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
        v1 = tuple(a.test(facts.get(a.fact)) for a in self.version.atoms1)
        v2 = tuple(a.test(facts.get(a.fact)) for _, a in self._atoms2_plain)
        return v1, v2

    def outcome(self, facts: dict[str, Any]) -> tuple[str, dict]:
        """(vector key, outcome) for an entity's facts; evaluated once per distinct vector."""
        v1, v2 = self.vector(facts)
        raw = bytes(v1) + b"|" + bytes(v2)
        hit = self.memo.get(raw)
        if hit is None:
            hit = (hashlib.sha1(raw).hexdigest(), self._evaluate(v1, v2))
            self.memo[raw] = hit
            self.distinct += 1
        return hit

    def outcomes(self, facts_list: list[dict[str, Any]]) -> list[tuple[str, dict]]:
        """``[outcome(f) for f in facts_list]``, computed a fact at a time over the whole list."""
        return self._outcomes(lambda fact: [f.get(fact) for f in facts_list], len(facts_list), facts_list.__getitem__)

    def outcomes_of(self, values_list: list[list], names: Sequence[str]) -> list[tuple[str, dict]]:
        """:meth:`outcomes` of facts given as lists of values in ``names`` order, None for no value
        (engine.facts.FactCompiler.values): the same answers as for the dicts of the facts that have a value."""
        slot = {name: i for i, name in enumerate(names)}

        def column(fact: str) -> list:
            i = slot.get(fact)
            return [None] * len(values_list) if i is None else [v[i] for v in values_list]

        def facts_at(i: int) -> dict[str, Any]:
            return {name: value for name, value in zip(names, values_list[i]) if value is not None}

        return self._outcomes(column, len(values_list), facts_at)

    def _outcomes(
        self, column: Callable[[str], list], n: int, facts_at: Callable[[int], dict[str, Any]]
    ) -> list[tuple[str, dict]]:
        columns = []
        try:
            for fact, cache, bools, seen, atoms in self._classes:
                values = column(fact)
                get, bget = cache.get, bools.get
                ids = [bget(v) if v is True or v is False else get(v) for v in values]
                if None in ids:  # values not met before: classify each new distinct value once
                    for v in set(values).difference(cache.keys()):
                        target = bools if v is True or v is False else cache
                        if v not in target and len(target) < 65536:
                            target[v] = seen.setdefault(tuple(a.test(v) for a in atoms), len(seen))
                    ids = [bget(v) if v is True or v is False else get(v) for v in values]
                if None in ids:  # left: NaN, a bool where 1.0 was met in this list (or the reverse), a full cache
                    for i, cid in enumerate(ids):
                        if cid is None:
                            v = values[i]
                            truth = tuple(a.test(v) for a in atoms)
                            cid = ids[i] = seen.setdefault(truth, len(seen))
                            target = bools if v is True or v is False else cache
                            if len(target) < 65536:
                                target[v] = cid
                columns.append(ids)
        except TypeError:  # an unhashable fact value (or a test that fails): the plain path raises or answers
            return [self.outcome(facts_at(i)) for i in range(n)]
        memo = self._by_class
        hits = [memo.get(k) for k in zip(*columns)] if columns else [memo.get(())] * n
        if None in hits:
            for i, k in enumerate(zip(*columns) if columns else [()] * n):
                if hits[i] is None:
                    hit = memo.get(k)
                    if hit is None:
                        hit = memo[k] = self.outcome(facts_at(i))
                    hits[i] = hit
        return cast("list[tuple[str, dict]]", hits)  # every None was filled in above

    # -- the rules --------------------------------------------------------------------------------
    def _evaluate(self, v1: tuple[bool, ...], v2_plain: tuple[bool, ...]) -> dict:
        version = self.version
        fired_tier = [self.rules[rid] for rid in self.rs1.fire(v1)]
        tier, best, others = D.decide_tier(version, fired_tier)
        reasons = []
        if best is not None:
            reasons.append(self._reason(best, "decisive"))
            for r in others:
                reasons.append(self._reason(r, "ignored", D.tier_ignored_because(best, r)))
        else:
            reasons.append(
                {
                    "rule": "default_tier",
                    "outcome": "decisive",
                    "why": "没有等级规则适用，适用默认等级",
                    "basis": "",
                    "condition": "",
                }
            )
        # Stage 2: the plain predicates plus the ones on `tier`.
        vec2 = [False] * len(version.atoms2)
        for (i, _), val in zip(self._atoms2_plain, v2_plain):
            vec2[i] = val
        for i, atom in self._atoms2_tier:
            vec2[i] = atom.test(tier)
        fired2 = [self.rules[rid] for rid in self.rs2.fire(vec2)]
        lists, proposals = D.propose_lists(version, fired2)
        for r, because in proposals:
            reasons.append(self._reason(r, "ignored", because) if because else self._reason(r, "fired"))
        for dropped in D.drop_incentive_lists(lists):
            for reason in reasons:
                if reason["rule"] == dropped["rule"]:
                    reason["outcome"] = "ignored"
                    reason["ignored_because"] = D.INCENTIVE_LIST_IGNORED
        sup, forced = D.inspection(version, tier, lists)
        measures = D.collect_measures(version, fired2, lists)
        for r in fired2:
            if r.category == "measure":
                reasons.append(self._reason(r, "fired"))
        kept, ignored = D.sanctions_first(measures.values())
        for m, clash in ignored:
            reasons.append(
                {
                    "rule": m["rule"],
                    "outcome": "ignored",
                    "why": f"激励措施“{m['text']}”",
                    "basis": m["basis"],
                    "condition": "",
                    "ignored_because": f"同一服务事项（{'、'.join(clash)}）适用惩戒措施，激励措施不予适用",
                }
            )
        notices = []
        for r in fired2:
            if r.category == "notice":
                notices.append({"kind": r.notice, "rule": r.id, "reason": r.reason, "basis": r.basis})
                reasons.append(self._reason(r, "fired"))
        return {
            "tier": tier,
            "tier_label": version.tier_labels.get(tier, tier) if tier is not None else None,
            "decisive_rule": best.id if best else "default_tier",
            "inspection": {
                "ratio": sup["ratio"],
                "per_year": sup["per_year"],
                "forced": forced,
                "note": sup.get("note", ""),
            },
            "lists": list(lists.values()),
            "measures": [
                {
                    "id": m["id"],
                    "kind": m["kind"],
                    "rule": m["rule"],
                    "basis": m["basis"],
                    "text": m["text"],
                    "department": m["department"],
                    "services": m["services"],
                }
                for m in kept
            ],
            "notices": notices,
            "reasons": reasons,
        }

    def _reason(self, rule: Rule, outcome: str, because: str | None = None) -> dict:
        item = {
            "rule": rule.id,
            "outcome": outcome,
            "why": rule.reason,
            "basis": rule.basis,
            "condition": rule.condition_text,
        }
        if because:
            item["ignored_because"] = because
        return item


def entity_result(
    version: PackVersion, entity: dict, as_of: dt.date, facts: dict, outcome: dict, evidence: dict | None = None
) -> dict:
    """The public shape of one evaluation (``supervise evaluate --json``), placeholders filled; ``evidence``
    (rule id -> the records behind that reason, engine.evidence) as given."""

    def filled(items: Iterable[Mapping[str, Any]], keys: tuple[str, ...] = ("why", "reason")) -> list[dict[str, Any]]:
        out = []
        for item in items:
            item = dict(item)
            for k in keys:
                if k in item and isinstance(item[k], str):
                    item[k] = fill(item[k], facts)
            out.append(item)
        return out

    period = Period.at(version.period, as_of)
    authority = authorities.for_region(version.pack.meta, entity.get("region"))
    return {
        "uscc": entity["code"],
        "name": entity.get("name"),
        "authority": authority["name"] if authority else None,  # of the entity's region (engine.authorities)
        "as_of": as_of.isoformat(),
        "policy": {"id": version.pack.id, "version": version.version, "content_hash": version.content_hash},
        "period": period.label,
        "tier": outcome["tier"],
        "tier_label": outcome["tier_label"],
        "inspection": {
            "ratio": outcome["inspection"]["ratio"],
            "per_year": outcome["inspection"]["per_year"],
            "forced": outcome["inspection"]["forced"],
        },
        "lists": filled(outcome["lists"]),
        "measures": outcome["measures"],
        "notices": filled(outcome["notices"]),
        "reasons": filled(outcome["reasons"]),
        "facts": {k: v for k, v in facts.items()},
        "evidence": evidence or {},
    }


def _cn_date(iso: str) -> str:
    d = dt.date.fromisoformat(str(iso)[:10])
    return f"{d.year}年{d.month}月{d.day}日"


def explain_text(result: dict, version: PackVersion) -> str:
    """A plain-language account a regulator can read to the entity: the reasons with the records behind them
    (the wording notices use, engine.evidence); rule ids, priorities and fact names stay in ``--json``."""
    evidence = result.get("evidence") or {}
    lines = [
        f"{result['name'] or ''}（统一社会信用代码/证件号码：{result['uscc']}）：",
        f"{result.get('authority') or '本机关'}依据{_cite_title(version.title)}，"
        f"对{period_cn(result['period'])}（截至{_cn_date(result['as_of'])}）的信用记录评价如下。",
    ]
    lines.append(f"一、评价结果：{result['tier_label']}。")
    decisive = [r for r in result["reasons"] if r["outcome"] == "decisive"]
    for r in decisive:
        lines.append(
            f"    理由：{with_evidence(r['why'], evidence.get(r['rule']))}。依据：{r['basis'] or '本政策包默认规则'}。"
        )
        if r.get("condition"):
            lines.append(f"    适用条件：{r['condition']}。")
    for text in result.get("source_lines") or ():  # decision facts: the stored cycle each came from
        lines.append(f"    {text}。")
    ignored = [r for r in result["reasons"] if r["outcome"] == "ignored"]
    tier_rules = {t.id for t in version.tier_rules}
    fallbacks = {t.id for t in version.tier_rules if t.when == ("const", True)}
    for r in ignored:
        if r["rule"] in fallbacks:  # "no other case applies" is not a case that also applies
            continue
        if r["rule"] in tier_rules:  # a tier rule that lost on precedence (P1/P2): not the deciding reason
            lines.append(f"    另有情形（{r['why'].rstrip('。')}）亦符合，但依上述情形确定评价结果。")
        else:
            lines.append(
                f"    另有情形（{r['why'].rstrip('。')}）不予适用"
                + (f"：{r['ignored_because']}。" if _plain(r.get("ignored_because")) else "。")
            )
    insp = result["inspection"]
    if insp["ratio"] or insp["per_year"] or insp["forced"]:
        lines.append(
            f"二、监管措施：双随机抽查比例 {insp['ratio']:.0%}，每年检查 {insp['per_year']:g} 次"
            + ("，列入重点检查对象。" if insp["forced"] else "。")
        )
    else:
        lines.append("二、监管措施：不涉及双随机抽查。")
    if result["lists"]:
        lines.append("三、名单：")
        for item in result["lists"]:
            lines.append(
                f"    拟列入{item['title']}：{with_evidence(item['reason'], evidence.get(item.get('rule')))}。"
                f"依据：{item['basis']}。"
            )
    if result["measures"]:
        lines.append(f"{'四' if result['lists'] else '三'}、联合奖惩措施：")
        for m in result["measures"]:
            kind = "激励" if m["kind"] == "incentive" else "惩戒"
            lines.append(f"    【{kind}】{m['text']}（实施部门：{m['department']}；依据：{m['basis']}）")
    lines.append("如对评价结果有异议，可在规定期限内提出异议申请；失信行为纠正后可依法申请信用修复。")
    return "\n".join(lines)


def _cite_title(title: str) -> str:
    """A version title as a citation: 《纳税缴费信用管理办法》（国家税务总局公告2025年第12号）."""
    return cite(title) if title else "本政策"


def _plain(text: str | None) -> bool:
    """Text for the party: no rule ids or other ASCII identifiers (those stay in --json)."""
    return bool(text and not re.search(r"[A-Za-z]{2,}|[a-z]+[-_][a-z]+", text))
