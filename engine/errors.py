"""Exceptions raised by the library. Only ``cli.py`` turns them into click errors.

Every message is a sentence that names the file, row, key or entity at fault and says what fixes it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SupervisionError(Exception):
    """Base class: something the user can fix."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageProblem(SupervisionError):
    """A bad combination of options (the CLI shows it as a usage error, exit 2)."""


class CodeError(SupervisionError):
    """An invalid 统一社会信用代码 or resident identity number."""


class IntakeError(SupervisionError):
    """An import file has invalid rows; ``errors`` lists ``file:row:column: reason`` lines."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or []


class EntityNotFound(SupervisionError):
    """No entity with that code is in the register."""


class PolicyError(SupervisionError):
    """A policy pack is invalid; ``problems`` lists ``file:line: key.path: reason`` lines."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


class UnknownPolicy(PolicyError):
    """No policy pack (or version) with that id."""


class UnknownServiceItem(SupervisionError):
    """No policy pack addresses a government service item with that id or Chinese name."""


class RuleEngineError(SupervisionError):
    """durable-rules misbehaved (lost, delayed or failed action); the evaluation is void."""


class StoreError(SupervisionError):
    """The database is missing, out of date, or refused a write."""


class DatabaseLocked(StoreError):
    """Another process holds the database's write lock (SQLite) longer than the lock wait."""


class CycleError(SupervisionError):
    """A supervision cycle cannot be run, found or compared."""


class CycleNotFound(CycleError):
    """No cycle with that id."""


class PlanError(SupervisionError):
    """An inspection plan cannot be drawn, verified or updated."""


class ListError(SupervisionError):
    """A list entry, objection or repair action is not allowed."""


class NoticeError(SupervisionError):
    """A notice cannot be rendered or issued."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(str(name), sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
