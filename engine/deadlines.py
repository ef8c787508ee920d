"""Every statutory deadline the product computes, in one place, on one calendar (:mod:`engine.calendar`).

How a period is counted is pack data (version ``deadlines``), one rule per kind of deadline::

    deadlines:
      objection:     {unit: calendar, holiday: extend}   # 陈述申辩/异议期, from the day after service
      ack:           {unit: working}                     # 抄告反馈: a department acknowledges a measure task
      repair_decide: {unit: working}                     # a repair application is decided
      rectify:       {unit: calendar, holiday: roll}     # 失信提示函: rectification deadline

``unit``: ``calendar`` (日) or ``working`` (工作日, no weekends or public holidays). ``holiday`` (calendar days
only): ``roll`` — the last day falling on a weekend or public holiday moves to the next working day (民法典第二百零
三条; 行政诉讼法/民事诉讼法 on 期间); ``extend`` — as ``roll``, and a period that contains a public holiday of 3 or
more consecutive days is extended by its days (税收征收管理法实施细则第一百零九条); ``none`` — the date stands.
A period always starts on the day after its start event (期间开始的当日不计算在内): ``N`` days from a service on
day S end on S + N (calendar), or on the N-th working day after S.

Defaults (no ``deadlines`` in the pack): objection and rectify ``calendar``/``roll``, ack and repair_decide
``working``. Month periods (minimum listing period before repair) count by calendar month from the listing date.

Callers: the list lifecycle (objection window on service, listing date, measure-task due dates), credit repair
(earliest date, decide-by), notices (the dates they print come from the stored events, else from here) and
inspection plans (results publication deadline).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Any

from engine.calendar import WorkCalendar, for_version
from engine.errors import PolicyError
from engine.values import add_months

KINDS = ("objection", "ack", "repair_decide", "rectify", "publication")
UNITS = ("calendar", "working")
HOLIDAY_RULES = ("roll", "extend", "none")
DEFAULTS: dict[str, dict[str, str]] = {
    "objection": {"unit": "calendar", "holiday": "roll"},
    "ack": {"unit": "working"},
    "repair_decide": {"unit": "working"},
    "rectify": {"unit": "calendar", "holiday": "roll"},
    "publication": {"unit": "working"},
}
DEFAULT_ACK_DAYS = 10
DEFAULT_DECIDE_DAYS = 10


def problems(raw: Any) -> list[tuple[tuple, str]]:
    """Validation of a version's ``deadlines`` block: (key path below it, reason) for each problem."""
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        return [((), f"deadlines is a mapping of {', '.join(KINDS)} to {{unit, holiday}}")]
    out: list[tuple[tuple, str]] = []
    for kind, rule in raw.items():
        if kind not in KINDS:
            out.append(((kind,), f"'{kind}' is not a deadline kind; use one of {', '.join(KINDS)}"))
            continue
        if not isinstance(rule, Mapping):
            out.append(((kind,), "a deadline rule is {unit: calendar|working, holiday: roll|extend|none}"))
            continue
        for key in rule:
            if key not in ("unit", "holiday", "basis", "note"):
                out.append(((kind, key), f"unknown key '{key}'; a rule has unit, holiday, basis, note"))
        if rule.get("unit", "calendar") not in UNITS:
            out.append(((kind, "unit"), f"'{rule.get('unit')}' is not one of {', '.join(UNITS)}"))
        if rule.get("holiday", "roll") not in HOLIDAY_RULES:
            out.append(((kind, "holiday"), f"'{rule.get('holiday')}' is not one of {', '.join(HOLIDAY_RULES)}"))
        if rule.get("unit") == "working" and rule.get("holiday") not in (None, "none"):
            out.append(((kind, "holiday"), "working days never include holidays; holiday applies to calendar days"))
    return out


def rule(version: Mapping[str, Any] | None, kind: str) -> dict[str, str]:
    """The counting rule of ``kind`` in a version body (defaults filled in)."""
    given = ((version or {}).get("deadlines") or {}).get(kind) or {}
    base = DEFAULTS[kind]
    unit = given.get("unit") or base["unit"]
    holiday = given.get("holiday") or (base.get("holiday", "none") if unit == "calendar" else "none")
    return {"unit": unit, "holiday": holiday if unit == "calendar" else "none"}


def count(start: dt.date, days: int, how: Mapping[str, str], cal: WorkCalendar) -> dt.date:
    """The last day of a period of ``days`` counted from the day after ``start`` under rule ``how``."""
    return _count(start, int(days), how["unit"], how["holiday"], cal)


