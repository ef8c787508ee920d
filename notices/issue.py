"""Issue notices: decide which notices a cycle, plan or list event calls for, number, store and write them.

Everything is read from the store (the committed cycle's decisions and outcomes, list entries and their events,
plan checks and assignments, the exact pack version used); nothing is recomputed. Each notice gets:

* a cause (``source_key``, unique in ``notices``): ``d<decision>:<kind>`` for a cycle decision,
  ``e<entry>:<event seq>:<kind>`` for a list event, ``k<check>:inspection`` for a plan check. Issuing the same
  cause again finds the stored notice and re-renders it from its stored context (identical bytes);
* a document number from the pack's pattern (version ``numbering``, default ``{prefix}〔{year}〕{seq}号``,
  prefix = pack ``document_prefix`` (else ``authority_short``) + the kind's abbreviation), taken from a counter
  row locked in the same transaction that stores the notice, so numbers are gap-free and unique;
* its full render context, template name, pack id/version and the SHA-256 of its text form.

两书同达: a pre-listing notice, and a listing on a sanction or watch list, always come with a
``repair_instructions`` notice (unless the list does not allow repair), whatever the pack's ``notices`` mapping
says.
"""

from __future__ import annotations

import datetime as dt
import json
import marshal
import os
import pathlib
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import authorities, deadlines
from engine.errors import NoticeError, PlanError, PolicyError, did_you_mean
from engine.evidence import (
    Evidence,
    cite,  # one citation rule for notices and explanations
    with_evidence,
)
from engine.outpaths import write_atomically
from engine.progress import collector_paused
from engine.register.codes import ENTITY_TYPE_LABELS, mask_person_id, normalize_code
from engine.store import Store, audit, chunked, now
from engine.store import notices as ns
from engine.store import records as records_q
from engine.store.cycles import get_cycle
from engine.store.plans import forced_entities
from engine.store.reports import outcome_counts, stored_notice_counts
from engine.values import has_cjk as _has_cjk
from engine.values import parse_date, period_cn
from notices.render import (
    FORMATS,
    KINDS,
    content_hash,
    fill,
    json_native,
    render,
    render_strict,
    require_kind,
    require_pdf_engine,
    strict_if_json,
)
from notices.results import IssuedNotices, NoticeList
from policies.loader import BOUNDS, version_from_body

DEFAULT_NUMBERING = "{prefix}〔{year}〕{seq}号"
CHUNK = 1000  # notices are numbered and stored in transactions of this many causes
LIST_KINDS = ("pre_listing", "repair_instructions", "removal_decision")
# list_events.event names (and the pack's notices mapping verbs) -> the pack's notices mapping key
EVENT_ALIASES = {
    "propose": "propose",
    "proposed": "propose",
    "list": "list",
    "listed": "list",
    "remove": "remove",
    "removed": "remove",
    "repaired": "remove",
    "expired": "remove",
    "revoked": "remove",
    "cured": "remove",
}
REMOVAL_REASONS = {
    "repaired": "经审核，{you}已纠正失信行为、履行相关义务并完成信用修复，符合移出条件",
    "expired": "{you}列入该名单的期限已届满",
    "revoked": "{you}被列入该名单所依据的决定已被依法撤销或者变更",
    "cured": "{you}已纠正导致被列入该名单的情形，列入事由已经消除",
    "removed": "经审核，{you}已符合移出该名单的条件",
    "remove": "经审核，{you}已符合移出该名单的条件",
}
REPAIR_REQUIREMENTS = {
    "obligations_fulfilled": (
        "已履行行政处罚、行政决定等确定的法定义务，纠正失信行为",
        "履行法定义务、纠正失信行为的证明材料（如缴款凭证、整改情况报告）",
    ),
    "commitment": (
        "作出信用承诺，并公开承诺内容",
        "信用修复承诺书（承诺所提交材料真实有效，并愿意承担违反承诺的责任）",
    ),
    "no_repeat_same_kind": ("自列入之日起未再发生同类失信行为", None),
    "no_heavier_penalty_since_listing": ("自列入之日起未再受到市场监督管理部门较重行政处罚", None),
    "training": ("参加信用修复专题培训", "信用修复专题培训证明"),
    "credit_report": ("提交信用报告", "依法设立的信用服务机构出具的信用报告"),
}
# Settings a caller (or `--set key=value`) may give; pack version `notice_settings` (when a pack has it) sits
# between these defaults and the caller's values. Every value ends up in the stored context.
DEFAULT_SETTINGS: dict[str, Any] = {
    "contact.person": None,
    "contact.phone": None,
    "contact.address": None,
    "warning.rectify_days": 15,
    "interview.days": 7,
    "interview.time": "09:30",
    "interview.at": None,
    "interview.place": None,
    "repair.channel": "“信用中国”网站（www.creditchina.gov.cn）或本机关政务服务窗口",
    "repair.decide_days": 10,
    "review.body": None,
    "review.days": 60,
    "review.court_months": 6,
    "inspection.start": None,
    "inspection.end": None,
    "inspection.basis": "《国务院办公厅关于推广随机抽查规范事中事后监管的通知》（国办发〔2015〕58号）",
    "rights.basis": "《国务院办公厅关于进一步完善失信约束制度构建诚信建设长效机制的指导意见》（国办发〔2020〕49号）",
}
_INT_SETTINGS = {"warning.rectify_days", "interview.days", "repair.decide_days", "review.days", "review.court_months"}
_DATE_SETTINGS = {"inspection.start", "inspection.end"}


# -- small helpers ------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _dedupe(items: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(str(item).strip(), None)
    return [s for s in seen if s]


def _bases(items: Iterable[str | None]) -> list[str]:
    """Citations without repeats; a bare 《title》 is dropped when the same title is also cited with an article."""
    cited = _dedupe(items)
    return [c for c in cited if not any(o != c and o.startswith(c) for o in cited)]


