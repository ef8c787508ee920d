"""Policy packs (YAML, versioned, effective-dated) and record kinds: the pack files and holidays, finding a pack by
id or file (how the pipeline loads a pack by name), the loader and validator that build :mod:`engine.model`
objects, and their views (validate, list, show, diff). It imports engine layers 1-5 only; engine below the
pipeline never imports it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

from engine.errors import PolicyError, UnknownPolicy, did_you_mean
from engine.model import Pack
from engine.register.records import RecordKind, parse_kinds
from policies.loader import PACKS_DIR as PACKS_DIR
from policies.loader import base_limits, base_record_kinds, load_pack, pack_dirs, read_yaml

HERE = pathlib.Path(__file__).resolve().parent  # PACKS_DIR and pack_dirs are the loader's (it reads referenced packs)


def record_kinds(extra_dirs: tuple[str, ...] | list[str] = ()) -> dict[str, RecordKind]:
    """The base record kinds plus kinds declared under ``record_kinds:`` by the packs in the pack directories
    (shipped, then SUPERVISE_POLICIES) and in ``extra_dirs``; a later directory's kind overrides an earlier one."""
    kinds = dict(base_record_kinds())
    limits = base_limits()
    for d in [*pack_dirs(), *(pathlib.Path(x) for x in extra_dirs)]:
        for path in sorted(pathlib.Path(d).glob("*.yaml")):
            try:
                _, raw = read_yaml(path)  # the same bounded reader as packs (aliases, size, depth, UTF-8)
            except PolicyError:
                continue  # not readable as a pack: discover() reports it once, `policy validate` lists its problems
            if isinstance(raw, dict):
                kinds.update(parse_kinds(raw.get("record_kinds"), str(path), limits))
    return kinds


