"""The register stage: market entities and natural persons with their credit records.

It owns the codes (统一社会信用代码 and resident identity numbers: checking, normalising, masking), the record
kinds and their field specs, the intake of files (CSV, XLSX, JSONL; encodings, limits, rejects; the one import
loop every importer runs, inspectors and results included) and the import and lookup of entities and records. It
reads nothing above it: packs hand it their limits and record kinds.

``codes`` and ``records`` need neither the store nor SQLAlchemy, and the policy model, the packs and the Jinja
environment import them; ``intake`` and ``entities`` read and write through the store. So the package re-exports
the functions of ``entities`` (``from engine import register; register.import_entities(...)``) on first use,
through the module ``__getattr__`` below, rather than importing it here: importing ``engine.register.codes`` does
not load SQLAlchemy (about 0.2-0.3 s).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, for type checkers and tests/test_architecture.py; loaded on first use below
    from engine.register.entities import import_entities, import_records, resolve_code, show_entity

__all__ = ["import_entities", "import_records", "resolve_code", "show_entity"]
_FROM_ENTITIES = frozenset(__all__)


def __getattr__(name: str) -> Any:
    """``import_entities``, ``import_records``, ``resolve_code``, ``show_entity``: from ``entities``, loaded with
    the store the first time one is asked for."""
    if name in _FROM_ENTITIES:
        value = getattr(importlib.import_module("engine.register.entities"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _FROM_ENTITIES)
