"""Load, validate and compile policy packs.

``load_pack(path)`` reads a YAML pack, checks structure, cross-references and types, compiles every version's
conditions into atomic predicates, and checks exhaustively that each version's tier table is complete and
unique and that no rule is dead. Problems are reported as ``file:line: key.path: reason``.
Shipped packs (``policies/packs/*.yaml``) go through the same loader as a user's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine import conditions as C
from engine.errors import PolicyError, UnknownPolicy, did_you_mean
from engine.records import RecordKind, parse_kinds

PERIODS = ("year", "month", "day")
FACT_TYPES = ("number", "int", "bool", "enum")
LIST_KINDS = ("sanction", "incentive", "watch")
MEASURE_KINDS = ("incentive", "sanction")
NOTICE_KINDS = ("warning", "interview", "pre_listing", "repair_instructions", "inspection", "commendation",
                "removal_decision")
REPAIR_REQUIREMENTS = ("obligations_fulfilled", "commitment", "no_repeat_same_kind", "training", "credit_report")
ENTITY_FACTS = {"years_operating": "number", "entity_type": "enum", "region": "enum", "is_person": "bool"}
WINDOW = re.compile(r"^(period(-\d+)?|\d+[my]|all)$")
MAX_VECTORS = 2_000_000

PACK_KEYS = {"id", "title", "authority", "authority_short", "document_prefix", "jurisdiction", "subjects",
             "record_kinds", "versions", "description"}
VERSION_KEYS = {"version", "title", "effective_from", "effective_to", "period", "basis", "facts", "tiers",
                "tier_rules", "default_tier", "supervision", "lists", "list_rules", "measures", "measure_rules",
                "notice_rules", "publication", "inspection", "numbering", "services", "notice_settings"}


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

    @property
    def nullable(self) -> bool:
        if self.source is None or self.default is not None:
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
    pack: "Pack"
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
        return {"pack": self.pack.meta, "version": _jsonable(self.raw)}

    def source_facts(self) -> dict[str, Fact]:
        return {n: f for n, f in self.facts.items() if f.when is None}

    def basis_text(self, ref: dict | None) -> str:
        if not ref:
            return ""
        doc = self.basis.get(ref.get("doc"), {})
        title = str(doc.get("title", ref.get("doc", "")))
        article = ref.get("article") or ""
        # 《纳税信用管理办法（试行）》第二十条（国家税务总局公告2014年第40号）: only a trailing document
        # number in brackets goes after the article; other brackets are part of the title.
        name, number = title, ""
        if title.endswith("）") and "（" in title:
            head, _, tail = title.rpartition("（")
            if any(mark in tail for mark in ("号", "令", "公告")):
                name, number = head, "（" + tail
        return f"《{name}》{article}{number}"


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
        raise UnknownPolicy(f"Policy {self.id} has no version in force on {day}; its versions are {spans}. "
                            f"Choose another --as-of date or add a version to {self.path}.")

    def get_version(self, version: str) -> PackVersion:
        for v in self.versions:
            if v.version == str(version):
                return v
        names = [v.version for v in self.versions]
        raise UnknownPolicy(f"Policy {self.id} has no version '{version}'{did_you_mean(str(version), names)}; "
                            f"versions: {', '.join(names)}.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# -- line numbers ---------------------------------------------------------------------------------

class _Lines:
    """Map key paths of the YAML document to line numbers (following merge keys and aliases)."""

    def __init__(self, node: yaml.Node | None):
        self.root = node

    def line(self, path: tuple) -> int:
        node, best = self.root, 1
        for key in path:
            if node is None:
                break
            best = node.start_mark.line + 1
            node = self._child(node, key)
        if node is not None:
            best = node.start_mark.line + 1
        return best

    def _child(self, node: yaml.Node, key: Any) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            merged = None
            for k, v in node.value:
                if k.value == "<<":
                    merged = v
                elif k.value == str(key):
                    return v
            if merged is not None:
                for m in (merged.value if isinstance(merged, yaml.SequenceNode) else [merged]):
                    found = self._child(m, key)
                    if found is not None:
                        return found
            return None
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            return node.value[key]
        return None


class _Problems:
    def __init__(self, path: pathlib.Path, lines: _Lines):
        self.path, self.lines, self.items = path, lines, []

    def add(self, keypath: tuple, reason: str) -> None:
        dotted = ".".join(str(k) for k in keypath) or "(top)"
        self.items.append(f"{self.path}:{self.lines.line(keypath)}: {dotted}: {reason}")

    def unknown_keys(self, mapping: dict, allowed: set, keypath: tuple) -> None:
        for key in mapping:
            if key not in allowed:
                self.add(keypath + (key,), f"unknown key '{key}'{did_you_mean(key, allowed)}")


# -- loading --------------------------------------------------------------------------------------

def load_pack(path: str | pathlib.Path, base_kinds: dict[str, RecordKind] | None = None) -> Pack:
    """Load and validate a pack file; raise PolicyError listing every problem."""
    path = pathlib.Path(path)
    if not path.exists():
        raise UnknownPolicy(f"{path}: no such policy file")
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise PolicyError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}",
                          [f"{where}: (top): not valid YAML"]) from None
    problems = _Problems(path, _Lines(node))
    pack = _build_pack(raw, path, problems, base_kinds)
    if problems.items:
        raise PolicyError(f"{path} is not a valid policy pack ({len(problems.items)} problems):\n"
                          + "\n".join(problems.items), problems.items)
    assert pack is not None
    return pack


def _build_pack(raw: Any, path: pathlib.Path, P: _Problems, base_kinds) -> Pack | None:
    if not isinstance(raw, dict):
        P.add((), "a policy pack is a mapping with id, title, authority, jurisdiction and versions")
        return None
    P.unknown_keys(raw, PACK_KEYS, ())
    for key in ("id", "title", "authority", "jurisdiction", "versions"):
        if key not in raw:
            P.add((key,), f"'{key}' is required")
    pack_id = str(raw.get("id", path.stem))
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", pack_id):
        P.add(("id",), f"'{pack_id}' must be lower-case letters, digits and hyphens")
    kinds = dict(base_kinds if base_kinds is not None else _base_kinds())
    try:
        kinds.update(parse_kinds(raw.get("record_kinds"), str(path)))
    except PolicyError as exc:
        P.add(("record_kinds",), str(exc))
    meta = {k: _jsonable(v) for k, v in raw.items() if k not in ("versions", "record_kinds")}
    meta.setdefault("authority_short", meta.get("authority", ""))
    meta.setdefault("document_prefix", meta.get("authority_short", ""))
    pack = Pack(pack_id, str(raw.get("title", pack_id)), path, meta, [], kinds)
    versions = raw.get("versions") or []
    if not isinstance(versions, list) or not versions:
        P.add(("versions",), "at least one version is required")
        return pack
    seen = set()
    for i, vraw in enumerate(versions):
        version = _build_version(pack, vraw, ("versions", i), P)
        if version is None:
            continue
        if version.version in seen:
            P.add(("versions", i, "version"), f"version '{version.version}' appears twice")
        seen.add(version.version)
        pack.versions.append(version)
    ordered = sorted(pack.versions, key=lambda v: v.effective_from)
    for a, b in zip(ordered, ordered[1:]):
        if a.effective_to is None or a.effective_to >= b.effective_from:
            idx = versions.index(b.raw)
            P.add(("versions", idx, "effective_from"),
                  f"version {b.version} starts {b.effective_from} but version {a.version} is still in force then "
                  f"(effective_to {a.effective_to or 'open'}); versions must not overlap")
    pack.versions = ordered
    return pack


def _date(value: Any, keypath: tuple, P: _Problems, required: bool = True) -> dt.date | None:
    if value is None:
        if required:
            P.add(keypath, "a date (YYYY-MM-DD) is required")
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        P.add(keypath, f"'{value}' is not a date (YYYY-MM-DD)")
        return None


def _build_version(pack: Pack, raw: Any, at: tuple, P: _Problems) -> PackVersion | None:
    if not isinstance(raw, dict):
        P.add(at, "a version is a mapping")
        return None
    P.unknown_keys(raw, VERSION_KEYS, at)
    for key in ("version", "effective_from", "facts", "tiers", "tier_rules", "supervision"):
        if key not in raw:
            P.add(at + (key,), f"'{key}' is required")
    eff_from = _date(raw.get("effective_from"), at + ("effective_from",), P) or dt.date.min
    eff_to = _date(raw.get("effective_to"), at + ("effective_to",), P, required=False)
    if eff_to is not None and eff_to < eff_from:
        P.add(at + ("effective_to",), f"effective_to {eff_to} is before effective_from {eff_from}")
    period = raw.get("period", "year")
    if period not in PERIODS:
        P.add(at + ("period",), f"'{period}' is not one of {', '.join(PERIODS)}")
    basis = raw.get("basis") or {}
    if not isinstance(basis, dict):
        P.add(at + ("basis",), "basis is a mapping of document id to {title, article, url}")
        basis = {}
    tiers = raw.get("tiers") or {}
    order = [str(t) for t in (tiers.get("order") or [])] if isinstance(tiers, dict) else []
    if not order:
        P.add(at + ("tiers", "order"), "list the tiers from best to worst, e.g. [A, B, M, C, D]")
    labels = {str(k): str(v) for k, v in ((tiers.get("labels") or {}) if isinstance(tiers, dict) else {}).items()}
    v = PackVersion(pack, str(raw.get("version", "?")), str(raw.get("title", "")), eff_from, eff_to, period, raw,
                    basis, {}, order, {t: labels.get(t, t) for t in order}, raw.get("default_tier"), [], [], [], [],
                    {}, {}, {})
    if v.default_tier is not None and v.default_tier not in order:
        P.add(at + ("default_tier",), f"'{v.default_tier}' is not a tier{did_you_mean(v.default_tier, order)}")
    _facts(v, raw.get("facts") or {}, at + ("facts",), P)
    v.measures = _measures(v, raw.get("measures") or {}, at + ("measures",), P)
    v.services = _services(v, raw.get("services"), at + ("services",), P)
    v.lists = _lists(v, raw.get("lists") or {}, at + ("lists",), P)
    v.supervision = _supervision(v, raw.get("supervision") or {}, at + ("supervision",), P)
    v.tier_rules = _rules(v, raw.get("tier_rules") or [], "tier", at + ("tier_rules",), P)
    v.list_rules = _rules(v, raw.get("list_rules") or [], "list", at + ("list_rules",), P)
    v.measure_rules = _rules(v, raw.get("measure_rules") or [], "measure", at + ("measure_rules",), P)
    v.notice_rules = _rules(v, raw.get("notice_rules") or [], "notice", at + ("notice_rules",), P)
    ids: dict[str, tuple] = {}
    for rules, key in ((v.tier_rules, "tier_rules"), (v.list_rules, "list_rules"), (v.measure_rules, "measure_rules"),
                       (v.notice_rules, "notice_rules")):
        for i, r in enumerate(rules):
            if r.id in ids:
                P.add(at + (key, i, "id"), f"rule id '{r.id}' is used twice (also at {'.'.join(map(str, ids[r.id]))})")
            ids[r.id] = at + (key, i)
    v.content_hash = hashlib.sha256(json.dumps(v.stored_body(), sort_keys=True, ensure_ascii=False)
                                    .encode()).hexdigest()
    before = len(P.items)
    if before == 0 or not any(at == tuple(p.split(":")[2].strip().split(".")[:2]) for p in P.items):
        _compile(v)
        if not [p for p in P.items[before:]] and not _has_errors_in(P, at):
            _check_tables(v, at, P)
    return v


def _has_errors_in(P: _Problems, at: tuple) -> bool:
    prefix = ".".join(map(str, at)) + "."
    return any(f": {prefix}" in p for p in P.items)


# -- facts ----------------------------------------------------------------------------------------

def _facts(v: PackVersion, raw: dict, at: tuple, P: _Problems) -> None:
    if not isinstance(raw, dict):
        P.add(at, "facts is a mapping of fact name to definition")
        return
    pending_when: dict[str, Any] = {}
    for name, body in raw.items():
        where = at + (name,)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(name)):
            P.add(where, f"fact name '{name}' must be snake_case")
            continue
        if name == "tier":
            P.add(where, "'tier' is reserved: it is the tier decided by the tier rules")
            continue
        if not isinstance(body, dict):
            P.add(where, "a fact is a mapping with label, type and source (or when)")
            continue
        P.unknown_keys(body, {"label", "type", "source", "when", "default", "min", "max", "values", "value_labels"},
                       where)
        label = str(body.get("label", name))
        if "when" in body:
            pending_when[name] = body["when"]
            v.facts[name] = Fact(name, label, "bool", when=("const", True))
            continue
        ftype = body.get("type")
        if ftype not in FACT_TYPES:
            P.add(where + ("type",), f"'{ftype}' is not one of {', '.join(FACT_TYPES)}")
            continue
        source = body.get("source")
        if not isinstance(source, dict):
            P.add(where + ("source",), "source is required: {record|count|open|entity|previous: ...}")
            continue
        _check_source(v, name, ftype, source, where + ("source",), P)
        values = tuple(str(x) for x in (body.get("values") or ()))
        if source.get("previous") == "tier":
            values = tuple(v.tier_order)
        if ftype == "enum" and not values and source.get("entity") not in ("entity_type", "region"):
            P.add(where + ("values",), "an enum fact lists its values")
        default = body.get("default")
        v.facts[name] = Fact(name, label, ftype, source=source, default=default, min=body.get("min"),
                             max=body.get("max"), values=values,
                             value_labels={str(k): str(x) for k, x in (body.get("value_labels") or {}).items()})
    # Derived conditions may use other facts (and other derived conditions, without cycles).
    parsed: dict[str, C.Node] = {}
    for name, cond in pending_when.items():
        try:
            parsed[name] = C.parse(cond, "when")
        except C.ConditionSyntaxError as exc:
            P.add(at + (name, "when"), str(exc).split(": ", 1)[1])
    resolved: dict[str, C.Node] = {}

    def resolve(name: str, stack: tuple) -> C.Node | None:
        if name in resolved:
            return resolved[name]
        if name in stack:
            P.add(at + (name, "when"), f"derived condition '{name}' refers to itself via {' -> '.join(stack)}")
            return None
        node = parsed.get(name)
        if node is None:
            return None
        macros = {}
        for atom in C.atoms(node):
            if atom.fact in parsed:
                sub = resolve(atom.fact, stack + (name,))
                if sub is None:
                    return None
                macros[atom.fact] = sub
        try:
            resolved[name] = C.substitute(node, macros)
        except C.ConditionSyntaxError as exc:
            P.add(at + (name, "when"), str(exc))
            return None
        return resolved[name]

    for name in parsed:
        node = resolve(name, ())
        if node is not None:
            v.facts[name].when = node
            _check_atoms(v, node, at + (name, "when"), P, allow_tier=False)


def _check_source(v: PackVersion, name: str, ftype: str, source: dict, where: tuple, P: _Problems) -> None:
    kinds = v.pack.record_kinds
    keys = set(source)
    primary = keys & {"record", "count", "open", "entity", "previous"}
    if len(primary) != 1:
        P.add(where, "give exactly one of record, count, open, entity, previous")
        return
    (kind_key,) = primary
    allowed = {"record": {"record", "field", "window", "where", "date_field", "pick"},
               "count": {"count", "window", "where", "date_field"},
               "open": {"open", "end", "where"},
               "entity": {"entity", "at"},
               "previous": {"previous"}}[kind_key]
    P.unknown_keys(source, allowed, where)
    if kind_key in ("record", "count", "open"):
        kind_name = source[kind_key]
        kind = kinds.get(kind_name)
        if kind is None:
            P.add(where + (kind_key,), f"unknown record kind '{kind_name}'{did_you_mean(kind_name, kinds)}")
            return
        if kind_key == "record":
            fld = source.get("field")
            if fld not in kind.fields:
                P.add(where + ("field",), f"'{fld}' is not a field of {kind_name}{did_you_mean(str(fld), kind.fields)}")
            else:
                expected = {"number": ("number", "int", "year"), "int": ("int", "year", "number"), "bool": ("bool",),
                            "enum": ("enum", "string")}[ftype]
                if kind.fields[fld].type not in expected:
                    P.add(where + ("field",), f"{kind_name}.{fld} is a {kind.fields[fld].type}, but fact '{name}' "
                                              f"is declared {ftype}")
        if kind_key == "open":
            end = source.get("end")
            if end not in kind.fields:
                P.add(where + ("end",), f"'{end}' is not a date field of {kind_name}")
        for fld in (source.get("where") or {}):
            if fld not in kind.fields:
                P.add(where + ("where", fld), f"'{fld}' is not a field of {kind_name}{did_you_mean(fld, kind.fields)}")
        window = str(source.get("window", "all"))
        if kind_key != "open" and not WINDOW.match(window):
            P.add(where + ("window",), f"'{window}' is not a window: use period, period-1, 12m, 3y or all")
        date_field = source.get("date_field")
        if date_field is not None and date_field not in kind.fields:
            P.add(where + ("date_field",), f"'{date_field}' is not a field of {kind_name}")
        if kind_key in ("count", "open") and ftype not in ("int", "number"):
            P.add(where, f"a {kind_key} is a number; declare fact '{name}' as int")
    elif kind_key == "entity":
        attr = source["entity"]
        if attr not in ENTITY_FACTS:
            P.add(where + ("entity",), f"unknown entity attribute '{attr}'{did_you_mean(attr, ENTITY_FACTS)}")
        if source.get("at", "as_of") not in ("as_of", "period_end", "period_start"):
            P.add(where + ("at",), "at is one of as_of, period_end, period_start")
    elif source["previous"] != "tier":
        P.add(where + ("previous",), "only 'previous: tier' (the tier in the previous cycle of this pack) exists")


# -- catalogues -----------------------------------------------------------------------------------

def _basis_ref(v: PackVersion, raw: Any, where: tuple, P: _Problems) -> dict | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"doc": raw}
    if not isinstance(raw, dict) or "doc" not in raw:
        P.add(where, "basis is {doc: <document id from the version's basis>, article: ...}")
        return None
    if raw["doc"] not in v.basis:
        P.add(where + ("doc",), f"unknown basis document '{raw['doc']}'{did_you_mean(raw['doc'], v.basis)}; "
                                f"add it under the version's basis")
    return raw


def _measures(v: PackVersion, raw: dict, at: tuple, P: _Problems) -> dict[str, dict]:
    out = {}
    for mid, body in (raw or {}).items():
        where = at + (mid,)
        if not isinstance(body, dict):
            P.add(where, "a measure is a mapping with kind, text, basis, department, services")
            continue
        P.unknown_keys(body, {"kind", "text", "basis", "department", "duration_months", "services", "title"}, where)
        if body.get("kind") not in MEASURE_KINDS:
            P.add(where + ("kind",), f"'{body.get('kind')}' is not one of {', '.join(MEASURE_KINDS)}")
        for key in ("text", "department"):
            if not body.get(key):
                P.add(where + (key,), f"'{key}' is required")
        ref = _basis_ref(v, body.get("basis"), where + ("basis",), P)
        out[str(mid)] = {"id": str(mid), "kind": body.get("kind"), "text": body.get("text", ""),
                         "department": body.get("department", ""), "services": list(body.get("services") or []),
                         "duration_months": body.get("duration_months"), "basis": v.basis_text(ref) if ref else ""}
    return out


def _services(v: PackVersion, raw: Any, at: tuple, P: _Problems) -> dict[str, str]:
    """The service items the version's measures address (id -> Chinese name, e.g. government_procurement: 政府采购).
    Optional; when given, every service a measure names must be declared here."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        P.add(at, "services is a mapping of service item id to its Chinese name, e.g. government_procurement: 政府采购")
        return {}
    out = {}
    for sid, name in raw.items():
        if isinstance(name, dict):
            name = name.get("name")
        if not isinstance(name, str) or not name.strip():
            P.add(at + (sid,), "give the service item's Chinese name, e.g. government_procurement: 政府采购")
            continue
        out[str(sid)] = name.strip()
    for mid, m in v.measures.items():
        for sid in m["services"]:
            if out and str(sid) not in out:
                P.add(at[:-1] + ("measures", mid, "services"),
                      f"service item '{sid}' is not declared under services{did_you_mean(str(sid), out)}")
    return out


