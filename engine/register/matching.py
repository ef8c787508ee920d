"""Entity resolution for records without a USCC (docs/matching.md): by 组织机构代码, by 注册号 (crosswalk and the
register's former-number field), by name (+ region).

A match has three outcomes. ``linked``: one entity, with a score and a margin to the next candidate at or above
the thresholds; ``review``: a person decides (two entities scoring alike are never linked, whatever the
thresholds); ``rejected``: no candidate scores enough. Every candidate carries its method, score and the reasons
(which fields agreed or differed), in Chinese: a person reads them.

The thresholds and points are ``matching:`` in policies/record_kinds.yaml
(:class:`engine.register.matchconfig.MatchSettings`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from engine.errors import CodeError, SupervisionError
from engine.regions import is_region, region_label
from engine.register.codes import fold, normalize_code, validate_org_code, validate_reg_no
from engine.register.intake import METHOD_NAMES
from engine.register.matchconfig import DEFAULT_SETTINGS, MatchSettings
from engine.register.names import NameParts, parse_name, strip_any_county, trade_of, without_own_region
from engine.results import DictResult
from engine.store import Connection, Store
from engine.store import matching as mq

LINKED, REVIEW, REJECTED = "linked", "review", "rejected"
OUTCOME_NAMES = {LINKED: "自动关联", REVIEW: "待人工核对", REJECTED: "未匹配"}


class MatchError(SupervisionError):
    """A code or name that cannot be matched as given."""


# -- what a key is ------------------------------------------------------------------------------------

_ORG = re.compile(r"[0-9A-Z]{8}-?[0-9X]")


def key_kind(text: str) -> str:
    """``uscc`` (also an identity number), ``org_code``, ``reg_no`` or ``name``: what a CODE-OR-NAME looks like."""
    folded = fold(text)
    if _ORG.fullmatch(folded):
        return "org_code"
    if folded.isdigit() and len(folded) == 15:
        return "reg_no"
    if re.fullmatch(r"[0-9A-Z]{18}", folded):
        return "uscc"
    if re.fullmatch(r"[0-9A-Z-]{8,20}", folded) and any(c.isdigit() for c in folded):
        raise MatchError(
            f"'{text}' looks like a code but is none of the known kinds: a 统一社会信用代码 has 18 characters, a "
            f"组织机构代码 9 (12345678-9), a 注册号 15 digits; correct it, or give the entity's name"
        )
    return "name"


# -- candidates and scores ----------------------------------------------------------------------------


@dataclass
class Query:
    """One row to match: a code of any kind and/or a name, with what else the row says of the entity."""

    code: str | None = None
    name: str | None = None
    region: str | None = None
    legal_rep: str | None = None
    industry: str | None = None


def _candidate(entity: dict[str, Any], method: str, score: float, reasons: list[str]) -> dict[str, Any]:
    return {
        "code": entity["code"],
        "name": entity["name"],
        "region": entity["region"],
        "region_name": region_label(entity["region"], full=False) if entity.get("region") else "",
        "legal_rep": entity.get("legal_rep"),
        "industry": entity.get("industry"),
        "entity_id": entity["id"],
        "method": method,
        "score": round(score, 1),
        "reasons": reasons,
    }


def _districts(query: Query, parts: NameParts) -> list[str]:
    """The county-level regions a row names: its region and its name's prefix."""
    return [r for r in ([query.region] if query.region else []) + list(parts.regions) if not r.endswith("00")]


def _agreement(
    query: Query, entity: dict[str, Any], districts: Sequence[str], s: MatchSettings
) -> tuple[float, list[str]]:
    """Points and reasons of the fields besides the name (``districts``: those the row names)."""
    points, reasons = 0.0, []
    rep, their_rep = (query.legal_rep or "").strip(), (entity.get("legal_rep") or "").strip()
    if rep and their_rep:
        if rep == their_rep:
            points += s.legal_rep_agrees
            reasons.append("法定代表人一致")
        else:
            points += s.legal_rep_differs
            reasons.append("法定代表人不同")
    region = entity.get("region") or ""
    if region and region in districts:
        points += s.district_agrees
        reasons.append(f"区县一致（{region_label(region, full=False)}）")
    elif region and districts:
        points += s.district_differs
        reasons.append(f"区县不同（登记在{region_label(region, full=False)}）")
    if query.industry and entity.get("industry") and query.industry.strip() == entity["industry"]:
        points += s.industry_agrees
        reasons.append("行业一致")
    return points, reasons


