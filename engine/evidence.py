"""Evidence: the records that made a decision's reasons true, worded for the party.

A notice (and ``supervise evaluate --explain``) never says only "存在严重失信行为1项": for each reason that decided
or fired it names the records behind it, e.g. which of the 13 direct-D items (its Chinese label and the article of
公告2025年第12号 that lists it) with the inspection document number, which penalty (authority, date, decision
number), which list (who listed the entity and since when).

The records are the entity's stored records as the decision saw them (dated on or before its as-of date and, for a
cycle, imported before the cycle started); the facts that decided are the stored facts tested by the atoms of the
rule's condition, and the records of a fact are the ones :meth:`engine.facts.FactCompiler.matching` finds, the
same tests the fact's count used. Nothing is re-decided.

Wording is data: ``citations:`` in ``policies/record_kinds.yaml`` (per record kind: ``text``, ``extras``,
``labels``), extended or overridden per pack version under ``citations:`` (where ``basis`` names the article that
makes a record count). Rule ids, fact names and codes never reach the text; they stay in ``--json``.
"""

from __future__ import annotations

import datetime as dt
import functools
import pathlib
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine import conditions as C
from engine.facts import FactCompiler
from engine.model import PackVersion
from engine.register.records import RecordKind
from engine.values import cite, fill
from engine.values import has_cjk as _has_cjk

RECORD_KINDS_YAML = pathlib.Path(__file__).resolve().parent.parent / "policies" / "record_kinds.yaml"
REASON_OUTCOMES = ("decisive", "fired")
_FORMATTER = string.Formatter()


@functools.lru_cache(maxsize=1)
def base_citations() -> dict[str, dict]:
    import yaml

    raw = yaml.safe_load(RECORD_KINDS_YAML.read_text(encoding="utf-8")) or {}
    return raw.get("citations") or {}


def citation_specs(version_raw: Mapping[str, Any]) -> dict[str, dict]:
    """The base citations with the pack version's ``citations:`` laid over them, key by key."""
    out = {k: dict(v) for k, v in base_citations().items()}
    for kind, spec in (version_raw.get("citations") or {}).items():
        merged = out.setdefault(kind, {})
        for key, value in (spec or {}).items():
            if key == "labels" and isinstance(value, Mapping):
                labels = {f: dict(m) for f, m in (merged.get("labels") or {}).items()}
                for fld, mapping in value.items():
                    labels.setdefault(fld, {}).update(mapping or {})
                merged["labels"] = labels
            else:
                merged[key] = value
    return out


def cn_date(value: Any) -> str:
    d = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    return f"{d.year}年{d.month}月{d.day}日"


def amount(value: Any) -> str:
    number = float(value)
    return f"{number:,.0f}" if number == int(number) else f"{number:,.2f}"


@functools.lru_cache(maxsize=1024)
def _fields(template: str) -> tuple[str, ...]:
    """The placeholders of a citation text (cached: the same few texts cite every record of a run)."""
    return tuple(f for _, f, _, _ in _FORMATTER.parse(template) if f)


