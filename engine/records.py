"""Record kinds (kept as data in ``policies/record_kinds.yaml`` and in packs) and record validation."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from . import values
from .errors import PolicyError

FIELD_TYPES = {"date", "year", "number", "int", "bool", "string", "enum"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    required: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    def parse(self, raw: Any) -> Any:
        if self.type == "date":
            return values.parse_date(raw)
        if self.type in ("int", "year"):
            number = values.parse_int(raw)
            if self.type == "year" and not 1900 <= number <= 2200:
                raise ValueError(f"'{raw}' is not a plausible year")
            return number
        if self.type == "number":
            number = values.parse_number(raw)
            if self.min is not None and number < self.min:
                raise ValueError(f"{raw} is below the minimum {self.min:g}")
            if self.max is not None and number > self.max:
                raise ValueError(f"{raw} is above the maximum {self.max:g}")
            return number
        if self.type == "bool":
            return values.parse_bool(raw)
        text = str(raw).strip()
        if self.type == "enum" and text not in self.values:
            from .errors import did_you_mean

            raise ValueError(f"'{text}' is not one of {', '.join(self.values)}{did_you_mean(text, self.values)}")
        return text


@dataclass(frozen=True)
class RecordKind:
    name: str
    title: str
    fields: dict[str, FieldSpec]
    date: str | dict[str, str]
    key: tuple[str, ...]

    def validate(self, row: dict[str, Any]) -> tuple[dt.date, str, dict[str, Any], list[tuple[str, str]]]:
        """Parse one row's fields. Returns (date, natural key, JSON-able data, [(column, reason)])."""
        errors: list[tuple[str, str]] = []
        data: dict[str, Any] = {}
        for name, spec in self.fields.items():
            raw = row.get(name)
            if values.is_blank(raw):
                if spec.required:
                    errors.append((name, f"{name} is required for a {self.name} record"))
                continue
            try:
                data[name] = spec.parse(raw)
            except ValueError as exc:
                errors.append((name, str(exc)))
        if errors:
            return dt.date.min, "", {}, errors
        if isinstance(self.date, dict):
            date = dt.date(data[self.date["year_end"]], 12, 31)
        else:
            date = data[self.date]
        key = "|".join("" if data.get(k) is None else str(data[k]) for k in self.key)
        jsonable = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in data.items()}
        return date, key, jsonable, []


def parse_kinds(raw: dict[str, Any], where: str) -> dict[str, RecordKind]:
    kinds: dict[str, RecordKind] = {}
    for name, body in (raw or {}).items():
        fields: dict[str, FieldSpec] = {}
        for fname, fbody in (body.get("fields") or {}).items():
            ftype = fbody.get("type")
            if ftype not in FIELD_TYPES:
                raise PolicyError(f"{where}: kinds.{name}.fields.{fname}.type: '{ftype}' is not one of "
                                  f"{', '.join(sorted(FIELD_TYPES))}")
            fields[fname] = FieldSpec(fname, ftype, bool(fbody.get("required")), tuple(fbody.get("values") or ()),
                                      fbody.get("min"), fbody.get("max"))
        date = body.get("date")
        date_field = date["year_end"] if isinstance(date, dict) else date
        if date_field not in fields:
            raise PolicyError(f"{where}: kinds.{name}.date: '{date_field}' is not a field of {name}")
        for k in body.get("key") or []:
            if k not in fields:
                raise PolicyError(f"{where}: kinds.{name}.key: '{k}' is not a field of {name}")
        kinds[name] = RecordKind(name, body.get("title", name), fields, date, tuple(body.get("key") or ()))
    return kinds


def dump_date(value: Any) -> str:
    return json.dumps(value, default=str)