def _lists(v: PackVersion, raw: dict, at: tuple, P: _Problems) -> dict[str, dict]:
    out = {}
    keys = {"title", "kind", "objection_days", "min_months", "max_months", "publish", "force_inspection", "measures",
            "ack_days", "notices", "repair", "authority", "extendable", "per_year"}
    for name, body in (raw or {}).items():
        where = at + (name,)
        if not isinstance(body, dict):
            P.add(where, "a list definition is a mapping (see docs/policy-format.md)")
            continue
        P.unknown_keys(body, keys, where)
        if body.get("kind") not in LIST_KINDS:
            P.add(where + ("kind",), f"'{body.get('kind')}' is not one of {', '.join(LIST_KINDS)}")
        for key in ("objection_days", "min_months", "max_months"):
            value = body.get(key)
            if not isinstance(value, int) or value < 0:
                P.add(where + (key,), f"'{key}' must be a whole number >= 0")
        if isinstance(body.get("min_months"), int) and isinstance(body.get("max_months"), int) \
                and body["min_months"] > body["max_months"]:
            P.add(where + ("min_months",), f"min_months {body['min_months']} exceeds max_months {body['max_months']}")
        for i, mid in enumerate(body.get("measures") or []):
            if mid not in v.measures:
                P.add(where + ("measures", i), f"unknown measure '{mid}'{did_you_mean(mid, v.measures)}")
        for event, kinds in (body.get("notices") or {}).items():
            if event not in ("propose", "list", "remove"):
                P.add(where + ("notices", event), f"'{event}' is not one of propose, list, remove")
            for kind in kinds or []:
                if kind not in NOTICE_KINDS:
                    P.add(where + ("notices", event), f"unknown notice kind '{kind}'{did_you_mean(kind, NOTICE_KINDS)}")
        repair = body.get("repair") or {"allowed": False}
        for i, req in enumerate(repair.get("requires") or []):
            if req not in REPAIR_REQUIREMENTS:
                P.add(where + ("repair", "requires", i),
                      f"unknown repair requirement '{req}'{did_you_mean(req, REPAIR_REQUIREMENTS)}")
        out[str(name)] = {**_jsonable(body), "name": str(name)}
    return out