@functools.lru_cache(maxsize=4096)  # a run counts the same period from the same day for every entry it moves
def _count(start: dt.date, days: int, unit: str, holiday: str, cal: WorkCalendar) -> dt.date:
    if unit == "working":
        return cal.add_working_days(start, days)
    end = start + dt.timedelta(days=days)
    if holiday == "extend":
        # 连续3日以上法定休假日: the period runs that many days longer (a run may push the end into another run).
        counted: set[dt.date] = set()
        while True:
            extra = _long_holiday_days(start, end, cal) - counted
            if not extra:
                break
            counted |= extra
            end += dt.timedelta(days=len(extra))
    if holiday in ("roll", "extend"):
        end = cal.next_working_day(end)
    return end


def _long_holiday_days(start: dt.date, end: dt.date, cal: WorkCalendar) -> set[dt.date]:
    """Days in (start, end] that belong to a run of at least 3 consecutive public-holiday days."""
    out: set[dt.date] = set()
    day = start + dt.timedelta(days=1)
    while day <= end:
        if cal.is_holiday(day):
            first = day
            while cal.is_holiday(first - dt.timedelta(days=1)):
                first -= dt.timedelta(days=1)
            last = day
            while cal.is_holiday(last + dt.timedelta(days=1)):
                last += dt.timedelta(days=1)
            if (last - first).days + 1 >= 3:
                out.update(
                    d for d in (first + dt.timedelta(days=i) for i in range((last - first).days + 1)) if start < d
                )
            day = last + dt.timedelta(days=1)
        else:
            day += dt.timedelta(days=1)
    return out


def deadline(
    version: Mapping[str, Any] | None, kind: str, start: dt.date, days: int, cal: WorkCalendar | None = None
) -> dt.date:
    """The one deadline function: the last day of ``days`` of kind ``kind`` counted from ``start`` under the
    version's rule and calendar."""
    if kind not in KINDS:
        raise PolicyError(f"Unknown deadline kind '{kind}'; the kinds are {', '.join(KINDS)}.")
    return count(start, days, rule(version, kind), cal or for_version(version))


def describe(version: Mapping[str, Any] | None, kind: str, days: int) -> dict[str, str]:
    """How a notice states the period: ``period`` (15日 / 5个工作日) and ``counting`` (from when it runs; the date
    the notice prints already has the holiday rule applied)."""
    how = rule(version, kind)
    if how["unit"] == "working":
        return {"period": f"{days}个工作日", "counting": "自送达之次日起计算，不含法定节假日"}
    if how["holiday"] == "none":
        return {"period": f"{days}日", "counting": "自送达之次日起计算"}
    return {"period": f"{days}日", "counting": "自送达之次日起计算，期间届满日遇法定节假日依法顺延"}


# -- the deadlines themselves -------------------------------------------------------------------------------


def objection_end(version: Mapping[str, Any] | None, list_def: Mapping[str, Any], served_on: dt.date) -> dt.date:
    """Last day an objection (陈述、申辩、听证要求) may be filed: ``objection_days`` from the day after service."""
    return deadline(version, "objection", served_on, int(list_def.get("objection_days") or 0))


def listable_from(objection_deadline: dt.date) -> dt.date:
    """The first day an entry may be listed once its objection window has ended."""
    return objection_deadline + dt.timedelta(days=1)


def ack_due(version: Mapping[str, Any] | None, list_def: Mapping[str, Any], sent_on: dt.date) -> dt.date:
    """Due date of a measure task sent on ``sent_on``: the list's ``ack_days`` under the pack's ``ack`` rule."""
    return deadline(version, "ack", sent_on, int(list_def.get("ack_days") or DEFAULT_ACK_DAYS))


def repair_earliest(list_def: Mapping[str, Any], listed_from: dt.date) -> dt.date:
    """First day a repair may succeed: the minimum period (``repair.min_months``, else ``min_months``) after
    listing, by calendar month."""
    repair = list_def.get("repair") or {}
    return add_months(listed_from, int(repair.get("min_months", list_def.get("min_months") or 0) or 0))


def repair_decide_by(
    version: Mapping[str, Any] | None,
    list_def: Mapping[str, Any],
    applied_on: dt.date,
    default_days: int = DEFAULT_DECIDE_DAYS,
) -> dt.date:
    """Date by which a repair application must be decided: ``repair.decide_days`` after it was made."""
    days = int((list_def.get("repair") or {}).get("decide_days") or default_days)
    return deadline(version, "repair_decide", applied_on, days)


def rectify_by(version: Mapping[str, Any] | None, issued_on: dt.date, days: int) -> dt.date:
    """Rectification deadline of a 失信提示函 issued on ``issued_on``."""
    return deadline(version, "rectify", issued_on, days)


def publication_deadline(version: Mapping[str, Any] | None, done_on: dt.date, working_days: int) -> dt.date:
    """Last day to publish (e.g. inspection results ``working_days`` after the inspection)."""
    return deadline(version, "publication", done_on, working_days)


def interview_day(version: Mapping[str, Any] | None, issued_on: dt.date, days: int) -> dt.date:
    """The day of an interview ``days`` after the notice, moved to a working day."""
    return for_version(version).next_working_day(issued_on + dt.timedelta(days=int(days)))