def resolve_settings(pack_body: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults <- pack version ``notice_settings`` <- ``given``; unknown keys are an error."""
    out = dict(DEFAULT_SETTINGS)
    layers = [
        ((pack_body.get("version") or {}).get("notice_settings") or {}, "the pack version's notice_settings"),
        (given or {}, "--set"),
    ]
    for layer, where in layers:
        flat = _flatten(layer)
        for key, value in flat.items():
            if key not in DEFAULT_SETTINGS:
                raise NoticeError(
                    f"Unknown notice setting '{key}' in {where}{did_you_mean(key, DEFAULT_SETTINGS)}; "
                    f"the settings are {', '.join(DEFAULT_SETTINGS)}."
                )
            if key in _INT_SETTINGS and value is not None:
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise NoticeError(
                        f"Notice setting '{key}' must be a whole number, not '{value}' ({where})."
                    ) from None
                lo, hi = BOUNDS["notice_settings.days_months"]
                if not lo <= value <= hi:
                    raise NoticeError(
                        f"Notice setting '{key}' must be a whole number from {lo} to {hi:,}, not {value} ({where})."
                    )
            if key in _DATE_SETTINGS and value is not None:
                try:
                    value = parse_date(value)
                except ValueError as exc:
                    raise NoticeError(f"Notice setting '{key}': {exc} ({where}).") from None
                if not dt.date(1949, 1, 1) <= value <= dt.date(2100, 12, 31):
                    raise NoticeError(
                        f"Notice setting '{key}': {value} is outside the dates supervise works with "
                        f"(1949-01-01 to 2100-12-31) ({where})."
                    )
                value = value.isoformat()  # stored in the context as text, like the other settings
            out[key] = value
    if out["inspection.start"] and out["inspection.end"] and out["inspection.end"] < out["inspection.start"]:
        raise NoticeError(
            f"Notice settings: inspection.end {out['inspection.end']} is before inspection.start "
            f"{out['inspection.start']}; give an end on or after the start."
        )
    return out


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def parse_settings(pairs: Iterable[str]) -> dict[str, str]:
    """``["interview.place=第一会议室", ...]`` -> dict (for ``--set``)."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise NoticeError(f"'--set {pair}' needs KEY=VALUE, e.g. --set interview.place=本局三楼会议室.")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


# -- numbering ------------------------------------------------------------------------------------


class _SeqSlot:
    def __format__(self, spec: str) -> str:
        return "{seq" + (f":{spec}" if spec else "") + "}"


def numbering(pack_body: Mapping[str, Any], kind: str, year: int, prefix: str | None = None) -> str:
    """The number template with only ``{seq...}`` left, e.g. ``泉税信提示〔2025〕{seq}号``.

    It is also the counter key: every pack, kind and year whose numbers look alike share one counter, so two
    packs of one authority can never hand out the same number."""
    pack = pack_body.get("pack") or {}
    version = pack_body.get("version") or {}
    pattern = version.get("numbering") or DEFAULT_NUMBERING
    where = f"pack '{pack.get('id')}' version '{version.get('version')}' numbering '{pattern}'"
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
    except ValueError as exc:
        raise NoticeError(f'The {where} is not a valid pattern ({exc}); e.g. "{DEFAULT_NUMBERING}".') from None
    if "seq" not in fields or fields - {"prefix", "year", "seq"}:
        raise NoticeError(
            f"The {where} must use {{seq}} and may use only {{prefix}}, {{year}} and {{seq}}; "
            f'e.g. "{DEFAULT_NUMBERING}" or "{{prefix}}〔{{year}}〕{{seq:05d}}号".'
        )
    prefix = (
        prefix or pack.get("document_prefix") or pack.get("authority_short") or pack.get("authority") or ""
    ) + KINDS[kind].abbr  # ``prefix``: the document prefix of the issuing authority of the entity's region
    template = pattern.format(prefix=prefix, year=year, seq=_SeqSlot())
    if len(template) > 120:
        raise NoticeError(f"The {where} gives numbers longer than 120 characters; shorten document_prefix.")
    return template


def format_number(template: str, seq: int) -> str:
    return template.format(seq=seq)


# -- contexts (pure functions: plain dicts in, plain JSON-able dict out) ---------------------------


def _basis_text(version: Mapping[str, Any], basis: Any) -> list[str]:
    """A basis as stored (text, doc id, {doc, article} or a list of them) -> citation strings."""
    docs = version.get("basis") or {}
    if not basis:
        return []
    if isinstance(basis, (list, tuple)):
        return [t for b in basis for t in _basis_text(version, b)]
    if isinstance(basis, Mapping):
        doc = docs.get(basis.get("doc"), {})
        title = doc.get("title") or basis.get("doc") or ""
        return [cite(title, basis.get("article"))] if title else []
    text = str(basis)
    if text in docs:
        return [cite(docs[text].get("title") or text)]
    return [text]


def _recipient(entity: Mapping[str, Any]) -> dict[str, Any]:
    person = entity.get("code_kind") == "person" or entity.get("entity_type") == "natural_person"
    code = str(entity.get("code") or "")
    return {
        "name": entity.get("name") or "",
        "is_person": person,
        "you": "你" if person else "你单位",
        "code_label": "公民身份号码" if person else "统一社会信用代码",
        # A notice to the party is not publication: the name stays, the identity number never appears in full.
        "code": mask_person_id(code) if person else code,
        "type_label": ENTITY_TYPE_LABELS.get(entity.get("entity_type") or "", "其他组织"),
        "legal_rep": None if person else (entity.get("legal_rep") or None),
    }


def issuing_authority(
    pack_body: Mapping[str, Any], entity: Mapping[str, Any], list_id: str | None = None, where: str = "the notice"
) -> dict[str, Any]:
    """The authority of the entity's region in the pack ({region, name, short, document_prefix}); an error
    naming the entity when the pack names authorities and none covers its region."""
    pack = pack_body.get("pack") or {}
    ldef = ((pack_body.get("version") or {}).get("lists") or {}).get(list_id) if list_id else None
    found = authorities.for_region(pack, entity.get("region"), ldef)
    if found is None:
        raise NoticeError(
            f"{where}: entity {entity.get('code')} ({entity.get('name') or ''}) is in region "
            f"{entity.get('region') or '(none)'}, outside every issuing authority of pack "
            f"{pack.get('id')} ({authorities.covered(pack)}); add an authority for its region under "
            f"'authorities:' in the pack."
        )
    return found


_SHARED_KEPT = "kept"  # Shared.parts key of the objects whose ids the other keys hold (kept alive, so ids stay theirs)


class Shared:
    """What the contexts of one run share: the parts of a context that depend only on the pack version, the
    settings, the list and such (the issuing authority, the list, its measures, the repair conditions ...), made
    once and referred to by every context that has them, instead of rebuilt for each notice. The parts are never
    changed after they are made (a context is changed at its top level only: its number); :meth:`strict` keeps
    their strict forms (notices.render), so rendering a text form converts them once as well. A caller keeps one
    for a run whose pack bodies and settings do not change (the objects are known by id and kept alive here)."""

    def __init__(self) -> None:
        self.parts: dict[Any, Any] = {_SHARED_KEPT: {}}
        self.strict: dict[int, Any] = {}  # id of a part -> its strict form (notices.render._strict_json)
        # The last party's parts (its recipient, the findings of its decision): the notices of one entry or decision
        # are built one after the other; the objects they were made from are held, so their ids stay theirs.
        self.last: dict[str, tuple[tuple, Any]] = {}

    def of_last(self, what: str, objects: tuple, make: Callable[[], Any]) -> Any:
        """``make()`` for these very ``objects``, made again only when they differ from the last call's."""
        held = self.last.get(what)
        if held is not None and len(held[0]) == len(objects) and all(a is b for a, b in zip(held[0], objects)):
            return held[1]
        value = make()
        self.last[what] = (objects, value)
        return value

    def key(self, *objects: Any) -> tuple[int, ...]:
        kept = self.parts[_SHARED_KEPT]
        for obj in objects:
            kept[id(obj)] = obj
        return tuple(map(id, objects))

    def part(self, key: tuple, make: Callable[[], Any]) -> Any:
        try:
            return self.parts[key]
        except KeyError:
            value = self.parts[key] = make()
            if isinstance(value, (dict, list)):
                self.strict.setdefault(id(value), None)  # converted on first render
            return value


def _part(shared: Shared | None, key: tuple, make: Callable[[], Any]) -> Any:
    """``make()``, made once per ``key`` when the caller shares the run's parts (:class:`Shared`)."""
    return make() if shared is None else shared.part(key, make)


def _common(
    kind: str,
    pack_body: Mapping[str, Any],
    entity: Mapping[str, Any],
    issued_on: dt.date,
    settings: Mapping[str, Any],
    *,
    authority: Mapping[str, Any] | None = None,
    title: str | None = None,
    shared: Shared | None = None,
) -> dict[str, Any]:
    pack = pack_body.get("pack") or {}
    version = pack_body.get("version") or {}
    authority = authority or authorities.for_region(pack, None, None) or {}
    ids = shared.key(pack_body, settings, authority) if shared is not None else ()
    return {
        "kind": kind,
        "title": title or KINDS[kind].title,
        "number": None,
        "issued_on": issued_on.isoformat(),
        "authority": _part(
            shared,
            ("authority", *ids),
            lambda: {
                "name": authority.get("name") or pack.get("authority") or "",
                "document_prefix": authority.get("document_prefix"),
                "contact_person": settings["contact.person"],
                "phone": settings["contact.phone"],
                "address": settings["contact.address"],
            },
        ),
        "recipient": _recipient(entity)
        if shared is None
        else shared.of_last("recipient", (entity,), lambda: _recipient(entity)),
        "pack": _part(
            shared,
            ("pack", *ids[:1]),
            lambda: {
                "id": pack.get("id"),
                "title": pack.get("title") or "",
                "version": version.get("version"),
                "version_title": version.get("title") or "",
            },
        ),
        "review": _part(
            shared,
            ("review", *ids[1:2]),
            lambda: {
                "body": settings["review.body"],
                "days": settings["review.days"],
                "court_months": settings["review.court_months"],
            },
        ),
    }


def _list_info(version: Mapping[str, Any], list_id: str, where: str) -> dict[str, Any]:
    lists = version.get("lists") or {}
    if list_id not in lists:
        raise NoticeError(
            f"{where} refers to list '{list_id}', which the pack version does not define"
            f"{did_you_mean(list_id, lists)}; the notice cannot be built."
        )
    d = lists[list_id]
    return {
        "id": list_id,
        "title": d.get("title") or list_id,
        "kind": d.get("kind") or "sanction",
        "objection_days": int(d.get("objection_days") or 0),
        "min_months": int(d.get("min_months") or 0),
        "max_months": int(d.get("max_months") or 0),
        "publish": bool(d.get("publish", False)),
    }


def _list_measures(version: Mapping[str, Any], list_id: str) -> list[dict[str, Any]]:
    catalogue = version.get("measures") or {}
    out = []
    for mid in ((version.get("lists") or {}).get(list_id) or {}).get("measures") or []:
        m = catalogue.get(mid) or {}
        out.append({"id": mid, "text": m.get("text") or mid, "department": m.get("department") or ""})
    return out


def _result_measures(result: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        {"id": m.get("id"), "text": m.get("text") or m.get("id") or "", "department": m.get("department") or ""}
        for m in result.get("measures") or []
        if m.get("kind") == kind
    ]


def _findings(
    result: Mapping[str, Any], facts: Mapping[str, Any], evidence: Mapping[str, Any] | None = None
) -> tuple[list[str], list[Any]]:
    """The tier reasons that decided or fired (filled from the decision's facts), each with the records behind
    it (``evidence``: rule id -> items, engine.evidence), and their bases."""
    own = {e.get("rule") for key in ("lists", "measures", "notices") for e in result.get(key) or []}
    rows = [
        r for r in result.get("reasons") or [] if r.get("outcome") in ("decisive", "fired") and r.get("rule") not in own
    ]
    rows.sort(key=lambda r: r.get("outcome") != "decisive")
    evidence = evidence or {}
    return (
        _dedupe(with_evidence(fill(r.get("why") or r.get("reason"), facts), evidence.get(r.get("rule"))) for r in rows),
        [r.get("basis") for r in rows],
    )


class _Evidence:
    """The records behind the reasons of stored decisions (engine.evidence), read as each decision's cycle saw
    them: dated on or before its as-of date, in the versions known at its knowledge date. One engine per cycle."""

    def __init__(self) -> None:
        self.engines: dict[int, tuple[Evidence, dt.date, Any] | None] = {}

    def engine(self, conn, cycle: Mapping[str, Any] | None, cycle_id: int | None) -> tuple | None:
        if cycle_id is None:
            return None
        if cycle_id not in self.engines:
            cycle = cycle if cycle is not None and cycle.get("id") == cycle_id else get_cycle(conn, cycle_id)
            as_of = _as_date(cycle["as_of"])
            assert as_of is not None  # cycles.as_of is NOT NULL
            try:
                version = version_from_body(cycle["pack_body"])
            except PolicyError:  # a body that no longer builds (hand-made in tests): the reasons stand alone
                self.engines[cycle_id] = None
            else:
                self.engines[cycle_id] = (
                    Evidence(version, as_of),
                    as_of,
                    cycle.get("known_at") or cycle.get("started_at"),
                )
        return self.engines[cycle_id]

    def of(
        self,
        conn,
        cycle: Mapping[str, Any] | None,
        cycle_id: int | None,
        items: Sequence[tuple[int, Mapping[str, Any] | None, Mapping[str, Any] | None]],
    ) -> list[dict[str, list]]:
        """For ``(entity id, facts, result)`` triples of one cycle: ``{rule id: [record citations]}`` each."""
        found = self.engine(conn, cycle, cycle_id)
        if found is None or not items:
            return [{} for _ in items]
        engine, as_of, started = found
        records = records_q.records_of(conn, [i[0] for i in items], as_of, engine.record_kinds, started)
        return [
            engine.for_reasons(records.get(entity_id, ()), facts or {}, (result or {}).get("reasons") or [])
            for entity_id, facts, result in items
        ]


def _chunk_evidence(
    conn,
    entries: Sequence[Mapping[str, Any]],
    evidence: _Evidence,
    result_of: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
    cycle: Mapping[str, Any] | None = None,
) -> dict[int, dict[str, list]]:
    """The records behind each decided entry's reasons (:meth:`_Evidence.of`), by entry id, for a chunk of entries
    at once: one read per cycle, not one an entry. ``result_of`` gives an entry's outcome result."""
    by_cycle: dict[int | None, list[Mapping[str, Any]]] = {}
    for e in entries:
        if e.get("decision_id"):
            by_cycle.setdefault(e.get("cycle_id"), []).append(e)
    out: dict[int, dict[str, list]] = {}
    for cycle_id, group in by_cycle.items():
        items = [(e["entity_id"], e.get("facts") or {}, result_of(e) or {}) for e in group]
        out.update({e["id"]: found for e, found in zip(group, evidence.of(conn, cycle, cycle_id, items))})
    return out


def _tier(result: Mapping[str, Any], period: str | None) -> dict[str, Any] | None:
    if not result.get("tier"):
        return None
    return {
        "code": result.get("tier"),
        "label": result.get("tier_label") or result.get("tier"),
        "period": period,
        "period_label": _period_label(period),
    }


def _period_label(period: str | None) -> str | None:
    return period_cn(period) if period else None


def _repair(
    version: Mapping[str, Any], list_id: str, listed_on: dt.date | None, settings: Mapping[str, Any], issued_on: dt.date
) -> dict[str, Any]:
    d = (version.get("lists") or {}).get(list_id) or {}
    rep = d.get("repair") or {}
    allowed = bool(rep.get("allowed", False))
    min_months = int(rep.get("min_months", d.get("min_months") or 0) or 0)
    requires = list(rep.get("requires") or ["obligations_fulfilled", "commitment"])
    conditions = [REPAIR_REQUIREMENTS.get(r, (r, None))[0] for r in requires]
    materials = ["信用修复申请书", "主体身份证明材料（营业执照副本复印件或者身份证件复印件）"]
    materials += [m for r in requires if r in REPAIR_REQUIREMENTS for m in (REPAIR_REQUIREMENTS[r][1],) if m]
    limit = rep.get("max_repairs") or {}
    max_repairs = (
        f"{int(limit['years'])}年内信用修复次数不超过{int(limit['count'])}次"
        if limit.get("count") and limit.get("years")
        else None
    )
    basis = (
        "《信用修复管理办法》（国家发展和改革委员会）"
        if issued_on >= dt.date(2026, 4, 1)
        else "《失信行为纠正后的信用信息修复管理办法（试行）》（国家发展和改革委员会令第58号）"
    )
    return {
        "allowed": allowed,
        "min_months": min_months,
        "listed_on": _iso(listed_on),
        "earliest": _iso(deadlines.repair_earliest(d, listed_on)) if listed_on else None,
        "conditions": conditions,
        "materials": _dedupe(materials),
        "max_repairs": max_repairs,
        "cooldown_months": rep.get("cooldown_months"),
        "decide_days": int(rep.get("decide_days") or settings["repair.decide_days"]),
        "channel": settings["repair.channel"],
        "basis": basis,
        "free": True,
    }


def build_context(
    kind: str,
    *,
    pack_body: Mapping[str, Any],
    entity: Mapping[str, Any],
    issued_on: dt.date,
    settings: Mapping[str, Any] | None = None,
    result: Mapping[str, Any] | None = None,
    facts: Mapping[str, Any] | None = None,
    notice: Mapping[str, Any] | None = None,
    list_id: str | None = None,
    list_reason: str | None = None,
    list_basis: Any = None,
    listed_on: dt.date | None = None,
    event: Mapping[str, Any] | None = None,
    check: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
    period: str | None = None,
    with_repair: bool = False,
    where: str = "the notice",
    evidence: Mapping[str, list] | None = None,
    summary_rule: str | None = None,
    objection_deadline: dt.date | None = None,
    signed: Mapping[str, Any] | None = None,
    shared: Shared | None = None,
) -> dict[str, Any]:
    """The render context of one notice (JSON-able; stored with the notice). Pure: no database.

    ``shared``: the parts the run's contexts share (:class:`Shared`), made once for all of them; the context is the
    same with or without it.

    ``signed``: the two names of a two-step decision (lists/approvals.py: proposed_by/on 初审, approved_by/on 审核);
    the context has ``signed`` only then (an admin's one-step decision and the automatic ones sign nothing more
    than the authority's seal), and the notice prints both names and dates above the signature.

    ``evidence`` (rule id -> record citations, engine.evidence) names the records behind each finding and behind
    the summary (the reason of rule ``summary_rule``); it is stored in the context as it is.
    Every date it states comes from :mod:`engine.deadlines`; a pre-listing notice states ``objection_deadline``,
    the deadline stored when it was served (without one, service on ``issued_on`` is assumed)."""
    require_kind(kind)
    settings = settings if settings is not None else resolve_settings(pack_body, None)
    version = pack_body.get("version") or {}
    result = result or {}
    facts = facts or {}
    notice = notice or {}
    vid = shared.key(version) if shared is not None else ()
    linfo = _part(shared, ("list", *vid, list_id), lambda: _list_info(version, list_id, where)) if list_id else None
    authority = _part(
        shared,
        ("issuer", *(shared.key(pack_body) if shared is not None else ()), entity.get("region"), list_id),
        lambda: issuing_authority(pack_body, entity, list_id, where),
    )
    title = None
    if linfo and kind == "pre_listing":
        title = f"列入{linfo['title']}告知书"
    elif linfo and kind == "removal_decision":
        title = f"移出{linfo['title']}决定书"
    ctx = _common(kind, pack_body, entity, issued_on, settings, authority=authority, title=title, shared=shared)
    you = ctx["recipient"]["you"]
    given = evidence
    evidence = dict(evidence or {})
    if shared is not None and given:
        findings, finding_basis = shared.of_last(
            "findings", (result, facts, given), lambda: _findings(result, facts, evidence)
        )
    else:
        findings, finding_basis = _findings(result, facts, evidence)
    summary = fill(notice.get("reason"), facts) or fill(list_reason, facts) or None
    shown = "".join(findings)

    def with_records(text: str) -> str:  # the summary's records, unless a finding names them already
        cited = evidence.get(summary_rule) if summary_rule is not None else None
        return with_evidence(text, [i for i in cited or [] if i["text"] not in shown])

    summary = with_records(summary) if summary else None
    ctx["tier"] = _part(
        shared if result else None,
        ("tier", *(shared.key(result) if shared is not None else ()), period),
        lambda: _tier(result, period),
    )
    ctx["summary"] = summary
    ctx["facts"] = findings
    ctx["evidence"] = evidence
    ctx["list"] = linfo

    if kind == "warning":
        days = int(notice.get("days") or settings["warning.rectify_days"])
        ctx["basis"] = _bases(_basis_text(version, notice.get("basis")) + _basis_text(version, finding_basis))
        ctx["measures"] = _part(
            shared if result else None,
            ("sanctions", *(shared.key(result) if shared is not None else ())),
            lambda: _result_measures(result, "sanction"),
        )
        ctx["rectify"] = _part(
            shared,
            ("rectify", *vid, issued_on, days),
            lambda: {"days": days, "deadline": deadlines.rectify_by(version, issued_on, days).isoformat()},
        )
    elif kind == "interview":
        at = notice.get("at") or settings["interview.at"]
        if at:
            moment = dt.datetime.fromisoformat(str(at))
        else:
            day = deadlines.interview_day(version, issued_on, int(settings["interview.days"]))
            hh, mm = (int(x) for x in str(settings["interview.time"]).split(":"))
            moment = dt.datetime(day.year, day.month, day.day, hh, mm)
        place = (
            notice.get("place")
            or settings["interview.place"]
            or settings["contact.address"]
            or f"{ctx['authority']['name']}（具体地点以电话通知为准）"
        )
        bring = (
            ["本人身份证件", "整改情况说明及相关证明材料"]
            if ctx["recipient"]["is_person"]
            else [
                "营业执照副本复印件",
                "法定代表人身份证明或者授权委托书及受托人身份证件",
                "整改情况说明及相关证明材料",
            ]
        )
        ctx["basis"] = _bases(_basis_text(version, notice.get("basis")) + _basis_text(version, finding_basis))
        ctx["interview"] = {
            "at": moment.isoformat(timespec="minutes"),
            "place": place,
            "attendee": "本人" if ctx["recipient"]["is_person"] else "法定代表人或者主要负责人",
            "bring": bring,
        }
    elif kind == "commendation":
        ctx["basis"] = _bases(
            _basis_text(version, notice.get("basis"))
            + _basis_text(version, list_basis)
            + _basis_text(version, finding_basis)
        )
        ctx["measures"] = (_list_measures(version, list_id) if list_id else []) or _result_measures(result, "incentive")
    elif kind in LIST_KINDS:
        if not linfo:
            raise NoticeError(
                f"{where}: a '{kind}' notice needs a list, and none is named (the notice entry has no "
                f"'list' and the outcome proposes none); add the list to the rule or issue it from the "
                f"list entry."
            )
        assert list_id is not None  # linfo is read from it
        ctx["summary"] = fill(list_reason, facts) or summary
        ctx["summary"] = with_records(ctx["summary"]) if ctx["summary"] else None
        ctx["basis"] = _bases(_basis_text(version, list_basis) + _basis_text(version, notice.get("basis")))
        ctx["measures"] = _part(shared, ("measures", *vid, list_id), lambda: _list_measures(version, list_id))
        if kind == "pre_listing":
            days = linfo["objection_days"]
            ldef = (version.get("lists") or {}).get(list_id) or {}
            end = objection_deadline or deadlines.objection_end(version, ldef, issued_on)
            ctx["objection"] = {
                "days": days,
                "deadline": end.isoformat(),
                **deadlines.describe(version, "objection", days),
                "hearing": True,
                "rights_basis": settings["rights.basis"],
            }
            ctx["with_repair"] = with_repair
        elif kind == "repair_instructions":
            ctx["repair"] = _part(
                shared,
                ("repair", *vid, *(shared.key(settings) if shared is not None else ()), list_id, listed_on, issued_on),
                lambda: _repair(version, list_id, listed_on, settings, issued_on),
            )
            # The conditions are those of the way out by repair: cite its article (removal_basis.repaired, e.g.
            # Order 44 Art.20) rather than the article the entry is listed under.
            repaired = (((version.get("lists") or {}).get(list_id) or {}).get("removal_basis") or {}).get("repaired")
            if repaired and ctx["repair"]["allowed"]:
                ctx["basis"] = _part(
                    shared, ("repaired", *vid, list_id), lambda: _bases(_basis_text(version, repaired))
                )
            ctx["listed"] = listed_on is not None
        else:
            name = (event or {}).get("event") or "removed"
            reason = (event or {}).get("reason") or ""
            if not _has_cjk(reason):  # automatic events carry a technical English note, not a reason for the party
                reason = REMOVAL_REASONS.get(name, REMOVAL_REASONS["removed"])
            effective = _as_date((event or {}).get("valid_from")) or issued_on
            # The list's removal_basis names the article of this way out (e.g. early removal: Order 44 Art.20),
            # in place of the article the entry was listed under.
            removal_basis = (((version.get("lists") or {}).get(list_id) or {}).get("removal_basis") or {}).get(name)
            if removal_basis:
                ctx["basis"] = _part(
                    shared, ("removal", *vid, list_id, name), lambda: _bases(_basis_text(version, removal_basis))
                )
            ctx["removal"] = {
                "event": name,
                "reason": you + reason if reason.startswith("被") else reason.replace("{you}", you),
                "listed_on": _iso(listed_on),
                "effective_on": effective.isoformat(),
            }
    elif kind == "inspection":
        check = check or {}
        items = _inspection_item_titles(check, plan, version)
        labels = (version.get("tiers") or {}).get("labels") or {}
        tier = check.get("tier")
        params = (plan or {}).get("params") or {}
        ctx["tier"] = (
            {"code": tier, "label": labels.get(tier, tier), "period": period, "period_label": _period_label(period)}
            if tier
            else None
        )
        ctx["basis"] = _bases(
            [settings["inspection.basis"]] + _basis_text(version, (version.get("inspection") or {}).get("basis"))
        )
        ctx["inspection"] = {
            "plan_id": (plan or {}).get("id"),
            "seq": check.get("seq"),
            "reason": check.get("reason") or "sampled",
            "check_items": items or ["依法应当检查的其他事项"],
            "inspectors": [
                {"name": i["name"], "code": i["code"], "department": i.get("department") or ""}
                for i in check.get("inspectors") or []
            ],
            "start": _iso(settings["inspection.start"] or params.get("start")),
            "end": _iso(settings["inspection.end"] or params.get("end")),
        }
        if not ctx["inspection"]["inspectors"]:
            raise NoticeError(
                f"{where}: plan check {check.get('id')} has no inspectors assigned; an inspection "
                f"notice names at least two. Assign inspectors to the plan first."
            )
    if signed and not signed.get("single_step") and signed.get("proposed_by") and signed.get("approved_by"):
        ctx["signed"] = {
            "proposed_by": str(signed["proposed_by"]),
            "proposed_on": str(signed["proposed_on"]),
            "approved_by": str(signed["approved_by"]),
            "approved_on": str(signed["approved_on"]),
        }
    return ctx


def _inspection_item_titles(
    check: Mapping[str, Any], plan: Mapping[str, Any] | None, version: Mapping[str, Any]
) -> list[str]:
    """The Chinese titles of a plan check's inspection items (随机抽查事项).

    A drawn check stores ``{"items": [item ids], "region", "township", "ratio"}`` (older rows a bare list of
    ids or of ``{id, title}``); titles come from the items the plan logged when it was drawn, else from the
    pack version's ``inspection.items`` (a mapping id -> {title} or a list of {id, title})."""
    raw = check.get("items")
    if isinstance(raw, Mapping):
        raw = raw.get("items")
    titles: dict[str, str] = {}
    pack_items = (version.get("inspection") or {}).get("items") or {}
    entries = (
        pack_items.items()
        if isinstance(pack_items, Mapping)
        else ((e.get("id"), e) for e in pack_items if isinstance(e, Mapping))
    )
    for key, spec in entries:
        title = spec.get("title") if isinstance(spec, Mapping) else spec
        if key is not None and title:
            titles[str(key)] = str(title)
    for logged in ((plan or {}).get("params") or {}).get("items") or []:
        if isinstance(logged, Mapping) and logged.get("id") is not None and logged.get("title"):
            titles[str(logged["id"])] = str(logged["title"])
    out = []
    for item in raw or []:
        if isinstance(item, Mapping):
            key = item.get("id")
            title = item.get("title") or titles.get(str(key))
        else:
            key, title = item, titles.get(str(item))
        if not title:
            raise NoticeError(
                f"Inspection item '{key}' of plan check {check.get('id')} has no title in the plan or "
                f"in the pack's inspection.items; give it a title (the Chinese name of the "
                f"随机抽查事项) in the pack."
            )
        if title not in out:
            out.append(str(title))
    return out


# -- causes and issuing ---------------------------------------------------------------------------


@dataclass
class Cause:
    """One notice to issue: why (source_key), for whom, and its context (number still empty)."""

    source_key: str
    kind: str
    entity_id: int
    pack_body: Mapping[str, Any]
    pack_id: str | None
    pack_version: str | None
    context: dict[str, Any]
    cycle_id: int | None = None
    decision_id: int | None = None
    entry_id: int | None = None
    check_id: int | None = None
    issued_on: dt.date | None = None  # the notice's own date when it differs from the run's (served notices)


@dataclass
class IssueReport:
    """What an issuing run did: new notices, ones already issued (re-written), causes skipped and why."""

    source: str
    issued_on: str
    out: str | None
    formats: tuple[str, ...]
    issued: list[dict] = field(default_factory=list)
    already: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    files: int = 0

    def by_kind(self, rows: list[dict]) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in rows:
            out[r["kind"]] = out.get(r["kind"], 0) + 1
        return {k: out[k] for k in KINDS if k in out}

    def as_dict(self) -> IssuedNotices:
        return IssuedNotices(
            {
                "source": self.source,
                "issued_on": self.issued_on,
                "out": self.out,
                "formats": list(self.formats),
                "issued_count": len(self.issued),
                "already_count": len(self.already),
                "issued_by_kind": self.by_kind(self.issued),
                "already_by_kind": self.by_kind(self.already),
                "files": self.files,
                "skipped": self.skipped,
                "changed": self.changed,
                "issued": self.issued,
                "already": self.already,
            }
        )


def _summary(row: Mapping[str, Any], files: list[str]) -> dict[str, Any]:
    recipient = row["context"]["recipient"]
    return {
        "number": row["number"],
        "kind": row["kind"],
        "recipient": recipient["name"],
        "code": recipient["code"],
        "source_key": row["source_key"],
        "files": files,
    }


def _store_causes(
    conn,
    causes: Sequence[Cause],
    issued_on: dt.date,
    templates: Any,
    sealer: _Sealer | None = None,
    shared: Shared | None = None,
) -> tuple[list[dict], list[dict]]:
    """Inside one transaction: lock, skip causes already issued, number the rest and store them (through
    ``sealer``, which may still hold them when this returns: the caller drains it before committing; without one,
    stored at once; ``shared``: the parts the causes' contexts share, for the text forms rendered here)."""
    own = sealer is None
    if sealer is None:
        sealer = _Sealer(templates, parallel=False)
        if shared is not None:
            sealer.memo["shared"] = shared
    ns.lock_issuing(conn)
    if sealer.holds(c.source_key for c in causes):  # a cause numbered ahead but not stored yet: store it first
        sealer.drain(conn)
    existing = ns.notices_by_source_keys(conn, [c.source_key for c in causes])
    new: list[Cause] = []
    seen: set[str] = set()
    for c in causes:
        if c.source_key not in existing and c.source_key not in seen:
            seen.add(c.source_key)
            new.append(c)
    groups: dict[str, list[Cause]] = {}
    for c in new:
        key = numbering(
            c.pack_body,
            c.kind,
            (c.issued_on or issued_on).year,
            (c.context.get("authority") or {}).get("document_prefix"),
        )
        groups.setdefault(key, []).append(c)
    current = ns.lock_counters(conn, groups)
    stamp = now()
    rows: list[dict] = []
    for key in sorted(groups):
        seq = current[key]
        for c in groups[key]:
            seq += 1
            c.context["number"] = format_number(key, seq)
            rows.append(
                {
                    "number": c.context["number"],
                    "kind": c.kind,
                    "entity_id": c.entity_id,
                    "cycle_id": c.cycle_id,
                    "decision_id": c.decision_id,
                    "entry_id": c.entry_id,
                    "check_id": c.check_id,
                    "source_key": c.source_key,
                    "template": c.kind,
                    "pack_id": c.pack_id,
                    "pack_version": c.pack_version,
                    "content_hash": None,  # set by the sealer: SHA-256 of the text form
                    "context": c.context,
                    "issued_on": c.issued_on or issued_on,
                    "issued_at": stamp,
                }
            )
        ns.set_counter(conn, key, seq)
    sealer.add(conn, rows)
    if own:
        sealer.drain(conn)
    order = {c.source_key: i for i, c in enumerate(causes)}
    rows.sort(key=lambda r: order[r["source_key"]])
    old = sorted(existing.values(), key=lambda r: order.get(r["source_key"], 0))
    return rows, old


SEAL_PARALLEL_MIN = 2000  # a run that may store at least this many notices renders their text forms in workers
# ... on a machine with at least this many cores: on 2 the workers took the core the main process needs, and the
# main process, which bounds the run, saved little (what rendering costs it there, handing the contexts over costs
# it too): serve and advance of 5,000 entries were 2-3 times slower in wall time with them (README "Benchmarks")
SEAL_PARALLEL_CORES = 3
_SEAL_BATCH = 250  # notices per sealing job
_SEAL_AHEAD = 2  # numbered chunks a sealer holds at most before storing the oldest (the workers' queue)


def _seal_job(items: Sequence[tuple[str, str | bytes]], templates: Any) -> list[str]:
    """The content hashes of numbered notices given as (template, context): the text form rendered from the
    context as stored and hashed. Runs in a worker process for large runs; the context crosses as its JSON text as
    stored, or marshalled when JSON keeps it as it is (:func:`notices.render.json_native`: the same context, decoded
    in half the time; either far cheaper than the pickled dict)."""
    return [
        content_hash(render(template, marshal.loads(c) if type(c) is bytes else json.loads(c), "txt", templates))
        for template, c in items
    ]


class _Sealer:
    """Stores numbered notices with their content hash (their text form rendered) and context JSON: computed here
    (the text form rendered from the context in memory, :func:`notices.render.strict_if_json`), or for large runs on
    machines with :data:`SEAL_PARALLEL_CORES` cores in worker processes (from the stored JSON text) while this
    process reads, builds and numbers the next chunk. Rows are
    inserted in the order they were numbered, in the caller's transaction: :meth:`drain` stores all it holds and
    must run before that transaction commits; :meth:`close` stops the workers (nothing held is stored)."""

    def __init__(self, templates: Any, parallel: bool):
        self.templates = templates
        self.pool: Any = None
        self.pending: list[tuple[list[dict], list[Any]]] = []  # (rows, futures of their seal jobs), oldest first
        self.keys: set[str] = set()  # source keys of the rows held
        self.memo: dict[str, Any] = {}  # what issuing reads once for the run (outcomes, evidence, pack versions)
        if parallel:
            import concurrent.futures
            import multiprocessing

            workers = max(1, min(2, (os.cpu_count() or 1)))
            # spawn: a worker must not inherit this process's database connections
            self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def __enter__(self) -> _Sealer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def holds(self, keys: Iterable[str]) -> bool:
        return bool(self.keys) and not self.keys.isdisjoint(keys)

    def add(self, conn, rows: list[dict]) -> None:
        if not rows:
            return
        for r in rows:  # serialised as the JSON column serialises it (json.dumps), once: stored and sent as it is
            r["_json"] = json.dumps(r["context"])
        if self.pool is None:  # the text form rendered from the context as stored, without decoding its JSON
            shared = self.memo.get("shared")
            memo = shared.strict if shared is not None else None
            hashes = []
            for r in rows:
                strict = strict_if_json(r["context"], memo)
                if strict is None:  # JSON changes something in it: the text of the context as decoded
                    text = render(r["template"], json.loads(r["_json"]), "txt", self.templates)
                else:
                    text = render_strict(r["template"], strict, "txt", self.templates)
                    r["_native"] = True  # JSON's own types only: marshal gives the file writers the same context
                hashes.append(content_hash(text))
            self._insert(conn, rows, hashes)
            return
        items = [
            (r["template"], marshal.dumps(r["context"]) if json_native(r["context"]) else r["_json"]) for r in rows
        ]
        futures = [
            self.pool.submit(_seal_job, items[i : i + _SEAL_BATCH], self.templates)
            for i in range(0, len(rows), _SEAL_BATCH)
        ]
        self.pending.append((list(rows), futures))  # a copy: the caller may reorder its list
        self.keys.update(r["source_key"] for r in rows)
        while len(self.pending) > _SEAL_AHEAD:
            self._store_oldest(conn)

    def drain(self, conn) -> None:
        while self.pending:
            self._store_oldest(conn)

    def _store_oldest(self, conn) -> None:
        rows, futures = self.pending.pop(0)
        sealed = [item for future in futures for item in future.result()]
        self.keys.difference_update(r["source_key"] for r in rows)
        self._insert(conn, rows, sealed)

    @staticmethod
    def _insert(conn, rows: list[dict], hashes: list[str]) -> None:
        for row, digest in zip(rows, hashes):
            row["content_hash"] = digest
        ns.insert_notices(conn, rows, [row["_json"] for row in rows])  # kept: the file writers are sent it too

    def close(self) -> None:
        if self.pool is not None:
            for _, futures in self.pending:
                for future in futures:
                    future.cancel()
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        self.pending, self.keys = [], set()


def sealer(templates: Any = None, size: int = 0) -> _Sealer:
    """A sealer for a run that may store ``size`` notices in one transaction (worker processes from
    :data:`SEAL_PARALLEL_MIN` on a machine with :data:`SEAL_PARALLEL_CORES` cores or more); use it as a context
    manager, pass it to :func:`issue_for_list_events` and :meth:`_Sealer.drain` it before the transaction commits."""
    return _Sealer(templates, parallel=size >= SEAL_PARALLEL_MIN and (os.cpu_count() or 1) >= SEAL_PARALLEL_CORES)


_UNSAFE = str.maketrans({**{c: "_" for c in '/\\:*?"<>|'}, **{chr(i): "_" for i in range(32)}})


def safe_filename(number: str) -> str:
    """A document number as a file name (Chinese characters and 〔〕 are kept; path separators are not)."""
    return number.translate(_UNSAFE)


def write_files(
    row: Mapping[str, Any],
    out: pathlib.Path,
    formats: Sequence[str],
    templates: Any,
    pdf_engine: str | None = None,
) -> list[str]:
    """Render a stored notice in each format and write ``out/<number>.<fmt>``; returns the paths. The PDF is
    made by ``pdf_engine`` (notices.render.PDF_ENGINES, default notices.render.PDF_ENGINE)."""
    paths = []
    name = safe_filename(row["number"])
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        content = render(row["template"], row["context"], fmt, templates, pdf_engine)
        write_atomically(path, content if isinstance(content, bytes) else content.encode("utf-8"))
        paths.append(str(path))
    return paths


def _write_failed(exc: OSError, report: IssueReport, out_dir: pathlib.Path) -> NoticeError:
    """The error of a run whose files could not all be written (disk full, a folder in the way): what is stored,
    which files are there, and that running the same command again writes the missing ones."""
    stored = report.issued + report.already
    missing = [
        s
        for s in stored
        if not all((out_dir / f"{safe_filename(s['number'])}.{fmt}").is_file() for fmt in report.formats)
    ]
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    numbers = (
        f" ({report.issued[0]['number']} to {report.issued[-1]['number']})"
        if len(report.issued) > 1
        else f" ({report.issued[0]['number']})"
        if report.issued
        else ""
    )
    return NoticeError(
        f"Writing the notice files into {out_dir} failed: {exc.strerror or exc}{where}. "
        f"{len(report.issued)} notice(s) were issued and stored by this run{numbers}"
        + (f", {len(report.already)} were issued before" if report.already else "")
        + f"; the files of {len(missing)} of these {len(stored)} are missing"
        + (f" (first {missing[0]['number']})" if missing else "")
        + ". Stored notices keep their numbers. Fix the cause (free disk space, remove what is in the way), then "
        "run the same command again: issuing is idempotent, it numbers nothing twice and writes the missing "
        "files (and issues the notices this run did not reach)."
    )


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(formats or ("html",)))
    for fmt in formats:
        if fmt not in FORMATS:
            raise NoticeError(f"Unknown notice format '{fmt}'{did_you_mean(fmt, FORMATS)}; use txt, html or pdf.")
    return formats