def _supervision(v: PackVersion, raw: dict, at: tuple, P: _Problems) -> dict[str, dict]:
    out = {}
    for tier in v.tier_order:
        row = raw.get(tier) if isinstance(raw, dict) else None
        if not isinstance(row, dict):
            P.add(at + (tier,), f"no supervision row for tier {tier}: give {{ratio, per_year}}")
            continue
        ratio, per_year = row.get("ratio"), row.get("per_year")
        if not isinstance(ratio, (int, float)) or not 0 <= ratio <= 1:
            P.add(at + (tier, "ratio"), f"ratio must be a number from 0 to 1 (0.05 = 5%), not {ratio!r}")
        if not isinstance(per_year, (int, float)) or per_year < 0:
            P.add(at + (tier, "per_year"), f"per_year must be a number >= 0, not {per_year!r}")
        out[tier] = {"ratio": float(ratio or 0), "per_year": float(per_year or 0), "note": row.get("note", "")}
    for tier in (raw or {}):
        if tier not in v.tier_order:
            P.add(at + (tier,), f"'{tier}' is not a tier{did_you_mean(str(tier), v.tier_order)}")
    return out


def _rules(v: PackVersion, raw: list, category: str, at: tuple, P: _Problems) -> list[Rule]:
    if not isinstance(raw, list):
        P.add(at, "rules are a list")
        return []
    keys = {"id", "when", "reason", "basis", "priority", "description"} | {
        "tier": {"tier"}, "list": {"list"}, "measure": {"apply"}, "notice": {"kind"}}[category]
    rules = []
    macros = {n: f.when for n, f in v.facts.items() if f.when is not None}
    for i, body in enumerate(raw):
        where = at + (i,)
        if not isinstance(body, dict):
            P.add(where, "a rule is a mapping with id and when")
            continue
        P.unknown_keys(body, keys, where)
        rid = str(body.get("id") or f"{category}-{i}")
        if "id" not in body:
            P.add(where + ("id",), "'id' is required")
        if "when" not in body:
            P.add(where + ("when",), "'when' is required")
            continue
        try:
            node = C.substitute(C.parse(body["when"], "when"), macros)
        except C.ConditionSyntaxError as exc:
            P.add(where + ("when",), str(exc).removeprefix("when: "))
            continue
        _check_atoms(v, node, where + ("when",), P, allow_tier=category != "tier")
        rule = Rule(rid, category, node, ".".join(map(str, where)), int(body.get("priority", 0)),
                    reason=str(body.get("reason", "")), condition_text=C.describe(node, v_labels(v), v_values(v)))
        ref = _basis_ref(v, body.get("basis"), where + ("basis",), P)
        rule.basis_ref, rule.basis = ref, v.basis_text(ref) if ref else ""
        if category == "tier":
            rule.tier = str(body.get("tier"))
            if rule.tier not in v.tier_order:
                P.add(where + ("tier",), f"'{rule.tier}' is not a tier{did_you_mean(rule.tier, v.tier_order)}")
            if not rule.basis:
                P.add(where + ("basis",), "a tier rule cites its legal basis")
        elif category == "list":
            rule.list = str(body.get("list"))
            if rule.list not in v.lists:
                P.add(where + ("list",), f"unknown list '{rule.list}'{did_you_mean(rule.list, v.lists)}")
            elif not rule.basis:
                P.add(where + ("basis",), "a list rule cites its legal basis")
        elif category == "measure":
            rule.apply = tuple(str(m) for m in body.get("apply") or [])
            if not rule.apply:
                P.add(where + ("apply",), "list the measure ids this rule applies")
            for j, mid in enumerate(rule.apply):
                if mid not in v.measures:
                    P.add(where + ("apply", j), f"unknown measure '{mid}'{did_you_mean(mid, v.measures)}")
        else:
            rule.notice = str(body.get("kind"))
            if rule.notice not in NOTICE_KINDS:
                P.add(where + ("kind",), f"unknown notice kind '{rule.notice}'{did_you_mean(rule.notice, NOTICE_KINDS)}")
        for name in _placeholders(rule.reason):
            if name not in v.facts:
                P.add(where + ("reason",), f"placeholder {{{name}}} is not a fact{did_you_mean(name, v.facts)}")
        rules.append(rule)
    return rules


