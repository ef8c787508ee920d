"""Derived facts: an entity's records as of a date -> the values a pack version's conditions test.

Each fact source in a pack is compiled once into a small function; per entity the work is a pass over its
records grouped by kind. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.model import PackVersion
from engine.values import add_months

Record = tuple  # (kind, date, data)


@dataclass(frozen=True)
class Period:
    """The rated period of an evaluation at ``as_of``: the latest full period ending on or before it."""

    kind: str
    as_of: dt.date
    start: dt.date
    end: dt.date

    @classmethod
    def at(cls, kind: str, as_of: dt.date) -> Period:
        if kind == "year":
            year = as_of.year if as_of >= dt.date(as_of.year, 12, 31) else as_of.year - 1
            return cls(kind, as_of, dt.date(year, 1, 1), dt.date(year, 12, 31))
        if kind == "month":
            first = as_of.replace(day=1)
            nxt = add_months(first, 1)
            if as_of == nxt - dt.timedelta(days=1):
                return cls(kind, as_of, first, as_of)
            prev_first = add_months(first, -1)
            return cls(kind, as_of, prev_first, first - dt.timedelta(days=1))
        return cls(kind, as_of, as_of, as_of)

    def shifted(self, n: int) -> tuple[dt.date, dt.date]:
        if n == 0:
            return self.start, self.end
        if self.kind == "year":
            return dt.date(self.start.year + n, 1, 1), dt.date(self.end.year + n, 12, 31)
        if self.kind == "month":
            start = add_months(self.start, n)
            return start, add_months(start, 1) - dt.timedelta(days=1)
        day = self.start + dt.timedelta(days=n)
        return day, day

    @property
    def label(self) -> str:
        if self.kind == "year":
            return str(self.start.year)
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        return self.start.isoformat()


@dataclass(frozen=True)
class SourceCycle:
    """The stored cycle of another pack (or of this one, for an earlier period) that a ``decision`` fact reads:
    which cycle it is (named in explanations and recorded in the reading cycle for replay) and the tiers it gave,
    entity id -> tier (only the entity's for one evaluation). ``ranged``: the tiers are those of the batch being
    evaluated, refilled for each batch by the process that reads it (engine.pipeline.parallel.BatchEvaluator.load),
    so that no process holds a whole cycle's."""

    id: int
    pack: str
    period: str  # the cycle's period label (2025, 2026-04-30, ...)
    revision: int
    as_of: dt.date
    tiers: Mapping[int, str] = field(default_factory=dict, compare=False, repr=False)
    ranged: bool = field(default=False, compare=False)

    def describe(self) -> dict[str, Any]:
        """What a reading cycle records of it (its summary's ``sources``) and ``evaluate --json`` shows."""
        return {
            "cycle": self.id,
            "pack": self.pack,
            "period": self.period,
            "revision": self.revision,
            "as_of": self.as_of.isoformat(),
        }


def decision_key(source: Mapping[str, Any]) -> str:
    """The key of a ``decision`` source's cycle: ``pack@period`` (``pack@period-1``) or ``pack@latest``. Facts with
    the same pack and period (the tier and the cycle id of one reference) read the same cycle."""
    return f"{source['pack']}@{source.get('period') or 'latest'}"


def decision_shift(source: Mapping[str, Any]) -> int | None:
    """The period shift of a ``decision`` source (``period`` 0, ``period-2`` -2), None without ``period``
    (the latest cycle in force, whatever period it rated)."""
    period = source.get("period")
    if not period:
        return None
    return -int(period[7:]) if len(period) > 6 else 0


def decision_sources(version: PackVersion) -> dict[str, dict]:
    """decision key -> its source (the first fact's) for the ``decision`` facts of a pack version."""
    out: dict[str, dict] = {}
    for fact in version.source_facts().values():
        if fact.source and "decision" in fact.source:
            out.setdefault(decision_key(fact.source), fact.source)
    return out


def window_bounds(window: str, period: Period) -> tuple[dt.date, dt.date]:
    """Inclusive date bounds of a window (period, period-1, 12m, 3y, all), never after as_of."""
    as_of = period.as_of
    if window.startswith("period"):
        shift = -int(window[7:]) if len(window) > 6 else 0
        start, end = period.shifted(shift)
    elif window == "all":
        start, end = dt.date.min, as_of
    elif window.endswith("m"):
        start, end = add_months(as_of, -int(window[:-1])) + dt.timedelta(days=1), as_of
    else:
        start, end = add_months(as_of, -12 * int(window[:-1])) + dt.timedelta(days=1), as_of
    return start, min(end, as_of)


def operating_years(established: dt.date, at: dt.date, calendar: bool) -> float:
    """Years of operation at ``at``: elapsed (days / 365.25, 4 decimals) or, with ``calendar``, the whole calendar
    years of operation that ended by ``at`` (an evaluation year counts when the entity was established on or before
    its 1 January: established 2023-01-01 -> 3 years at 2025-12-31, 2023-01-02 -> 2)."""
    if not calendar:
        return round((at - established).days / 365.25, 4)
    last = at.year if (at.month, at.day) == (12, 31) else at.year - 1
    first = established.year if (established.month, established.day) == (1, 1) else established.year + 1
    return float(max(0, last - first + 1))


def apply_adjustments(plan: list[tuple], get: Callable[[Any], Any], put: Callable[[Any, Any], None]) -> None:
    """Apply a version's adjustments in order: (flag fact, target fact, amount, condition, lo, hi) each sets the
    flag to whether it applied and, when it did, adds the amount to the target (kept within the fact's min/max)."""
    for flag, target, add, node, lo, hi in plan:
        value = get(target)
        applied = value is not None and _holds(node, get)
        put(flag, applied)
        if applied:
            new = value + add
            put(target, float(min(max(new, lo), hi)))


def _matcher(where: dict | None) -> Callable[[dict], bool]:
    if not where:
        return lambda data: True
    tests = []
    for fld, want in where.items():
        if isinstance(want, list):
            allowed = set(want)
            tests.append(lambda d, f=fld, a=allowed: d.get(f) in a)
        else:
            tests.append(lambda d, f=fld, w=want: d.get(f) == w)
    return lambda data: all(t(data) for t in tests)


def in_force_fields(source: dict) -> tuple[str, ...]:
    """The ``in_force_until`` date fields of a record / count source (one field or a list), in order."""
    until = source.get("in_force_until")
    if until is None:
        return ()
    return (until,) if isinstance(until, str) else tuple(until)


def open_since(source: dict, period: Period) -> dt.date:
    """The latest date an ``open`` source's record may carry: the as-of date, or with ``open_for: 36m`` / ``3y``
    that many months before it (the state has lasted at least that long on the as-of date)."""
    held = source.get("open_for")
    if held is None:
        return period.as_of
    text = str(held)
    months = int(text[:-1]) * (12 if text.endswith("y") else 1)
    return add_months(period.as_of, -months)


def compile_fact(
    name: str,
    source: dict,
    ftype: str,
    default: Any,
    period: Period,
    decided: Mapping[str, SourceCycle | None] | None = None,
) -> tuple[Callable[[dict, dict, Any], Any], str | None]:
    """Return (fn(entity, records_by_kind, previous_tier) -> value, record kind used or None).

    A record / count source takes a record whose date (or ``date_field``) lies in the window; with
    ``lasts_until: F`` the record is a continuing state from its date until F (exclusive, None = still lasting),
    taken when that state overlaps the window; with ``in_force_until: F`` (or a list) only when the as-of date is
    before F (None = no end). Neither ever takes a record dated after the as-of date.

    A ``decision`` source reads ``decided[decision_key(source)]`` (the cycle the pipeline found for it): the tier
    that cycle gave the entity (``decision: tier``; the default when it did not decide the entity) or the cycle's id
    (``decision: cycle``); no cycle there gives the default (None) for every entity. Finding the cycle, and refusing
    to evaluate without one, is the pipeline's (engine.pipeline.cycles.resolve_sources).
    """
    as_of_iso = period.as_of.isoformat()
    if "decision" in source:
        found = (decided or {}).get(decision_key(source))
        if source["decision"] == "cycle":
            cycle_id = found.id if found is not None else default
            return (lambda entity, by_kind, prev: cycle_id), None
        tiers_get = (found.tiers if found is not None else {}).get
        return (lambda entity, by_kind, prev: tiers_get(entity.get("id"), default)), None
    if "record" in source or "count" in source:
        kind = source.get("record") or source.get("count")
        lo, hi = window_bounds(str(source.get("window", "all")), period)
        date_field = source.get("date_field")
        match = _matcher(source.get("where"))
        until = in_force_fields(source)
        lasts = source.get("lasts_until")

        def in_window(rec_date: dt.date, data: dict) -> bool:
            if date_field:
                raw = data.get(date_field)
                if raw is None:
                    return False
                rec_date = dt.date.fromisoformat(raw)
            if lasts is None:
                if not lo <= rec_date <= hi:
                    return False
            else:
                ends = data.get(lasts)
                if rec_date > hi or (ends is not None and dt.date.fromisoformat(ends) <= lo):
                    return False
            for fld in until:
                ends = data.get(fld)
                if ends is not None and dt.date.fromisoformat(ends) <= period.as_of:
                    return False
            return True

        if "count" in source:

            def count(entity: dict, by_kind: dict, prev: Any) -> float:
                return float(sum(1 for d, data in by_kind.get(kind, ()) if in_window(d, data) and match(data)))

            return count, kind
        field = source["field"]
        pick = source.get("pick", "latest")

        def record_value(entity: dict, by_kind: dict, prev: Any) -> Any:
            best = None
            for d, data in by_kind.get(kind, ()):
                if in_window(d, data) and match(data) and data.get(field) is not None:
                    if best is None or (
                        d >= best[0]
                        if pick == "latest"
                        else (data[field] > best[1] if pick == "max" else data[field] < best[1])
                    ):
                        best = (d, data[field])
            if best is None:
                return default
            value = best[1]
            return float(value) if ftype in ("number", "int") else value

        return record_value, kind
    if "open" in source:
        kind, end = source["open"], source["end"]
        match = _matcher(source.get("where"))
        since = open_since(source, period)

        def open_count(entity: dict, by_kind: dict, prev: Any) -> float:
            return float(
                sum(
                    1
                    for d, data in by_kind.get(kind, ())
                    if d <= since and match(data) and (data.get(end) is None or data[end] > as_of_iso)
                )
            )

        return open_count, kind
    if "entity" in source:
        attr = source["entity"]
        at = {"as_of": period.as_of, "period_end": period.end, "period_start": period.start}[source.get("at", "as_of")]
        if attr == "years_operating":
            calendar = source.get("years") == "calendar"

            def years(entity: dict, by_kind: dict, prev: Any) -> Any:
                est = entity.get("established_on")
                if est is None:
                    return default
                return operating_years(est, at, calendar)

            return years, None
        if attr == "is_person":
            return (lambda entity, by_kind, prev: entity.get("code_kind") == "person"), None
        return (lambda entity, by_kind, prev, a=attr: entity.get(a)), None
    if "adjust" in source:  # set after the other facts (apply_adjustments)
        return (lambda entity, by_kind, prev: False), None
    return (lambda entity, by_kind, prev: prev), None


def adjustment_plan(version: PackVersion) -> list[tuple]:
    """The version's adjustments in declaration order, for :func:`apply_adjustments`."""
    plan = []
    facts = version.source_facts()
    for name, fact in facts.items():
        adjust = getattr(fact, "adjust", None)
        if adjust is not None:
            target, add, node = adjust[:3]
            tf = facts[target]
            lo = tf.min if tf.min is not None else -math.inf
            hi = tf.max if tf.max is not None else math.inf
            plan.append((name, target, add, node, lo, hi))
    return plan


class FactCompiler:
    """All source facts of a pack version, compiled for one as-of date.

    ``compute`` makes one pass over an entity's records: every record is tested once per distinct
    (kind, window, date_field, lasts_until, where + in_force_until) group of the pack's facts and feeds the counts
    and picks of that group, instead of one pass per fact over records regrouped by kind. The per-fact functions of ``compile_fact`` (``self.fns``,
    ``compute_each``) stay the reference: both give the same values and types (tests/pipeline/test_cycle_fastpath.py).
    """

    def __init__(self, version: PackVersion, as_of: dt.date, decided: Mapping[str, SourceCycle | None] | None = None):
        self.version = version
        self.period = Period.at(version.period, as_of)
        self.decided = dict(decided or {})  # decision key -> the cycle a ``decision`` fact reads (None: none)
        self.fns: list[tuple[str, Callable]] = []
        kinds = set()
        for name, fact in version.source_facts().items():
            assert fact.source is not None  # a source fact (the others are conditions)
            fn, kind = compile_fact(name, fact.source, fact.type, fact.default, self.period, self.decided)
            self.fns.append((name, fn))
            if kind:
                kinds.add(kind)
        self.kinds = sorted(kinds)
        self.needs_previous = any("previous" in (f.source or {}) for f in version.source_facts().values())
        self.adjustments = adjustment_plan(version)
        self._compile_pass(version.source_facts())

    # -- the single-pass plan -------------------------------------------------------------------------------
    def _compile_pass(self, facts: dict) -> None:
        period = self.period
        as_of_iso = period.as_of.isoformat()
        self._names = tuple(facts)
        n = len(self._names)
        self._init: list = [None] * n  # accumulator per fact: int for counts, (date, value) for picks
        self._finish: list[tuple] = []  # (slot, how, arg) to turn accumulators into values
        # (kind, lo, hi, date_field, (lasts_until field, lo as ISO) | None, tests) -> [count slots, pick slots]
        groups: dict[tuple, list] = {}
        self._entity: list[tuple] = []  # (slot, how, arg) for entity attributes and the previous tier
        for slot, (_name, fact) in enumerate(facts.items()):
            source, ftype, default = fact.source, fact.type, fact.default
            if "record" in source or "count" in source:
                kind = source.get("record") or source.get("count")
                lo, hi = window_bounds(str(source.get("window", "all")), period)
                lasts = source.get("lasts_until")
                lasting = None if lasts is None else (lasts, lo.isoformat())
                tests = _tests(source.get("where")) + tuple(
                    (fld, _OPEN_END, as_of_iso) for fld in in_force_fields(source)
                )
                key = (kind, lo, hi, source.get("date_field"), lasting, tests)
                try:
                    hash(key)
                except TypeError:  # an unhashable where value: a group of its own
                    key = (kind, lo, hi, source.get("date_field"), lasting, _Unshared(tests))
                group = groups.setdefault(key, [[], []])
                if "count" in source:
                    self._init[slot] = 0
                    group[0].append(slot)
                    self._finish.append((slot, "count", None))
                else:
                    group[1].append((slot, source["field"], source.get("pick", "latest")))
                    self._finish.append((slot, "pick", (default, ftype in ("number", "int"))))
            elif "open" in source:
                tests = _tests(source.get("where")) + ((source["end"], _OPEN_END, as_of_iso),)
                since = open_since(source, period)  # open_for: only states that began on or before it
                key = (source["open"], dt.date.min, since, None, None, tests)
                try:
                    hash(key)
                except TypeError:
                    key = (source["open"], dt.date.min, since, None, None, _Unshared(tests))
                self._init[slot] = 0
                groups.setdefault(key, [[], []])[0].append(slot)
                self._finish.append((slot, "count", None))
            elif "decision" in source:
                found = self.decided.get(decision_key(source))
                if source["decision"] == "cycle":
                    self._entity.append((slot, "const", found.id if found is not None else default))
                else:
                    tiers = found.tiers if found is not None else {}
                    self._entity.append((slot, "decision", (tiers.get, default)))
            elif "entity" in source:
                attr = source["entity"]
                if attr == "years_operating":
                    at = {"as_of": period.as_of, "period_end": period.end, "period_start": period.start}[
                        source.get("at", "as_of")
                    ]
                    self._entity.append((slot, "years", (at, default, {}, source.get("years") == "calendar")))
                elif attr == "is_person":
                    self._entity.append((slot, "person", None))
                else:
                    self._entity.append((slot, "attr", attr))
            elif "adjust" in source:
                self._entity.append((slot, "false", None))
            else:
                self._entity.append((slot, "previous", None))
        slot_of = {name: i for i, name in enumerate(self._names)}
        self._adjust = [
            (slot_of[flag], slot_of[target], add, _slots(node, slot_of), lo, hi)
            for flag, target, add, node, lo, hi in self.adjustments
        ]
        # The same plan with each condition compiled to a function of the values list (:func:`_compiled`): the
        # adjustments were about a quarter of the facts stage with the tree walked per entity.
        self._adjust_fast = [
            (flag, target, add, _compiled(node), lo, hi) for flag, target, add, node, lo, hi in self._adjust
        ]
        # The stored JSON of the facts (json.dumps of compute_stored) from each fact's "name": value text, kept
        # per fact and value (:meth:`stored_json`).
        encode = json.JSONEncoder().encode
        self._encode = encode
        self._fragments: list[dict[Any, tuple[type, str]]] = [{} for _ in self._names]
        self._keys = [encode(name) + ": " for name in self._names]
        # The plan of _values, split by what each step does so that its loops test nothing per fact: counts
        # start at 0.0 (n additions of 1 give float(n), what the finish step made of an int count), picks are
        # finished from (default, numeric), entity attributes and the other per-entity facts by kind.
        self._start: list[Any] = [0.0 if how == "count" else None for how in self._how_of(n)]
        self._picks = [(slot, arg[0], arg[1]) for slot, how, arg in self._finish if how == "pick"]
        self._years = [(slot, *arg) for slot, how, arg in self._entity if how == "years"]
        self._attrs = [(slot, arg) for slot, how, arg in self._entity if how == "attr"]
        self._persons = [slot for slot, how, _ in self._entity if how == "person"]
        self._decisions = [(slot, *arg) for slot, how, arg in self._entity if how == "decision"]
        self._consts = [(slot, arg) for slot, how, arg in self._entity if how == "const"]
        self._consts += [(slot, False) for slot, how, _ in self._entity if how == "false"]
        self._previous = [slot for slot, how, _ in self._entity if how == "previous"]
        by_kind: dict[str, list] = {}
        for (kind, lo, hi, date_field, lasting, tests), (counts, picks) in groups.items():
            by_kind.setdefault(kind, []).append((lo, hi, date_field, lasting, tests, tuple(counts), tuple(picks)))
        self._by_kind = {k: tuple(v) for k, v in by_kind.items()}

    def _how_of(self, n: int) -> list[str | None]:
        how: list[str | None] = [None] * n
        for slot, kind, _ in self._finish:
            how[slot] = kind
        return how

    def compute(self, entity: dict, records: Iterable[Record], previous_tier: str | None = None) -> dict[str, Any]:
        return dict(zip(self._names, self._values(entity, records, previous_tier)))

    def compute_stored(
        self, entity: dict, records: Iterable[Record], previous_tier: str | None = None
    ) -> dict[str, Any]:
        """The facts as a decision stores them: ``{k: int(v) if v is an integral float else v}`` without the
        facts that are None. Conditions give the same truth values on it as on ``compute``: a missing fact reads as
        None, and an integral float tests like the int."""
        return {
            name: (int(value) if isinstance(value, float) and value.is_integer() else value)
            for name, value in zip(self._names, self._values(entity, records, previous_tier))
            if value is not None
        }

    def _values(self, entity: dict, records: Iterable[Record], previous_tier: str | None = None) -> list:
        acc = self._start[:]
        by_kind = self._by_kind
        for kind, date, data in records:
            groups = by_kind.get(kind)
            if groups is None:
                continue
            for lo, hi, date_field, lasting, tests, counts, picks in groups:
                if date_field is None:
                    start = date
                else:
                    raw = data.get(date_field)
                    if raw is None:
                        continue
                    start = dt.date.fromisoformat(raw)
                if lasting is None:
                    if not lo <= start <= hi:
                        continue
                elif start > hi:
                    continue
                else:  # a continuing state: it overlaps the window unless it ended on or before its start
                    ends = data.get(lasting[0])
                    if ends is not None and ends <= lasting[1]:
                        continue
                if tests and not _passes(tests, data):
                    continue
                for slot in counts:
                    acc[slot] += 1
                for slot, fld, pick in picks:
                    value = data.get(fld)
                    if value is None:
                        continue
                    best = acc[slot]
                    if best is None or (
                        date >= best[0] if pick == "latest" else (value > best[1] if pick == "max" else value < best[1])
                    ):
                        acc[slot] = (date, value)
        for slot, default, numeric in self._picks:
            value = acc[slot]
            acc[slot] = default if value is None else (float(value[1]) if numeric else value[1])
        if self._years:
            est = entity.get("established_on")
            for slot, at, default, cache, calendar in self._years:
                if est is None:
                    acc[slot] = default
                else:
                    years = cache.get(est)
                    if years is None:
                        years = operating_years(est, at, calendar)
                        if len(cache) < 100_000:
                            cache[est] = years
                    acc[slot] = years
        for slot, attr in self._attrs:
            acc[slot] = entity.get(attr)
        for slot in self._persons:
            acc[slot] = entity.get("code_kind") == "person"
        for slot, tiers_get, default in self._decisions:
            acc[slot] = tiers_get(entity.get("id"), default)
        for slot, const in self._consts:
            acc[slot] = const
        for slot in self._previous:
            acc[slot] = previous_tier
        for flag, target, add, holds, lo, hi in self._adjust_fast:  # apply_adjustments on the list
            value = acc[target]
            applied = value is not None and holds(acc)
            acc[flag] = applied
            if applied:
                acc[target] = float(min(max(value + add, lo), hi))
        return acc

    # values(entity, records, previous_tier): the facts as a list in ``names`` order (None for a fact without a
    # value), what ``compute`` maps by name. Conditions test them like ``compute_stored``'s dict
    # (engine.evaluate.Evaluator.outcomes_of). The same function as _values: a call less per entity.
    values = _values

    @property
    def names(self) -> tuple[str, ...]:
        return self._names

    def stored(self, values: list) -> dict[str, Any]:
        """``compute_stored`` of the facts given as :meth:`values`."""
        return {
            name: (int(value) if isinstance(value, float) and value.is_integer() else value)
            for name, value in zip(self._names, values)
            if value is not None
        }

    def stored_json(self, values: list) -> str:
        """``json.dumps(self.stored(values))``, the same text: built from each fact's ``"name": value`` text, which
        is encoded once per fact and value (by value and type: 1, 1.0 and True are equal keys)."""
        parts: list[str] = []
        append = parts.append
        try:
            for slot, value in enumerate(values):
                if value is None:
                    continue
                hit = self._fragments[slot].get(value)
                if hit is None or hit[0] is not value.__class__:
                    hit = self._fragment(slot, value)
                append(hit[1])
        except TypeError:  # an unhashable value (a list or mapping from a record): the whole dict encoded
            return self._encode(self.stored(values))
        return "{" + ", ".join(parts) + "}"

    def _fragment(self, slot: int, value: Any) -> tuple[type, str]:
        stored = int(value) if isinstance(value, float) and value.is_integer() else value
        text = self._encode({self._names[slot]: stored})[1:-1]
        hit = (value.__class__, text)
        cache = self._fragments[slot]
        if len(cache) < 65536 and value == value:  # not NaN (never found again as a key)
            cache[value] = hit
        return hit

    def matching(self, records: Iterable[Record], names: Iterable[str] | None = None) -> dict[str, list[Record]]:
        """The records each count / open fact counted (only ``names`` when given): what ``compute`` counts,
        record by record, for naming them in notices and explanations (engine.evidence). Same tests as
        ``_values``; tests/rules/test_evidence.py checks that the lengths equal the computed counts."""
        counted = {slot for slot, how, _ in self._finish if how == "count"}
        wanted = None if names is None else set(names)
        out: dict[str, list[Record]] = {}
        for kind, date, data in records:
            for group in self._by_kind.get(kind, ()):
                if not _admits(group, date, data):
                    continue
                for slot in group[5]:
                    name = self._names[slot]
                    if slot in counted and (wanted is None or name in wanted):
                        out.setdefault(name, []).append((kind, date, data))
        return out

    def compute_each(self, entity: dict, records: Iterable[Record], previous_tier: str | None = None) -> dict[str, Any]:
        """The reference: one compiled function per fact over the records grouped by kind."""
        by_kind: dict[str, list] = {}
        for kind, date, data in records:
            by_kind.setdefault(kind, []).append((date, data))
        values = {name: fn(entity, by_kind, previous_tier) for name, fn in self.fns}
        apply_adjustments(self.adjustments, values.get, values.__setitem__)
        return values


_EQ, _IN, _OPEN_END = 0, 1, 2


class _Unshared(tuple):
    """Tests that cannot be a dict key: hashed by identity, iterated like the tuple they hold."""

    def __new__(cls, tests: tuple) -> _Unshared:
        return super().__new__(cls, tests)

    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other


def _holds(node: tuple, value_of: Callable[[Any], Any]) -> bool:
    """A compiled condition (engine.conditions' tree of tuples) on fact values: for an adjustment's condition,
    evaluated per entity before the rules (the rules themselves run on predicate vectors in durable-rules)."""
    kind = node[0]
    if kind == "atom":
        return bool(node[1].test(value_of(node[1].fact)))
    if kind == "all":
        return all(_holds(c, value_of) for c in node[1])
    if kind == "any":
        return any(_holds(c, value_of) for c in node[1])
    if kind == "not":
        return not _holds(node[1], value_of)
    return bool(node[1])


@dataclass(frozen=True)
class _SlotAtom:
    """An atom whose fact is named by its slot in the fast path's values list."""

    fact: int
    atom: Any

    def test(self, value: Any) -> bool:
        return bool(self.atom.test(value))


def _slots(node: tuple, slot_of: dict[str, int]) -> tuple:
    """A condition whose atoms name facts by their slot in the values list (for the fast path's adjustments)."""
    kind = node[0]
    if kind == "atom":
        return ("atom", _SlotAtom(slot_of[node[1].fact], node[1]))
    if kind in ("all", "any"):
        return (kind, tuple(_slots(c, slot_of) for c in node[1]))
    if kind == "not":
        return ("not", _slots(node[1], slot_of))
    return node


def _compiled(node: tuple) -> Callable[[list], bool]:
    """A condition over slots (:func:`_slots`) as a function of the values list: what :func:`_holds` answers."""
    kind = node[0]
    if kind == "atom":
        slot, test = node[1].fact, _atom_test(node[1].atom)
        return lambda acc: bool(test(acc[slot]))
    if kind in ("all", "any"):
        parts = tuple(_compiled(c) for c in node[1])
        if kind == "all":

            def every(acc: list) -> bool:
                for part in parts:
                    if not part(acc):
                        return False
                return True

            return every

        def some(acc: list) -> bool:
            for part in parts:
                if part(acc):
                    return True
            return False

        return some
    if kind == "not":
        inner = _compiled(node[1])
        return lambda acc: not inner(acc)
    const = bool(node[1])
    return lambda acc: const


def _atom_test(atom: Any) -> Callable[[Any], Any]:
    """``atom.test`` (engine.conditions.Atom) specialised to its operator and value: the same answers."""
    op, value = atom.op, atom.value
    if op == "==":
        return (lambda v: v is None) if value is None else (lambda v: v == value)
    if op == "!=":
        return (lambda v: v is not None) if value is None else (lambda v: v != value)
    if op == "in":
        return lambda v: v in value
    if op == "not in":
        return lambda v: v not in value
    is_bool = isinstance(value, bool)
    if op == ">=":
        return lambda v: v is not None and isinstance(v, bool) == is_bool and v >= value
    if op == "<=":
        return lambda v: v is not None and isinstance(v, bool) == is_bool and v <= value
    if op == ">":
        return lambda v: v is not None and isinstance(v, bool) == is_bool and v > value
    if op == "<":
        return lambda v: v is not None and isinstance(v, bool) == is_bool and v < value
    test: Callable[[Any], Any] = atom.test
    return test


def _tests(where: dict | None) -> tuple:
    """A ``where`` mapping as ((field, _EQ, value) | (field, _IN, set), ...) in mapping order (like _matcher)."""
    out = []
    for fld, want in (where or {}).items():
        out.append((fld, _IN, frozenset(want)) if isinstance(want, list) else (fld, _EQ, want))
    return tuple(out)


def _admits(group: tuple, date: dt.date, data: dict) -> bool:
    """Whether a record passes a group's window and tests: what ``FactCompiler._values`` tests, inline there."""
    lo, hi, date_field, lasting, tests = group[:5]
    if date_field is None:
        start = date
    else:
        raw = data.get(date_field)
        if raw is None:
            return False
        start = dt.date.fromisoformat(raw)
    if lasting is None:
        if not lo <= start <= hi:
            return False
    elif start > hi:
        return False
    else:
        ends = data.get(lasting[0])
        if ends is not None and ends <= lasting[1]:
            return False
    return not tests or _passes(tests, data)


def _passes(tests: tuple, data: dict) -> bool:
    for fld, op, want in tests:
        value = data.get(fld)
        if op == _EQ:
            if not value == want:
                return False
        elif op == _IN:
            if value not in want:
                return False
        elif value is not None and not value > want:  # _OPEN_END (open, in_force_until): no end, or after as_of
            return False
    return True