def _file_state(path: pathlib.Path) -> tuple[str, int, int, int]:
    """What tells a file changed without reading it: (path, inode, modification time in ns, size); a file
    replaced by a rename gets a new inode."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), 0, 0, -1)
    return (str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def _dirs_state() -> tuple[tuple[str, int, int, int], ...]:
    """The state of every pack file in the pack directories, in reading order (a file added, removed, edited or
    replaced changes it); inside :func:`pinned`, the state when the block began."""
    pinned_state = _pinned.get()
    if pinned_state is not None:
        return pinned_state
    return tuple(_file_state(path) for d in pack_dirs() for path in sorted(d.glob("*.yaml")))


_pinned: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("pinned_packs", default=None)


@contextlib.contextmanager
def pinned() -> Iterator[None]:
    """Within the block the pack files are looked at once: every lookup sees the packs as they were when it began
    (one answer of the check service reads one set of packs, and does not ``stat`` every file at each lookup)."""
    token = _pinned.set(_dirs_state())
    try:
        yield
    finally:
        _pinned.reset(token)


def packs_state() -> tuple:
    """A value that changes whenever a pack file in the pack directories changes (for callers that cache what
    they derive from the packs)."""
    return _dirs_state()


_cache: dict[tuple[str, int, int, int], Pack] = {}
# Held while a cache of this module (or one built on it, engine.pipeline.check's) is filled: the threads of a
# server's pool that miss at once must not each parse every pack (at start, that cost tens of CPU seconds).
filling = _filling = threading.RLock()


def load_file(path: str | pathlib.Path) -> Pack:
    """Load and validate one pack file (cached by path, modification time and size: an edited file is read
    again, so a long-running process such as ``supervise serve`` sees a changed pack without a restart)."""
    name = os.path.abspath(path)  # no system call (resolve() costs one per path component)
    pinned_state = _pinned.get()
    key = next((k for k in pinned_state if k[0] == name), None) if pinned_state else None
    key = key or _file_state(pathlib.Path(name))
    if key not in _cache:
        with _filling:  # one thread loads; the others wait for it instead of all loading the same file
            if key not in _cache:
                _cache[key] = load_pack(pathlib.Path(name).resolve())
    return _cache[key]


_logged: set[tuple[str, str]] = set()
_discovered: dict[tuple, tuple[dict[str, pathlib.Path], dict[str, tuple[pathlib.Path, str]]]] = {}


def discover(report: bool = True) -> tuple[dict[str, pathlib.Path], dict[str, tuple[pathlib.Path, str]]]:
    """Scan the pack directories: ``(id -> file, id -> (file, problem))``. A file that cannot be read as a pack
    (not UTF-8, not YAML, over the size limits) is reported once on stderr with its file:line (unless not
    ``report``) and left out; its id is taken from the file name, so using that id names the file and the problem.
    A later directory overrides an earlier one. The scan is cached by the files' state (:func:`_dirs_state`, a
    ``stat`` of each file): parsing every pack on every call cost a check request more than a second."""
    state = _dirs_state()
    if state not in _discovered:
        with _filling:
            if state not in _discovered:
                scanned = _scan()
                _discovered.clear()  # one state is current; an old one comes back only if the files change back
                _discovered[state] = scanned
    found, broken = _discovered[state]
    if report:
        for path, problem in broken.values():
            if (str(path), problem) not in _logged:
                _logged.add((str(path), problem))
                logging.getLogger("supervise.policies").warning(
                    f"Skipping policy pack {problem} ('supervise policy validate {path}' lists its problems)."
                )
    return dict(found), dict(broken)


def _scan() -> tuple[dict[str, pathlib.Path], dict[str, tuple[pathlib.Path, str]]]:
    found: dict[str, pathlib.Path] = {}
    broken: dict[str, tuple[pathlib.Path, str]] = {}
    for d in pack_dirs():
        for path in sorted(d.glob("*.yaml")):
            try:
                _, raw = read_yaml(path)
            except PolicyError as exc:
                found.pop(path.stem, None)
                broken[path.stem] = (path, str(exc))
                continue
            if isinstance(raw, dict) and "versions" in raw:
                pid = str(raw.get("id", path.stem))
                broken.pop(pid, None)
                found[pid] = path
    return found, broken


def pack_files() -> dict[str, pathlib.Path]:
    """Pack id -> file, from the pack directories (a later directory overrides an earlier one)."""
    return discover()[0]


def get_pack(ref: str) -> Pack:
    """A pack by id (shipped or in SUPERVISE_POLICIES) or by file path."""
    if not str(ref).strip():  # pathlib.Path("") is the current folder
        raise UnknownPolicy(
            f"--policy is empty; give a pack id ({', '.join(sorted(discover()[0]))}) or a YAML file path."
        )
    candidate = pathlib.Path(ref)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return load_file(candidate)
    files, broken = discover()
    if ref in broken and ref not in files:
        path, problem = broken[ref]
        raise PolicyError(
            f"Policy pack '{ref}' cannot be used: {problem}. Fix {path} (see 'supervise policy validate {path}').",
            [problem],
        )
    if ref not in files:
        raise UnknownPolicy(
            f"No policy pack '{ref}'{did_you_mean(ref, files)}; known packs: "
            f"{', '.join(sorted(files))}. Give a pack id or a YAML file path."
        )
    return load_file(files[ref])


def pack_status() -> list[dict[str, Any]]:
    """Every pack file found, sorted by id: ``{"id", "file", "pack"}`` for a valid pack, ``{"id", "file",
    "error", "problems"}`` for one that cannot be read or does not validate (the others are unaffected)."""
    files, broken = discover(report=False)
    rows: list[dict[str, Any]] = []
    for pid, path in files.items():
        try:
            rows.append({"id": pid, "file": path, "pack": load_file(path)})
        except PolicyError as exc:
            rows.append({"id": pid, "file": path, "error": str(exc), "problems": exc.problems or [str(exc)]})
    for pid, (path, problem) in broken.items():
        if pid not in files:
            rows.append({"id": pid, "file": path, "error": problem, "problems": [problem]})
    return sorted(rows, key=lambda r: r["id"])


def list_packs() -> list[Pack]:
    """The valid packs (invalid ones are left out: 'policy list' shows them with their problem)."""
    return [r["pack"] for r in pack_status() if "pack" in r]