class Evidence:
    """Use this to name the records behind the reasons of decisions made with one pack version at one date."""

    def __init__(self, version: PackVersion, as_of: dt.date, compiler: FactCompiler | None = None):
        self.version = version
        self.compiler = compiler or FactCompiler(version, as_of)
        self.specs = citation_specs(version.raw)
        self.kinds = version.pack.record_kinds
        self.docs: dict[Any, dict] = version.basis or {}  # looked up by a citation's doc, which may be absent
        self.rules = {
            r.id: r for r in version.tier_rules + version.list_rules + version.measure_rules + version.notice_rules
        }
        self.counted = {
            n for n, f in version.source_facts().items() if f.source and ("count" in f.source or "open" in f.source)
        }
        # Adjustments (source: adjust): target fact -> [(flag fact, what was adjusted and why, in words)], the
        # words being the adjustment's reason ({fact} placeholders filled per entity) or its label.
        self.adjusted: dict[str, list[tuple[str, str]]] = {}
        for name, f in version.facts.items():
            if f.adjust is not None:
                target, _add, _node, basis, reason = f.adjust
                text = (reason or f.label) + (f"（{basis}）" if basis else "")
                self.adjusted.setdefault(target, []).append((name, text))

    @property
    def record_kinds(self) -> list[str]:
        """The record kinds to read for :meth:`for_reasons`."""
        return self.compiler.kinds

    def facts_of(self, rule_id: str, facts: Mapping[str, Any]) -> list[str]:
        """The counted facts whose atoms hold in ``rule_id``'s condition (the ones that made it true)."""
        rule = self.rules.get(rule_id)
        if rule is None:
            return []
        out: list[str] = []
        for atom in C.atoms(rule.when):
            value = facts.get(atom.fact)
            if atom.fact in self.counted and value and atom.test(value) and atom.fact not in out:
                out.append(atom.fact)
        return out

    def adjustments_of(self, rule_id: str, facts: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The adjustments that applied to a fact ``rule_id``'s condition tests (flag fact, words), in order."""
        rule = self.rules.get(rule_id)
        if rule is None:
            return []
        out: list[tuple[str, str]] = []
        for atom in C.atoms(rule.when):
            for flag, text in self.adjusted.get(atom.fact, ()):
                if facts.get(flag) is True and all(flag != seen for seen, _ in out):
                    out.append((flag, fill(text, dict(facts))))
        return out

    def for_reasons(
        self,
        records: Iterable[tuple],
        facts: Mapping[str, Any],
        reasons: Sequence[Mapping[str, Any]],
        outcomes: Sequence[str] = REASON_OUTCOMES,
    ) -> dict[str, list[dict[str, Any]]]:
        """``{rule id: [{"fact", "kind", "date", "text"}, ...]}`` for the reasons with those outcomes."""
        wanted = {
            r["rule"]: self.facts_of(r["rule"], facts)
            for r in reasons
            if r.get("outcome") in outcomes and r.get("rule") in self.rules
        }
        names = {f for fs in wanted.values() for f in fs}
        adjusted = {rid: self.adjustments_of(rid, facts) for rid in wanted} if self.adjusted else {}
        if not names and not any(adjusted.values()):
            return {}
        matched = self.compiler.matching(records, names) if names else {}
        out: dict[str, list[dict[str, Any]]] = {}
        cited: dict[tuple, str] = {}  # a record behind several reasons is put in words once
        for rule_id, fact_names in wanted.items():
            items: list[dict[str, Any]] = [
                {"fact": flag, "kind": "adjustment", "date": None, "text": text}
                for flag, text in adjusted.get(rule_id, ())
            ]
            seen = {i["text"] for i in items}
            for name in fact_names:
                for kind, date, data in matched.get(name, ()):
                    key = (kind, date, id(data))
                    text = cited.get(key)
                    if text is None:
                        text = cited[key] = self.cite_record(kind, date, data)
                    if text not in seen:
                        seen.add(text)
                        items.append({"fact": name, "kind": kind, "date": date.isoformat(), "text": text})
            if items:
                out[rule_id] = items
        return out

    def cite_record(self, kind: str, date: dt.date, data: Mapping[str, Any]) -> str:
        """One record in words, e.g. ``泉州市市场监督管理局于2025年3月1日作出的行政处罚决定（泉市监罚〔2025〕12号）``."""
        spec = self.specs.get(kind) or {}
        rk = self.kinds.get(kind)
        values = _record_values(spec, rk, date, data)
        text = _record_sentence(spec, rk, values)
        notes = []
        basis = self._basis(spec.get("basis"), data)
        if basis:
            notes.append(basis)
        extras = [
            e.format_map(values) for e in spec.get("extras") or [] if all(values.get(f) is not None for f in _fields(e))
        ]
        if extras:
            notes.append("，".join(extras))
        return text + (f"（{'；'.join(notes)}）" if notes else "")

    def _basis(self, spec: Mapping | None, data: Mapping[str, Any]) -> str | None:
        if not spec:
            return None
        article = spec.get("article")
        if spec.get("field"):
            article = (spec.get("articles") or {}).get(str(data.get(spec["field"])), article)
            if article is None and spec.get("articles"):
                return None  # a value the basis does not list (e.g. another list than the one the article names)
        doc = self.docs.get(spec.get("doc")) or {}
        title = doc.get("title") or spec.get("doc")
        return cite(str(title), article) if title else None


def _record_values(spec: Mapping, rk: RecordKind | None, date: dt.date, data: Mapping[str, Any]) -> dict[str, Any]:
    labels = spec.get("labels") or {}
    values: dict[str, Any] = {"date": cn_date(date)}
    for fld, value in data.items():
        if value is None or value == "":
            continue
        ftype = rk.fields[fld].type if rk and fld in rk.fields else None
        if fld in labels:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            label = labels[fld].get(key)
            values[fld] = label if label else (str(value) if _has_cjk(str(value)) else (rk.title if rk else None))
        elif ftype == "date":
            values[fld] = cn_date(value)
        elif ftype in ("number", "int") and not isinstance(value, bool):
            values[fld] = amount(value)
        elif isinstance(value, bool):
            values[fld] = "是" if value else "否"
        else:
            values[fld] = str(value)
    return values


def _record_sentence(spec: Mapping, rk: RecordKind | None, values: Mapping[str, Any]) -> str:
    title = rk.title if rk else "信用记录"
    template = spec.get("text") or "{date}" + title
    if any(values.get(f) is None for f in _fields(template)):
        template = "{date}" + title
    return template.format_map(values)


def record_words(kind: RecordKind | None, date: dt.date, data: Mapping[str, Any]) -> str:
    """A record in words by the base wording of its kind (policies/record_kinds.yaml ``citations``), without a
    pack version's article: ``2026年4月30日因通过登记的住所或者经营场所无法联系被列入经营异常名录``."""
    spec = base_citations().get(kind.name) or {} if kind else {}
    return _record_sentence(spec, kind, _record_values(spec, kind, date, data))


def with_evidence(why: str, items: Sequence[Mapping[str, Any]] | None) -> str:
    """A reason with the records behind it: ``存在……情形：甲；乙`` (the reason's own full stop dropped)."""
    body = str(why or "").rstrip().rstrip("。．.;；,，、:：")
    if not items:
        return body
    return f"{body}：{'；'.join(i['text'] for i in items)}"
