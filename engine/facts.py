"""Derived facts: an entity's records as of a date -> the values a pack version's conditions test.

Each fact source in a pack is compiled once into a small function; per entity the work is a pass over its
records grouped by kind. Nothing here touches the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .values import add_months

Record = tuple  # (kind, date, data)


@dataclass(frozen=True)
class Period:
    """The rated period of an evaluation at ``as_of``: the latest full period ending on or before it."""

    kind: str
    as_of: dt.date
    start: dt.date
    end: dt.date

    @classmethod
    def at(cls, kind: str, as_of: dt.date) -> "Period":
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


def compile_fact(name: str, source: dict, ftype: str, default: Any, period: Period
                 ) -> tuple[Callable[[dict, dict, Any], Any], str | None]:
    """Return (fn(entity, records_by_kind, previous_tier) -> value, record kind used or None)."""
    as_of_iso = period.as_of.isoformat()
    if "record" in source or "count" in source:
        kind = source.get("record") or source.get("count")
        lo, hi = window_bounds(str(source.get("window", "all")), period)
        date_field = source.get("date_field")
        match = _matcher(source.get("where"))

        def in_window(rec_date: dt.date, data: dict) -> bool:
            if date_field:
                raw = data.get(date_field)
                if raw is None:
                    return False
                rec_date = dt.date.fromisoformat(raw)
            return lo <= rec_date <= hi

        if "count" in source:
            def count(entity, by_kind, prev):
                return float(sum(1 for d, data in by_kind.get(kind, ()) if in_window(d, data) and match(data)))
            return count, kind
        field = source["field"]
        pick = source.get("pick", "latest")

        def record_value(entity, by_kind, prev):
            best = None
            for d, data in by_kind.get(kind, ()):
                if in_window(d, data) and match(data) and data.get(field) is not None:
                    if best is None or (d >= best[0] if pick == "latest" else
                                        (data[field] > best[1] if pick == "max" else data[field] < best[1])):
                        best = (d, data[field])
            if best is None:
                return default
            value = best[1]
            return float(value) if ftype in ("number", "int") else value
        return record_value, kind
    if "open" in source:
        kind, end = source["open"], source["end"]
        match = _matcher(source.get("where"))

        def open_count(entity, by_kind, prev):
            return float(sum(1 for d, data in by_kind.get(kind, ())
                             if d <= period.as_of and match(data)
                             and (data.get(end) is None or data[end] > as_of_iso)))
        return open_count, kind
    if "entity" in source:
        attr = source["entity"]
        at = {"as_of": period.as_of, "period_end": period.end, "period_start": period.start}[source.get("at", "as_of")]
        if attr == "years_operating":
            def years(entity, by_kind, prev):
                est = entity.get("established_on")
                if est is None:
                    return default
                return round((at - est).days / 365.25, 4)
            return years, None
        if attr == "is_person":
            return (lambda entity, by_kind, prev: entity.get("code_kind") == "person"), None
        return (lambda entity, by_kind, prev, a=attr: entity.get(a)), None
    return (lambda entity, by_kind, prev: prev), None


class FactCompiler:
    """All source facts of a pack version, compiled for one as-of date."""

    def __init__(self, version, as_of: dt.date):
        self.version = version
        self.period = Period.at(version.period, as_of)
        self.fns: list[tuple[str, Callable]] = []
        kinds = set()
        for name, fact in version.source_facts().items():
            fn, kind = compile_fact(name, fact.source, fact.type, fact.default, self.period)
            self.fns.append((name, fn))
            if kind:
                kinds.add(kind)
        self.kinds = sorted(kinds)
        self.needs_previous = any("previous" in f.source for f in version.source_facts().values())

    def compute(self, entity: dict, records: Iterable[Record], previous_tier: str | None = None) -> dict[str, Any]:
        by_kind: dict[str, list] = {}
        for kind, date, data in records:
            by_kind.setdefault(kind, []).append((date, data))
        return {name: fn(entity, by_kind, previous_tier) for name, fn in self.fns}
