"""The rules every write by a person passes, whatever the interface (CLI or console).

* role: what each role may do (:data:`MAY`);
* region: a user acts only on entities registered in its authority's region (GB/T 2260 prefix);
* pack: and only on list entries of the packs its authority runs;
* date: a decision is dated today or earlier, never later than now.

Each refusal is an :class:`~engine.access.AccessRefused` whose sentence names the user, the rule and the fact that
broke it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from engine import values
from engine.access import AccessRefused
from engine.access.users import ROLE_NAMES, User
from engine.regions import region_label

# action -> roles that may take it
MAY: dict[str, tuple[str, ...]] = {
    "propose": ("clerk", "reviewer", "admin"),  # 初审: propose a listing, objection, repair or revocation decision
    "review": ("reviewer", "admin"),  # 审核: approve or return another user's proposal
    "decide_directly": ("admin",),  # one step (CLI only; marked in the history)
    "record": ("clerk", "reviewer", "admin"),  # serve a notice, record an objection or a repair application, ack
    "run": ("admin",),  # cycles, list upkeep (advance, publish), plans
    "manage_users": ("admin",),
    "simulate_and_plan": ("reviewer", "admin"),  # console jobs: simulate a draft pack, announce a seed, draw a plan
}
ACTION_NAMES = {
    "propose": "提出初审意见",
    "review": "审核",
    "decide_directly": "直接作出决定",
    "record": "登记",
    "run": "运行监管周期和名单维护",
    "manage_users": "管理用户",
    "simulate_and_plan": "模拟政策包草案或抽取检查计划",
}


def require_role(user: User, action: str) -> None:
    allowed = MAY[action]
    if user.role not in allowed:
        who = "、".join(ROLE_NAMES[r] for r in allowed)
        raise AccessRefused(f"{user.name}是{user.role_name}，不能{ACTION_NAMES[action]}：这一步只能由{who}办理。")


def require_region(user: User, region: str | None, what: str = "该主体") -> None:
    if user.covers_region(region):
        return
    office = user.authority
    assert office is not None  # an admin of every authority covers every region
    if office.unknown:
        raise AccessRefused(
            f"{user.name}属{office.name}，但现行政策包的 authorities 中没有该机关，不能办理任何主体；请确认政策包目录"
            f"（SUPERVISE_POLICIES）是否正确，或由管理员改正该用户的机关。"
        )
    where = region_label(region) if region else "未登记区划"
    raise AccessRefused(
        f"{user.name}属{office.name}，只能办理{office.region_name}登记的主体；{what}登记于{where}，"
        f"应由其所在地的机关办理。"
    )


def require_pack(user: User, pack_id: str, title: str | None = None) -> None:
    if user.runs_pack(pack_id):
        return
    office = user.authority
    assert office is not None
    runs = "、".join(office.packs) or "无"
    raise AccessRefused(
        f"{user.name}属{office.name}，该机关办理的政策包为{runs}；"
        f"{f'{title}（{pack_id}）' if title else f'政策包{pack_id}'}的名单不由该机关办理。"
    )


def require_entries(user: User, entries: Iterable[tuple[str | None, str, str]]) -> None:
    """Every (entity region, pack id, label) within the user's authority."""
    for region, pack_id, label in entries:
        require_region(user, region, label)
        require_pack(user, pack_id)


def require_past(on: dt.date, today: dt.date | None = None, what: str = "决定") -> None:
    """A decision is dated today (in China) or earlier: never later than now."""
    today = today or values.today()
    if on > today:
        raise AccessRefused(
            f"{what}日期{on.isoformat()}晚于今天（{today.isoformat()}）：决定只能以今天或以前的日期作出；"
            f"不写日期即为今天。"
        )
