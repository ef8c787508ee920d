"""Load, validate and compile policy packs.

``load_pack(path)`` reads a YAML pack, checks structure, cross-references and types, compiles every version's
conditions into atomic predicates, and checks exhaustively that each version's tier table is complete and
unique and that no rule is dead. Problems are reported as ``file:line: key.path: reason``.
Shipped packs (``policies/packs/*.yaml``) go through the same loader as a user's own. What it builds is the
policy model of ``engine.model`` (Pack, PackVersion, Fact, Rule); the tier table is checked with the precedence of
``engine.decisions``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import os
import pathlib
import re
from typing import Any

import yaml

from engine import conditions as C
from engine.authorities import problems as _authority_problems
from engine.deadlines import problems as _deadline_problems
from engine.decisions import decide_tier
from engine.errors import PolicyError, UnknownPolicy, did_you_mean
from engine.model import (
    ENTITY_FACTS,
    FACT_TYPES,
    LIST_KINDS,
    MEASURE_KINDS,
    NOTICE_KINDS,
    PERIODS,
    REPAIR_REQUIREMENTS,
    Fact,
    Pack,
    PackVersion,
    Rule,
    jsonable,
    v_labels,
    v_values,
)
from engine.register.matchconfig import MatchSettings, parse_settings
from engine.register.records import Limits, RecordKind, parse_kinds, parse_limits
from policies import articles

WINDOW = re.compile(r"^(period(-\d+)?|\d+[my]|all)$")

PACK_KEYS = {
    "id",
    "title",
    "authority",
    "authority_short",
    "document_prefix",
    "jurisdiction",
    "subjects",
    "record_kinds",
    "versions",
    "description",
    "authorities",
}
VERSION_KEYS = {
    "version",
    "title",
    "effective_from",
    "effective_to",
    "period",
    "basis",
    "facts",
    "tiers",
    "tier_rules",
    "default_tier",
    "supervision",
    "lists",
    "list_rules",
    "measures",
    "measure_rules",
    "notice_rules",
    "publication",
    "inspection",
    "numbering",
    "services",
    "notice_settings",
    "citations",
    "deadlines",
    "bank_share",
}


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
                for m in merged.value if isinstance(merged, yaml.SequenceNode) else [merged]:
                    found = self._child(m, key)
                    if found is not None:
                        return found
            return None
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            return node.value[key]
        return None


class _Problems:
    def __init__(self, path: pathlib.Path, lines: _Lines):
        self.path, self.lines = path, lines
        self.items: list[str] = []

    def add(self, keypath: tuple, reason: str) -> None:
        dotted = ".".join(str(k) for k in keypath) or "(top)"
        self.items.append(f"{self.path}:{self.lines.line(keypath)}: {dotted}: {reason}")

    def unknown_keys(self, mapping: dict, allowed: set, keypath: tuple) -> None:
        for key in mapping:
            if key not in allowed:
                self.add(keypath + (key,), f"unknown key '{key}'{did_you_mean(key, allowed)}")


# -- reading YAML safely --------------------------------------------------------------------------
# A pack is data written by people: these limits are far above any real pack (the shipped tax-credit pack is
# 23 KB, 5 alias references, 2,000 values expanded, 10 levels deep) and far below what exhausts memory or the stack.

MAX_PACK_BYTES = 1_000_000  # file size
MAX_ALIASES = 500  # alias references (*name) in one file
MAX_NODES = 200_000  # nodes once every alias is expanded ("billion laughs" has 10^9)
MAX_DEPTH = 40  # nesting of mappings and lists, aliases followed
MAX_INT_DIGITS = 15  # an integer literal longer than this is refused (every bounded key is far smaller)
MAX_SCALAR_CHARS = 5_000  # any single string


class PackYAMLError(Exception):
    """A pack file that cannot be read as a bounded YAML document; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


