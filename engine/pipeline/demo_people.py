"""The demo's people: console users of the demo cities' authorities, and two-step decisions (初审 / 审核) made by
them, so the console has a queue to show and the notices carry two names.

Every demo user has the password :data:`DEMO_PASSWORD` (printed by ``make demo``; a demo database only). The
admin ``supervise init`` creates is given it too, so it can log in to the console.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Iterable
from typing import Any

from engine.access import offices as access_offices
from engine.access import users
from engine.store import Store
from lists import acts, lifecycle
from policies import load_file

DEMO_PASSWORD = "Demo2026pass"
CONSOLE_URL = "http://127.0.0.1:8080/"  # where `make serve` listens (PORT=8080)
# (name, authority short name, role): the market bureaus of 泉州 and 福州, the 泉州 tax bureau
DEMO_USERS = (
    ("张经办", "泉市监", "clerk"),
    ("李审核", "泉市监", "reviewer"),
    ("陈经办", "榕市监", "clerk"),
    ("林经办", "泉税", "clerk"),
    ("吴审核", "泉税", "reviewer"),
)
REVOKE_REASON = "据以列入的决定已被依法撤销（演示）"


def people_stage(store: Store, pack_paths: Iterable[pathlib.Path], day: dt.date) -> dict[str, Any]:
    """Create the demo users; 张经办 proposes the revocation of up to three 泉州 market-list entries (black list,
    then abnormal list; each keeps one listed): 李审核 approves the first (the removal decision names both), returns
    the second with a reason; the third awaits review."""
    known = access_offices.offices([load_file(p) for p in pack_paths])
    with store.transaction() as conn:
        users.set_password(conn, users.ADMIN, DEMO_PASSWORD)
        for name, office, role in DEMO_USERS:
            users.add(conn, name, office, role, DEMO_PASSWORD, users.ADMIN, known=known)
        quanzhou: list[int] = []
        for name, keep in (("black", 1), ("abnormal", 1)):  # each list keeps an entry listed, for the site
            view = lifecycle.show(conn, name, day)
            market = [e["id"] for e in view.entries if e["pack_id"] == "market-credit-risk"]
            local = [e.id for e in lifecycle.load(conn, market) if str(e.row["entity_region"] or "").startswith("3505")]
            quanzhou += local[keep:]
        lines = [
            f"users (password {DEMO_PASSWORD}): admin (every authority), "
            + ", ".join(f"{n} ({role}, {office})" for n, office, role in DEMO_USERS),
            f"console: run 'make serve' and open {CONSOLE_URL} ; log in as 张经办 (clerk) or 李审核 (reviewer) with "
            f"the password above",
        ]
        if not quanzhou:
            lines.append("too few listed 泉州 market entries: no two-step decision made")
            return {"name": "people", "title": "People and two-step decisions", "lines": lines}
        first = acts.revoke(conn, "张经办", quanzhou[0], REVOKE_REASON, day)
        acts.approve(conn, "李审核", [first["proposal_id"]], day)
        lines.append(
            f"entry {quanzhou[0]} revoked in two steps: proposed by 张经办, approved by 李审核 (its removal decision "
            f"names both)"
        )
        if len(quanzhou) > 1:
            back = acts.revoke(conn, "张经办", quanzhou[1], REVOKE_REASON, day)
            acts.send_back(conn, "李审核", back["proposal_id"], "未附行政复议决定书，请补充后重新提出", day)
            lines.append(f"entry {quanzhou[1]}: the proposal was returned with a reason (张经办's queue)")
        if len(quanzhou) > 2:
            waiting = acts.revoke(conn, "张经办", quanzhou[2], REVOKE_REASON, day)
            lines.append(f"entry {quanzhou[2]}: proposal {waiting['proposal_id']} awaits review (李审核's queue)")
    return {"name": "people", "title": "People and two-step decisions", "lines": lines}
