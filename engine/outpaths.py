"""Check ``--out`` before any work: a folder to write files into, or one file to write.

One helper for every command that writes (``notices issue``, ``notices show``, ``lists publish``,
``cycle report``): the path is refused with a sentence naming it and what to do when it is a file where a
folder is needed (or the other way round), when the folder it goes in does not exist, or when it cannot be
written. A missing output folder itself is created, in an existing parent folder only, so that a typing
mistake in a parent does not silently create a new tree (the commands create it when they write).
"""

from __future__ import annotations

import os
import pathlib

from engine.errors import SupervisionError


class OutputPathError(SupervisionError):
    """An output path (``--out``) that cannot be written."""


def _require_named(path: str | os.PathLike, option: str, what: str) -> None:
    # pathlib.Path("") is ".": an empty --out (an unset shell variable) would write into the current folder.
    if not str(os.fspath(path)).strip():
        example = "out/" if what == "folder" else "out/plan.csv"
        raise OutputPathError(f"{option} is empty; give the {what} to write, e.g. {option} {example}")


def _parent_problem(path: pathlib.Path, option: str) -> str | None:
    parent = path.parent if str(path.parent) else pathlib.Path(".")
    if parent.is_dir():
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{option} {path}: the folder {parent} is not writable; choose another {option}"
        return None
    # the nearest ancestor that exists: a file there, or a missing folder
    for ancestor in [parent, *parent.parents]:
        if ancestor.exists():
            if not ancestor.is_dir():
                return f"{option} {path}: {ancestor} is a file, not a folder; choose another {option}"
            break
    return (
        f"{option} {path}: the folder {parent} does not exist; create it first "
        f"(mkdir -p {parent}) or choose another {option}"
    )


def output_dir(path: str | os.PathLike, option: str = "--out", create: bool = False) -> pathlib.Path:
    """The folder ``path``: existing, or missing in an existing writable folder (created when ``create``; else
    the command creates it when it writes); raises OutputPathError otherwise."""
    _require_named(path, option, "folder")
    out = pathlib.Path(path)
    if out.exists():
        if not out.is_dir():
            raise OutputPathError(f"{option} {out} is a file; give a folder (new or existing) to write into")
        if not os.access(out, os.W_OK | os.X_OK):
            raise OutputPathError(f"{option} {out}: the folder is not writable; choose another {option}")
        return out
    problem = _parent_problem(out, option)
    if problem:
        raise OutputPathError(problem)
    if not create:
        return out
    try:
        out.mkdir()
    except OSError as exc:
        raise OutputPathError(f"{option} {out}: cannot create the folder ({exc.strerror or exc})") from None
    return out


def output_file(path: str | os.PathLike, option: str = "--out") -> pathlib.Path:
    """The file ``path`` (new or to be replaced) in an existing, writable folder; raises OutputPathError."""
    _require_named(path, option, "file")
    out = pathlib.Path(path)
    if out.is_dir():
        raise OutputPathError(f"{option} {out} is a folder; give a file name, e.g. {out / 'notice.pdf'}")
    if out.exists() and not os.access(out, os.W_OK):
        raise OutputPathError(f"{option} {out}: the file is not writable; choose another {option}")
    problem = _parent_problem(out, option)
    if problem:
        raise OutputPathError(problem)
    return out


def write_atomically(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, so that a failed write (disk full)
    leaves either the old file or none, never a truncated one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            exc.filename, exc.filename2 = str(path), None  # name the file the user asked for, not the temporary
        raise