def _placeholders(text: str) -> list[str]:
    import string

    try:
        return [f for _, f, _, _ in string.Formatter().parse(text) if f]
    except ValueError:
        return ["<unbalanced braces>"]


def v_labels(v: PackVersion) -> dict[str, str]:
    labels = {n: f.label for n, f in v.facts.items()}
    labels["tier"] = "信用等级"
    return labels


def v_values(v: PackVersion) -> dict[str, dict]:
    out = {n: f.value_labels for n, f in v.facts.items() if f.value_labels}
    out["tier"] = v.tier_labels
    return out


def _check_atoms(v: PackVersion, node: C.Node, where: tuple, P: _Problems, allow_tier: bool) -> None:
    for atom in C.atoms(node):
        if atom.fact == "tier":
            if not allow_tier:
                P.add(where, "a tier rule cannot test 'tier' (the tier is what it decides)")
                continue
            values = atom.value if isinstance(atom.value, tuple) else (atom.value,)
            for val in values:
                if val not in v.tier_order:
                    P.add(where, f"'{val}' in '{atom.source()}' is not a tier{did_you_mean(str(val), v.tier_order)}")
            if atom.op in (">=", "<=", ">", "<"):
                P.add(where, f"'{atom.source()}': tiers are compared with == or in, not {atom.op}")
            continue
        fact = v.facts.get(atom.fact)
        if fact is None:
            names = list(v.facts) + (["tier"] if allow_tier else [])
            P.add(where, f"unknown fact '{atom.fact}' in '{atom.source()}'{did_you_mean(atom.fact, names)}")
            continue
        values = atom.value if isinstance(atom.value, tuple) else (atom.value,)
        for val in values:
            if val is None:
                if not fact.nullable and fact.when is None:
                    P.add(where, f"'{atom.source()}': fact '{fact.name}' is never null")
                continue
            if fact.type in ("number", "int") and (isinstance(val, bool) or not isinstance(val, (int, float))):
                P.add(where, f"'{atom.source()}': fact '{fact.name}' is a number, not {val!r}")
            elif fact.type == "bool" and not isinstance(val, bool):
                P.add(where, f"'{atom.source()}': fact '{fact.name}' is true/false, not {val!r}")
            elif fact.type == "enum":
                if isinstance(val, (bool, float)):
                    P.add(where, f"'{atom.source()}': fact '{fact.name}' is one of {', '.join(fact.values)}")
                elif fact.values and val not in fact.values:
                    P.add(where, f"'{atom.source()}': '{val}' is not a value of '{fact.name}'"
                                 f"{did_you_mean(str(val), fact.values)}")
        if atom.op in (">=", "<=", ">", "<") and fact.type not in ("number", "int"):
            P.add(where, f"'{atom.source()}': {atom.op} needs a number fact; '{fact.name}' is {fact.type}")


