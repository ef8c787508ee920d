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


_cache: dict[tuple[str, float], Any] = {}


def pack_dirs() -> list[pathlib.Path]:
    """Shipped packs first, then directories in SUPERVISE_POLICIES (os.pathsep-separated)."""
    import os

    dirs = [PACKS_DIR]
    for part in (os.environ.get("SUPERVISE_POLICIES") or "").split(os.pathsep):
        if part:
            dirs.append(pathlib.Path(part))
    return dirs


def load_file(path: str | pathlib.Path):
    """Load and validate one pack file (cached by path and modification time)."""
    from .loader import load_pack

    path = pathlib.Path(path).resolve()
    key = (str(path), path.stat().st_mtime if path.exists() else 0.0)
    if key not in _cache:
        _cache[key] = load_pack(path)
    return _cache[key]


def pack_files() -> dict[str, pathlib.Path]:
    """Pack id -> file, from the pack directories (a later directory overrides an earlier one)."""
    found: dict[str, pathlib.Path] = {}
    for d in pack_dirs():
        for path in sorted(d.glob("*.yaml")):
            try:
                raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                continue
            if isinstance(raw, dict) and "versions" in raw:
                found[str(raw.get("id", path.stem))] = path
    return found


def get_pack(ref: str):
    """A pack by id (shipped or in SUPERVISE_POLICIES) or by file path."""
    from engine.errors import UnknownPolicy, did_you_mean

    candidate = pathlib.Path(ref)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return load_file(candidate)
    files = pack_files()
    if ref not in files:
        raise UnknownPolicy(f"No policy pack '{ref}'{did_you_mean(ref, files)}; known packs: "
                            f"{', '.join(sorted(files))}. Give a pack id or a YAML file path.")
    return load_file(files[ref])


def list_packs() -> list[Any]:
    return [get_pack(pid) for pid in sorted(pack_files())]