def _check_kinds(kinds: Sequence[str] | None) -> set[str] | None:
    if not kinds:
        return None
    for k in kinds:
        require_kind(k)
    return set(kinds)


PARALLEL_MIN = 2000  # a run that may write at least this many notices renders its files in worker processes
PARALLEL_MIN_PDF = 100  # ... or this many with PDFs (a PDF takes 10-500 ms, a worker about a second to start)
_BATCH = 200  # notices per worker job
_IN_FLIGHT = 8  # worker jobs queued at most (bounds the memory held by pending contexts)


def _file_job(
    rows: list[dict], out: str | None, formats: Sequence[str], templates: Any, pdf_engine: str | None = None
) -> list[tuple[list[str], bool]]:
    """Render and write the files of stored notices; for already-issued ones (``check``) also tell whether the
    text form still renders to the stored hash. Runs in a worker process for large runs."""
    results = []
    for row in rows:
        if "context_marshal" in row:
            row = {**row, "context": marshal.loads(row["context_marshal"])}
        elif "context_json" in row:
            row = {**row, "context": json.loads(row["context_json"])}
        changed = (
            bool(row.get("check"))
            and content_hash(render(row["template"], row["context"], "txt", templates)) != row["content_hash"]
        )
        files = write_files(row, pathlib.Path(out), formats, templates, pdf_engine) if out else []
        results.append((files, changed))
    return results