# -- compilation and exhaustive checks ----------------------------------------------------------

def _compile(v: PackVersion) -> None:
    seen1: dict[C.Atom, None] = {}
    for r in v.tier_rules:
        for a in C.atoms(r.when):
            seen1.setdefault(a)
    seen2: dict[C.Atom, None] = {}
    for r in v.list_rules + v.measure_rules + v.notice_rules:
        for a in C.atoms(r.when):
            seen2.setdefault(a)
    v.atoms1 = list(seen1)
    v.atoms2 = list(seen2)


def fact_classes(fact: Fact, atoms: list[C.Atom], tiers: list[str] | None = None) -> list[Any]:
    """Representative values, one per class of values the given atoms cannot tell apart."""
    if tiers is not None:
        return list(tiers)
    reps: list[Any] = []
    if fact.type in ("number", "int"):
        points = sorted({float(a.value) for a in atoms if isinstance(a.value, (int, float))
                         and not isinstance(a.value, bool)})
        lo = fact.min if fact.min is not None else (0 if fact.type == "int" else -math.inf)
        hi = fact.max if fact.max is not None else math.inf
        candidates: list[float] = []
        if not points:
            candidates.append(lo if lo != -math.inf else 0.0)
        else:
            candidates.append(points[0] - 1)
            for a, b in zip(points, points[1:]):
                candidates.append(a)
                mid = (a + b) / 2
                if fact.type == "int":
                    mid = math.floor(a) + 1
                    if not a < mid < b:
                        mid = None
                if mid is not None:
                    candidates.append(mid)
            candidates += [points[-1], points[-1] + 1]
        for c in candidates:
            if lo <= c <= hi and (fact.type != "int" or float(c).is_integer()):
                reps.append(float(c))
        if not reps:
            reps.append(float(lo))
    elif fact.type == "bool":
        reps = [True, False]
    else:
        values = list(fact.values)
        mentioned = {x for a in atoms for x in (a.value if isinstance(a.value, tuple) else (a.value,))}
        reps = [x for x in values if x in mentioned] or values[:1]
        if not set(values) <= mentioned:
            reps.append("\x00other")  # any value the rules do not mention
    if fact.nullable:
        reps.append(None)
    return reps


