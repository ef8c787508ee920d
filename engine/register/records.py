"""Record kinds (kept as data in ``policies/record_kinds.yaml`` and in packs) and record validation."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from engine import values
from engine.errors import PolicyError, did_you_mean

FIELD_TYPES = {"date", "year", "number", "int", "bool", "string", "enum"}
END_MEANINGS = ("annulled", "cured", "ended")


@dataclass(frozen=True)
class Limits:
    """Plausible ranges for every record field (``limits:`` in policies/record_kinds.yaml; these are its defaults).

    A date lies between ``earliest_date`` and today plus ``future_days`` (a kind or a field may allow more); a
    year between ``earliest_year`` and this year plus ``years_ahead``; a number without its own ``max`` below
    ``number_max``; a whole number below ``int_max``; no number is written with more than ``max_digits`` digits.
    """

    earliest_date: dt.date = dt.date(1949, 1, 1)
    future_days: int = 0
    earliest_year: int = 1949
    years_ahead: int = 1
    number_max: float = 1e15
    int_max: int = 2**63 - 1
    max_digits: int = 20

    def latest_date(self, future_days: int | None = None) -> dt.date:
        return dt.date.today() + dt.timedelta(days=self.future_days if future_days is None else future_days)


DEFAULT_LIMITS = Limits()


def parse_limits(raw: dict[str, Any] | None, where: str) -> Limits:
    """The ``limits:`` block of a record kinds file (missing keys keep their defaults)."""
    raw = raw or {}
    known = set(Limits.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PolicyError(f"{where}: limits.{unknown[0]}: not a limit; known: {', '.join(sorted(known))}")
    try:
        body: dict[str, Any] = {
            k: (values.parse_date(v) if k == "earliest_date" else float(v) if k == "number_max" else int(v))
            for k, v in raw.items()
        }
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{where}: limits: {exc}") from None
    return Limits(**body)


_DAYS: dict[str, dt.date] = {}


def parse_day(value: Any) -> dt.date:
    """:func:`engine.values.parse_date`, each distinct text parsed once (an import's dates repeat)."""
    if value.__class__ is not str:
        return values.parse_date(value)
    day = _DAYS.get(value)
    if day is None:
        day = values.parse_date(value)
        if len(_DAYS) >= 100_000:
            _DAYS.clear()
        _DAYS[value] = day
    return day


def _shape(raw: Any) -> str | None:
    """Why a JSON value cannot be a cell (an object or a list), or None."""
    if isinstance(raw, dict):
        return "a JSON object"
    if isinstance(raw, (list, tuple)):
        return "a JSON list"
    return None


def finite_number(raw: Any, limits: Limits = DEFAULT_LIMITS) -> float:
    """A number from a cell: refuses NaN, infinity, 1e309 and numbers of more than ``max_digits`` digits."""
    shape = _shape(raw)
    if shape:
        raise ValueError(f"expected a number, got {shape}")
    if isinstance(raw, bool):
        raise ValueError(f"'{raw}' is not a number")
    if isinstance(raw, int):
        if abs(raw) >= 10**limits.max_digits:
            raise ValueError(f"a number of more than {limits.max_digits} digits is not a plausible value")
        return float(raw)
    if not isinstance(raw, float):
        text = str(raw).strip()
        digits = sum(c.isdigit() for c in text)
        if digits > limits.max_digits:
            raise ValueError(f"'{text[:12]}...' has {digits} digits; a number here has at most {limits.max_digits}")
    number = values.parse_number(raw)
    if not math.isfinite(number):
        raise ValueError(f"'{raw}' is not a finite number (NaN and infinity are refused)")
    return number


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    future_days: int | None = None  # how far past today this date may lie (else the kind's, else the limits')
    not_before: str | None = None  # a date field this date may not precede (fulfilment before the fact's date)

    def parse(self, raw: Any, limits: Limits = DEFAULT_LIMITS, future_days: int | None = None) -> Any:
        if self.type == "date":
            shape = _shape(raw)
            if shape:
                raise ValueError(f"expected a date, got {shape}")
            day = values.parse_date(raw)
            allowance = self.future_days if self.future_days is not None else future_days
            if allowance is None:
                allowance = limits.future_days
            latest = limits.latest_date(allowance)
            if day < limits.earliest_date:
                raise ValueError(
                    f"{day.isoformat()} is before {limits.earliest_date.isoformat()}, the earliest plausible date"
                )
            if day > latest:
                ahead = f"today + {allowance} days" if allowance else "today"
                raise ValueError(
                    f"{day.isoformat()} is after {latest.isoformat()} ({ahead}), the latest plausible {self.name}"
                )
            return day
        if self.type in ("int", "year"):
            number = finite_number(raw, limits)
            if number != int(number):
                raise ValueError(f"'{raw}' is not a whole number")
            number = int(number)
            if self.type == "year":
                low = int(self.min) if self.min is not None else limits.earliest_year
                high: float = int(self.max) if self.max is not None else dt.date.today().year + limits.years_ahead
                if not low <= number <= high:
                    raise ValueError(f"'{raw}' is not a plausible year ({low} to {high})")
                return number
            if self.min is not None and number < self.min:
                raise ValueError(f"{raw} is below the minimum {self.min:g}")
            high = self.max if self.max is not None else limits.int_max
            if number > high or number < -limits.int_max:
                raise ValueError(f"{raw} is above the maximum {high:g}")
            return number
        if self.type == "number":
            number = finite_number(raw, limits)
            if self.min is not None and number < self.min:
                raise ValueError(f"{raw} is below the minimum {self.min:g}")
            high = self.max if self.max is not None else limits.number_max
            if number > high:
                raise ValueError(f"{raw} is above the maximum {high:g}")
            if number < -limits.number_max:
                raise ValueError(f"{raw} is below the minimum {-limits.number_max:g}")
            return number
        if self.type == "bool":
            if _shape(raw):
                raise ValueError(f"expected a yes/no value, got {_shape(raw)}")
            return values.parse_bool(raw)
        shape = _shape(raw)
        if shape:
            raise ValueError(f"expected text, got {shape}")
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ValueError(f"'{raw}' is not text")
        text = str(raw).strip()
        if self.type == "enum" and text not in self.values:
            raise ValueError(f"'{text}' is not one of {', '.join(self.values)}{did_you_mean(text, self.values)}")
        return text


@dataclass(frozen=True)
class RecordKind:
    name: str
    title: str
    fields: dict[str, FieldSpec]
    date: str | dict[str, str]
    key: tuple[str, ...]
    future_days: int | None = None
    limits: Limits = DEFAULT_LIMITS
    # End-date fields and what reaching them means: ``annulled`` (the record is void from then: the penalty was
    # annulled), ``cured`` (the state it describes was cured: removed from the abnormal list), ``ended`` (the state
    # ended: another department's list, a 非正常户 lifted). Read by the list lifecycle: an entry whose every basis
    # record has ended is ended.
    ends: tuple[tuple[str, str], ...] = ()

    def validate(self, row: dict[str, Any]) -> tuple[dt.date, str, dict[str, Any], list[tuple[str, str]]]:
        """Parse one row's fields. Returns (date, natural key, JSON-able data, [(column, reason)])."""
        return _compiled(self).validate(row)

    def validate_slowly(self, row: dict[str, Any]) -> tuple[dt.date, str, dict[str, Any], list[tuple[str, str]]]:
        """:meth:`validate` field by field through :meth:`FieldSpec.parse`, without the per-import memo of
        :class:`_Compiled` (the reference its tests compare with)."""
        errors: list[tuple[str, str]] = []
        data: dict[str, Any] = {}
        for name, spec in self.fields.items():
            raw = row.get(name)
            if values.is_blank(raw):
                if spec.required:
                    errors.append((name, f"{name} is required for a {self.name} record"))
                continue
            try:
                data[name] = spec.parse(raw, self.limits, self.future_days)
            except ValueError as exc:
                errors.append((name, str(exc)))
        for name, spec in self.fields.items():
            other = spec.not_before
            if other and data.get(name) is not None and data.get(other) is not None and data[name] < data[other]:
                errors.append(
                    (name, f"{name} {data[name].isoformat()} is before the record's {other} {data[other].isoformat()}")
                )
        if errors:
            return dt.date.min, "", {}, errors
        if isinstance(self.date, dict):
            date = dt.date(data[self.date["year_end"]], 12, 31)
        else:
            date = data[self.date]
        key = "|".join("" if data.get(k) is None else str(data[k]) for k in self.key)
        jsonable = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in data.items()}
        try:
            json.dumps(jsonable, allow_nan=False)  # the last guard: nothing non-finite reaches a JSON column
        except ValueError:
            return dt.date.min, "", {}, [("-", "the record holds a non-finite number (NaN or infinity)")]
        return date, key, jsonable, []

    def present(self, row: dict[str, Any]) -> frozenset[str]:
        """The fields of this kind whose columns the row has."""
        return _compiled(self).present(row)


