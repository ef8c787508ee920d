"""Policy packs (YAML, versioned, effective-dated) and record kinds; loader and validator."""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import yaml

from engine.records import RecordKind, parse_kinds

HERE = pathlib.Path(__file__).resolve().parent
PACKS_DIR = HERE / "packs"


@functools.lru_cache(maxsize=1)
def base_record_kinds() -> dict[str, RecordKind]:
    path = HERE / "record_kinds.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_kinds(raw.get("kinds"), str(path))


def record_kinds(extra_dirs: tuple[str, ...] = ()) -> dict[str, RecordKind]:
    """The base record kinds plus kinds declared by shipped packs (and packs in extra_dirs)."""
    kinds = dict(base_record_kinds())
    for path in sorted(PACKS_DIR.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        kinds.update(parse_kinds(raw.get("record_kinds"), str(path)))
    return kinds