def _name_score(
    parts: NameParts, theirs: NameParts, s: MatchSettings, region: str | None = None
) -> tuple[float, list[str]]:
    """The similarity of two names (0-100) and its reasons; ``region``: the entity's, whose own names may begin
    either core (安溪恒达茶业 / 恒达茶业)."""
    mine, other = without_own_region(parts.core, region), without_own_region(theirs.core, region)
    if mine == other:
        score, reasons = 100.0, ["名称一致（不计区划与组织形式）"]
    else:
        ratio = fuzz.ratio(mine, other)
        # The same 字号, also when a typo in the industry words hid where the row's 字号 ends (合煌生霜科技).
        same_trade = parts.trade == theirs.trade or (len(mine) == len(other) and mine.startswith(theirs.trade))
        score = ratio + s.trade_agrees if same_trade else min(ratio + s.trade_differs, s.trade_differs_max)
        reasons = [f"名称相似度{ratio:.0f}" + ("，字号一致" if same_trade else f"，字号不同（{theirs.trade}）")]
    if parts.form and theirs.form and parts.form != theirs.form:
        score += s.form_differs
        reasons.append(f"组织形式不同（{theirs.form}）")
    return score, reasons


def trade_keys(trade: str) -> set[str]:
    """The 字号 with each character left open in turn (祥诚 -> ?诚, 祥?): two 字号 one typo apart share one."""
    return {trade[:i] + "?" + trade[i + 1 :] for i in range(len(trade))} if trade else set()


Entry = tuple[dict[str, Any], NameParts, Any]


class NameIndex:
    """The register's names (and former names) blocked on the 字号, built once in memory: a row's candidates
    share its 字号 (``=祥诚``), or its industry words and its 字号 but for one character (``?诚|物流``: a typo),
    and lie in the city or province the row names (its region, else its name's prefix), anywhere when it names
    none. A row's 字号 is also tried as the first two to four characters of its core (a typo in the industry words
    hides where the 字号 ends: 祥诚物硫)."""

    def __init__(self, entities: Iterable[dict[str, Any]]):
        self.blocks: dict[str, list[Entry]] = defaultdict(list)
        self.size = 0
        for entity in entities:
            self.size += 1
            names = [(entity["name"], None)] + [(n, ("former", until)) for n, until in entity.get("former_names", ())]
            for name, former in names:
                parts = parse_name(name)
                entry = (entity, parts, former)
                for key in _keys(parts.trade, parts.core):
                    self.blocks[key].append(entry)

    def block(self, parts: NameParts, region: str | None) -> list[Entry]:
        hints = [region] if region else list(parts.regions)
        cities = {h[:4] for h in hints if h and not h.endswith("0000")}
        provinces = {h[:2] for h in hints if h and h.endswith("0000")}
        core = parts.core
        keys = {f"={core[:n]}" for n in (2, 3, 4) if len(core) > n}
        for c in {core, strip_any_county(core)}:  # 安溪恒达茶业: 恒达
            keys.update(_keys(trade_of(c), c))
        seen: set[int] = set()
        out: list[Entry] = []
        for key in keys:
            for entry in self.blocks.get(key, ()):
                region_ = entry[0].get("region") or ""
                if cities and region_[:4] not in cities or provinces and region_[:2] not in provinces:
                    continue
                if id(entry) not in seen:
                    seen.add(id(entry))
                    out.append(entry)
        return out