class _PackLoader(yaml.SafeLoader):
    """SafeLoader that counts alias references, caps nesting, refuses duplicate keys, huge integers, impossible
    dates and giant strings, each with the line it is on."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise PackYAMLError(
                    self.peek_event().start_mark.line + 1,
                    f"more than {MAX_ALIASES} alias references (*name); a pack needs far fewer",
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise PackYAMLError(self.peek_event().start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise PackYAMLError(key_node.start_mark.line + 1, "a mapping key must be a plain value") from None
                if first is not None:
                    raise PackYAMLError(
                        key_node.start_mark.line + 1,
                        f"duplicate key '{key}' (first at line {first.start_mark.line + 1}); "
                        f"a later value would silently replace the first",
                    )
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = re.sub(r"[^0-9a-fA-F]", "", str(node.value).replace("0x", "").replace("0o", "").replace("0b", ""))
        if len(digits) > MAX_INT_DIGITS:
            raise PackYAMLError(
                node.start_mark.line + 1,
                f"the integer {str(node.value)[:30]}{'...' if len(str(node.value)) > 30 else ''} "
                f"is too large ({len(digits)} digits; at most {MAX_INT_DIGITS})",
            )
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise PackYAMLError(node.start_mark.line + 1, f"'{node.value}' is not a finite number")
        return value

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise PackYAMLError(node.start_mark.line + 1, f"'{node.value}' is not a real date ({exc})") from None

    def construct_scalar(self, node):
        if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_SCALAR_CHARS:
            raise PackYAMLError(
                node.start_mark.line + 1, f"a value of {len(node.value):,} characters (at most {MAX_SCALAR_CHARS:,})"
            )
        return super().construct_scalar(node)


_PackLoader.add_constructor("tag:yaml.org,2002:int", _PackLoader.construct_yaml_int)
_PackLoader.add_constructor("tag:yaml.org,2002:float", _PackLoader.construct_yaml_float)
_PackLoader.add_constructor("tag:yaml.org,2002:timestamp", _PackLoader.construct_yaml_timestamp)


def _expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand to more than MAX_NODES nodes or MAX_DEPTH levels (without expanding
    it: each node's size is computed once)."""
    sizes: dict[int, tuple[int, int]] = {}
    busy: set[int] = set()

    def walk(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise PackYAMLError(node.start_mark.line + 1, "an alias refers to the mapping or list that contains it")
        busy.add(key)
        size, depth = 1, 0
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            s, d = walk(child)
            size, depth = size + s, max(depth, d)
            if size > MAX_NODES:
                raise PackYAMLError(
                    node.start_mark.line + 1, f"its aliases expand to more than {MAX_NODES:,} values (an alias bomb?)"
                )
        if depth + 1 > MAX_DEPTH:
            raise PackYAMLError(
                node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep (aliases followed)"
            )
        busy.discard(key)
        sizes[key] = (size, depth + 1 if children else 0)
        return sizes[key]

    walk(root)


def read_yaml(path: str | pathlib.Path) -> tuple[yaml.Node | None, Any]:
    """Read a pack file within the limits above: ``(node, data)``. Raises PolicyError naming ``file:line``."""
    path = pathlib.Path(path)

    def fail(line: int | None, reason: str):
        where = f"{path}:{line}" if line else str(path)
        return PolicyError(f"{where}: {reason}", [f"{where}: (top): {reason}"])

    try:
        size = path.stat().st_size
        if size > MAX_PACK_BYTES:
            raise fail(None, f"the file is {size:,} bytes; a pack is at most {MAX_PACK_BYTES:,} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise fail(None, f"cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(
            line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None
    loader = _PackLoader(text.removeprefix("\ufeff"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _expanded_size(node)
        return node, loader.construct_document(node)
    except PackYAMLError as exc:
        raise fail(exc.line, exc.reason) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise fail(mark.line + 1 if mark else None, f"not valid YAML: {problem}") from None
    except RecursionError:
        raise fail(None, f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    finally:
        loader.dispose()


# -- bounds -----------------------------------------------------------------------------------------
# Every number, period, width and length a pack sets, with the range the loader accepts. Far above any real
# regulation, far below what overflows a date, a column or the disk. docs/policy-format.md lists the same table
# (tests/rules/test_policy_input.py checks that they agree).

BOUNDS: dict[str, tuple[int, int]] = {
    # list definitions (versions[].lists.NAME.*)
    "lists.objection_days": (0, 365),
    "lists.min_months": (0, 240),
    "lists.max_months": (0, 240),
    "lists.ack_days": (0, 365),
    "lists.per_year": (0, 365),
    "lists.extendable": (0, 240),
    "lists.repair.min_months": (0, 240),
    "lists.repair.cooldown_months": (0, 240),
    "lists.repair.decide_days": (0, 365),
    "lists.repair.max_repairs.count": (0, 100),
    "lists.repair.max_repairs.years": (0, 50),
    # measures, supervision, rules, facts
    "measures.duration_months": (0, 240),
    "supervision.per_year": (0, 365),
    "rules.priority": (-1000, 1000),
    "facts.source.window": (0, 1200),  # 12m, 3y (as months), period-N (as N)
    "facts.min_max": (-(10**15), 10**15),
    # publication, inspection, notice settings
    "publication.results_deadline_working_days": (0, 365),
    "publication.licence_penalty_working_days": (0, 365),
    "publication.holidays": (0, 1000),  # number of dates
    "inspection.exclude_clean_within_months": (0, 240),
    "notice_settings.days_months": (0, 3650),  # any whole number in notice_settings (days, months)
    # numbering
    "numbering.width": (0, 10),  # {seq:05d}: zero-padded to at most 10 digits
    "effective.year": (1949, 2199),
}
LENGTHS: dict[str, int] = {
    "id": 40,
    "title": 100,
    "authority": 100,
    "authority_short": 20,
    "document_prefix": 20,
    "jurisdiction": 100,
    "description": 2000,
    "version": 32,
    "tier": 16,
    "tier_label": 20,
    "fact": 64,
    "fact_label": 100,
    "list": 32,
    "list_title": 100,
    "measure": 64,
    "measure_text": 1000,
    "department": 100,
    "rule_id": 64,
    "reason": 1000,
    "basis_title": 200,
    "basis_article": 60,
    "note": 500,
    "numbering": 60,
    "notice_setting": 500,
    "service": 64,
    "inspection_item": 64,
}
NUMBER_MAX_CHARS = 64  # notices.number column: a rendered document number must fit
NUMBER_ABBR_CHARS = 2  # every notice kind's abbreviation in its number (提示, 约谈, 告知, ...) is two characters
NUMBER_SEQ_DIGITS = 7  # numbers are checked with a sequence of up to 9,999,999 per kind and year


def _int_in(value: Any, key: str, keypath: tuple, P: _Problems, required: bool = False) -> bool:
    """True when ``value`` is a whole number in BOUNDS[key] (or absent and not required)."""
    lo, hi = BOUNDS[key]
    if value is None and not required:
        return True
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        P.add(keypath, f"'{keypath[-1]}' must be a whole number from {lo:,} to {hi:,}, not {_short(value)}")
        return False
    return True


def _num_in(value: Any, key: str, keypath: tuple, P: _Problems) -> bool:
    lo, hi = BOUNDS[key]
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        P.add(keypath, f"'{keypath[-1]}' must be a number from {lo:,} to {hi:,}, not {_short(value)}")
        return False
    return True


def _text_in(value: Any, key: str, keypath: tuple, P: _Problems) -> None:
    if value is None:
        return
    limit = LENGTHS[key]
    if len(str(value)) > limit:
        P.add(keypath, f"'{keypath[-1]}' is {len(str(value))} characters long; at most {limit}")


_HUGE_LITERAL = (
    f"a number in the condition is too large (at most {MAX_INT_DIGITS} digits; thresholds are from "
    f"{BOUNDS['facts.min_max'][0]:,} to {BOUNDS['facts.min_max'][1]:,})"
)


def _in_range(value: Any, key: str) -> bool:
    lo, hi = BOUNDS[key]
    return lo <= value <= hi


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_SEQ_SPEC = re.compile(r"^(0?)(\d{0,2})d?$")


def check_numbering(pattern: Any, prefix: str, keypath: tuple, P: _Problems) -> None:
    """A notice number pattern: only {prefix}, {year} and {seq} (with {seq} required), a width of at most
    BOUNDS['numbering.width'] digits, and numbers that fit the number column with the longest prefix."""
    import string

    if not isinstance(pattern, str):
        P.add(keypath, f'numbering is a text pattern such as "{{prefix}}〔{{year}}〕{{seq}}号", not {_short(pattern)}')
        return
    _text_in(pattern, "numbering", keypath, P)
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        P.add(keypath, f"'{pattern[:60]}' is not a valid pattern ({exc}); e.g. \"{{prefix}}〔{{year}}〕{{seq}}号\"")
        return
    fields = [f for _, f, _, _ in parts if f is not None]
    bad = [f for f in fields if f not in ("prefix", "year", "seq")]
    if bad or "seq" not in fields:
        P.add(
            keypath,
            "numbering must use {seq} and may use only {prefix}, {year} and {seq}"
            + (f" (not {{{bad[0]}}})" if bad else ""),
        )
        return
    lo, hi = BOUNDS["numbering.width"]
    width = NUMBER_SEQ_DIGITS
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if conv:
            P.add(keypath, f"{{{name}!{conv}}}: conversions are not allowed in numbering")
            return
        if name != "seq":
            if spec:
                P.add(keypath, f"{{{name}:{spec}}}: only {{seq}} may have a format (e.g. {{seq:05d}})")
                return
            continue
        m = _SEQ_SPEC.match(spec or "")
        if not m or (m.group(2) and not lo <= int(m.group(2)) <= hi) or bool(m.group(1)) != bool(m.group(2)):
            P.add(
                keypath,
                f"{{seq:{spec}}}: the sequence format is a zero-padded width of at most {hi} digits, "
                f"e.g. {{seq}} or {{seq:05d}}",
            )
            return
        width = max(width, int(m.group(2) or 0))
    longest = pattern.format(prefix=prefix + "字" * NUMBER_ABBR_CHARS, year=9999, seq=int("9" * width))
    if len(longest) > NUMBER_MAX_CHARS:
        P.add(
            keypath,
            f"numbers would be up to {len(longest)} characters long (e.g. '{longest[:70]}'); a document "
            f"number is at most {NUMBER_MAX_CHARS}: shorten the pattern or document_prefix",
        )


# -- loading --------------------------------------------------------------------------------------


def load_pack(path: str | pathlib.Path, base_kinds: dict[str, RecordKind] | None = None) -> Pack:
    """Load and validate a pack file; raise PolicyError listing every problem."""
    path = pathlib.Path(path)
    if not path.exists():
        raise UnknownPolicy(f"{path}: no such policy file")
    node, raw = read_yaml(path)
    problems = _Problems(path, _Lines(node))
    pack = _build_pack(raw, path, problems, base_kinds)
    if problems.items:
        raise PolicyError(
            f"{path} is not a valid policy pack ({len(problems.items)} problems):\n" + "\n".join(problems.items),
            problems.items,
        )
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
    kinds = dict(base_kinds if base_kinds is not None else base_record_kinds())
    try:
        kinds.update(parse_kinds(raw.get("record_kinds"), str(path)))
    except PolicyError as exc:
        P.add(("record_kinds",), str(exc))
    for key in ("id", "title", "authority", "authority_short", "document_prefix", "jurisdiction", "description"):
        if raw.get(key) is not None and not isinstance(raw.get(key), (str, int, float)):
            P.add((key,), f"'{key}' is a text, not {_short(raw.get(key))}")
        _text_in(raw.get(key), key, (key,), P)
    authorities = raw.get("authorities")
    for sub, reason in _authority_problems(authorities):  # issuing authority per region prefix
        P.add(("authorities",) + sub, reason)
    for i, item in enumerate(authorities if isinstance(authorities, list) else []):
        if isinstance(item, dict):  # the same length bounds as the pack's own authority (notices' columns)
            for key, bound in (
                ("name", "authority"),
                ("short", "authority_short"),
                ("document_prefix", "document_prefix"),
                ("note", "note"),
            ):
                _text_in(item.get(key), bound, ("authorities", i, key), P)
    meta = {k: jsonable(v) for k, v in raw.items() if k not in ("versions", "record_kinds")}
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
            P.add(
                ("versions", idx, "effective_from"),
                f"version {b.version} starts {b.effective_from} but version {a.version} is still in force then "
                f"(effective_to {a.effective_to or 'open'}); versions must not overlap",
            )
    pack.versions = ordered
    return pack


def _date(value: Any, keypath: tuple, P: _Problems, required: bool = True) -> dt.date | None:
    if value is None:
        if required:
            P.add(keypath, "a date (YYYY-MM-DD) is required")
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if not isinstance(value, dt.date):
        try:
            value = dt.date.fromisoformat(str(value))
        except ValueError:
            P.add(keypath, f"'{_short(value)[1:-1] if isinstance(value, str) else value}' is not a date (YYYY-MM-DD)")
            return None
    lo, hi = BOUNDS["effective.year"]
    if not lo <= value.year <= hi:
        P.add(keypath, f"{value} is outside the years {lo} to {hi}")
        return None
    return value


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
    _text_in(raw.get("version"), "version", at + ("version",), P)
    _text_in(raw.get("title"), "title", at + ("title",), P)
    _version_settings(pack, raw, at, P)
    period = raw.get("period", "year")
    if period not in PERIODS:
        P.add(at + ("period",), f"'{period}' is not one of {', '.join(PERIODS)}")
    basis = raw.get("basis") or {}
    if not isinstance(basis, dict):
        P.add(at + ("basis",), "basis is a mapping of document id to {title, article, url}")
        basis = {}
    for doc, body in basis.items():
        if isinstance(body, dict):
            P.unknown_keys(
                body, {"title", "article", "url", "note", "articles", "items", "status"}, at + ("basis", doc)
            )
            _status(body, at + ("basis", doc), P)
            _text_in(body.get("title"), "basis_title", at + ("basis", doc, "title"), P)
            _text_in(body.get("article"), "basis_article", at + ("basis", doc, "article"), P)
            problem = articles.structure_problem(body)
            if problem:
                P.add(at + ("basis", doc, "articles" if "articles" in problem[:9] else "items"), problem)
    for sub, reason in _deadline_problems(raw.get("deadlines")):  # how each deadline is counted
        P.add(at + ("deadlines",) + sub, reason)
    tiers = raw.get("tiers") or {}
    order = [str(t) for t in (tiers.get("order") or [])] if isinstance(tiers, dict) else []
    if not order:
        P.add(at + ("tiers", "order"), "list the tiers from best to worst, e.g. [A, B, M, C, D]")
    labels = {str(k): str(v) for k, v in ((tiers.get("labels") or {}) if isinstance(tiers, dict) else {}).items()}
    for i, t in enumerate(order):
        _text_in(t, "tier", at + ("tiers", "order", i), P)
    for t, label in labels.items():
        _text_in(label, "tier_label", at + ("tiers", "labels", t), P)
    v = PackVersion(
        pack,
        str(raw.get("version", "?")),
        str(raw.get("title", "")),
        eff_from,
        eff_to,
        period,
        raw,
        basis,
        {},
        order,
        {t: labels.get(t, t) for t in order},
        raw.get("default_tier"),
        [],
        [],
        [],
        [],
        {},
        {},
        {},
    )
    if v.default_tier is not None and v.default_tier not in order:
        P.add(at + ("default_tier",), f"'{v.default_tier}' is not a tier{did_you_mean(v.default_tier, order)}")
    citations = raw.get("citations") or {}
    for kind, spec in citations.items() if isinstance(citations, dict) else ():
        if isinstance(spec, dict) and spec.get("basis") is not None:  # the article of each record, by field value
            _basis_ref(v, spec["basis"], at + ("citations", kind, "basis"), P)
    _facts(v, raw.get("facts") or {}, at + ("facts",), P)
    v.measures = _measures(v, raw.get("measures") or {}, at + ("measures",), P)
    v.services = _services(v, raw.get("services"), at + ("services",), P)
    _bank_share(v, raw.get("bank_share"), at + ("bank_share",), P)
    v.lists = _lists(v, raw.get("lists") or {}, at + ("lists",), P)
    v.supervision = _supervision(v, raw.get("supervision") or {}, at + ("supervision",), P)
    v.tier_rules = _rules(v, raw.get("tier_rules") or [], "tier", at + ("tier_rules",), P)
    v.list_rules = _rules(v, raw.get("list_rules") or [], "list", at + ("list_rules",), P)
    v.measure_rules = _rules(v, raw.get("measure_rules") or [], "measure", at + ("measure_rules",), P)
    v.notice_rules = _rules(v, raw.get("notice_rules") or [], "notice", at + ("notice_rules",), P)
    ids: dict[str, tuple] = {}
    for rules, key in (
        (v.tier_rules, "tier_rules"),
        (v.list_rules, "list_rules"),
        (v.measure_rules, "measure_rules"),
        (v.notice_rules, "notice_rules"),
    ):
        for i, r in enumerate(rules):
            if r.id in ids:
                P.add(at + (key, i, "id"), f"rule id '{r.id}' is used twice (also at {'.'.join(map(str, ids[r.id]))})")
            ids[r.id] = at + (key, i)
    v.content_hash = hashlib.sha256(
        json.dumps(v.stored_body(), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    before = len(P.items)
    if before == 0 or not any(at == tuple(p.split(":")[2].strip().split(".")[:2]) for p in P.items):
        _compile(v)
        if not [p for p in P.items[before:]] and not _has_errors_in(P, at):
            _check_tables(v, at, P)
    return v


DEFAULT_NUMBERING = "{prefix}〔{year}〕{seq}号"


def _version_settings(pack: Pack, raw: dict, at: tuple, P: _Problems) -> None:
    """Bounds of publication, inspection, notice_settings and numbering (their meaning is checked where used)."""
    pub = raw.get("publication")
    if pub is not None and not isinstance(pub, dict):
        P.add(at + ("publication",), "publication is a mapping, e.g. {results_deadline_working_days: 20}")
    elif pub:
        for key in ("results_deadline_working_days", "licence_penalty_working_days"):
            _int_in(pub.get(key), f"publication.{key}", at + ("publication", key), P)
        for key in ("holidays", "working_weekends"):
            days = pub.get(key)
            if days is None:
                continue
            lo, hi = BOUNDS["publication.holidays"]
            if not isinstance(days, list) or len(days) > hi:
                P.add(at + ("publication", key), f"'{key}' is a list of at most {hi:,} dates (YYYY-MM-DD)")
                continue
            for i, day in enumerate(days):
                _date(day, at + ("publication", key, i), P)
    insp = raw.get("inspection")
    if insp is not None and not isinstance(insp, dict):
        P.add(at + ("inspection",), "inspection is a mapping, e.g. {exclude_clean_within_months: 12}")
    elif insp:
        _int_in(
            insp.get("exclude_clean_within_months"),
            "inspection.exclude_clean_within_months",
            at + ("inspection", "exclude_clean_within_months"),
            P,
        )
        items = insp.get("items")
        if isinstance(items, dict):
            for item, body in items.items():
                _text_in(item, "inspection_item", at + ("inspection", "items", item), P)
                if isinstance(body, dict):
                    for key, limit in (("title", "title"), ("department", "department"), ("specialty", "department")):
                        _text_in(body.get(key), limit, at + ("inspection", "items", item, key), P)
    settings = raw.get("notice_settings")
    if settings is not None and not isinstance(settings, dict):
        P.add(at + ("notice_settings",), "notice_settings is a mapping, e.g. {interview: {place: 本局会议室}}")
    elif settings:

        def walk(node: dict, path: tuple) -> None:
            for key, value in node.items():
                here = path + (key,)
                if isinstance(value, dict):
                    walk(value, here)
                elif isinstance(value, int) and not isinstance(value, bool):
                    _int_in(value, "notice_settings.days_months", here, P)
                elif value is not None:
                    _text_in(value, "notice_setting", here, P)

        walk(settings, at + ("notice_settings",))
    meta = pack.meta
    prefix = str(meta.get("document_prefix") or meta.get("authority_short") or meta.get("authority") or "")
    check_numbering(raw.get("numbering") or DEFAULT_NUMBERING, prefix, at + ("numbering",), P)


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
        P.unknown_keys(
            body,
            {"label", "type", "source", "when", "default", "min", "max", "values", "value_labels", "status", "note"},
            where,
        )
        _status(body, where, P)
        _text_in(name, "fact", where, P)
        _text_in(body.get("label"), "fact_label", where + ("label",), P)
        for key in ("min", "max"):
            if not _num_in(body.get(key), "facts.min_max", where + (key,), P):
                body = {k: x for k, x in body.items() if k != key}
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
            P.add(where + ("source",), "source is required: {record|count|open|entity|previous|adjust|decision: ...}")
            continue
        _check_source(v, name, ftype, source, where + ("source",), P)
        values = tuple(str(x) for x in (body.get("values") or ()))
        if source.get("previous") == "tier":
            values = tuple(v.tier_order)
        elif source.get("decision") == "tier" and isinstance(source.get("pack"), str):
            values = _decision_values(v, source["pack"], values, where, P)
        if ftype == "enum" and not values and source.get("entity") not in ("entity_type", "region"):
            P.add(where + ("values",), "an enum fact lists its values")
        default = body.get("default")
        v.facts[name] = Fact(
            name,
            label,
            ftype,
            source=source,
            default=default,
            min=body.get("min"),
            max=body.get("max"),
            values=values,
            value_labels={str(k): str(x) for k, x in (body.get("value_labels") or {}).items()},
        )
    # Derived conditions may use other facts (and other derived conditions, without cycles).
    parsed: dict[str, C.Node] = {}
    for name, cond in pending_when.items():
        try:
            parsed[name] = C.parse(cond, "when")
        except C.ConditionSyntaxError as exc:
            P.add(at + (name, "when"), str(exc).split(": ", 1)[1])
        except ValueError:  # a literal beyond Python's integer parsing limit
            P.add(at + (name, "when"), _HUGE_LITERAL)
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
    # Adjustments, in the order declared: each condition sees the facts as the adjustments before it left them.
    names = list(v.facts)
    for name, fact in v.facts.items():
        source = fact.source or {}
        if "adjust" not in source or not isinstance(source.get("when"), (str, dict, list, bool)):
            continue
        where = at + (name, "source", "when")
        try:
            node = C.substitute(C.parse(source["when"], "when"), resolved)
        except C.ConditionSyntaxError as exc:
            P.add(where, str(exc).removeprefix("when: "))
            continue
        except ValueError:
            P.add(where, _HUGE_LITERAL)
            continue
        _check_atoms(v, node, where, P, allow_tier=False)
        for atom in C.atoms(node):
            other = v.facts.get(atom.fact)
            if (
                other is not None
                and other.source
                and "adjust" in other.source
                and (names.index(atom.fact) >= names.index(name))
            ):
                P.add(where, f"'{atom.fact}' is an adjustment declared after '{name}'; declare it before")
        ref = _basis_ref(v, source.get("basis"), at + (name, "source", "basis"), P)
        if not ref:
            P.add(at + (name, "source", "basis"), "an adjustment cites its legal basis")
        reason = source.get("reason")
        _text_in(reason, "reason", at + (name, "source", "reason"), P)
        for placeholder in _placeholders(str(reason or "")):
            if placeholder not in v.facts:
                P.add(
                    at + (name, "source", "reason"),
                    f"placeholder {{{placeholder}}} is not a fact{did_you_mean(placeholder, v.facts)}",
                )
        add = source.get("add")
        if isinstance(add, (int, float)) and not isinstance(add, bool):
            fact.adjust = (str(source["adjust"]), float(add), node, v.basis_text(ref) if ref else "", reason)


def _check_source(v: PackVersion, name: str, ftype: str, source: dict, where: tuple, P: _Problems) -> None:
    kinds = v.pack.record_kinds
    keys = set(source)
    primary = keys & {"record", "count", "open", "entity", "previous", "adjust", "decision"}
    if len(primary) != 1:
        P.add(where, "give exactly one of record, count, open, entity, previous, adjust, decision")
        return
    (kind_key,) = primary
    allowed = {
        "record": {"record", "field", "window", "where", "date_field", "pick", "in_force_until", "lasts_until"},
        "count": {"count", "window", "where", "date_field", "in_force_until", "lasts_until"},
        "open": {"open", "end", "where", "open_for"},
        "entity": {"entity", "at", "years"},
        "previous": {"previous"},
        "adjust": {"adjust", "add", "when", "basis", "reason"},
        "decision": {"decision", "pack", "period", "missing"},
    }[kind_key]
    P.unknown_keys(source, allowed, where)
    if kind_key == "adjust":
        target = v.facts.get(str(source["adjust"]))
        if ftype != "bool":
            P.add(where, f"an adjustment is true when it applied; declare fact '{name}' as bool")
        if target is None or target.source is None or "adjust" in target.source:
            known = [n for n, f in v.facts.items() if f.type in ("number", "int") and f.source]
            P.add(
                where + ("adjust",),
                f"'{source['adjust']}' is not a number fact declared before '{name}'"
                + (did_you_mean(str(source["adjust"]), known) or ""),
            )
        elif target.type not in ("number", "int"):
            P.add(where + ("adjust",), f"'{target.name}' is a {target.type}; only a number fact is adjusted")
        add = source.get("add")
        if (
            not isinstance(add, (int, float))
            or isinstance(add, bool)
            or add == 0
            or not _in_range(add, "facts.min_max")
        ):
            P.add(where + ("add",), "add is the amount added to the fact when the condition holds (e.g. -11)")
        if "when" not in source:
            P.add(where + ("when",), "'when' is required: the condition under which the adjustment applies")
        return
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
                expected = {
                    "number": ("number", "int", "year"),
                    "int": ("int", "year", "number"),
                    "bool": ("bool",),
                    "enum": ("enum", "string"),
                }[ftype]
                if kind.fields[fld].type not in expected:
                    P.add(
                        where + ("field",),
                        f"{kind_name}.{fld} is a {kind.fields[fld].type}, but fact '{name}' is declared {ftype}",
                    )
        if kind_key == "open":
            _end_field(kind, source.get("end"), where + ("end",), P)
            held = source.get("open_for")
            if held is not None and not re.match(r"^\d+[my]$", str(held)):
                P.add(where + ("open_for",), f"'{str(held)[:40]}' is not a duration: use Nm or Ny (36m, 3y)")
            elif held is not None:
                n = int(str(held)[:-1]) * (12 if str(held).endswith("y") else 1)
                lo, hi = BOUNDS["facts.source.window"]
                if not lo <= n <= hi:
                    P.add(where + ("open_for",), f"open_for '{held}' is too long: at most {hi} months ({hi // 12}y)")
        until = source.get("in_force_until")
        if until is not None:
            if isinstance(until, str):
                _end_field(kind, until, where + ("in_force_until",), P, source.get("date_field"))
            elif not isinstance(until, list) or not until:
                P.add(where + ("in_force_until",), "in_force_until is a date field of the kind, or a list of them")
            else:
                for i, fld in enumerate(until):
                    _end_field(kind, fld, where + ("in_force_until", i), P, source.get("date_field"))
                    if fld in until[:i]:
                        P.add(where + ("in_force_until", i), f"'{fld}' is listed twice")
        lasts = source.get("lasts_until")
        if lasts is not None:
            _end_field(kind, lasts, where + ("lasts_until",), P, source.get("date_field"))
            if str(source.get("window", "all")) == "all":
                P.add(
                    where + ("lasts_until",),
                    "over window 'all' every state overlaps: give a window (period, period-1, 12m, 3y), "
                    "or count the states still lasting at the as-of date with in_force_until",
                )
        for fld in source.get("where") or {}:
            if fld not in kind.fields:
                P.add(where + ("where", fld), f"'{fld}' is not a field of {kind_name}{did_you_mean(fld, kind.fields)}")
        window = str(source.get("window", "all"))
        if kind_key != "open" and not WINDOW.match(window):
            P.add(where + ("window",), f"'{window[:40]}' is not a window: use period, period-1, 12m, 3y or all")
        elif kind_key != "open" and window not in ("all", "period"):
            n = int(re.sub(r"\D", "", window))
            months = n * 12 if window.endswith("y") else n
            lo, hi = BOUNDS["facts.source.window"]
            if not lo <= months <= hi:
                P.add(
                    where + ("window",),
                    f"window '{window}' reaches back too far: at most {hi} months ({hi // 12}y), or period-{hi}",
                )
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
        if "years" in source and (attr != "years_operating" or source["years"] not in ("calendar", "elapsed")):
            P.add(
                where + ("years",),
                "years (years_operating only) is calendar (whole evaluation years: a year counts when the entity "
                "was established by its 1 January) or elapsed (days / 365.25, the default)",
            )
    elif kind_key == "decision":
        _check_decision(v, name, ftype, source, where, P)
    elif source["previous"] != "tier":
        P.add(where + ("previous",), "only 'previous: tier' (the tier in the previous cycle of this pack) exists")


DECISION_PERIOD = re.compile(r"^period(-\d+)?$")


def _check_decision(v: PackVersion, name: str, ftype: str, source: dict, where: tuple, P: _Problems) -> None:
    """``{decision: tier|cycle, pack: ID, period: period|period-N, missing: error|none}``: a stored decision of a
    pack's cycle (engine.facts.compile_fact; the cycle is found by engine.pipeline.cycles.resolve_sources)."""
    what, pack_id = source.get("decision"), source.get("pack")
    if what not in ("tier", "cycle"):
        P.add(where + ("decision",), "decision is 'tier' (the tier the cycle gave) or 'cycle' (the cycle's id)")
    elif what == "tier" and ftype != "enum":
        P.add(where, f"a decision tier is one of the pack's tiers; declare fact '{name}' as enum")
    elif what == "cycle" and ftype != "int":
        P.add(where, f"a decision cycle is a cycle id; declare fact '{name}' as int")
    if not isinstance(pack_id, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", pack_id):
        P.add(where + ("pack",), "pack is the id of the pack whose stored decision is read, e.g. tax-credit")
    period = source.get("period")
    if period is not None:
        if not isinstance(period, str) or not DECISION_PERIOD.match(period):
            P.add(where + ("period",), "period is 'period' (this evaluation's period) or 'period-N' (N periods before)")
        else:
            shift = int(period[7:]) if len(period) > 6 else 0
            lo, hi = BOUNDS["facts.source.window"]
            if shift > hi:
                P.add(where + ("period",), f"period-{shift} reaches back too far: at most period-{hi}")
            if pack_id == v.pack.id and shift == 0:
                P.add(where + ("period",), "a pack reads its own decisions of earlier periods only: period-1, period-2")
    elif pack_id == v.pack.id:
        P.add(where, "a pack reads its own decisions of an earlier period: give period: period-1 (or period-N)")
    if source.get("missing", "error") not in ("error", "none"):
        P.add(
            where + ("missing",),
            "missing is 'error' (no such cycle: refuse to evaluate, the default) or 'none' (the fact is null)",
        )


def _decision_values(v: PackVersion, pack_id: str, declared: tuple, where: tuple, P: _Problems) -> tuple:
    """The values of a ``decision: tier`` fact: this pack's tiers when it reads its own decisions; else the ones
    declared, each checked against the tiers of the referenced pack when its file is in the pack directories (a
    stored version is rebuilt from its declared values, whatever pack files are present)."""
    if pack_id == v.pack.id:
        return tuple(v.tier_order)
    if not declared:
        P.add(where + ("values",), f"list the tiers of pack {pack_id} the fact can take (values: [...])")
        return declared
    tiers = _pack_tiers(pack_id)
    if tiers is not None:
        for i, value in enumerate(declared):
            if value not in tiers:
                P.add(
                    where + ("values", i),
                    f"'{value}' is not a tier of pack {pack_id}{did_you_mean(value, sorted(tiers))}",
                )
    return declared


PACKS_DIR = pathlib.Path(__file__).resolve().parent / "packs"


def pack_dirs() -> list[pathlib.Path]:
    """Shipped packs first, then directories in SUPERVISE_POLICIES (os.pathsep-separated)."""
    dirs = [PACKS_DIR]
    for part in (os.environ.get("SUPERVISE_POLICIES") or "").split(os.pathsep):
        if part:
            dirs.append(pathlib.Path(part))
    return dirs


def _pack_tiers(pack_id: str) -> set[str] | None:
    """The tier codes of every version of the pack file with this id in the pack directories (read as YAML, not
    loaded: two packs may read each other's decisions), or None when there is no such file."""
    path = None
    for d in pack_dirs():
        candidate = pathlib.Path(d) / f"{pack_id}.yaml"
        if candidate.exists():
            path = candidate
    if path is None:
        return None
    try:
        _, raw = read_yaml(path)
    except PolicyError:
        return None
    if not isinstance(raw, dict) or raw.get("id", pack_id) != pack_id or not isinstance(raw.get("versions"), list):
        return None
    tiers: set[str] = set()
    for version in raw["versions"]:
        order = ((version or {}).get("tiers") or {}).get("order") if isinstance(version, dict) else None
        if isinstance(order, list):
            tiers.update(str(t) for t in order)
    return tiers


def _end_field(kind: RecordKind, fld: Any, where: tuple, P: _Problems, date_field: Any = None) -> None:
    """``fld`` (an open source's end, in_force_until, lasts_until) must be a date field of the kind other than the
    date the record counts from."""
    dates = [f for f, spec in kind.fields.items() if spec.type == "date"]
    own = {kind.date if isinstance(kind.date, str) else None, date_field} - {None}
    if not isinstance(fld, str) or fld not in kind.fields:
        hint = did_you_mean(str(fld), dates) or (f" (its date fields: {', '.join(dates)})" if dates else "")
        P.add(where, f"'{fld}' is not a field of {kind.name}{hint}")
    elif kind.fields[fld].type != "date":
        others = [f for f in dates if f not in own]
        hint = f" (its end dates: {', '.join(others)})" if others else f" ({kind.name} has no end date)"
        P.add(where, f"{kind.name}.{fld} is of type {kind.fields[fld].type}, not a date{hint}")
    elif fld in own:
        P.add(where, f"'{fld}' is the date {kind.name} counts from, not an end date")


# -- catalogues -----------------------------------------------------------------------------------


STATUSES = ("team_choice",)


def _status(body: dict, where: tuple, P: _Problems) -> None:
    """``status: team_choice`` marks what the team chose where no primary text was found; it needs a ``note``
    saying what was chosen and why (docs/articles.md lists them: ``supervise policy choices``)."""
    status = body.get("status")
    _text_in(body.get("note"), "note", where + ("note",), P)
    if status is None:
        return
    if status not in STATUSES:
        P.add(where + ("status",), f"{_short(status)} is not a status; use {', '.join(STATUSES)} (with a note)")
    elif not (isinstance(body.get("note"), str) and body["note"].strip()):
        P.add(where + ("note",), "a team choice says in a note what was chosen and why (the primary text not found)")


def _basis_ref(v: PackVersion, raw: Any, where: tuple, P: _Problems) -> dict | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"doc": raw}
    if not isinstance(raw, dict) or "doc" not in raw:
        P.add(where, "basis is {doc: <document id from the version's basis>, article: ...}")
        return None
    if raw["doc"] not in v.basis:
        P.add(
            where + ("doc",),
            f"unknown basis document '{raw['doc']}'{did_you_mean(raw['doc'], v.basis)}; "
            f"add it under the version's basis",
        )
    else:
        _cited_articles(v, raw, where, P)
    return raw


def _cited_articles(v: PackVersion, ref: dict, where: tuple, P: _Problems) -> None:
    """Every article a basis reference cites (``article``, or ``articles`` per value of ``field``) must be declared
    in its document (policies/articles.py): a citation of an article the document does not have is refused."""
    doc = str(ref["doc"])
    body = v.basis.get(doc)
    cited = []
    if ref.get("article") is not None:
        cited.append((where + ("article",), ref["article"]))
    if isinstance(ref.get("articles"), dict):
        cited += [(where + ("articles", k), a) for k, a in ref["articles"].items()]
    for keypath, article in cited:
        if not isinstance(body, dict) or not articles.declared(body):
            P.add(
                keypath,
                f"{doc} cites '{article}' but the document declares no articles; give it "
                "articles: N (and items: {article: N}) under the version's basis",
            )
            return
        problem = articles.citation_problem(doc, body, str(article))
        if problem:
            P.add(keypath, problem)


def _measures(v: PackVersion, raw: dict, at: tuple, P: _Problems) -> dict[str, dict]:
    out = {}
    for mid, body in (raw or {}).items():
        where = at + (mid,)
        if not isinstance(body, dict):
            P.add(where, "a measure is a mapping with kind, text, basis, department, services")
            continue
        P.unknown_keys(
            body,
            {"kind", "text", "basis", "department", "duration_months", "services", "title", "status", "note"},
            where,
        )
        _status(body, where, P)
        _text_in(mid, "measure", where, P)
        _text_in(body.get("text"), "measure_text", where + ("text",), P)
        _text_in(body.get("department"), "department", where + ("department",), P)
        _int_in(body.get("duration_months"), "measures.duration_months", where + ("duration_months",), P)
        services = body.get("services") or []
        if not isinstance(services, list):
            P.add(where + ("services",), "services is a list of service item ids")
            services = []
        for i, service in enumerate(services):
            _text_in(service, "service", where + ("services", i), P)
        if body.get("kind") not in MEASURE_KINDS:
            P.add(where + ("kind",), f"'{body.get('kind')}' is not one of {', '.join(MEASURE_KINDS)}")
        for key in ("text", "department"):
            if not body.get(key):
                P.add(where + (key,), f"'{key}' is required")
        ref = _basis_ref(v, body.get("basis"), where + ("basis",), P)
        out[str(mid)] = {
            "id": str(mid),
            "kind": body.get("kind"),
            "text": body.get("text", ""),
            "department": body.get("department", ""),
            "services": list(body.get("services") or []),
            "duration_months": body.get("duration_months"),
            "basis": v.basis_text(ref) if ref else "",
        }
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
                P.add(
                    at[:-1] + ("measures", mid, "services"),
                    f"service item '{sid}' is not declared under services{did_you_mean(str(sid), out)}",
                )
    return out


def _bank_share(v: PackVersion, raw: Any, at: tuple, P: _Problems) -> None:
    """``bank_share: {facts: [...]}``: the facts of this version whose values a partner bank authorised by the
    taxpayer may read (GET /api/v1/bank/credit/{code}, docs/service.md). Optional; every name a declared fact."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        P.add(at, "bank_share is a mapping {facts: [fact names a partner bank may see]}")
        return
    P.unknown_keys(raw, {"facts", "note"}, at)
    names = raw.get("facts")
    if not isinstance(names, list) or not names:
        P.add(at + ("facts",), "facts is a non-empty list of this version's fact names, e.g. [tax_grade]")
        return
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in v.facts:
            P.add(
                at + ("facts", i),
                f"unknown fact '{name}'{did_you_mean(str(name), list(v.facts))}: a bank may see only facts this "
                f"version declares under facts ({', '.join(v.facts)})",
            )
        elif name in seen:
            P.add(at + ("facts", i), f"fact '{name}' is listed twice")
        seen.add(str(name))


def _basis_records_spec(v: PackVersion, spec: Any, where: tuple, P: _Problems) -> None:
    """``basis_records: {kinds: [record kinds], where: {field: value | [values]}}``: the records behind an entry."""
    if spec is None:
        return
    if not isinstance(spec, dict) or set(spec) - {"kinds", "where"}:
        P.add(where, "basis_records is {kinds: [record kinds], where: {field: value}} (see docs/policy-format.md)")
        return
    kinds = v.pack.record_kinds
    names = spec.get("kinds")
    if not isinstance(names, list) or not names:
        P.add(where + ("kinds",), "give the record kinds behind the list's entries, e.g. [penalty]")
        return
    for name in names:
        if name not in kinds:
            P.add(where + ("kinds",), f"'{name}' is not a record kind{did_you_mean(str(name), kinds)}")
    cond = spec.get("where") or {}
    if not isinstance(cond, dict):
        P.add(where + ("where",), "where is a mapping of field: value")
        return
    for fld in cond:
        if not any(fld in kinds[n].fields for n in names if n in kinds):
            P.add(where + ("where", fld), f"'{fld}' is not a field of {', '.join(map(str, names))}")


def _lists(v: PackVersion, raw: dict, at: tuple, P: _Problems) -> dict[str, dict]:
    out = {}
    keys = {
        "title",
        "kind",
        "objection_days",
        "min_months",
        "max_months",
        "publish",
        "force_inspection",
        "measures",
        "ack_days",
        "notices",
        "repair",
        "authority",
        "extendable",
        "per_year",
        "basis_records",
        "status",
        "note",
        "removal_basis",
    }
    for name, body in (raw or {}).items():
        where = at + (name,)
        if not isinstance(body, dict):
            P.add(where, "a list definition is a mapping (see docs/policy-format.md)")
            continue
        P.unknown_keys(body, keys, where)
        _status(body, where, P)
        if body.get("kind") not in LIST_KINDS:
            P.add(where + ("kind",), f"'{body.get('kind')}' is not one of {', '.join(LIST_KINDS)}")
        _text_in(name, "list", where, P)
        for key, bound in (("title", "list_title"), ("authority", "authority")):
            _text_in(body.get(key), bound, where + (key,), P)
        ok = {
            key: _int_in(body.get(key), f"lists.{key}", where + (key,), P, required=True)
            for key in ("objection_days", "min_months")
        }
        # max_months: null = no maximum: an entry ends only when its basis does (e.g. the abnormal list's cause is
        # cured), never on a timer; the key is still required, so that no list loses its maximum by omission.
        if "max_months" not in body:
            P.add(where + ("max_months",), "'max_months' is required (a number of months, or null for no maximum)")
            ok["max_months"] = False
        else:
            ok["max_months"] = body["max_months"] is not None and _int_in(
                body["max_months"], "lists.max_months", where + ("max_months",), P
            )
        for key in ("ack_days", "per_year"):
            _int_in(body.get(key), f"lists.{key}", where + (key,), P)
        if not isinstance(body.get("extendable"), bool):
            _int_in(body.get("extendable"), "lists.extendable", where + ("extendable",), P)
        _basis_records_spec(v, body.get("basis_records"), where + ("basis_records",), P)
        removal_basis = body.get("removal_basis")
        if removal_basis is not None and not isinstance(removal_basis, dict):
            P.add(
                where + ("removal_basis",),
                "removal_basis maps a way out (repaired, revoked, cured, expired) to {doc, article}",
            )
        for event, ref in (removal_basis if isinstance(removal_basis, dict) else {}).items():
            if event not in ("repaired", "revoked", "cured", "expired"):
                P.add(where + ("removal_basis", event), f"'{event}' is not one of repaired, revoked, cured, expired")
            _basis_ref(v, ref, where + ("removal_basis", event), P)
        if ok["min_months"] and ok["max_months"] and body["min_months"] > body["max_months"]:
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
        if not isinstance(repair, dict):
            P.add(where + ("repair",), "repair is a mapping {allowed, min_months, requires, ...}")
            repair = {"allowed": False}
        for key in ("min_months", "cooldown_months", "decide_days"):
            _int_in(repair.get(key), f"lists.repair.{key}", where + ("repair", key), P)
        limit = repair.get("max_repairs")
        if limit is not None and not isinstance(limit, dict):
            P.add(where + ("repair", "max_repairs"), "max_repairs is {count: N, years: N}")
        elif limit:
            for key in ("count", "years"):
                _int_in(limit.get(key), f"lists.repair.max_repairs.{key}", where + ("repair", "max_repairs", key), P)
        for i, req in enumerate(repair.get("requires") or []):
            if req not in REPAIR_REQUIREMENTS:
                P.add(
                    where + ("repair", "requires", i),
                    f"unknown repair requirement '{req}'{did_you_mean(req, REPAIR_REQUIREMENTS)}",
                )
        out[str(name)] = {**jsonable(body), "name": str(name)}
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
        lo, hi = BOUNDS["supervision.per_year"]
        if isinstance(per_year, bool) or not isinstance(per_year, (int, float)) or not lo <= per_year <= hi:
            P.add(at + (tier, "per_year"), f"per_year must be a number from {lo} to {hi}, not {_short(per_year)}")
            per_year = 0
        _text_in(row.get("note"), "note", at + (tier, "note"), P)
        out[tier] = {"ratio": float(ratio or 0), "per_year": float(per_year or 0), "note": row.get("note", "")}
    for tier in raw or {}:
        if tier not in v.tier_order:
            P.add(at + (tier,), f"'{tier}' is not a tier{did_you_mean(str(tier), v.tier_order)}")
    return out


def _rules(v: PackVersion, raw: list, category: str, at: tuple, P: _Problems) -> list[Rule]:
    if not isinstance(raw, list):
        P.add(at, "rules are a list")
        return []
    keys = {"id", "when", "reason", "basis", "priority", "description", "status", "note"} | {
        "tier": {"tier"},
        "list": {"list"},
        "measure": {"apply"},
        "notice": {"kind"},
    }[category]
    rules = []
    macros = {n: f.when for n, f in v.facts.items() if f.when is not None}
    for i, body in enumerate(raw):
        where = at + (i,)
        if not isinstance(body, dict):
            P.add(where, "a rule is a mapping with id and when")
            continue
        P.unknown_keys(body, keys, where)
        _status(body, where, P)
        rid = str(body.get("id") or f"{category}-{i}")
        if "id" not in body:
            P.add(where + ("id",), "'id' is required")
        _text_in(body.get("id"), "rule_id", where + ("id",), P)
        _text_in(body.get("reason"), "reason", where + ("reason",), P)
        if not _int_in(body.get("priority"), "rules.priority", where + ("priority",), P):
            body = {k: x for k, x in body.items() if k != "priority"}
        if "when" not in body:
            P.add(where + ("when",), "'when' is required")
            continue
        try:
            node = C.substitute(C.parse(body["when"], "when"), macros)
        except C.ConditionSyntaxError as exc:
            P.add(where + ("when",), str(exc).removeprefix("when: "))
            continue
        except ValueError:  # a literal beyond Python's integer parsing limit
            P.add(where + ("when",), _HUGE_LITERAL)
            continue
        _check_atoms(v, node, where + ("when",), P, allow_tier=category != "tier")
        rule = Rule(
            rid,
            category,
            node,
            ".".join(map(str, where)),
            int(body.get("priority", 0)),
            reason=str(body.get("reason", "")),
            condition_text=C.describe(node, v_labels(v), v_values(v)),
        )
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
                P.add(
                    where + ("kind",), f"unknown notice kind '{rule.notice}'{did_you_mean(rule.notice, NOTICE_KINDS)}"
                )
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
                P.add(where, f"'{atom.source()[:80]}': fact '{fact.name}' is a number, not {_short(val)}")
            elif fact.type in ("number", "int") and not _in_range(val, "facts.min_max"):
                lo, hi = BOUNDS["facts.min_max"]
                P.add(where, f"'{atom.source()[:80]}': a threshold is a number from {lo:,} to {hi:,}")
            elif fact.type == "bool" and not isinstance(val, bool):
                P.add(where, f"'{atom.source()}': fact '{fact.name}' is true/false, not {val!r}")
            elif fact.type == "enum":
                if isinstance(val, (bool, float)):
                    P.add(where, f"'{atom.source()}': fact '{fact.name}' is one of {', '.join(fact.values)}")
                elif fact.values and val not in fact.values:
                    P.add(
                        where,
                        f"'{atom.source()}': '{val}' is not a value of '{fact.name}'"
                        f"{did_you_mean(str(val), fact.values)}",
                    )
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
        points = sorted(
            {float(a.value) for a in atoms if isinstance(a.value, (int, float)) and not isinstance(a.value, bool)}
        )
        lo = fact.min if fact.min is not None else (0 if fact.type == "int" else -math.inf)
        hi = fact.max if fact.max is not None else math.inf
        candidates: list[float] = []
        if not points:
            candidates.append(lo if lo != -math.inf else 0.0)
        else:
            candidates.append(points[0] - 1)
            for a, b in zip(points, points[1:]):
                candidates.append(a)
                mid: float | None = (a + b) / 2
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


def _assign(node: C.Node, fact: str, value: Any) -> C.Node:
    """``node`` with every atom of ``fact`` replaced by its truth for ``value``, simplified."""
    kind = node[0]
    if kind == "atom":
        atom = node[1]
        return ("const", atom.test(value)) if atom.fact == fact else node
    if kind == "not":
        inner = _assign(node[1], fact, value)
        return ("const", not inner[1]) if inner[0] == "const" else ("not", inner)
    if kind == "const":
        return node
    absorbing = kind == "any"  # True absorbs an any, False absorbs an all
    kept = []
    for child in node[1]:
        child = _assign(child, fact, value)
        if child[0] == "const":
            if child[1] == absorbing:
                return child
            continue
        kept.append(child)
    if not kept:
        return ("const", not absorbing)
    return kept[0] if len(kept) == 1 else (kind, tuple(kept))


MAX_STATES = 200_000


def _outcomes(v: PackVersion, conditions: list[C.Node], tiers: list[str] | None = None):
    """Every reachable combination of the truth values of ``conditions``, each with one fact assignment giving it.

    The facts are assigned one at a time, each over its classes of values (``fact_classes``); after each, every
    condition is simplified, and assignments that leave the same residual conditions are merged (one witness
    kept). Facts that only matter together (``any: [a >= 1, b >= 1]``) so never multiply: the work grows with the
    distinct residual states, not with the product of the facts' classes. Yields (truth tuple, witness values).
    """
    by_fact: dict[str, list[C.Atom]] = {}
    for cond in conditions:
        for a in C.atoms(cond):
            by_fact.setdefault(a.fact, []).append(a)
    states: dict[tuple, dict[str, Any]] = {tuple(_assign(c, "", None) for c in conditions): {}}  # consts folded
    for name, fatoms in by_fact.items():
        reps = fact_classes(v.facts[name], fatoms) if name != "tier" else list(tiers or v.tier_order)
        distinct: dict[tuple, Any] = {}
        for rep in reps:  # one value per distinct truth pattern of this fact's own atoms
            distinct.setdefault(tuple(a.test(rep) for a in fatoms), rep)
        nxt: dict[tuple, dict[str, Any]] = {}
        for residual, witness in states.items():
            for rep in distinct.values():
                key = tuple(_assign(c, name, rep) for c in residual)
                if key not in nxt:
                    nxt[key] = {**witness, name: rep}
        if len(nxt) > MAX_STATES:
            raise PolicyError(
                f"{v.pack.path}: version {v.version} has over {MAX_STATES:,} distinct combinations of facts to "
                "check; split rules or reduce thresholds."
            )
        states = nxt
    for residual, witness in states.items():
        yield tuple(c[1] for c in residual), witness


def _check_tables(v: PackVersion, at: tuple, P: _Problems) -> None:
    fires = {r.id: 0 for r in v.tier_rules}
    decisive = {r.id: 0 for r in v.tier_rules}
    reached: set[str] = set()
    incomplete, overlap = None, None
    try:
        for truth, values in _outcomes(v, [r.when for r in v.tier_rules]):
            fired = [r for r, t in zip(v.tier_rules, truth) if t]
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
            assert best is not None and tier is not None  # fired is not empty; a tier rule always names its tier
            decisive[best.id] += 1
            reached.add(tier)
    except PolicyError as exc:
        P.add(at + ("tier_rules",), str(exc))
        return
    if incomplete is not None:
        P.add(
            at + ("tier_rules",),
            "the tier table is not complete: no tier rule applies when "
            + _show(incomplete)
            + "; add a rule or a default_tier",
        )
    if overlap is not None:
        values, rules = overlap
        P.add(
            at + ("tier_rules",),
            "the tier table is not unique: rules "
            + ", ".join(f"{r.id} (tier {r.tier})" for r in rules)
            + f" all apply at priority {rules[0].priority} when "
            + _show(values)
            + "; give them different priorities or make their conditions exclusive",
        )
    for i, r in enumerate(v.tier_rules):
        if fires[r.id] == 0:
            P.add(
                at + ("tier_rules", i, "when"),
                f"rule {r.id} can never fire: its condition is false for every combination of facts",
            )
        elif decisive[r.id] == 0:
            P.add(
                at + ("tier_rules", i, "priority"),
                f"rule {r.id} can never decide the tier: whenever it applies a rule of higher priority applies too",
            )
    # Stage 2 rules, with `tier` ranging over the tiers the table can give.
    fires2: dict[str, int] = {}
    try:
        stage2 = v.list_rules + v.measure_rules + v.notice_rules
        for truth, _ in _outcomes(v, [r.when for r in stage2], sorted(reached, key=v.tier_order.index)):
            for r, t in zip(stage2, truth):
                if t:
                    fires2[r.id] = fires2.get(r.id, 0) + 1
    except PolicyError as exc:
        P.add(at + ("list_rules",), str(exc))
        return
    for key, rules in (
        ("list_rules", v.list_rules),
        ("measure_rules", v.measure_rules),
        ("notice_rules", v.notice_rules),
    ):
        for i, r in enumerate(rules):
            if not fires2.get(r.id):
                P.add(
                    at + (key, i, "when"),
                    f"rule {r.id} can never fire: its condition is false for every "
                    f"combination of facts and reachable tiers",
                )
    # An unreachable tier is allowed (e.g. kept for display); rules that need it are reported above.


def _show(values: dict[str, Any]) -> str:
    parts = []
    for k, val in values.items():
        if val == "\x00other":
            val = "another value"
        elif isinstance(val, float) and val.is_integer():
            val = int(val)
        parts.append(f"{k}={'null' if val is None else val}")
    return ", ".join(parts)


# -- record kinds and the stored body ----------------------------------------------------------------

RECORD_KINDS_YAML = pathlib.Path(__file__).resolve().parent / "record_kinds.yaml"


@functools.lru_cache(maxsize=1)
def _base_file() -> dict[str, Any]:
    return yaml.safe_load(RECORD_KINDS_YAML.read_text(encoding="utf-8")) or {}


def base_limits() -> Limits:
    """The plausible ranges of record fields (``limits:`` in record_kinds.yaml)."""
    return parse_limits(_base_file().get("limits"), str(RECORD_KINDS_YAML))


def base_matching() -> MatchSettings:
    """The settings of entity matching and of the organisation-code check (``matching:`` in record_kinds.yaml)."""
    return parse_settings(_base_file().get("matching"), str(RECORD_KINDS_YAML))


@functools.lru_cache(maxsize=1)
def base_record_kinds() -> dict[str, RecordKind]:
    return parse_kinds(_base_file().get("kinds"), str(RECORD_KINDS_YAML), base_limits())


def version_from_body(body: dict) -> PackVersion:
    """Rebuild the exact pack version stored with a cycle (``policy_versions.body``)."""
    raw = {**body["pack"], "versions": [body["version"]]}

    problems = _Problems(
        pathlib.Path(f"<stored {body['pack'].get('id')}@{body['version'].get('version')}>"), _Lines(None)
    )
    pack = _build_pack(raw, problems.path, problems, None)
    if problems.items or pack is None or not pack.versions:
        raise PolicyError(
            "The stored pack version is not valid any more:\n" + "\n".join(problems.items), problems.items
        )
    return pack.versions[0]
