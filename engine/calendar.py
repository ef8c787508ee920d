"""The one working-day calendar of the product: which days are working days (工作日).

A day is a working day when it is Monday to Friday and not a public holiday, or a weekend day declared a working
day (调休上班). Holidays and working weekends come from data, never code:

* ``policies/holidays.yaml``: the national arrangement (国务院办公厅 holiday notices), one list per kind;
* a pack version's ``publication.holidays`` and ``publication.working_weekends`` (ISO dates or
  ``{from, to}`` ranges): local arrangements or corrections, added to the national ones.

Every deadline (objection windows, acknowledgement due dates, repair decisions, publication deadlines) is counted
by :mod:`engine.deadlines` on a :class:`WorkCalendar` from :func:`for_version`.
"""

from __future__ import annotations

import datetime as dt
import functools
import pathlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from engine.errors import PolicyError

NATIONAL_FILE = pathlib.Path(__file__).resolve().parent.parent / "policies" / "holidays.yaml"


def _dates(items: Iterable[Any] | None, where: str) -> frozenset[dt.date]:
    """ISO dates and ``{from, to}`` ranges (both ends included) -> a set of dates."""
    out: set[dt.date] = set()
    for item in items or ():
        try:
            if isinstance(item, Mapping):
                start, end = _one(item.get("from")), _one(item.get("to"))
                if end < start:
                    raise ValueError(f"range {start}..{end} ends before it starts")
                out.update(start + dt.timedelta(days=i) for i in range((end - start).days + 1))
            else:
                out.add(_one(item))
        except (TypeError, ValueError) as exc:
            raise PolicyError(
                f"{where}: '{item}' is not a date (YYYY-MM-DD) or a {{from, to}} range of dates ({exc})."
            ) from None
    return frozenset(out)


def _one(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


@dataclass(frozen=True)
class WorkCalendar:
    """Non-working weekdays (``holidays``) and working weekend days (``working_weekends``)."""

    holidays: frozenset[dt.date] = frozenset()
    working_weekends: frozenset[dt.date] = frozenset()

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def is_holiday(self, day: dt.date) -> bool:
        """A statutory holiday (法定节假日 incl. the days off around it), not an ordinary weekend."""
        return day in self.holidays

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after ``start`` (``start`` itself is not counted); n = 0 gives ``start``."""
        day = start
        while n > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def next_working_day(self, day: dt.date) -> dt.date:
        """``day`` if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def with_extra(self, holidays: frozenset[dt.date], working: frozenset[dt.date]) -> WorkCalendar:
        return WorkCalendar((self.holidays | holidays) - working, self.working_weekends | working)


@functools.lru_cache(maxsize=1)
def national() -> WorkCalendar:
    """The national arrangement from ``policies/holidays.yaml`` (empty if the file is absent)."""
    if not NATIONAL_FILE.exists():
        return WorkCalendar()
    raw = yaml.safe_load(NATIONAL_FILE.read_text(encoding="utf-8")) or {}
    return WorkCalendar(
        _dates(raw.get("holidays"), f"{NATIONAL_FILE}: holidays"),
        _dates(raw.get("working_weekends"), f"{NATIONAL_FILE}: working_weekends"),
    )


def for_version(version: Mapping[str, Any] | None) -> WorkCalendar:
    """The calendar a pack version counts on: national holidays plus its ``publication.holidays`` and
    ``publication.working_weekends``. ``version`` is the version body as stored (a mapping)."""
    pub = (version or {}).get("publication") or {}
    if not pub.get("holidays") and not pub.get("working_weekends"):
        return national()
    try:  # built once per set of extra days (each deadline of a run asks for it): the calendar is immutable
        key: tuple | None = (_key(pub.get("holidays")), _key(pub.get("working_weekends")))
        hash(key)
    except TypeError:
        key = None
    found = _VERSION_CALENDARS.get(key) if key is not None else None
    if found is None:
        found = national().with_extra(
            _dates(pub.get("holidays"), "publication.holidays"),
            _dates(pub.get("working_weekends"), "publication.working_weekends"),
        )
        if key is not None:
            if len(_VERSION_CALENDARS) >= 64:
                _VERSION_CALENDARS.clear()
            _VERSION_CALENDARS[key] = found
    return found


_VERSION_CALENDARS: dict[tuple, WorkCalendar] = {}  # (extra holidays, working weekends) as given -> the calendar


def _key(items: Iterable[Any] | None) -> tuple:
    """Extra days as given (dates, texts, ``{from, to}`` ranges) as a hashable key."""
    return tuple(tuple(sorted(i.items(), key=str)) if isinstance(i, Mapping) else i for i in items or ())
