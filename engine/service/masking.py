"""Personal data masked in what the service stores or shows, as the public site masks it
(:func:`engine.register.codes.public_party`: a natural person's name and identity number, a 个体工商户's operator).

``replacements(parties)`` gives raw text -> masked text for the parties (dicts with ``code``, ``name``,
``entity_type``, ``legal_rep``), longest first so that a name inside a longer one goes last; ``masked(value,
replace)`` applies it to every string of a JSON-like value. The decision log, the bank log and the list feed's
reasons use these two, so the three cannot mask differently.
"""

from __future__ import annotations

from typing import Any

from engine.register.codes import public_party


def replacements(parties: list[dict[str, Any]]) -> dict[str, str]:
    """Raw text -> masked text of the parties' personal data (longest first)."""
    out: dict[str, str] = {}
    for p in parties:
        shown = public_party(p.get("name"), p["code"], p.get("entity_type"), p.get("legal_rep"))
        for raw, masked_text in ((p["code"], shown["code"]), (p.get("name") or "", shown["name"])):
            if raw and raw != masked_text:
                out[raw] = masked_text
        if p.get("legal_rep") and shown["operator"] and shown["operator"] != p["legal_rep"]:
            out[p["legal_rep"]] = shown["operator"]
    return dict(sorted(out.items(), key=lambda kv: -len(kv[0])))


def masked(value: Any, replace: dict[str, str]) -> Any:
    """``value`` with every string's personal data replaced."""
    if isinstance(value, str):
        for raw, shown in replace.items():
            value = value.replace(raw, shown)
        return value
    if isinstance(value, list):
        return [masked(v, replace) for v in value]
    if isinstance(value, dict):
        return {k: masked(v, replace) for k, v in value.items()}
    return value
