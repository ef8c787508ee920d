"""The base of the typed results library functions return (foundation layer; imports nothing of ours).

A result is a dataclass whose fields, in order, are the keys of its JSON document (``to_json()``, what
``--json`` prints) and whose ``lines()`` are its text view (what the command prints without ``--json``)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


class _Text:
    """The text view shared by every result: ``lines()`` (each result says its own), ``str()`` joins them."""

    def lines(self) -> list[str]:
        raise NotImplementedError

    def __str__(self) -> str:
        return "\n".join(self.lines())


class Result(_Text):
    """Mixin for result dataclasses: ``to_json()`` from the fields, ``str()`` from ``lines()``."""

    def to_json(self) -> Any:
        """The JSON document: every field under its own name, in field order (values as stored)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


class DictResult(_Text, dict):
    """A result that is its JSON document, a dict (callers and tests read its keys); ``lines()`` its text."""

    def to_json(self) -> Any:
        return dict(self)


class ListResult(_Text, list):
    """A result that is its JSON document, a list of rows; ``lines()`` its text."""

    def to_json(self) -> Any:
        return list(self)
