"""Issuing authorities per region: who issues an entity's notices and decides its list entries.

A pack names them under ``authorities`` (see docs/policy-format.md), one per region prefix of the GB/T 2260
division code (``"3505"`` = 泉州市, ``"350582"`` = 晋江市)::

    authorities:
      - {region: "3505", name: 泉州市市场监督管理局, short: 泉市监, document_prefix: 泉市监信}
      - {region: "3501", name: 福州市市场监督管理局, short: 榕市监, document_prefix: 榕市监信}

An entity gets the authority with the longest prefix of its ``region``. A pack that names no ``authorities`` has
one authority for every region: its ``authority`` / ``document_prefix`` (and a list's own ``authority``). A pack
that names them and has none for an entity's region cannot decide for that entity: the cycle stops with
:func:`uncovered_message` before it stores anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REGION = re.compile(r"\d{2,6}")
KEYS = {"region", "name", "short", "document_prefix", "note"}


def problems(raw: Any) -> list[tuple[tuple, str]]:
    """Validation of a pack's ``authorities``: (key path below it, reason) for each problem."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not raw:
        return [((), "authorities is a list of {region, name, short, document_prefix}, one per region prefix")]
    out: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            out.append(((i,), "an authority is a mapping {region, name, short, document_prefix}"))
            continue
        for key in item:
            if key not in KEYS:
                out.append(((i, key), f"unknown key '{key}'; an authority has {', '.join(sorted(KEYS))}"))
        region = str(item.get("region") if item.get("region") is not None else "")
        if not REGION.fullmatch(region):
            out.append(
                (
                    (i, "region"),
                    f"'{region}' is not a region prefix: 2 to 6 digits of the GB/T 2260 code, "
                    f'quoted (e.g. "3505" for 泉州市)',
                )
            )
        elif region in seen:
            out.append(((i, "region"), f"region {region} already has an authority (item {seen[region]})"))
        else:
            seen[region] = i
        for key in ("name", "document_prefix"):
            if not str(item.get(key) or "").strip():
                out.append(((i, key), f"'{key}' is required"))
    return out


def _default(pack: Mapping[str, Any], list_def: Mapping[str, Any] | None) -> dict[str, Any]:
    name = (list_def or {}).get("authority") or pack.get("authority") or ""
    short = pack.get("authority_short") or name
    return {"region": None, "name": name, "short": short, "document_prefix": pack.get("document_prefix") or short}


def for_region(
    pack: Mapping[str, Any], region: str | None, list_def: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The authority of ``region`` in pack meta ``pack`` ({region, name, short, document_prefix}), or None when
    the pack names authorities and none covers the region."""
    listed = pack.get("authorities")
    if not listed:
        return _default(pack, list_def)
    code = str(region or "")
    best = None
    for item in listed:
        prefix = str(item.get("region"))
        if code.startswith(prefix) and (best is None or len(prefix) > len(str(best["region"]))):
            best = item
    if best is None:
        return None
    return {
        "region": str(best["region"]),
        "name": best["name"],
        "short": best.get("short") or best["name"],
        "document_prefix": best["document_prefix"],
    }


def covered(pack: Mapping[str, Any]) -> str:
    """The regions a pack's authorities cover, for messages."""
    return ", ".join(f"{a.get('region')} {a.get('name')}" for a in pack.get("authorities") or []) or "every region"


def uncovered_message(pack_id: str, path: Any, pack: Mapping[str, Any], examples: Iterable[Mapping[str, Any]]) -> str:
    """The error for entities outside every authority's region: names the entities, their regions and the fix."""
    rows = list(examples)
    first = rows[0]
    region = str(first.get("region") or "")
    others = (
        ""
        if len(rows) == 1
        else (
            "; also "
            + ", ".join(f"{r['code']} (region {r.get('region') or 'none'})" for r in rows[1:6])
            + (" and more" if len(rows) > 6 else "")
        )
    )
    where = f" in {path}" if path else ""
    suggestion = f'"{region[:4]}"' if len(region) >= 4 else "its region prefix"
    return (
        f"Entity {first['code']} ({first.get('name') or ''}) is in region {region or '(none)'}, outside every "
        f"issuing authority of pack {pack_id} (authorities: {covered(pack)}){others}. Nothing was stored. "
        f"Add an authority for region {suggestion} under 'authorities:'{where} (name, short, document_prefix), "
        f"or correct the entity's region in the register."
    )
