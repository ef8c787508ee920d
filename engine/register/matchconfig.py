"""The settings of entity matching: ``matching:`` in policies/record_kinds.yaml (docs/matching.md "Settings").

Kept apart from :mod:`engine.register.matching` so that the pack loader reads them without the store.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from engine.errors import PolicyError


@dataclass(frozen=True)
class MatchSettings:
    """``matching:`` in policies/record_kinds.yaml. Scores run 0-100: the name similarity (rapidfuzz ratio of the
    names without region and organisation form) plus the points of the other fields, clamped."""

    strict_org_code: bool = False  # a USCC whose positions 9-17 fail GB 11714: refuse it on import (else a warning)
    link_score: float = 90.0  # linked at or above this score ...
    link_margin: float = 8.0  # ... and this far above the next candidate (a tie is never linked)
    review_score: float = 70.0  # below this, rejected
    legal_rep_agrees: float = 25.0
    legal_rep_differs: float = -25.0
    district_agrees: float = 10.0  # the county-level region (6 digits) of the row and of the entity
    district_differs: float = -10.0
    link_other_district: bool = False  # link a candidate registered in another district than the row names
    industry_agrees: float = 5.0
    form_differs: float = -5.0  # organisation forms both given and different (有限公司 / 股份有限公司)
    trade_agrees: float = 10.0  # names not equal, 字号 the same (a typo in the industry words, a 分公司)
    trade_differs: float = -10.0  # names not equal, 字号 different (a typo in the 字号, or another firm) ...
    trade_differs_max: float = 75.0  # ... and such a name scores at most this before the other fields
    candidates_shown: int = 5


BOOLEANS = ("strict_org_code", "link_other_district")


def parse_settings(raw: Any, where: str) -> MatchSettings:
    """The ``matching:`` block (missing keys keep their defaults)."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: matching: expected a mapping of settings, got {type(raw).__name__}")
    known = {f.name: f for f in fields(MatchSettings)}
    body: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise PolicyError(f"{where}: matching.{key}: not a setting; known: {', '.join(sorted(known))}")
        if key in BOOLEANS:
            if not isinstance(value, bool):
                raise PolicyError(f"{where}: matching.{key}: expected true or false, got {value!r}")
            body[key] = value
        else:
            try:
                body[key] = int(value) if key == "candidates_shown" else float(value)
            except (TypeError, ValueError):
                raise PolicyError(f"{where}: matching.{key}: expected a number, got {value!r}") from None
    settings = MatchSettings(**body)
    if not 0 <= settings.review_score <= settings.link_score <= 100:
        raise PolicyError(
            f"{where}: matching: review_score ({settings.review_score:g}) must not exceed link_score "
            f"({settings.link_score:g}), and both lie between 0 and 100"
        )
    if settings.link_margin < 0:
        raise PolicyError(f"{where}: matching.link_margin: must be 0 or more, got {settings.link_margin:g}")
    return settings


DEFAULT_SETTINGS = MatchSettings()