class _Files:
    """Writes the files of each committed chunk: in this process, or (large runs) in worker processes while
    this process numbers and stores the next chunk."""

    def __init__(
        self,
        out_dir: pathlib.Path | None,
        formats: Sequence[str],
        templates: Any,
        parallel: bool,
        progress: Callable[[int], None] | None = None,
        pdf_engine: str | None = None,
    ):
        self.progress = progress  # advanced as files are written (rendering PDFs is most of a run)
        self.out = str(out_dir) if out_dir is not None else None
        self.formats, self.templates, self.pdf_engine = tuple(formats), templates, pdf_engine
        self.pool = None
        self.pending: list[tuple[Any, list[dict]]] = []
        if parallel:
            import concurrent.futures
            import multiprocessing

            workers = max(1, min(4, (os.cpu_count() or 1)))
            # spawn: a worker must not inherit this process's database connections
            self.pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def add(self, rows: list[dict], summaries: list[dict], report: IssueReport) -> None:
        jobs = [
            {
                "number": r["number"],
                "template": r["template"],
                # a new notice's context as stored: made of JSON's own types only, marshalled (decoded in half the
                # time of its JSON text, which has every CJK character escaped), else its JSON text (far cheaper to
                # send than the pickled dict)
                **(
                    {"context_marshal": marshal.dumps(r["context"])}
                    if r.get("_native") and self.pool is not None
                    else {"context_json": r["_json"]}
                    if "_json" in r
                    else {"context": r["context"]}
                ),
                "content_hash": r["content_hash"],
                "check": r.get("_check", False),
            }
            for r in rows
        ]
        if self.pool is None:
            for i in range(0, len(jobs), 20):  # 20 at a time: a PDF takes about half a second
                self._collect(
                    _file_job(jobs[i : i + 20], self.out, self.formats, self.templates, self.pdf_engine),
                    summaries[i : i + 20],
                    report,
                )
            return
        step = 20 if "pdf" in self.formats else _BATCH  # PDF jobs smaller: progress moves every few seconds
        for i in range(0, len(jobs), step):
            future = self.pool.submit(
                _file_job, jobs[i : i + step], self.out, self.formats, self.templates, self.pdf_engine
            )
            self.pending.append((future, summaries[i : i + step]))
            while len(self.pending) > _IN_FLIGHT:
                self._wait_one(report)

    def _wait_one(self, report: IssueReport) -> None:
        future, summaries = self.pending.pop(0)
        self._collect(future.result(), summaries, report)

    def _collect(self, results: list[tuple[list[str], bool]], summaries: list[dict], report: IssueReport) -> None:
        for (files, changed), summary in zip(results, summaries):
            summary["files"] = files
            report.files += len(files)
            if changed:
                report.changed.append(summary["number"])
        if self.progress:
            self.progress(len(results))

    def finish(self, report: IssueReport) -> None:
        try:
            while self.pending:
                self._wait_one(report)
        finally:
            if self.pool is not None:
                self.pool.shutdown(cancel_futures=True)