_MISSING = object()
MEMO_SIZE = 20_000  # distinct cell texts remembered per field (dates, scores, enum values repeat; serials do not)
_COMPILED: dict[int, tuple[RecordKind, float, _Compiled]] = {}


def _compiled(kind: RecordKind) -> _Compiled:
    """The kind's :class:`_Compiled` parser for today (rebuilt at midnight: a date's bounds move with today)."""
    entry = _COMPILED.get(id(kind))
    if entry is not None and entry[0] is kind and time.time() < entry[1]:
        return entry[2]
    if len(_COMPILED) > 256:  # kinds loaded again and again (tests, a reloaded pack): forget the old ones
        _COMPILED.clear()
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    expires = dt.datetime.combine(tomorrow, dt.time()).timestamp()
    compiled = _Compiled(kind)
    _COMPILED[id(kind)] = (kind, expires, compiled)
    return compiled


class _Compiled:
    """A record kind's row validation with the work done once: the fields in order with their parsers, a memo per
    field of the cell texts already parsed (the result of :meth:`FieldSpec.parse` is a function of the text, the
    limits and today), the date fields whose values become ISO text. Gives exactly what
    :meth:`RecordKind.validate_slowly` gives: every error comes from :meth:`FieldSpec.parse` itself."""

    def __init__(self, kind: RecordKind):
        self.kind = kind
        self.names = frozenset(kind.fields)
        self.fields = [(name, spec.required, self._parser(spec)) for name, spec in kind.fields.items()]
        self.ordered = [(name, spec.not_before) for name, spec in kind.fields.items() if spec.not_before]
        self.dates = [name for name, spec in kind.fields.items() if spec.type == "date"]
        self.numbers = [name for name, spec in kind.fields.items() if spec.type == "number"]
        self.year_end = kind.date["year_end"] if isinstance(kind.date, dict) else None
        self.date = kind.date if isinstance(kind.date, str) else ""
        # One object for each distinct answer (every row of a file has the same columns, a year's end is one day):
        # rows that share them are smaller to send to another process, and to keep.
        self._present: dict[frozenset[str], frozenset[str]] = {}
        self._year_ends: dict[int, dt.date] = {}

    def present(self, row: dict[str, Any]) -> frozenset[str]:
        found = self.names.intersection(row)
        return self._present.setdefault(found, found) if len(self._present) < MEMO_SIZE else found

    def _parser(self, spec: FieldSpec) -> Any:
        limits, future_days = self.kind.limits, self.kind.future_days
        if spec.type == "string":

            def text(raw: Any) -> Any:
                if raw.__class__ is str:
                    return raw.strip()
                return spec.parse(raw, limits, future_days)

            return text
        memo: dict[str, Any] = {}

        def parse(raw: Any) -> Any:
            if raw.__class__ is str:
                value = memo.get(raw, _MISSING)
                if value is _MISSING:
                    value = spec.parse(raw, limits, future_days)
                    if len(memo) < MEMO_SIZE:
                        memo[raw] = value
                return value
            return spec.parse(raw, limits, future_days)

        return parse

    def validate(self, row: dict[str, Any]) -> tuple[dt.date, str, dict[str, Any], list[tuple[str, str]]]:
        kind = self.kind
        errors: list[tuple[str, str]] | None = None
        data: dict[str, Any] = {}
        get = row.get
        for name, required, parse in self.fields:
            raw = get(name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if required:
                    errors = errors or []
                    errors.append((name, f"{name} is required for a {kind.name} record"))
                continue
            try:
                data[name] = parse(raw)
            except ValueError as exc:
                errors = errors or []
                errors.append((name, str(exc)))
        for name, other in self.ordered:
            if data.get(name) is not None and data.get(other) is not None and data[name] < data[other]:
                errors = errors or []
                errors.append(
                    (name, f"{name} {data[name].isoformat()} is before the record's {other} {data[other].isoformat()}")
                )
        if errors:
            return dt.date.min, "", {}, errors
        if self.year_end is None:
            date = data[self.date]
        else:
            year = data[self.year_end]
            date = self._year_ends.get(year)
            if date is None:
                date = dt.date(year, 12, 31)
                if len(self._year_ends) < MEMO_SIZE:
                    self._year_ends[year] = date
        key = "|".join(["" if data.get(k) is None else str(data[k]) for k in kind.key])
        for name in self.numbers:  # the guard of validate_slowly's json.dumps(allow_nan=False)
            value = data.get(name)
            if value is not None and not math.isfinite(value):
                return dt.date.min, "", {}, [("-", "the record holds a non-finite number (NaN or infinity)")]
        for name in self.dates:
            value = data.get(name)
            if value is not None:
                data[name] = value.isoformat()
        return date, key, data, []


def parse_kinds(raw: dict[str, Any] | None, where: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, RecordKind]:
    kinds: dict[str, RecordKind] = {}
    for name, body in (raw or {}).items():
        fields: dict[str, FieldSpec] = {}
        for fname, fbody in (body.get("fields") or {}).items():
            ftype = fbody.get("type")
            if ftype not in FIELD_TYPES:
                raise PolicyError(
                    f"{where}: kinds.{name}.fields.{fname}.type: '{ftype}' is not one of "
                    f"{', '.join(sorted(FIELD_TYPES))}"
                )
            fields[fname] = FieldSpec(
                fname,
                ftype,
                bool(fbody.get("required")),
                tuple(fbody.get("values") or ()),
                fbody.get("min"),
                fbody.get("max"),
                fbody.get("future_days"),
                fbody.get("not_before"),
            )
        date = body.get("date")
        date_field = date["year_end"] if isinstance(date, dict) else date
        if date_field not in fields:
            raise PolicyError(f"{where}: kinds.{name}.date: '{date_field}' is not a field of {name}")
        for k in body.get("key") or []:
            if k not in fields:
                raise PolicyError(f"{where}: kinds.{name}.key: '{k}' is not a field of {name}")
        for fname, spec in [*fields.items(), ("", None)]:
            days = body.get("future_days") if spec is None else spec.future_days
            if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days < 0):
                where_key = f"kinds.{name}.future_days" if spec is None else f"kinds.{name}.fields.{fname}.future_days"
                raise PolicyError(f"{where}: {where_key}: '{days}' is not a whole number of days, 0 or more")
            if spec is None:
                continue
            if spec.not_before and (
                spec.not_before not in fields or fields[spec.not_before].type != "date" or spec.type != "date"
            ):
                raise PolicyError(
                    f"{where}: kinds.{name}.fields.{fname}.not_before: '{spec.not_before}' is not a "
                    f"date field of {name}"
                )
        ends = body.get("ends") or {}
        for fname, meaning in ends.items():
            if fname not in fields or fields[fname].type != "date":
                raise PolicyError(f"{where}: kinds.{name}.ends.{fname}: not a date field of {name}")
            if meaning not in END_MEANINGS:
                raise PolicyError(
                    f"{where}: kinds.{name}.ends.{fname}: '{meaning}' is not one of {', '.join(END_MEANINGS)}"
                )
        kinds[name] = RecordKind(
            name,
            body.get("title", name),
            fields,
            date,
            tuple(body.get("key") or ()),
            body.get("future_days"),
            limits,
            tuple(ends.items()),
        )
    return kinds


def dump_date(value: Any) -> str:
    return json.dumps(value, default=str)