def name_patterns(parts: NameParts) -> list[str]:
    """SQL LIKE patterns that every register name sharing a block key with ``parts`` matches (:meth:`NameIndex.block`;
    a name stored in 繁体 is the exception): its 字号 candidates anywhere in the name, and each 字号 with one
    character open before its industry words (brackets may stand between them: 祥诚（泉州）物流)."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    core = parts.core
    out = {f"%{esc(core[:n])}%" for n in (2, 3, 4) if len(core) > n}
    for c in {core, strip_any_county(core)}:
        trade = trade_of(c)
        if not trade:
            continue
        out.add(f"%{esc(trade)}%")
        rest = c[len(trade) :]
        if rest:  # without industry words a 字号 with a character open would match too much: exact 字号 only
            out.update(f"%{esc(trade[:i])}_{esc(trade[i + 1 :])}%{esc(rest)}%" for i in range(len(trade)))
    return sorted(out)


def _keys(trade: str, core: str) -> list[str]:
    """The block keys of a name: its 字号, and its 字号 with one character open followed by its industry words."""
    rest = core[len(trade) :] if core.startswith(trade) else core
    return [f"={trade}", *(f"{k}|{rest}" for k in trade_keys(trade))] if trade else []


def score_names(query: Query, index: NameIndex, s: MatchSettings) -> list[dict[str, Any]]:
    """The blocked candidates of a name that could reach review with their scores and reasons, best first (one
    per entity). A candidate whose name scores too low to reach ``review_score`` even with every other field the
    row gives agreeing is left out before its other fields are looked at (never a closer one: a candidate the
    district or legal representative lifts would be missing from the margin)."""
    parts = parse_name(query.name or "")
    best: dict[int, dict[str, Any]] = {}
    # The most the other fields can add: only those the row gives.
    bonus = (max(0.0, s.legal_rep_agrees) if query.legal_rep else 0.0) + max(0.0, s.district_agrees)
    bonus += (max(0.0, s.industry_agrees) if query.industry else 0.0) + max(0.0, s.trade_agrees)
    floor = s.review_score - bonus
    districts = _districts(query, parts)
    block = index.block(parts, query.region)
    # The names close enough, in one pass of rapidfuzz's C loop; also with a leading county name of the row's
    # dropped (安溪恒达茶业), which _name_score drops when it is the candidate's own county.
    queries = {parts.core, strip_any_county(parts.core)}
    close: set[int] = set()
    cores = [theirs.core for _, theirs, _ in block]
    for q in queries:
        close.update(i for _, _, i in process.extract(q, cores, scorer=fuzz.ratio, score_cutoff=floor, limit=None))
    for i in sorted(close):
        entity, theirs, former = block[i]
        score, reasons = _name_score(parts, theirs, s, entity.get("region"))
        method = "name"
        if former:
            until = former[1]
            method = "former_name"
            reasons = [f"曾用名{theirs.text}" + (f"（使用至{until.isoformat()}）" if until else ""), *reasons]
        points, more = _agreement(query, entity, districts, s)
        total = max(0.0, min(100.0, score + points))
        known = best.get(entity["id"])
        if known is None or total > known["score"]:
            best[entity["id"]] = _candidate(entity, method, total, reasons + more)
            if districts and entity.get("region") not in districts:
                best[entity["id"]]["other_district"] = True
    return sorted(best.values(), key=lambda c: (-c["score"], c["code"]))


def decide(candidates: Sequence[dict[str, Any]], s: MatchSettings) -> tuple[str, dict[str, Any] | None, str]:
    """(outcome, the linked candidate or None, why) of candidates sorted best first."""
    if not candidates or candidates[0]["score"] < s.review_score:
        top = f"（最高分{candidates[0]['score']:g}）" if candidates else ""
        return REJECTED, None, f"没有得分达到{s.review_score:g}的候选主体{top}"
    best = candidates[0]
    if best.get("conflict"):
        return REVIEW, None, f"{best['code']}的代码一致，但名称不符"
    if best.get("other_district") and not s.link_other_district:
        return REVIEW, None, f"{best['code']}登记在{best['region_name']}，不是本行所写的区县，不自动关联"
    margin = best["score"] - candidates[1]["score"] if len(candidates) > 1 else 100.0
    if len(candidates) > 1 and margin <= 0:
        return REVIEW, None, f"{best['code']}与{candidates[1]['code']}得分相同（{best['score']:g}），不自动关联"
    if best["score"] >= s.link_score and margin >= s.link_margin:
        if len(candidates) == 1:
            return LINKED, best, f"得分{best['score']:g}，唯一候选"
        return LINKED, best, f"得分{best['score']:g}，领先下一候选{margin:g}分"
    if best["score"] >= s.link_score:
        return REVIEW, None, f"得分{best['score']:g}，但仅领先下一候选{margin:g}分（需{s.link_margin:g}）"
    return REVIEW, None, f"得分{best['score']:g}，低于自动关联的{s.link_score:g}"


# -- one row ------------------------------------------------------------------------------------------


def _by_code(conn: Connection, query: Query, s: MatchSettings) -> tuple[str, list[dict[str, Any]]]:
    """(method, candidates) of a row that gives a code; raises CodeError for a malformed one."""
    text = query.code or ""
    kind = key_kind(text)
    if kind == "uscc":
        code = normalize_code(text).value
        return "uscc", [_candidate(e, "uscc", 100.0, ["统一社会信用代码一致"]) for e in mq.by_codes(conn, [code])]
    if kind == "org_code":
        org = validate_org_code(text)
        found = mq.by_org_code(conn, org)
        return "org_code", [
            _candidate(e, "org_code", 100.0, [f"组织机构代码{org[:8]}-{org[8]}即统一社会信用代码第9-17位"])
            for e in found
        ]
    if kind == "reg_no":
        reg_no = validate_reg_no(text)
        where = {"crosswalk": "换照对照表", "register": "登记库原注册号"}
        return "reg_no", [
            _candidate(e, "reg_no", 100.0, [f"注册号{reg_no}见{where[src]}"]) for e, src in mq.by_reg_no(conn, reg_no)
        ]
    raise MatchError(f"'{text}' is not a code; give it as the name (the row's name column), or correct it")


def match_query(conn: Connection, query: Query, s: MatchSettings, index: NameIndex | None = None) -> dict[str, Any]:
    """The outcome of one row: a code when it gives one (a name given too must not contradict it), else its name
    (``index``: the register's names; built from the row's region when not given)."""
    if query.code:
        method, candidates = _by_code(conn, query, s)
        if query.name and candidates:
            parts = parse_name(query.name)
            for c in candidates:
                score, reasons = _name_score(parts, parse_name(c["name"]), s, c["region"])
                c["reasons"].extend(reasons)
                if score < s.review_score:
                    c["conflict"] = True  # a person decides: the code says one entity, the name another
                    c["reasons"].append("代码一致但名称不符")
            candidates.sort(key=lambda c: (-c["score"], c["code"]))
        if not candidates:
            return _outcome(
                query, method, [], REJECTED, None, f"登记库中没有{METHOD_NAMES[method]}为{query.code}的主体"
            )
        outcome, linked, why = decide(candidates, s)
        return _outcome(query, method, candidates, outcome, linked, why)
    if not (query.name or "").strip():
        raise MatchError("the row gives neither a code nor a name; give one of them")
    if index is None:  # one row: only the entities whose names could share a block key with it
        index = NameIndex(mq.name_candidates(conn, scope_of(query), name_patterns(parse_name(query.name or ""))))
    candidates = score_names(query, index, s)
    outcome, linked, why = decide(candidates, s)
    method = linked["method"] if linked else "name"
    return _outcome(query, method, candidates, outcome, linked, why)


def scope_of(query: Query) -> list[str]:
    """The region prefixes (cities, or provinces) whose names a name row is matched against: its region's, else
    the ones its name's prefix gives; none: the whole register."""
    hints = [query.region] if query.region else list(parse_name(query.name or "").regions)
    out = {h[:4] if not h.endswith("0000") else h[:2] for h in hints if h}
    return sorted(out)