def _run(
    store: Store,
    source: str,
    chunks: Sequence[Callable[[Any], list[Cause]]],
    *,
    issued_on: dt.date,
    out: str | os.PathLike | None,
    formats: Sequence[str],
    templates: Any,
    report: IssueReport,
    progress: Callable[[int], None] | None,
    actor: str,
    pdf_engine: str | None = None,
    size: int | None = None,
    shared: Shared | None = None,
) -> IssueReport:
    """Issue the causes of each chunk; ``size``: how many causes there may be (decides on worker processes);
    ``shared``: the parts of the contexts the chunks share (:class:`Shared`)."""
    out_dir = pathlib.Path(out) if out is not None else None
    size = len(chunks) * CHUNK if size is None else size
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    files = _Files(
        out_dir,
        formats,
        templates,
        parallel=out_dir is not None
        and size >= (PARALLEL_MIN_PDF if "pdf" in formats else PARALLEL_MIN)
        and (os.cpu_count() or 1) > 1,
        progress=progress,
        pdf_engine=pdf_engine,
    )
    try:
        with collector_paused():  # bulk work, as serve and advance (README "Benchmarks")
            _issue_chunks(
                store,
                source,
                chunks,
                files,
                issued_on=issued_on,
                templates=templates,
                report=report,
                progress=progress,
                actor=actor,
                shared=shared,
            )
    except OSError as exc:
        if out_dir is None:
            raise
        raise _write_failed(exc, report, out_dir) from exc
    return report


def _issue_chunks(
    store: Store,
    source: str,
    chunks: Sequence[Callable[[Any], list[Cause]]],
    files: _Files,
    *,
    issued_on: dt.date,
    templates: Any,
    report: IssueReport,
    progress: Callable[[int], None] | None,
    actor: str,
    shared: Shared | None = None,
) -> None:
    """Each chunk's causes numbered and stored in a transaction of its own (their text forms rendered here: in
    the file writers' workers it was slower, see README's Benchmarks), then its files written."""
    try:
        for make_causes in chunks:
            with store.transaction() as conn:
                causes = make_causes(conn)
                new, old = _store_causes(conn, causes, issued_on, templates, shared=shared) if causes else ([], [])
                if new:
                    audit(
                        conn,
                        actor,
                        "notices.issue",
                        source,
                        count=len(new),
                        first=new[0]["number"],
                        last=new[-1]["number"],
                    )
            for row in old:
                row["_check"] = True
            for rows, bucket in ((new, report.issued), (old, report.already)):
                if rows:
                    summaries = [_summary(row, []) for row in rows]
                    bucket.extend(summaries)
                    files.add(rows, summaries, report)  # advances progress per notice written
    finally:
        files.finish(report)