def _vectors(v: PackVersion, atoms: list[C.Atom], tiers: list[str] | None = None):
    """Every reachable truth vector of ``atoms`` (cross product of each fact's value classes)."""
    by_fact: dict[str, list[C.Atom]] = {}
    for a in atoms:
        by_fact.setdefault(a.fact, []).append(a)
    names = list(by_fact)
    classes = []
    for n in names:
        reps = fact_classes(v.facts[n], by_fact[n]) if n != "tier" else list(tiers or v.tier_order)
        # Keep one value per distinct truth pattern of this fact's own atoms: values the rules cannot
        # tell apart need not be combined with everything else.
        distinct: dict[tuple, Any] = {}
        for rep in reps:
            distinct.setdefault(tuple(a.test(rep) for a in by_fact[n]), rep)
        classes.append(list(distinct.values()))
    total = math.prod(len(c) for c in classes)
    if total > MAX_VECTORS:
        raise PolicyError(f"{v.pack.path}: version {v.version} has {total:,} fact combinations to check; split rules "
                          f"or reduce thresholds (limit {MAX_VECTORS:,}).")
    seen = set()
    for combo in itertools.product(*classes):
        values = dict(zip(names, combo))
        vec = tuple(a.test(values[a.fact]) for a in atoms)
        if vec not in seen:
            seen.add(vec)
            yield vec, values