def _outcome(
    query: Query,
    method: str,
    candidates: list[dict[str, Any]],
    outcome: str,
    linked: dict[str, Any] | None,
    why: str,
) -> dict[str, Any]:
    return {
        "query": {k: v for k, v in query.__dict__.items() if v},
        "method": method,
        "outcome": outcome,
        "code": linked["code"] if linked else None,
        "score": linked["score"] if linked else (candidates[0]["score"] if candidates else 0.0),
        "explanation": "；".join(linked["reasons"]) if linked else why,
        "why": why,
        "candidates": candidates,
    }


# -- the command ----------------------------------------------------------------------------------------


def match(
    store: Store, text: str, region: str | None = None, settings: MatchSettings = DEFAULT_SETTINGS
) -> MatchResult:
    """``supervise match CODE-OR-NAME``: the candidates of a code of any kind or a name (with ``region``, a
    GB/T 2260 code: the row's region), their scores and reasons, and the outcome an import would give."""
    text = (text or "").strip()
    if not text:
        raise MatchError("Nothing to match: give a 统一社会信用代码, 组织机构代码, 注册号 or a name.")
    if region is not None and not is_region(region.strip()):
        raise MatchError(
            f"--region {region}: not a GB/T 2260 region code (six digits, e.g. 350503 for 丰泽区); correct it"
        )
    kind = key_kind(text)
    query = Query(code=text, region=region) if kind != "name" else Query(name=text, region=region)
    try:
        with store.read() as conn:
            result = match_query(conn, query, settings)
    except CodeError as exc:
        raise MatchError(f"{exc}; correct the {METHOD_NAMES[kind]}") from None
    result["candidates"] = result["candidates"][: settings.candidates_shown]
    result["kind"] = kind
    return MatchResult(result)


class MatchResult(DictResult):
    """A match: the outcome, the linked code (or none), why, and the best candidates with scores and reasons."""

    def lines(self) -> list[str]:
        r = self
        head = f"{OUTCOME_NAMES[r['outcome']]} ({r['outcome']}): {r['why']}"
        if r["code"]:
            head += f" -> {r['code']}"
        out = [head]
        if not r["candidates"]:
            out.append("  no candidates")
        for i, c in enumerate(r["candidates"], 1):
            out.append(
                f"  {i}. {c['score']:5.1f}  {c['code']}  {c['name']}  ({c['region_name'] or '-'}, {c['method']})"
            )
            out.append(f"        {'；'.join(c['reasons'])}")
        return out
