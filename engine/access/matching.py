"""Who may work the match review queue (engine.register.linking), whatever the interface (CLI or console).

A clerk, reviewer or admin judges a held row (``record``: it is a registration act, one step, kept as history). The
queue a user sees, and the rows a user may judge, are those of the user's authority's region: the row's own region,
or, when the row gives none, its best candidate's. A ``same`` judgement also needs the entity it names to be of that
region: a 福州 clerk never files a record to a 泉州 entity.
"""

from __future__ import annotations

from typing import Any

from engine.access import guard, users
from engine.access.users import User
from engine.register import linking
from engine.store import Store


def _regions(user: User) -> list[str] | None:
    return None if user.authority is None or not user.authority.region else [user.authority.region]


def queue(store: Store, who: User | str, limit: int = 200) -> linking.ReviewQueue:
    """The open questions the user may judge (``supervise match review``; the console's 待核对 page)."""
    with store.read() as conn:
        user = who if isinstance(who, User) else users.get(conn, who)
        questions = linking.review_queue(conn, _regions(user), limit)
    return linking.ReviewQueue(
        {"user": user.name, "authority": user.authority.name if user.authority else "全部机关", "questions": questions}
    )


def question(store: Store, who: User | str, review_id: int) -> dict[str, Any]:
    """One question (open, linked or closed) with its judgements, if the user's region covers it."""
    with store.read() as conn:
        user = who if isinstance(who, User) else users.get(conn, who)
        found = linking.question(conn, review_id)
    guard.require_region(user, found["region"], f"待核对记录#{review_id}")
    return found


def judge(
    store: Store, who: User | str, review_id: int, verdict: str, code: str | None = None, note: str | None = None
) -> linking.Judgement:
    """``supervise match judge ID same CODE | not-same [CODE]``: one transaction; refused whole if the user may not."""
    with store.transaction() as conn:
        user = who if isinstance(who, User) else users.get(conn, who)
        guard.require_role(user, "record")
        found = linking.question(conn, review_id)
        guard.require_region(user, found["region"], f"待核对记录#{review_id}")
        entity = linking.entity_for_judgement(conn, code) if code else None
        if entity is not None and verdict == linking.SAME:
            guard.require_region(user, entity["region"], f"{entity['name']}")
        result = linking.apply_judgement(conn, review_id, verdict, entity, user.name, note)
    return linking.Judgement(result)
