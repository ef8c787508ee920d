"""The policy model: a pack, its effective-dated versions, their facts and rules (plain data, no YAML).

``policies.loader`` reads and validates pack files and builds these objects; the engine (facts, evaluation,
precedence, evidence) reads them. The constants name what a pack may declare (periods, fact types, list,
measure and notice kinds, entity attributes).
"""

from __future__ import annotations

import datetime as dt
import pathlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import UnknownPolicy, did_you_mean
from engine.register.records import RecordKind
from engine.values import cite

if TYPE_CHECKING:  # engine.conditions is a layer above the model; its types only annotate the fields here
    from engine import conditions as C

PERIODS = ("year", "month", "day")
FACT_TYPES = ("number", "int", "bool", "enum")
LIST_KINDS = ("sanction", "incentive", "watch")
MEASURE_KINDS = ("incentive", "sanction")
NOTICE_KINDS = (
    "warning",
    "interview",
    "pre_listing",
    "repair_instructions",
    "inspection",
    "commendation",
    "removal_decision",
)
REPAIR_REQUIREMENTS = ("obligations_fulfilled", "commitment", "no_repeat_same_kind", "training", "credit_report")
ENTITY_FACTS = {"years_operating": "number", "entity_type": "enum", "region": "enum", "is_person": "bool"}


@dataclass
class Fact:
    name: str
    label: str
    type: str
    source: dict | None = None
    when: C.Node | None = None  # derived condition (macro)
    default: Any = None
    min: float | None = None
    max: float | None = None
    values: tuple = ()
    value_labels: dict = field(default_factory=dict)
    # An adjustment (``source: {adjust: score, add: -11, when: ...}``): (target fact, amount, condition, basis
    # text). The fact is true when the adjustment applied to the target's value (engine.facts).
    adjust: tuple | None = None

    @property
    def nullable(self) -> bool:
        if self.source is None or self.default is not None or self.adjust is not None:
            return False
        if "count" in self.source or "open" in self.source:
            return False
        if self.source.get("entity") in ("entity_type", "is_person"):
            return False
        return True


@dataclass
class Rule:
    id: str
    category: str  # tier | list | measure | notice
    when: C.Node
    path: str
    priority: int = 0
    tier: str | None = None
    list: str | None = None
    apply: tuple[str, ...] = ()
    notice: str | None = None
    reason: str = ""
    basis: str = ""
    basis_ref: dict | None = None
    condition_text: str = ""


@dataclass
class PackVersion:
    pack: Pack
    version: str
    title: str
    effective_from: dt.date
    effective_to: dt.date | None
    period: str
    raw: dict
    basis: dict[str, dict]
    facts: dict[str, Fact]
    tier_order: list[str]
    tier_labels: dict[str, str]
    default_tier: str | None
    tier_rules: list[Rule]
    list_rules: list[Rule]
    measure_rules: list[Rule]
    notice_rules: list[Rule]
    supervision: dict[str, dict]
    lists: dict[str, dict]
    measures: dict[str, dict]
    content_hash: str = ""
    atoms1: list[C.Atom] = field(default_factory=list)  # stage 1: tier rules
    atoms2: list[C.Atom] = field(default_factory=list)  # stage 2: lists, measures, notices (may test `tier`)
    services: dict[str, str] = field(default_factory=dict)  # service item id -> Chinese name (`services:`)

    @property
    def ref(self) -> str:
        return f"{self.pack.id}@{self.version}"

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def stored_body(self) -> dict:
        return {"pack": self.pack.meta, "version": jsonable(self.raw)}

    def source_facts(self) -> dict[str, Fact]:
        return {n: f for n, f in self.facts.items() if f.when is None}

    def basis_text(self, ref: dict | None) -> str:
        if not ref:
            return ""
        doc_id = ref.get("doc")
        doc = self.basis.get(doc_id, {}) if doc_id is not None else {}
        title = str(doc.get("title", ref.get("doc", "")))
        # 《纳税信用管理办法（试行）》（国家税务总局公告2014年第40号）第二十条: the way notices cite records too.
        return cite(title, ref.get("article") or None)


@dataclass
class Pack:
    id: str
    title: str
    path: pathlib.Path
    meta: dict
    versions: list[PackVersion]
    record_kinds: dict[str, RecordKind]

    def version_at(self, day: dt.date) -> PackVersion:
        for v in self.versions:
            if v.in_force(day):
                return v
        spans = ", ".join(f"{v.version} ({v.effective_from}..{v.effective_to or 'open'})" for v in self.versions)
        raise UnknownPolicy(
            f"Policy {self.id} has no version in force on {day}; its versions are {spans}. "
            f"Choose another --as-of date or add a version to {self.path}."
        )

    def get_version(self, version: str) -> PackVersion:
        for v in self.versions:
            if v.version == str(version):
                return v
        names = [v.version for v in self.versions]
        raise UnknownPolicy(
            f"Policy {self.id} has no version '{version}'{did_you_mean(str(version), names)}; "
            f"versions: {', '.join(names)}."
        )


def jsonable(value: Any) -> Any:
    """``value`` with dates as ISO text, tuples as lists and keys as text (the stored body of a version)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def v_labels(v: PackVersion) -> dict[str, str]:
    """Fact name -> label, plus ``tier`` (the names conditions are described with)."""
    labels = {n: f.label for n, f in v.facts.items()}
    labels["tier"] = "信用等级"
    return labels


def v_values(v: PackVersion) -> dict[str, dict]:
    """Fact name -> value labels (for the facts that have them), plus ``tier`` -> tier labels."""
    out = {n: f.value_labels for n, f in v.facts.items() if f.value_labels}
    out["tier"] = v.tier_labels
    return out
