"""Names of administrative divisions (GB/T 2260 行政区划代码) for what a person reads.

The table ``engine/data/gb2260.csv`` (code, name, parent; provenance in ``engine/data/README.md``) holds every
current province-, prefecture- and county-level division. Codes stay what is stored and exchanged (the register,
JSON, CSV keys); names are for text a person reads.

The API is four functions:

* ``region_name(code, full=True)``: the name, or ``UnknownRegion`` for a code that is not in the table. Use it
  where a wrong code must stop the work (a notice's issuing authority, a published document, validating input):
  ``region_name("350503")`` is ``福建省泉州市丰泽区``, ``region_name("350503", full=False)`` is ``丰泽区``.
* ``region_label(code, full=True)``: the same name, but never raises: ``区划代码350599（未知）`` for a code the
  table lacks and ``未填写`` for an empty one. Use it only where an unknown code is legitimately possible and the
  text stays readable with it: figures aggregated over the stored register (reports, CLI summaries), since the
  register may hold a code retired after an entity registered, or one imported without validation.
* ``city_of(code)``: the prefecture-level unit (地级) of a code, as a code (``350503`` -> ``350500``); a
  municipality (直辖市) stands for its own city (``110101`` -> ``110000``), and a county-level division directly
  under its province (省直辖县级, ``429004`` 仙桃市) is its own city. ``UnknownRegion`` for an unknown code.
* ``is_region(code)``: whether the code is in the table (for validation messages).

``UnknownRegion`` is a ``SupervisionError``: its message names the code and says what to do.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterable
from importlib import resources
from typing import Any, NamedTuple

from engine.errors import SupervisionError

__all__ = ["UnknownRegion", "region_name", "region_label", "region_labels", "city_of", "is_region"]

MUNICIPALITIES = ("110000", "120000", "310000", "500000")  # 直辖市: the province is also the city


class UnknownRegion(SupervisionError):
    """A code that is not a current GB/T 2260 province-, prefecture- or county-level division."""


class _Division(NamedTuple):
    name: str
    parent: str | None


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, _Division]:
    text = resources.files("engine").joinpath("data/gb2260.csv").read_text(encoding="utf-8")
    return {row["code"]: _Division(row["name"], row["parent"] or None) for row in csv.DictReader(io.StringIO(text))}


def _get(code: object) -> tuple[str, _Division]:
    key = str(code).strip() if code is not None else ""
    division = _table().get(key)
    if division is None:
        if not key:
            raise UnknownRegion("No region code given; a GB/T 2260 code has six digits, e.g. 350503 (丰泽区).")
        if not (key.isdigit() and len(key) == 6):
            raise UnknownRegion(
                f"Region code '{key}' is not a GB/T 2260 code (six digits, e.g. 350503); correct it in the source data."
            )
        raise UnknownRegion(
            f"Region code {key} is not a current GB/T 2260 division (province, prefecture or "
            f"county level); correct the code, or, if the division is new, add it to "
            f"engine/data/gb2260.csv as engine/data/README.md describes."
        )
    return key, division


def is_region(code: object) -> bool:
    """True when ``code`` is a current division in the table."""
    return code is not None and str(code).strip() in _table()


def region_name(code: object, full: bool = True) -> str:
    """The division's name: full (province, prefecture, county: ``福建省泉州市丰泽区``) or short (``丰泽区``).

    Raises ``UnknownRegion`` for a code not in the table (see the module docstring for when to use
    ``region_label`` instead)."""
    key, division = _get(code)
    if not full:
        return division.name
    names = [division.name]
    parent = division.parent
    while parent:
        up = _table()[parent]
        names.append(up.name)
        parent = up.parent
    return "".join(reversed(names))


def region_label(code: object, full: bool = True) -> str:
    """``region_name`` for display over stored data: ``区划代码350599（未知）`` for an unknown code, ``未填写`` for
    none. Never raises."""
    if code is None or not str(code).strip():
        return "未填写"
    try:
        return region_name(code, full)
    except UnknownRegion:
        return f"区划代码{str(code).strip()}（未知）"


def region_labels(codes: Iterable[object]) -> dict[Any, str]:
    """``region_label`` for several codes at once, for a table a person reads: without the province when every
    known code is in the same one (泉州市晋江市, 福州市鼓楼区). Never raises."""
    codes = list(codes)
    full = {code: region_label(code) for code in codes}
    provinces = {str(code).strip()[:2] for code in codes if is_region(code)}
    if len(provinces) == 1:
        province = region_name(provinces.pop() + "0000")
        full = {
            code: name[len(province) :] if is_region(code) and name.startswith(province) and name != province else name
            for code, name in full.items()
        }
    return full


def city_of(code: object) -> str:
    """The code of the prefecture-level unit holding ``code`` (itself for a prefecture, a municipality or a
    county-level division directly under its province). Raises ``UnknownRegion`` for an unknown code and for a
    province, which has no city."""
    key, division = _get(code)
    if division.parent is None:
        if key in MUNICIPALITIES:
            return key
        raise UnknownRegion(f"Region code {key} is a province ({division.name}); it has no prefecture-level city.")
    up = _table()[division.parent]
    if up.parent is None:  # prefecture, municipal district, or county directly under the province
        return division.parent if division.parent in MUNICIPALITIES else key
    return division.parent