def _pack_ids(pack_body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    return (pack_body.get("pack") or {}).get("id"), (pack_body.get("version") or {}).get("version")


def _listed_at_once(version: Mapping[str, Any], list_id: str) -> bool:
    """The list has no objection period: its entries are listed at once, without a pre-listing notice."""
    return int(((version.get("lists") or {}).get(list_id) or {}).get("objection_days") or 0) == 0


def _decision_kinds(
    result: Mapping[str, Any], version: Mapping[str, Any], where: str
) -> tuple[dict[str, dict], list[dict], list[tuple[str, str | None, dict | None, bool]]]:
    """What a decision's outcome asks for, before the cycle's list entries cover any of it: the notice entries by
    kind (two rules asking for one kind merged; 两书同达 added), the proposed list items, and per kind in
    ``KINDS`` order ``(kind, list id, list item, listed_at_once)``; ``listed_at_once``: a pre-listing notice for a
    list without objection period, which is not issued."""
    by_kind: dict[str, dict] = {}
    for entry in result.get("notices") or []:
        kind = entry.get("kind")
        require_kind(kind)
        if kind in by_kind:  # two rules asking for the same notice: one notice, both reasons
            merged = by_kind[kind]
            merged["reason"] = "；".join(_dedupe([merged.get("reason"), entry.get("reason")]))
            merged["basis"] = _dedupe(
                _basis_text(version, merged.get("basis")) + _basis_text(version, entry.get("basis"))
            )
        else:
            by_kind[kind] = {**entry, "_where": f"{where} (rule {entry.get('rule')})"}
    proposed = [l for l in result.get("lists") or [] if l.get("action", "propose") in ("propose", "list")]
    if "pre_listing" in by_kind and "repair_instructions" not in by_kind:  # 两书同达
        pre_list = by_kind["pre_listing"].get("list") or (proposed[0].get("list") if proposed else None)
        if (((version.get("lists") or {}).get(pre_list) or {}).get("repair") or {}).get("allowed", False):
            by_kind["repair_instructions"] = {**by_kind["pre_listing"], "kind": "repair_instructions"}
    plan = []
    for kind in KINDS:
        if kind not in by_kind:
            continue
        entry = by_kind[kind]
        list_id = entry.get("list")
        lentry = (
            next((l for l in proposed if l.get("list") == list_id), None)
            if list_id
            else (proposed[0] if kind in LIST_KINDS and proposed else None)
        )
        if kind in LIST_KINDS:
            list_id = list_id or (lentry or {}).get("list")
        at_once = bool(kind == "pre_listing" and list_id and _listed_at_once(version, list_id))
        plan.append((kind, list_id, lentry, at_once))
    return by_kind, proposed, plan


def _decision_causes(
    row: Mapping[str, Any],
    result: Mapping[str, Any],
    cycle: Mapping[str, Any],
    covered: set[tuple[int, str]],
    kinds: set[str] | None,
    issued_on: dt.date,
    settings: Mapping[str, Any],
    skipped: list[dict],
    evidence: Mapping[str, list] | None = None,
    shared: Shared | None = None,
) -> list[Cause]:
    """The notices a decision's outcome asks for (``result["notices"]``), minus those its list entries issue
    (``shared``: the parts of the contexts the run shares)."""
    pack_body = cycle["pack_body"]
    version = pack_body.get("version") or {}
    pack_id, pack_version = _pack_ids(pack_body)
    by_kind, proposed, plan = _decision_kinds(result, version, f"Cycle {cycle['id']} decision {row['id']}")
    causes = []
    for kind, list_id, lentry, at_once in plan:
        if (kinds and kind not in kinds) or (row["id"], kind) in covered:
            continue  # covered: the cycle created a list entry whose event issues this kind
        entry = by_kind[kind]
        if at_once:
            skipped.append(
                {
                    "source_key": f"d{row['id']}:{kind}",
                    "reason": f"list '{list_id}' has objection_days 0 (listed at once, no pre-listing notice)",
                }
            )
            continue
        ctx = build_context(
            kind,
            pack_body=pack_body,
            entity=row,
            issued_on=issued_on,
            settings=settings,
            result=result,
            facts=row.get("facts") or {},
            notice=entry if kind not in LIST_KINDS else {"basis": entry.get("basis")},
            list_id=list_id if (kind in LIST_KINDS or entry.get("list")) else None,
            list_reason=(lentry or {}).get("reason") or entry.get("reason"),
            list_basis=(lentry or {}).get("basis"),
            period=cycle.get("period"),
            with_repair="repair_instructions" in by_kind,
            where=entry["_where"],
            evidence=evidence,
            summary_rule=(lentry or {}).get("rule") if kind in LIST_KINDS else entry.get("rule"),
            shared=shared,
        )
        causes.append(
            Cause(
                f"d{row['id']}:{kind}",
                kind,
                row["entity_id"],
                pack_body,
                pack_id,
                pack_version,
                ctx,
                cycle_id=cycle["id"],
                decision_id=row["id"],
            )
        )
    return causes


def _covered(version: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> set[tuple[int, str]]:
    """(decision_id, kind) pairs that the cycle's list entries issue through their events."""
    out: set[tuple[int, str]] = set()
    for r in rows:
        event = r.get("event") or (r.get("data") or {}).get("action") or "propose"
        for kind in _event_kinds(version, r["list"], event):
            out.add((r["decision_id"], kind))
    return out


def _event_kinds(version: Mapping[str, Any], list_id: str, event_name: str) -> list[str]:
    alias = EVENT_ALIASES.get(event_name)
    d = (version.get("lists") or {}).get(list_id) or {}
    kinds = list((d.get("notices") or {}).get(alias) or []) if alias else []
    repairable = bool((d.get("repair") or {}).get("allowed", False))
    needs_repair = "pre_listing" in kinds or (alias == "list" and d.get("kind") in ("sanction", "watch"))
    if needs_repair and repairable and "repair_instructions" not in kinds:  # 两书同达
        kinds.append("repair_instructions")
    return [k for k in KINDS if k in kinds]


def _listed_on(events: Sequence[Mapping[str, Any]]) -> dt.date | None:
    for ev in events:
        if EVENT_ALIASES.get(ev.get("event", "")) == "list":
            return _as_date(ev.get("valid_from"))
    return None


def _entry_causes(
    conn,
    entry: Mapping[str, Any],
    pack_body: Mapping[str, Any],
    events: Sequence[Mapping[str, Any]],
    kinds: set[str] | None,
    issued_on: dt.date,
    settings: Mapping[str, Any],
    skipped: list[dict],
    period: str | None = None,
    results: dict[int, Any] | None = None,
    evidence: _Evidence | None = None,
    named: Mapping[str, list] | None = None,
    shared: Shared | None = None,
) -> list[Cause]:
    """The notices of an entry's events. ``results`` (outcome id -> result) and ``named`` (the entry's evidence,
    :meth:`_Evidence.of`) when the caller read them for a whole chunk; else they are read here. ``shared``: the
    parts of the contexts the run shares (:class:`Shared`)."""
    version = pack_body.get("version") or {}
    pack_id, pack_version = _pack_ids(pack_body)
    list_id = entry["list"]
    oid = entry.get("outcome_id")
    result: dict[str, Any] | None
    if not oid:
        result = {}
    elif results is not None:  # many entries share an outcome: read each once
        if oid not in results:
            results[oid] = ns.outcome_result(conn, oid)
        result = results[oid]
    else:
        result = ns.outcome_result(conn, oid)
    facts = entry.get("facts") or {}
    listed_on = _listed_on(entry.get("events") or [])
    if named is None:
        named = {}
        if entry.get("decision_id") and events:
            named = (evidence or _Evidence()).of(
                conn, None, entry.get("cycle_id"), [(entry["entity_id"], facts, result or {})]
            )[0]
    causes = []
    window = int(((version.get("lists") or {}).get(list_id) or {}).get("objection_days") or 0)
    for ev in events:
        event_kinds = _event_kinds(version, list_id, ev["event"])
        day, deadline = issued_on, None
        signed = (ev.get("data") or {}).get("signed")  # the two names of the decision the event records
        if event_kinds and window and EVENT_ALIASES.get(ev["event"]) == "propose" and ev.get("seq"):
            # The pre-listing notice (with its repair instructions) states the objection deadline counted from its
            # service: it is issued when served, dated the service, with the deadline stored on service.
            served = next(
                (e for e in entry.get("events") or [] if e["event"] == "notified" and e["seq"] > ev["seq"]), None
            )
            if served is None:
                for kind in event_kinds:
                    if not kinds or kind in kinds:
                        skipped.append(
                            {
                                "source_key": f"e{entry['id']}:{ev['seq']}:{kind}",
                                "reason": f"issued when the pre-listing notice is served (supervise lists serve "
                                f"--entry {entry['id']} --on DATE): its objection deadline counts from then",
                            }
                        )
                continue
            served_on = _as_date(served.get("valid_from"))
            assert served_on is not None  # list_events.valid_from is NOT NULL
            day = served_on
            deadline = _as_date((served.get("data") or {}).get("objection_deadline"))
            signed = (served.get("data") or {}).get("signed")  # the listing decision whose notice this is
        for kind in event_kinds:
            if kinds and kind not in kinds:
                continue
            key = f"e{entry['id']}:{ev['seq']}:{kind}"
            if kind == "pre_listing" and window == 0:
                skipped.append({"source_key": key, "reason": f"list '{list_id}' has objection_days 0"})
                continue
            where = f"List entry {entry['id']} ({list_id}, event '{ev['event']}')"
            ctx = build_context(
                kind,
                pack_body=pack_body,
                entity=entry,
                issued_on=day,
                settings=settings,
                result=result or {},
                facts=facts,
                notice={},
                list_id=list_id,
                list_reason=entry.get("reason"),
                list_basis=entry.get("basis"),
                listed_on=listed_on if EVENT_ALIASES.get(ev["event"]) != "propose" else None,
                event=ev,
                period=period,
                with_repair="repair_instructions" in event_kinds,
                where=where,
                evidence=named,
                summary_rule=entry.get("rule_id"),
                objection_deadline=deadline,
                signed=signed,
                shared=shared,
            )
            causes.append(
                Cause(
                    key,
                    kind,
                    entry["entity_id"],
                    pack_body,
                    pack_id,
                    pack_version,
                    ctx,
                    cycle_id=entry.get("cycle_id"),
                    decision_id=entry.get("decision_id"),
                    entry_id=entry["id"],
                    issued_on=day if day != issued_on else None,
                )
            )
    return causes


def _entry_events(entry: Mapping[str, Any], result: Mapping[str, Any] | None) -> list[dict]:
    """The entry's events; an entry without any (lists engine not recording yet) counts as its outcome action."""
    if entry.get("events"):
        return list(entry["events"])
    action = (entry.get("data") or {}).get("action")
    if not action:
        action = next(
            (l.get("action") for l in (result or {}).get("lists") or [] if l.get("list") == entry["list"]), "propose"
        )
    return [{"seq": 0, "event": action, "valid_from": _iso(entry.get("created_at")), "reason": None}]


def _require_cycle(conn, cycle_id: int) -> dict[str, Any]:
    """A committed cycle (an unknown id is CycleNotFound)."""
    cycle = get_cycle(conn, cycle_id)
    if cycle["status"] not in ("committed", "superseded"):
        raise NoticeError(
            f"Cycle {cycle_id} is '{cycle['status']}', not committed; notices are issued only from "
            f"committed cycles. Commit the cycle first."
        )
    return cycle


def issue_for_cycle(
    store: Store,
    cycle_id: int,
    *,
    kinds: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    formats: Sequence[str] = ("html",),
    as_of: dt.date | None = None,
    templates: Any = None,
    settings: Mapping[str, Any] | None = None,
    actor: str = "system",
    progress: Callable[[int], None] | None = None,
    pdf_engine: str | None = None,
) -> IssueReport:
    """Issue every notice a committed cycle's decisions and its new list entries call for."""
    formats, wanted = _check_formats(formats), _check_kinds(kinds)
    if "pdf" in formats:
        require_pdf_engine(pdf_engine)
    issued_on = _as_date(as_of) or dt.date.today()
    with store.read() as conn:
        cycle = _require_cycle(conn, cycle_id)
        outcomes = ns.cycle_outcomes(conn, cycle_id)
        decision_ids = ns.cycle_decision_ids(conn, cycle_id)
        entry_ids = ns.cycle_entry_ids(conn, cycle_id)
        covered = _covered(cycle["pack_body"].get("version") or {}, ns.cycle_entry_events(conn, cycle_id))
    cfg = resolve_settings(cycle["pack_body"], settings)
    report = IssueReport(f"cycle {cycle_id}", issued_on.isoformat(), _iso(out), formats)

    evidence = _Evidence()
    shared = Shared()  # the cycle's pack body, settings and outcomes are the same for every chunk

    def decision_chunk(ids):
        def make(conn):
            rows = [r for r in ns.decisions_with_entities(conn, ids) if outcomes[r["outcome_id"]].get("notices")]
            named = evidence.of(
                conn, cycle, cycle_id, [(r["entity_id"], r.get("facts"), outcomes[r["outcome_id"]]) for r in rows]
            )
            return [
                c
                for row, found in zip(rows, named)
                for c in _decision_causes(
                    row,
                    outcomes[row["outcome_id"]],
                    cycle,
                    covered,
                    wanted,
                    issued_on,
                    cfg,
                    report.skipped,
                    evidence=found,
                    shared=shared,
                )
            ]

        return make

    def entry_chunk(ids):
        def make(conn):
            entries = ns.entries_with_events(conn, ids)
            named = _chunk_evidence(conn, entries, evidence, lambda e: outcomes.get(e["outcome_id"]), cycle)
            causes = []
            for entry in entries:
                result = outcomes.get(entry["outcome_id"]) if entry.get("outcome_id") else None
                causes += _entry_causes(
                    conn,
                    entry,
                    cycle["pack_body"],
                    _entry_events(entry, result),
                    wanted,
                    issued_on,
                    cfg,
                    report.skipped,
                    period=cycle.get("period"),
                    results=outcomes,
                    evidence=evidence,
                    named=named.get(entry["id"], {}),
                    shared=shared,
                )
            return causes

        return make

    chunks = [decision_chunk(c) for c in chunked(decision_ids, CHUNK)]
    chunks += [entry_chunk(c) for c in chunked(entry_ids, CHUNK)]
    return _run(
        store,
        f"cycle:{cycle_id}",
        chunks,
        size=len(decision_ids) + len(entry_ids),
        issued_on=issued_on,
        out=out,
        formats=formats,
        templates=templates,
        report=report,
        progress=progress,
        actor=actor,
        pdf_engine=pdf_engine,
        shared=shared,
    )


def cycle_notice_counts(conn, cycle_id: int) -> dict[str, dict[str, int | None]]:
    """Per notice kind (in ``KINDS`` order), the notices a committed cycle calls for and how many are stored:
    ``{kind: {"due": n, "issued": m}}``. Nothing is rendered or written.

    ``due`` counts, by the rules :func:`issue_for_cycle` and the list lifecycle apply, the notices of the
    cycle's decisions (their outcomes' notices, 两书同达 included, minus those a list entry of the cycle issues)
    and of every event of the list entries the cycle created (proposal, listing, removal: recorded by the cycle
    or later by the lifecycle). ``issued`` counts the notices stored for the cycle (``notices.cycle_id``),
    the inspection notices of its plans included (their ``due`` is None: plans, not the cycle, call for them)."""
    cycle = _require_cycle(conn, cycle_id)
    version = cycle["pack_body"].get("version") or {}
    outcomes = ns.cycle_outcomes(conn, cycle_id)
    covered = _covered(version, ns.cycle_entry_events(conn, cycle_id))
    due: dict[str, int] = {}
    per_outcome: dict[int | None, set[str]] = {}  # looked up with entries' outcome ids, None for none
    for oid, n in outcome_counts(conn, cycle_id).items():
        plan = _decision_kinds(outcomes[oid], version, f"Cycle {cycle_id} outcome {oid}")[2]
        per_outcome[oid] = {kind for kind, _, _, at_once in plan if not at_once}
        for kind in per_outcome[oid]:
            due[kind] = due.get(kind, 0) + n
    entries = ns.entries_with_events(conn, ns.cycle_entry_ids(conn, cycle_id))
    outcome_of = {e["decision_id"]: e.get("outcome_id") for e in entries if e.get("decision_id")}
    for decision_id, kind in covered:  # issued through the entry's event instead (counted below)
        if kind in per_outcome.get(outcome_of.get(decision_id), ()):
            due[kind] -= 1
    for entry in entries:
        result = outcomes.get(entry["outcome_id"]) if entry.get("outcome_id") else None
        for ev in _entry_events(entry, result):
            for kind in _event_kinds(version, entry["list"], ev["event"]):
                if not (kind == "pre_listing" and _listed_at_once(version, entry["list"])):
                    due[kind] = due.get(kind, 0) + 1
    issued = stored_notice_counts(conn, cycle_id)
    return {
        kind: {"due": None if kind == "inspection" else due.get(kind, 0), "issued": issued.get(kind, 0)}
        for kind in KINDS
        if due.get(kind, 0) or issued.get(kind, 0)
    }


def issue_for_plan(
    store: Store,
    plan_id: int,
    *,
    out: str | os.PathLike | None = None,
    formats: Sequence[str] = ("html",),
    as_of: dt.date | None = None,
    templates: Any = None,
    settings: Mapping[str, Any] | None = None,
    actor: str = "system",
    progress: Callable[[int], None] | None = None,
    pdf_engine: str | None = None,
) -> IssueReport:
    """Issue one inspection notice per plan check, naming the inspectors drawn for it."""
    formats = _check_formats(formats)
    if "pdf" in formats:
        require_pdf_engine(pdf_engine)
    issued_on = _as_date(as_of) or dt.date.today()
    with store.read() as conn:
        plan = ns.get_plan(conn, plan_id)
        if plan is None:
            raise PlanError(
                f"No inspection plan {plan_id} in the database; check the id ('supervise plan draw' prints it)."
            )
        cycle = _require_cycle(conn, plan["cycle_id"])
        check_ids = ns.plan_check_ids(conn, plan_id)
    pack_body = cycle["pack_body"]
    pack_id, pack_version = _pack_ids(pack_body)
    cfg = resolve_settings(pack_body, settings)
    report = IssueReport(f"plan {plan_id}", issued_on.isoformat(), _iso(out), formats)

    def check_chunk(ids):
        def make(conn):
            causes = []
            checks = ns.checks_with_inspectors(conn, ids)
            # An entity that must be inspected (e.g. on the black list) is told so, drawn by lot or not.
            forced = forced_entities(conn, cycle["id"], [c["entity_id"] for c in checks])
            for check in checks:
                if check["entity_id"] in forced:
                    check = check | {"reason": "forced"}
                where = f"Plan {plan_id} check {check['seq']}"
                ctx = build_context(
                    "inspection",
                    pack_body=pack_body,
                    entity=check,
                    issued_on=issued_on,
                    settings=cfg,
                    check=check,
                    plan=plan,
                    period=cycle.get("period"),
                    where=where,
                )
                causes.append(
                    Cause(
                        f"k{check['id']}:inspection",
                        "inspection",
                        check["entity_id"],
                        pack_body,
                        pack_id,
                        pack_version,
                        ctx,
                        cycle_id=cycle["id"],
                        check_id=check["id"],
                    )
                )
            return causes

        return make

    return _run(
        store,
        f"plan:{plan_id}",
        [check_chunk(c) for c in chunked(check_ids, CHUNK)],
        size=len(check_ids),
        issued_on=issued_on,
        out=out,
        formats=formats,
        templates=templates,
        report=report,
        progress=progress,
        actor=actor,
        pdf_engine=pdf_engine,
    )


def _entry_pack_body(conn, entry: Mapping[str, Any], on: dt.date) -> tuple[dict, str | None]:
    """The pack version the entry was decided under: its cycle's, else the one recorded in the entry's data,
    else the version of its pack in force on ``on``."""
    if entry.get("cycle_id"):
        cycle = get_cycle(conn, entry["cycle_id"])
        return cycle["pack_body"], cycle.get("period")
    pv_id = (entry.get("data") or {}).get("policy_version_id")
    pv = ns.pack_version_by_id(conn, pv_id) if pv_id else None
    pv = pv or ns.pack_version_for(conn, entry["pack_id"], on)
    if pv is None:
        raise NoticeError(
            f"List entry {entry['id']} belongs to pack '{entry['pack_id']}', which has no stored "
            f"version; run a cycle with that pack first (the version used is stored with the cycle)."
        )
    return pv["body"], None


def _select_event(entry: Mapping[str, Any], event: str | None, seq: int | None) -> dict:
    events = entry.get("events") or []
    if event is None and seq is None:  # the newest event that issues notices
        match = [e for e in events if e["event"] in EVENT_ALIASES]
        if match:
            return match[-1]
        if events:
            raise NoticeError(
                f"List entry {entry['id']} has no event that issues notices (its events: "
                f"{', '.join(e['event'] for e in events)})."
            )
        event = "propose"
    if seq is not None:
        match = [e for e in events if e["seq"] == seq]
        if not match:
            known = ", ".join(f"{e['seq']}:{e['event']}" for e in events) or "none"
            raise NoticeError(f"List entry {entry['id']} has no event with seq {seq}; its events are {known}.")
        return match[0]
    assert event is not None  # set above when neither event nor seq was given
    alias = EVENT_ALIASES.get(event)
    if alias is None:
        raise NoticeError(
            f"'{event}' is not a list event that issues notices{did_you_mean(event, EVENT_ALIASES)}; "
            f"use one of {', '.join(EVENT_ALIASES)}."
        )
    match = [e for e in events if e["event"] == event] or [e for e in events if EVENT_ALIASES.get(e["event"]) == alias]
    if match:
        return match[-1]
    if not events:  # entries created before the lists engine records events
        return {"seq": 0, "event": event, "valid_from": _iso(entry.get("created_at")), "reason": None}
    raise NoticeError(
        f"List entry {entry['id']} has no '{event}' event (its events: "
        f"{', '.join(e['event'] for e in events)}); record the event before issuing its notices."
    )


def issue_for_list_event(
    conn,
    entry_id: int,
    event: str | None,
    *,
    seq: int | None = None,
    as_of: dt.date | None = None,
    kinds: Sequence[str] | None = None,
    templates: Any = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, list[dict]]:
    """Issue (number and store) the notices a list event calls for, inside the caller's transaction.

    ``event`` is the event name (``proposed``/``propose``, ``listed``/``list``, ``removed``, ``repaired``,
    ``expired``, ``revoked``); the newest such event of the entry is used unless ``seq`` picks one. The pack's
    list definition ``notices`` mapping decides the kinds (plus 两书同达). Writes no files: render them later
    with :func:`write_files` / ``supervise notices show``. Returns ``{"issued": [...], "already": [...],
    "skipped": [...]}`` with one summary per notice.
    """
    wanted = _check_kinds(kinds)
    issued_on = _as_date(as_of) or dt.date.today()
    entries = ns.entries_with_events(conn, [entry_id])
    if not entries:
        raise NoticeError(
            f"No list entry {entry_id} in the database; 'supervise lists history CODE' shows an entity's entries."
        )
    entry = entries[0]
    chosen = _select_event(entry, event, seq)
    pack_body, period = _entry_pack_body(conn, entry, _as_date(chosen.get("valid_from")) or issued_on)
    cfg = resolve_settings(pack_body, settings)
    skipped: list[dict] = []
    causes = _entry_causes(conn, entry, pack_body, [chosen], wanted, issued_on, cfg, skipped, period=period)
    if not causes:
        return {"issued": [], "already": [], "skipped": skipped}
    new, old = _store_causes(conn, causes, issued_on, templates)
    return {"issued": [_summary(r, []) for r in new], "already": [_summary(r, []) for r in old], "skipped": skipped}


def issue_for_list_events(
    conn,
    events: Sequence[tuple[int, int]],
    *,
    templates: Any = None,
    settings: Mapping[str, Any] | None = None,
    sealer: _Sealer | None = None,
    loaded: Mapping[int, tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]] | None = None,
    summaries: bool = True,
) -> dict[str, list[dict]]:
    """:func:`issue_for_list_event` for many ``(entry id, event seq)`` pairs at once, inside the caller's
    transaction: the same notices (each dated its event's valid_from, one per event and kind), read and stored a
    chunk at a time. The list lifecycle calls it when it moves many entries (serving a cycle's pre-listing
    notices, listing them when their objection windows end). With ``sealer`` (:func:`sealer`, made with the same
    ``templates``) the notices are numbered here and may still be held by it, their text forms rendered in worker
    processes, when this returns: the caller drains it before committing; without one they are stored here.
    ``loaded``: entries the caller has read already, ``{id: (row, events)}`` with the row as
    ``engine.store.lists.get_entries`` reads it and the entry's events (stored and just appended) by seq; the
    others are read here. ``summaries=False``: the lists ``issued`` and ``already`` stay empty (a caller that
    does not show them)."""
    own = sealer is None
    sealer = _Sealer(templates, parallel=False) if sealer is None else sealer
    wanted: dict[int, set[int]] = {}
    for entry_id, seq in events:
        wanted.setdefault(entry_id, set()).add(seq)
    out: dict[str, list[dict]] = {"issued": [], "already": [], "skipped": []}
    # Read once per outcome, cycle and pack version: for the sealer's whole run when the settings are the packs'
    memo = sealer.memo if settings is None else {}
    results: dict[int, Any] = memo.setdefault("results", {})  # outcome id -> result, shared by many entries
    evidence: _Evidence = memo.setdefault("evidence", _Evidence())  # one evidence engine per cycle
    contexts: dict[tuple, tuple[dict, str | None, dict]] = memo.setdefault("contexts", {})
    shared: Shared = memo.setdefault("shared", Shared())  # the parts of the contexts the run's notices share

    def outcome_of(conn, entry: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """An entry's outcome result, read once per outcome (many entries share one)."""
        oid = entry.get("outcome_id")
        if not oid:
            return None
        if oid not in results:
            results[oid] = ns.outcome_result(conn, oid)
        return results[oid]

    def context(entry: Mapping[str, Any], on: dt.date) -> tuple[dict, str | None, dict]:
        """Pack body, period and settings of the version the entry was decided under, read once per version."""
        pv_id = (entry.get("data") or {}).get("policy_version_id")
        key = (entry.get("cycle_id"), pv_id, entry["pack_id"], None if entry.get("cycle_id") or pv_id else on)
        if key not in contexts:
            body, period = _entry_pack_body(conn, entry, on)
            contexts[key] = (body, period, resolve_settings(body, settings))
        return contexts[key]

    for ids in chunked(sorted(wanted), CHUNK):
        by_day: dict[dt.date, list[Cause]] = {}
        entries = _list_event_entries(conn, ids, loaded or {})
        named = _chunk_evidence(conn, entries, evidence, lambda e: outcome_of(conn, e))
        for entry in entries:
            for ev in entry.get("events") or []:
                if ev["seq"] not in wanted[entry["id"]] or ev["event"] not in EVENT_ALIASES:
                    continue
                on = _as_date(ev.get("valid_from"))
                assert on is not None  # list_events.valid_from is NOT NULL
                pack_body, period, cfg = context(entry, on)
                by_day.setdefault(on, []).extend(
                    _entry_causes(
                        conn,
                        entry,
                        pack_body,
                        [ev],
                        None,
                        on,
                        cfg,
                        out["skipped"],
                        period=period,
                        results=results,
                        evidence=evidence,
                        named=named.get(entry["id"], {}),
                        shared=shared,
                    )
                )
        for on in sorted(by_day):
            new, old = _store_causes(conn, by_day[on], on, templates, sealer)
            if summaries:
                out["issued"] += [_summary(r, []) for r in new]
                out["already"] += [_summary(r, []) for r in old]
    if own:
        sealer.drain(conn)
    return out


def _list_event_entries(
    conn, ids: Sequence[int], loaded: Mapping[int, tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]]
) -> list[dict[str, Any]]:
    """The entries as :func:`engine.store.notices.entries_with_events` gives them, those in ``loaded`` completed
    with what the caller did not read (the party's legal representative, the decision's facts and outcome)."""
    have = [i for i in ids if i in loaded]
    if not have:
        return ns.entries_with_events(conn, ids)
    found = {e["id"]: e for e in ns.entries_with_events(conn, [i for i in ids if i not in loaded])}
    extras = ns.entry_parties(conn, have)
    for i in have:
        row, events = loaded[i]
        entry = {k: row[k] for k in ns.ENTRY_KEYS}
        entry.update(
            code=row["code"],
            code_kind=row["code_kind"],
            name=row["entity_name"],
            entity_type=row["entity_type"],
            region=row["entity_region"],
            **extras[i],
            events=list(events),
        )
        found[i] = entry
    return [found[i] for i in sorted(found)]


def issue_list_event(
    store: Store,
    entry_id: int,
    event: str | None,
    *,
    seq: int | None = None,
    out: str | os.PathLike | None = None,
    formats: Sequence[str] = ("html",),
    as_of: dt.date | None = None,
    kinds: Sequence[str] | None = None,
    templates: Any = None,
    settings: Mapping[str, Any] | None = None,
    actor: str = "system",
    pdf_engine: str | None = None,
) -> IssueReport:
    """:func:`issue_for_list_event` in its own transaction, then write the files (for the CLI)."""
    formats = _check_formats(formats)
    if "pdf" in formats:
        require_pdf_engine(pdf_engine)
    issued_on = _as_date(as_of) or dt.date.today()
    report = IssueReport(
        f"list entry {entry_id}" + (f" ({event})" if event else ""), issued_on.isoformat(), _iso(out), formats
    )
    with store.transaction() as conn:
        result = issue_for_list_event(
            conn, entry_id, event, seq=seq, as_of=issued_on, kinds=kinds, templates=templates, settings=settings
        )
        numbers = [r["number"] for r in result["issued"] + result["already"]]
        rows = {n: ns.get_notice(conn, n) for n in numbers}
        if result["issued"]:
            audit(conn, actor, "notices.issue", f"entry:{entry_id}", count=len(result["issued"]))
    report.skipped = result["skipped"]
    out_dir = pathlib.Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    for bucket, summaries in ((report.issued, result["issued"]), (report.already, result["already"])):
        bucket.extend({**s, "files": []} for s in summaries)
    for s in report.issued + report.already:
        if out_dir is not None:  # else s["files"] stays []
            row = rows[s["number"]]
            assert row is not None  # just issued, or found stored
            try:
                s["files"] = write_files(row, out_dir, formats, templates, pdf_engine)
            except OSError as exc:
                raise _write_failed(exc, report, out_dir) from exc
        report.files += len(s["files"])
    return report


# -- reading --------------------------------------------------------------------------------------


def get_notice(store: Store, number: str) -> dict[str, Any]:
    """A stored notice by its document number (with its context)."""
    with store.read() as conn:
        row = ns.get_notice(conn, number)
        if row is None:
            close = ns.find_numbers(conn, number.strip("〔〕号")[-6:] or number)
            hint = f" Numbers like it: {', '.join(close)}." if close else ""
            raise NoticeError(f"No notice numbered '{number}'.{hint} 'supervise notices list' shows the numbers.")
    return row


def render_notice(
    row: Mapping[str, Any], fmt: str = "txt", templates: Any = None, pdf_engine: str | None = None
) -> str | bytes:
    """Re-render a stored notice from its stored context (a PDF made by ``pdf_engine``, default
    notices.render.PDF_ENGINE)."""
    return render(row["template"], row["context"], fmt, templates, pdf_engine)


def list_notices(
    store: Store,
    *,
    cycle_id: int | None = None,
    kind: str | None = None,
    entity_code: str | None = None,
    plan_id: int | None = None,
    limit: int | None = None,
) -> NoticeList:
    if kind:
        require_kind(kind)
    if entity_code is not None:  # the code as the register stores it (full-width, lower case, spaces); else refused
        entity_code = normalize_code(entity_code).value
    with store.read() as conn:
        rows = ns.list_notices(
            conn, cycle_id=cycle_id, kind=kind, entity_code=entity_code, plan_id=plan_id, limit=limit
        )
    out = []
    for r in rows:
        person = r["code_kind"] == "person"
        out.append(
            {
                "number": r["number"],
                "kind": r["kind"],
                "title": KINDS[r["kind"]].title if r["kind"] in KINDS else r["kind"],
                "recipient": r["name"],
                "code": mask_person_id(r["code"]) if person else r["code"],
                "cycle_id": r["cycle_id"],
                "decision_id": r["decision_id"],
                "entry_id": r["entry_id"],
                "check_id": r["check_id"],
                "source_key": r["source_key"],
                "issued_on": _iso(r["issued_on"]),
                "content_hash": r["content_hash"],
            }
        )
    return NoticeList(out)


# -- samples (template previews and meta tests) -----------------------------------------------------

SAMPLE_PACK: dict[str, Any] = {
    "pack": {
        "id": "sample",
        "title": "纳税缴费信用评价",
        "authority": "国家税务总局泉州市税务局",
        "authority_short": "泉税",
        "document_prefix": "泉税信",
        "jurisdiction": "泉州市",
    },
    "version": {
        "version": "2025",
        "title": "纳税缴费信用管理办法（国家税务总局公告2025年第12号）",
        "basis": {"sat-2025-12": {"title": "纳税缴费信用管理办法（国家税务总局公告2025年第12号）"}},
        "tiers": {
            "order": ["A", "B", "M", "C", "D"],
            "labels": {"A": "A级", "B": "B级", "M": "M级", "C": "C级", "D": "D级"},
        },
        "lists": {
            "red": {
                "title": "纳税信用A级纳税人名单",
                "kind": "incentive",
                "objection_days": 0,
                "min_months": 0,
                "max_months": 12,
                "publish": True,
                "measures": ["a-invoice"],
                "repair": {"allowed": False},
                "notices": {"list": ["commendation"], "remove": ["removal_decision"]},
            },
            "black": {
                "title": "重大税收违法失信主体名单",
                "kind": "sanction",
                "objection_days": 15,
                "min_months": 12,
                "max_months": 36,
                "publish": True,
                "measures": ["black-procurement-ban"],
                "notices": {
                    "propose": ["pre_listing", "repair_instructions"],
                    "list": ["repair_instructions"],
                    "remove": ["removal_decision"],
                },
                "repair": {
                    "allowed": True,
                    "min_months": 12,
                    "decide_days": 15,
                    "requires": ["obligations_fulfilled", "commitment", "credit_report"],
                    "max_repairs": {"count": 2, "years": 5},
                },
            },
        },
        "measures": {
            "a-invoice": {
                "kind": "incentive",
                "text": "增值税专用发票一次领取不超过3个月的用量",
                "department": "税务部门",
            },
            "black-procurement-ban": {"kind": "sanction", "text": "依法限制参加政府采购活动", "department": "财政部门"},
        },
        "inspection": {"items": {"invoice": {"title": "发票使用和管理情况"}}},
        "numbering": DEFAULT_NUMBERING,
    },
}
SAMPLE_ENTITY = {
    "code": "91350100M000100Y43",
    "code_kind": "uscc",
    "name": "泉州市示例贸易有限公司",
    "entity_type": "enterprise",
    "region": "350100",
    "legal_rep": "张三",
}
SAMPLE_RESULT: dict[str, Any] = {
    "tier": "D",
    "tier_label": "D级",
    "lists": [
        {
            "list": "black",
            "action": "propose",
            "rule": "black-major",
            "reason": "被确定为重大税收违法失信主体",
            "basis": "sat-2025-12",
        }
    ],
    "measures": [
        {
            "id": "black-procurement-ban",
            "kind": "sanction",
            "text": "依法限制参加政府采购活动",
            "department": "财政部门",
        },
        {
            "id": "a-invoice",
            "kind": "incentive",
            "text": "增值税专用发票一次领取不超过3个月的用量",
            "department": "税务部门",
        },
    ],
    "notices": [
        {
            "kind": "warning",
            "rule": "notice-d",
            "reason": "纳税信用评价为D级，请依法整改失信行为",
            "basis": {"doc": "sat-2025-12", "article": "第三十四条"},
        }
    ],
    "reasons": [
        {
            "rule": "d-score",
            "outcome": "decisive",
            "why": "年度评价指标得分{score}分，不满40分",
            "basis": "《纳税缴费信用管理办法》第十六条",
        }
    ],
}

SAMPLE_RESULT_A: dict[str, Any] = {
    "tier": "A",
    "tier_label": "A级",
    "lists": [],
    "measures": SAMPLE_RESULT["measures"][1:],
    "notices": [
        {
            "kind": "commendation",
            "rule": "notice-a",
            "reason": "纳税信用评价为A级",
            "basis": {"doc": "sat-2025-12", "article": "第三十二条"},
        }
    ],
    "reasons": [
        {
            "rule": "a-score",
            "outcome": "decisive",
            "why": "年度评价指标得分{score}分，在90分以上",
            "basis": "《纳税缴费信用管理办法》第十六条",
        }
    ],
}


def sample_context(kind: str, number: str | None = None) -> dict[str, Any]:
    """A complete context for ``kind`` from built-in sample data (to preview or test templates)."""
    require_kind(kind)
    issued_on = dt.date(2025, 9, 1)
    check = {
        "id": 1,
        "seq": 1,
        "tier": "D",
        "reason": "sampled",
        "items": ["invoice"],
        "inspectors": [
            {"code": "35010001", "name": "李明", "department": "第一稽查局"},
            {"code": "35010002", "name": "王芳", "department": "第一稽查局"},
        ],
    }
    list_id = {
        "pre_listing": "black",
        "repair_instructions": "black",
        "removal_decision": "black",
        "commendation": "red",
    }.get(kind)
    result = SAMPLE_RESULT_A if kind == "commendation" else SAMPLE_RESULT
    ctx = build_context(
        kind,
        pack_body=SAMPLE_PACK,
        entity=SAMPLE_ENTITY,
        issued_on=issued_on,
        result=result,
        facts={"score": 95 if kind == "commendation" else 35},
        notice=result["notices"][0] if kind in ("warning", "interview", "commendation") else {},
        list_id=list_id,
        list_reason="被确定为重大税收违法失信主体" if list_id == "black" else "纳税信用评价为A级",
        list_basis="sat-2025-12",
        listed_on=dt.date(2024, 9, 1) if kind != "pre_listing" else None,
        event={"event": "repaired", "valid_from": "2025-09-01"},
        check=check,
        plan={"id": 1, "params": {}},
        period="2024",
        with_repair=True,
    )
    ctx["number"] = number or format_number(numbering(SAMPLE_PACK, kind, issued_on.year), 1)
    return ctx