def decide_tier(v: PackVersion, fired: list[Rule]) -> tuple[str | None, Rule | None, list[Rule]]:
    """Precedence: highest priority wins; at equal priority the stricter (later in tiers.order) tier wins."""
    if not fired:
        return v.default_tier, None, []
    rank = {t: i for i, t in enumerate(v.tier_order)}
    best = max(fired, key=lambda r: (r.priority, rank.get(r.tier, -1)))
    return best.tier, best, [r for r in fired if r is not best]


def _check_tables(v: PackVersion, at: tuple, P: _Problems) -> None:
    index = {a: i for i, a in enumerate(v.atoms1)}
    fires = {r.id: 0 for r in v.tier_rules}
    decisive = {r.id: 0 for r in v.tier_rules}
    reached: set[str] = set()
    incomplete, overlap = None, None
    try:
        for vec, values in _vectors(v, v.atoms1):
            fired = [r for r in v.tier_rules if C.evaluate(r.when, vec, index)]
            for r in fired:
                fires[r.id] += 1
            if not fired:
                if v.default_tier is None and incomplete is None:
                    incomplete = values
                if v.default_tier:
                    reached.add(v.default_tier)
                continue
            top = max(r.priority for r in fired)
            tops = {r.tier for r in fired if r.priority == top}
            if len(tops) > 1 and overlap is None:
                overlap = (values, [r for r in fired if r.priority == top])
            tier, best, _ = decide_tier(v, fired)
            decisive[best.id] += 1
            reached.add(tier)
    except PolicyError as exc:
        P.add(at + ("tier_rules",), str(exc))
        return
    if incomplete is not None:
        P.add(at + ("tier_rules",), "the tier table is not complete: no tier rule applies when "
                                   + _show(incomplete) + "; add a rule or a default_tier")
    if overlap is not None:
        values, rules = overlap
        P.add(at + ("tier_rules",), "the tier table is not unique: rules "
              + ", ".join(f"{r.id} (tier {r.tier})" for r in rules)
              + f" all apply at priority {rules[0].priority} when " + _show(values)
              + "; give them different priorities or make their conditions exclusive")
    for i, r in enumerate(v.tier_rules):
        if fires[r.id] == 0:
            P.add(at + ("tier_rules", i, "when"), f"rule {r.id} can never fire: its condition is false for every "
                                                  f"combination of facts")
        elif decisive[r.id] == 0:
            P.add(at + ("tier_rules", i, "priority"), f"rule {r.id} can never decide the tier: whenever it applies "
                                                      f"a rule of higher priority applies too")
    # Stage 2 rules, with `tier` ranging over the tiers the table can give.
    index2 = {a: i for i, a in enumerate(v.atoms2)}
    fires2: dict[str, int] = {}
    try:
        for vec, _ in _vectors(v, v.atoms2, sorted(reached, key=v.tier_order.index)):
            for r in v.list_rules + v.measure_rules + v.notice_rules:
                if C.evaluate(r.when, vec, index2):
                    fires2[r.id] = fires2.get(r.id, 0) + 1
    except PolicyError as exc:
        P.add(at + ("list_rules",), str(exc))
        return
    for key, rules in (("list_rules", v.list_rules), ("measure_rules", v.measure_rules),
                       ("notice_rules", v.notice_rules)):
        for i, r in enumerate(rules):
            if not fires2.get(r.id):
                P.add(at + (key, i, "when"), f"rule {r.id} can never fire: its condition is false for every "
                                             f"combination of facts and reachable tiers")
    for i, tier in enumerate(v.tier_order):
        if tier not in reached and tier in v.supervision:
            pass  # an unreachable tier is allowed (e.g. kept for display); rules that need it are reported above


def _show(values: dict[str, Any]) -> str:
    parts = []
    for k, val in values.items():
        if val == "\x00other":
            val = "another value"
        elif isinstance(val, float) and val.is_integer():
            val = int(val)
        parts.append(f"{k}={'null' if val is None else val}")
    return ", ".join(parts)


# -- registry -------------------------------------------------------------------------------------

_base_cache: dict[str, RecordKind] | None = None


def _base_kinds() -> dict[str, RecordKind]:
    from policies import base_record_kinds

    return base_record_kinds()


def version_from_body(body: dict) -> PackVersion:
    """Rebuild the exact pack version stored with a cycle (``policy_versions.body``)."""
    raw = {**body["pack"], "versions": [body["version"]]}

    problems = _Problems(pathlib.Path(f"<stored {body['pack'].get('id')}@{body['version'].get('version')}>"),
                         _Lines(None))
    pack = _build_pack(raw, problems.path, problems, None)
    if problems.items or pack is None or not pack.versions:
        raise PolicyError("The stored pack version is not valid any more:\n" + "\n".join(problems.items),
                          problems.items)
    return pack.versions[0]
