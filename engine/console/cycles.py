"""The cycles pages' data: the cycles of the packs the user's authority runs, one cycle's summary, and its cycle
report (the same page ``supervise cycle report`` writes, :mod:`engine.pipeline.report`)."""

from __future__ import annotations

from typing import Any

from engine.access import guard
from engine.access.users import User
from engine.pipeline import report
from engine.store import Connection, Store
from engine.store import cycles as qc


def cycles(conn: Connection, user: User | None) -> list[dict[str, Any]]:
    """Every cycle of the user's packs, newest first, with its tier counts."""
    out = []
    titles: dict[str, str] = {}  # the pack's Chinese title, as the cycle stored it (one lookup per pack)
    for row in reversed(qc.list_cycles(conn)):
        if user is not None and not user.runs_pack(row["pack_id"]):
            continue
        if row["pack_id"] not in titles:
            meta = (qc.get_cycle(conn, row["id"])["pack_body"] or {}).get("pack") or {}
            titles[row["pack_id"]] = meta.get("title") or row["pack_id"]
        out.append(
            {
                **row,
                "pack_title": titles[row["pack_id"]],
                "status_name": "有效" if row["status"] == "committed" else "已被新修订取代",
            }
        )
    return out


def cycle(store: Store, cycle_id: int, user: User | None) -> dict[str, Any]:
    """A cycle's summary: its row, the report's figures and headline sentences."""
    with store.read() as conn:
        row = qc.get_cycle(conn, cycle_id)
    if user is not None:
        guard.require_pack(user, row["pack_id"])
    data = report.report_data(store, cycle_id)
    meta = (row["pack_body"] or {}).get("pack") or {}
    return {
        "id": row["id"],
        "pack_id": row["pack_id"],
        "pack_title": meta.get("title") or row["pack_id"],
        "period": row["period"],
        "revision": row["revision"],
        "as_of": row["as_of"],
        "version": row["version"],
        "status_name": "有效" if row["status"] == "committed" else "已被新修订取代",
        "entity_count": row["entity_count"],
        "headline": report.headline(data),
        "tiers": [t for t in data["tiers"] if t["entities"]],
    }


def report_html(store: Store, cycle_id: int, user: User | None) -> str:
    """The cycle report page."""
    with store.read() as conn:
        row = qc.get_cycle(conn, cycle_id)
    if user is not None:
        guard.require_pack(user, row["pack_id"])
    return report.render_html(report.report_data(store, cycle_id))
