"""The public routes of the check service (scope ``lists``): an entity's public view and a list's delta feed.

- ``GET /api/v1/entities/{code}``: the entity as the public site shows it (party masked by
  :func:`engine.register.codes.public_party`), its current tiers (the latest committed revision of each pack's
  current cycle, ``store.cycles.current_cycles``: never a superseded revision), the list entries the public site
  publishes on the day (``lists.publish.public_row``: a list with ``publish: false`` never shows), and the
  measures those tiers and entries carry;
- ``GET /api/v1/lists/{list}/changes``: the events of one published list (``PACK.LIST``) since a time, in event id
  order, paged by a cursor (the event id) that never skips or repeats an event (``engine.store.feeds``).

Only what the public site would show leaves here: pre-listing events (proposed, notified, objections) and
unpublished lists never do; the parties' names, identity numbers and operators are masked, also inside an event's
recorded reason. See docs/service.md.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query
from pydantic import BaseModel, Field

from engine.errors import CodeError, StoreError, did_you_mean
from engine.register.codes import ENTITY_TYPE_LABELS, mask_person_id, public_party
from engine.register.entities import resolve_code
from engine.service.auth import REFUSALS, ApiError, ErrorOut, signed
from engine.service.masking import masked, replacements
from engine.store import Connection, Store
from engine.store import cycles as qc
from engine.store import entities as qe
from engine.store import feeds as qf
from engine.store import lists as ql
from engine.values import CHINA, in_china
from lists.lifecycle import Entry, load
from lists.publish import NO_END, public_row

# Events that change what the public site shows of an entry: it appears (listed), its publication period moves
# (extended), it leaves (expired, repaired, cured, revoked after listing). The events before listing (proposed,
# notified, objections) and repair applications are not public.
PUBLIC_EVENTS = ("listed", "extended", "expired", "repaired", "cured", "revoked")
MAX_LIMIT = 1000
SCAN = 500  # events read per query while filling a page


# -- the documents ------------------------------------------------------------------------------------------


class Party(BaseModel):
    code: str = Field(description="统一社会信用代码, or the identity number masked as the public site masks it")
    name: str = Field(description="Name as the public site shows it (a natural person's, an operator's masked)")
    entity_type: str = Field(description="主体类型 in Chinese, e.g. 企业, 个体工商户, 自然人")


class Tier(BaseModel):
    pack: str
    pack_title: str
    cycle_id: int
    revision: int = Field(description="The latest committed revision of the cycle's period")
    period: str
    cycle_as_of: dt.date
    version: str = Field(description="The pack version the cycle evaluated with")
    tier: str
    tier_label: str = Field(description="The tier as the pack labels it, e.g. A级")


class PublicEntry(BaseModel):
    entry_id: int
    list: str = Field(description="PACK.LIST, the id of the list's feed")
    pack: str
    list_title: str = Field(description="名单名称")
    state: str = Field(description="The entry's state (listed while it is published)")
    listed_from: dt.date | None = Field(description="列入日期 (null only for an entry never listed)")
    published_until: dt.date | None = Field(description="公示截止日期, the last day; null: published until removed")
    reason: str = Field(description="列入事由")
    basis: str = Field(description="列入依据")
    authority: str = Field(description="认定部门")
    decision_no: str = Field(description="决定文号 (— for an incentive list without one, 未记载 when none stored)")
    decision_doc: str = Field(description="The document the number is of, e.g. 列入决定书 (empty: none)")


class PublicMeasure(BaseModel):
    id: str
    kind: str = Field(description="sanction, incentive or watch")
    text: str
    basis: str
    department: str
    services: list[str] = Field(description="The service items it addresses (POST /api/v1/checks service_item)")
    pack: str
    cause: Literal["tier", "list"]
    cycle_id: int | None = Field(description="The cycle whose tier carries it (cause tier)")
    entry_id: int | None = Field(description="The list entry that carries it (cause list)")


class EntityView(BaseModel):
    party: Party
    as_of: dt.date
    tiers: list[Tier]
    entries: list[PublicEntry]
    measures: list[PublicMeasure]


class Change(BaseModel):
    id: int = Field(description="The event id: the cursor (pass the last one as after=)")
    seq: int = Field(description="The event's number in its entry's history")
    event: Literal["listed", "extended", "expired", "repaired", "cured", "revoked"]
    state: str = Field(description="The entry's state after the event")
    valid_from: dt.date = Field(description="The day the event takes legal effect")
    recorded_at: dt.datetime
    reason: str = Field(description="The reason recorded with the event (personal data masked)")
    entry_id: int
    party: Party
    entry: PublicEntry = Field(description="The entry as the public site shows it right after the event")


class ChangesPage(BaseModel):
    list: str
    list_title: str
    since: dt.datetime | None
    after: int | None
    changes: builtins.list[Change]  # builtins: the class has a `list` field
    next_after: int = Field(description="Give it as after= to continue: every event up to it has been considered")
    more: bool = Field(description="The page is full: ask again with after=next_after at once")


class FeedError(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


# -- the entity's public view -------------------------------------------------------------------------------


def _party(name: str | None, code: str, entity_type: str | None, operator: str | None) -> dict[str, str]:
    shown = public_party(name, code, entity_type, operator)
    label = ENTITY_TYPE_LABELS.get(entity_type or "", "其他组织")  # as the public site labels it
    return {"code": shown["code"], "name": shown["name"] or "未记载", "entity_type": label}


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    until = row["published_until"]
    return {
        "entry_id": row["entry_id"],
        "list": f"{row['pack']}.{row['list']}",
        "pack": row["pack"],
        "list_title": row["list_title"],
        "state": row["state"],
        "listed_from": row["listed_from"],
        "published_until": None if until == NO_END else until,
        "reason": row["reason"],
        "basis": row["basis"],
        "authority": row["authority"],
        "decision_no": row["decision_no"],
        "decision_doc": row["decision_doc"],
    }


def _notices(conn: Connection, ids: Sequence[int], day: dt.date) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for n in ql.notices_for(conn, ids):  # ordered by issued_on, id
        if n["issued_on"] <= day:
            out.setdefault(n["entry_id"], []).append(n)
    return out


def entity_view(store: Store, raw_code: str, as_of: dt.date | None = None) -> dict[str, Any]:
    """The public view of the entity with code ``raw_code`` on ``as_of`` (default today, China Standard Time).
    Raises CodeError for an invalid code, FeedError(404) for one not in the register."""
    day = as_of or dt.datetime.now(CHINA).date()
    code = resolve_code(raw_code)
    with store.read() as conn:
        e = qe.get_entity(conn, code)
        if e is None:
            shown = mask_person_id(code) if len(code) == 18 and code[:17].isdigit() else code
            raise FeedError(404, f"No entity with code {shown} in the register: check the code.", code=shown)
        tiers, measures = [], []
        for pack_id, cycle in sorted(qc.current_cycles(conn, day).items()):
            d = qc.decisions_of(conn, cycle["id"], [e["id"]]).get(e["id"])
            if d is None:
                continue
            outcome = d["result"] or {}
            meta = (cycle["pack_body"] or {}).get("pack") or {}
            tiers.append(
                {
                    "pack": pack_id,
                    "pack_title": meta.get("title") or pack_id,
                    "cycle_id": cycle["id"],
                    "revision": cycle["revision"],
                    "period": cycle["period"],
                    "cycle_as_of": cycle["as_of"],
                    "version": cycle["version"],
                    "tier": d["tier"],
                    "tier_label": outcome.get("tier_label") or d["tier"],
                }
            )
            for m in outcome.get("measures") or []:
                if str(m.get("rule", "")).startswith("list:"):
                    continue  # a list's measures apply through its published entries (below), never a tier's
                measures.append(_measure(m, pack_id, "tier", cycle_id=cycle["id"]))
        ids = ql.entry_ids(conn, entity_id=e["id"], ever="listed", ever_before=day)
        published = [x for x in load(conn, ids) if x.published_on(day)]
        notices = _notices(conn, [x.id for x in published], day)
        entries = []
        for x in published:
            entries.append(_entry({**public_row(x, day, notices.get(x.id, ()), e["legal_rep"]), "state": "listed"}))
            for mid, m in x.measures.items():
                measures.append(_measure({"id": mid, **m}, x.row["pack_id"], "list", entry_id=x.id))
    return {
        "party": _party(e["name"], code, e["entity_type"], e["legal_rep"]),
        "as_of": day,
        "tiers": tiers,
        "entries": entries,
        "measures": measures,
    }


def _measure(
    m: dict[str, Any], pack: str, cause: str, cycle_id: int | None = None, entry_id: int | None = None
) -> dict[str, Any]:
    return {
        "id": m["id"],
        "kind": m.get("kind") or "",
        "text": m.get("text") or "",
        "basis": m.get("basis") or "",
        "department": m.get("department") or "",
        "services": [str(s) for s in m.get("services") or []],
        "pack": pack,
        "cause": cause,
        "cycle_id": cycle_id,
        "entry_id": entry_id,
    }


# -- the delta feed -----------------------------------------------------------------------------------------


def parse_since(text: str | None) -> dt.datetime | None:
    """An ISO 8601 date and time (a date alone: the start of that day); without a zone China Standard Time."""
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        hint = " (write '+' as %2B in a query string)" if " " in text.strip() else ""
        raise FeedError(
            422,
            f"since '{text}' is not an ISO 8601 date and time{hint}; give e.g. 2026-11-01T00:00:00+08:00 "
            f"(without a zone China Standard Time).",
            param="since",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)


def _lists(conn: Connection) -> tuple[dict[str, str], dict[str, str]]:
    """(published, declared): PACK.LIST -> title of the lists that some stored version of their pack publishes
    (``publish: true``), and of every list a stored version declares (as the public site's catalogue, from the
    versions cycles stored: a pack's lists have a feed from its first cycle on)."""
    found = qf.declared_lists(conn)
    published: dict[str, str] = {}
    declared: dict[str, str] = {}
    for pack_id, name, ldef in found:
        key = f"{pack_id}.{name}"
        declared.setdefault(key, ldef.get("title") or name)
        if ldef.get("publish"):
            published[key] = ldef.get("title") or name  # the newest publishing version's title
    return published, declared


def _resolve_list(conn: Connection, list_id: str) -> tuple[str, str, str]:
    published, declared = _lists(conn)
    if list_id in published:
        pack_id, _, name = list_id.rpartition(".")
        return pack_id, name, published[list_id]
    if list_id in declared:
        raise FeedError(
            404,
            f"List '{list_id}' ({declared[list_id]}) is not published (publish: false in every version of its "
            f"pack): its entries are not public and it has no feed. Published lists: {', '.join(sorted(published))}.",
            list=list_id,
        )
    bare = [key for key in published if key.rpartition(".")[2] == list_id]
    hint = f" (lists named so: {', '.join(sorted(bare))})" if bare else did_you_mean(list_id, published)
    raise FeedError(
        404,
        f"No published list '{list_id}'{hint}; a list is named PACK.LIST, and the published lists are: "
        f"{', '.join(sorted(published)) or 'none'}.",
        list=list_id,
    )


def _change(ev: dict[str, Any], entry: Entry, operator: str | None, notices: list[dict[str, Any]]) -> dict[str, Any]:
    """The change of event ``ev``, with the entry as it stood right after it."""
    upto = Entry(entry.row, [x for x in entry.events if x["id"] <= ev["id"]], entry.regime)
    day = max(x["valid_from"] for x in upto.events)
    row = public_row(upto, day, [n for n in notices if n["issued_on"] <= day], operator)
    r = entry.row
    replace = replacements(
        [{"code": r["code"], "name": r["entity_name"], "entity_type": r.get("entity_type"), "legal_rep": operator}]
    )
    return {
        "id": ev["id"],
        "seq": ev["seq"],
        "event": ev["event"],
        "state": ev["state"],
        "valid_from": ev["valid_from"],
        "recorded_at": in_china(ev["recorded_at"]),
        "reason": masked(ev["reason"] or "", replace) or "未记载",
        "entry_id": entry.id,
        "party": _party(r["entity_name"], r["code"], r.get("entity_type"), operator),
        "entry": _entry({**row, "state": ev["state"]}),
    }


def _public(ev: dict[str, Any], entry: Entry) -> bool:
    if not entry.list_def.get("publish"):
        return False  # the entry lives under a version of its pack that does not publish the list
    if ev["event"] == "revoked":  # public only when it ends a listing, not when it ends a proposal
        return any(x["event"] == "listed" and x["seq"] < ev["seq"] for x in entry.events)
    return True


def changes(store: Store, list_id: str, since: str | None, after: int | None, limit: int = 100) -> dict[str, Any]:
    """A page of the changes of published list ``list_id`` (PACK.LIST) after event ``after`` and recorded at or
    after ``since`` (one of them given), in event id order. Raises FeedError (404 unknown or unpublished list, 422
    bad since or cursor)."""
    moment = parse_since(since)
    if moment is None and after is None:
        raise FeedError(422, "Give since=<ISO date and time> (the first call) or after=<cursor> (the next ones).")
    start = after or 0
    utc = moment.astimezone(dt.UTC) if moment else None  # as the store keeps its timestamps
    with store.read() as conn:
        pack_id, name, title = _resolve_list(conn, list_id)
        horizon, drawn = qf.settled(conn, start)
        if start > drawn:
            raise FeedError(
                422,
                f"Cursor after={start} is beyond the newest list event ({drawn}): give a next_after this feed returned.",
                param="after",
            )
        out: list[dict[str, Any]] = []
        cursor, nxt, more = start, horizon, False
        loaded: dict[int, Entry] = {}
        operators: dict[int, str | None] = {}
        notices: dict[int, list[dict[str, Any]]] = {}
        while True:
            rows = qf.events(conn, pack_id, name, PUBLIC_EVENTS, cursor, horizon, utc, SCAN)
            wanted = sorted({r["entry_id"] for r in rows} - set(loaded))
            for x in load(conn, wanted):
                loaded[x.id] = x
            operators.update(ql.operators(conn, {loaded[i].row["entity_id"] for i in wanted if i in loaded}))
            for n in ql.notices_for(conn, wanted):
                notices.setdefault(n["entry_id"], []).append(n)
            for ev in rows:
                entry = loaded[ev["entry_id"]]
                if not _public(ev, entry):
                    continue
                out.append(_change(ev, entry, operators.get(entry.row["entity_id"]), notices.get(entry.id, [])))
                if len(out) == limit:
                    nxt, more = ev["id"], True
                    break
            if more or len(rows) < SCAN:
                break
            cursor = rows[-1]["id"]
    return {
        "list": list_id,
        "list_title": title,
        "since": moment,
        "after": after,
        "changes": out,
        "next_after": max(nxt, start),
        "more": more,
    }


# -- the routes ---------------------------------------------------------------------------------------------


def add_routes(api: FastAPI, store: Store, prefix: str) -> None:
    """Add the routes of scope ``lists`` to the check service's application."""

    @api.get(
        f"{prefix}/entities/{{code}}",
        response_model=EntityView,
        responses={**REFUSALS, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    def get_entity(
        code: Annotated[str, Path(min_length=1, max_length=64, description="统一社会信用代码 or identity number")],
        app: Annotated[dict[str, Any], Depends(signed("lists"))],
        as_of: Annotated[dt.date | None, Query(description="The day to show (default today, CST)")] = None,
    ) -> dict[str, Any]:
        """The entity as the public site shows it (a natural person's name and number, a 个体工商户's operator
        masked), its current tiers (latest committed revision of each pack's current cycle), the list entries the
        public site publishes on the day (unpublished lists never) and the measures they carry."""
        try:
            return entity_view(store, code, as_of)
        except CodeError as exc:
            raise ApiError(422, str(exc), code=code) from exc
        except FeedError as exc:
            raise ApiError(exc.status, exc.message, **exc.extra) from exc
        except StoreError as exc:
            raise ApiError(503, f"The entity could not be read: {exc}") from exc

    @api.get(
        f"{prefix}/lists/{{list}}/changes",
        response_model=ChangesPage,
        responses={**REFUSALS, 404: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    )
    def get_changes(
        list_id: Annotated[str, Path(alias="list", min_length=1, max_length=200, description="PACK.LIST")],
        app: Annotated[dict[str, Any], Depends(signed("lists"))],
        since: Annotated[
            str | None,
            Query(
                max_length=64,
                description="ISO 8601 date and time (without a zone China Standard Time); required without after",
            ),
        ] = None,
        after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="The next_after of the last page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> dict[str, Any]:
        """The changes of a published list (entries listed, extended, expired, repaired, cured, revoked after
        listing) in event id order, for systems that keep a local copy; page with after=next_after."""
        try:
            return changes(store, list_id, since, after, limit)
        except FeedError as exc:
            raise ApiError(exc.status, exc.message, **exc.extra) from exc
        except StoreError as exc:
            raise ApiError(503, f"The changes could not be read: {exc}") from exc
