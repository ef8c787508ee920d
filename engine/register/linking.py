"""Records that name their entity without a USCC: ``supervise import records FILE --match`` and the match review
queue (docs/matching.md "Importing with --match").

Each row names its entity by a code of any kind (``code`` / ``entity_code``: a 统一社会信用代码 or identity number,
a 组织机构代码, a 注册号; or the columns ``org_code``, ``reg_no``) or by ``name`` (with ``region``, ``legal_rep``,
``industry`` when the source gives them), and carries the record's fields as any records file does. Each row is
matched (:func:`engine.register.matching.match_query`) and then:

* **linked**: the record is stored for that entity, and the link beside it (``record_links``: the method, the
  score, which fields agreed, what the row said);
* **review**: the record is held in the match review queue (``match_reviews``) with its candidates, and stored when
  a person judges the row the same as an entity (:func:`apply_judgement`, method ``judgement``);
* **rejected**: no entity scores enough: an error naming the row, like an unknown code (the file is refused, or
  with --skip-invalid the row goes to FILE.rejects.csv).

A person's judgement is kept per **source key** (the normalised name, its organisation form and the region, or the
code): a later row with that key is linked by the ``same`` judgement without asking again, and an entity judged
``not_same`` is never one of its candidates again. Rows of one key waiting together are one question.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

from engine import values
from engine.errors import CodeError, SupervisionError
from engine.exports import write_csv
from engine.regions import is_region, region_label
from engine.register import intake
from engine.register.codes import AmbiguousCode, normalize_code, validate_org_code, validate_reg_no
from engine.register.intake import METHOD_NAMES, RejectFn, Row
from engine.register.matchconfig import MatchSettings
from engine.register.matching import (
    LINKED,
    REJECTED,
    REVIEW,
    MatchError,
    NameIndex,
    Query,
    decide,
    key_kind,
    match_query,
    scope_of,
)
from engine.register.names import parse_name
from engine.register.records import RecordKind
from engine.results import DictResult
from engine.store import Connection, audit
from engine.store import entities as eq
from engine.store import linking as lq
from engine.store import matching as mq
from engine.store import records as rq
from engine.values import in_china

SAME, NOT_SAME = lq.SAME, lq.NOT_SAME
SOURCE_FIELDS = ("code", "name", "region", "legal_rep", "industry")
REVIEW_CSV_COLUMNS = (
    "row",
    "source_key",
    "code",
    "name",
    "region",
    "legal_rep",
    "why",
    "candidate_1",
    "score_1",
    "reasons_1",
    "candidate_2",
    "score_2",
    "reasons_2",
)


class JudgementError(SupervisionError):
    """A judgement that cannot be taken as asked (an unknown review, a key already judged, an unknown entity)."""


# -- the source key: one question per name and region, or per code ---------------------------------------------


def source_key(query: Query) -> str:
    """What a person's judgement of a row is kept under: ``name:`` the name's core and organisation form and the
    region (the row's, else the one its name's prefix gives), or the code's kind and the code (with the name's core
    when a name is given, since a code and a name that disagree are one question)."""
    parts = parse_name(query.name) if query.name else None
    if query.code:
        kind = key_kind(query.code)
        key = f"{kind}:{_code_value(kind, query.code)}"
        return key + (f"|{parts.key}" if parts else "")
    assert parts is not None
    region = query.region or ",".join(parts.regions)
    return f"name:{parts.key}|{region}"[:255]


def _code_value(kind: str, text: str) -> str:
    if kind == "org_code":
        return validate_org_code(text)
    if kind == "reg_no":
        return validate_reg_no(text)
    try:
        return normalize_code(text).value
    except AmbiguousCode as exc:
        return exc.value


def _source(query: Query) -> dict[str, str]:
    return {k: v for k in SOURCE_FIELDS if (v := getattr(query, k, None))}


# -- parsing a row ---------------------------------------------------------------------------------------------

_CODE_COLUMNS = (("org_code", "组织机构代码"), ("reg_no", "注册号"))


def _query(data: dict[str, Any], errors: list[tuple[str, str]]) -> Query | None:
    """The entity a row names: a code of any kind and/or a name, with region, legal representative, industry."""
    code: str | None = None
    main = "entity_code" if "entity_code" in data else "code"
    for column, what in ((main, "a 统一社会信用代码, 组织机构代码 or 注册号"), *_CODE_COLUMNS):
        if values.is_blank(data.get(column)) or code is not None:
            continue
        try:
            text = intake._code_text(data[column], what)
            kind = column if column != main else key_kind(text)  # an org_code / reg_no column is that kind
            if kind == "name":
                raise CodeError(f"'{text}' is not a code; put a name in the name column")
            code = _code_value(kind, text)
        except (CodeError, MatchError, ValueError) as exc:
            errors.append((column, f"{exc}; correct the code, or leave it empty and give the entity's name"))
            return None
    texts: dict[str, str | None] = {}
    for column in ("name", "region", "legal_rep", "industry"):
        raw = data.get("entity_name" if column == "name" and "entity_name" in data else column)
        try:
            texts[column] = None if values.is_blank(raw) else intake._text(raw, column)
        except ValueError as exc:
            errors.append((column, str(exc)))
            return None
    region = texts["region"]
    if region is not None and not is_region(region):
        errors.append(("region", f"'{region}' is not a GB/T 2260 region code (six digits, e.g. 350503); correct it"))
        return None
    if code is None and not texts["name"]:
        errors.append(
            (
                main,
                "the row names no entity: give its 统一社会信用代码, 组织机构代码 (org_code) or 注册号 (reg_no), "
                "or its name (name, with region)",
            )
        )
        return None
    return Query(code=code, name=texts["name"], region=region, legal_rep=texts["legal_rep"], industry=texts["industry"])


def parse_matched(
    row: Row, kinds: dict[str, RecordKind], default_kind: str | None = None
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """A row of an import with --match: {query, record, code?} or the errors (column, reason)."""
    data = row.data
    if "__error__" in data:
        return None, [("-", data["__error__"])]
    errors: list[tuple[str, str]] = []
    query = _query(data, errors)
    body = intake.record_body(data, kinds, default_kind, errors)
    if errors or query is None or body is None:
        return None, errors
    if query.code and key_kind(query.code) == "uscc":  # its inner organisation code is checked (org_code_checked)
        return {"query": query, "record": body, "code": query.code}, []
    return {"query": query, "record": body, "code_kind": "other"}, []


# -- the import -----------------------------------------------------------------------------------------------


def _held(record: dict[str, Any]) -> dict[str, Any]:
    """A parsed record as JSON, to wait in the queue."""
    return record | {"date": record["date"].isoformat(), "present": sorted(record["present"])}


def _unheld(record: dict[str, Any]) -> dict[str, Any]:
    return record | {"date": dt.date.fromisoformat(record["date"]), "present": frozenset(record["present"])}


def _judged_link(judgement: dict[str, Any]) -> str:
    return (
        f"人工核对：{judgement['judged_by']}于{in_china(judgement['judged_at']).date().isoformat()}判定为同一主体"
        f"（{judgement['entity_name']}，判定#{judgement['id']}）"
    )


class Linker:
    """The resolve and write steps of a records import with --match (``engine.register.entities.import_records``
    runs them in the one import loop): ``write_records`` is the import's versioned writer, which stores the
    linked records; the held rows go to the review queue."""

    def __init__(
        self,
        settings: MatchSettings,
        path: pathlib.Path,
        actor: str,
        report: intake.ImportReport,
        write_records: Callable[[Connection, list[dict[str, Any]]], tuple[int, int, int]],
        dry_run: bool = False,
    ):
        self.settings, self.path, self.actor, self.report = settings, path, actor, report
        self.write_records = write_records
        self.indexes: dict[tuple[str, ...], NameIndex] = {}
        self.dry_run = dry_run
        self.review_rows: list[dict[str, Any]] = []  # a dry run's held rows, for FILE.review.csv

    def _index(self, conn: Connection, query: Query) -> NameIndex:
        scope = tuple(scope_of(query))
        if scope not in self.indexes:
            self.indexes[scope] = NameIndex(mq.name_candidates(conn, scope))
        return self.indexes[scope]

    def resolve(self, conn: Connection, chunk: list[tuple[Row, Any]], reject: RejectFn) -> list[dict[str, Any]]:
        keys = {source_key(p["query"]) for _, p in chunk}
        judged = lq.judgements(conn, list(keys))
        out: list[dict[str, Any]] = []
        for row, parsed in chunk:
            query: Query = parsed["query"]
            key = source_key(query)
            base = {"source": _source(query), "file": self.path.name, "row_number": row.number}
            history = judged.get(key, [])
            same = next((j for j in history if j["verdict"] == SAME), None)
            if same is not None:
                link = base | {"method": "judgement", "score": 100.0, "explanation": _judged_link(same)}
                link |= {"judgement_id": same["id"]}
                out.append({"record": parsed["record"] | {"entity_id": same["entity_id"]}, "link": link})
                continue
            excluded = {j["entity_id"]: j for j in history if j["verdict"] == NOT_SAME}
            index = None if query.code else self._index(conn, query)
            result = match_query(conn, query, self.settings, index)
            candidates = [c for c in result["candidates"] if c["entity_id"] not in excluded]
            if len(candidates) == len(result["candidates"]):
                outcome, why = result["outcome"], result["why"]
                linked = candidates[0] if outcome == LINKED else None
            elif candidates:
                outcome, linked, why = decide(candidates, self.settings)
            else:
                outcome, linked = REJECTED, None
                names = "、".join(f"{j['entity_name']}（判定#{j['id']}）" for j in excluded.values())
                why = f"人工核对已判定与候选主体{names}不是同一主体，不再自动关联"
            if outcome == LINKED and linked is not None:
                link = base | {
                    "method": linked["method"],
                    "score": linked["score"],
                    "explanation": "；".join(linked["reasons"]),
                }
                out.append({"record": parsed["record"] | {"entity_id": linked["entity_id"]}, "link": link})
            elif outcome == REVIEW:
                shown = candidates[: self.settings.candidates_shown]
                region = query.region or (shown[0]["region"] if shown else None)
                held = base | {
                    "source_key": key,
                    "region": region,
                    "record": _held(parsed["record"]),
                    "candidates": shown,
                    "why": why,
                }
                out.append({"review": held})
            else:
                what = f"{METHOD_NAMES[result['method']]} {query.code}" if query.code else f"名称 {query.name}"
                column = _row_column(row, query)
                reject(
                    row,
                    column,
                    f"no entity in the register matches {what}: {why}; correct the row (a code or the name and "
                    f"region), or import the entity first; supervise match NAME shows its candidates",
                )
        return out

    def write(self, conn: Connection, batch: list[dict[str, Any]]) -> tuple[int, int, int, int]:
        records = [b["record"] for b in batch if "record" in b]
        new = corrected = void = 0
        if records:
            new, corrected, void = self.write_records(conn, records)
            lq.add_links(
                conn,
                [
                    b["link"]
                    | {
                        "import_id": self.report.import_id,
                        "entity_id": b["record"]["entity_id"],
                        "kind": b["record"]["kind"],
                        "natural_key": b["record"]["natural_key"],
                    }
                    for b in batch
                    if "record" in b
                ],
            )
        for b in batch:
            if "link" in b:
                method = b["link"]["method"]
                self.report.by_method[method] = self.report.by_method.get(method, 0) + 1
        self.report.linked += len(records)
        reviews = [b["review"] for b in batch if "review" in b]
        lq.add_reviews(conn, reviews, self.actor)
        if self.dry_run:
            self.review_rows.extend(reviews)
        return new, corrected, void, len(reviews)

    def dry_run_done(self) -> None:
        """After a dry run: FILE.review.csv, the rows that would wait for a person, with their best candidates."""
        if self.review_rows:
            self.report.review_file = str(write_review_csv(self.path, self.review_rows))


def _row_column(row: Row, query: Query) -> str:
    if not query.code:
        return "entity_name" if "entity_name" in row.data else "name"
    for column in ("entity_code", "code", "org_code", "reg_no"):
        if not values.is_blank(row.data.get(column)):
            return column
    return "code"


def write_review_csv(path: pathlib.Path, rows: Sequence[dict[str, Any]]) -> pathlib.Path:
    """FILE.review.csv: the rows a person would judge, each with what it said and its two best candidates."""
    out = path.with_name(path.stem + ".review.csv")

    def line(r: dict[str, Any]) -> list[Any]:
        cells: list[Any] = [r["row_number"], r["source_key"], *(r["source"].get(k, "") for k in SOURCE_FIELDS[:4])]
        cells.append(r["why"])
        for c in (r["candidates"] + [None, None])[:2]:
            cells += [f"{c['name']}（{c['code']}）", c["score"], "；".join(c["reasons"])] if c else ["", "", ""]
        return cells

    write_csv(out, list(REVIEW_CSV_COLUMNS), (line(r) for r in rows))
    return out


# -- the queue and the judgements --------------------------------------------------------------------------------


def review_queue(conn: Connection, regions: Sequence[str] | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The open questions, oldest first: one per source key, with the rows it holds and the candidates (each
    marked when a person judged it not the same). ``regions``: only questions whose region begins with one of
    these prefixes (a clerk's authority)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in lq.open_reviews(conn, regions):
        groups.setdefault(r["source_key"], []).append(r)
    judged = lq.judgements(conn, list(groups))
    out: list[dict[str, Any]] = []
    for key, rows in groups.items():
        question = _question(rows, judged.get(key, []))
        if question is not None:
            out.append(question)
        if len(out) >= limit:
            break
    return out


def _question(rows: list[dict[str, Any]], history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One source key's open question, or None when a person judged every candidate not the same."""
    first = rows[0]
    not_same = {j["entity_id"]: j for j in history if j["verdict"] == NOT_SAME}
    candidates = [
        c | {"judged_not_same": not_same[c["entity_id"]]["id"] if c["entity_id"] in not_same else None}
        for c in first["candidates"]
    ]
    if candidates and all(c["judged_not_same"] for c in candidates):
        return None
    return {
        "id": first["id"],
        "source_key": first["source_key"],
        "source": first["source"],
        "region": first["region"],
        "region_name": region_label(first["region"], full=False) if first["region"] else "",
        "why": first["why"],
        "candidates": candidates,
        "rows": [
            {
                "review_id": r["id"],
                "file": r["file"],
                "row_number": r["row_number"],
                "kind": r["record"]["kind"],
                "date": r["record"]["date"],
                "held_by": r["created_by"],
                "held_at": r["created_at"].isoformat(timespec="seconds"),
            }
            for r in rows
        ],
        "held_at": first["created_at"].isoformat(timespec="seconds"),
    }


def question(conn: Connection, review_id: int) -> dict[str, Any]:
    """The question a review belongs to (open or not), with its judgements: for the judge and the console."""
    review = lq.review(conn, review_id)
    if review is None:
        raise JudgementError(f"no match review #{review_id}; 'supervise match review' lists the open ones")
    rows = lq.reviews_of_key(conn, review["source_key"])
    linked = lq.linked_reviews(conn, [r["id"] for r in rows])
    history = lq.judgements(conn, [review["source_key"]]).get(review["source_key"], [])
    pending = [r for r in rows if r["id"] not in linked]
    same = next((j for j in history if j["verdict"] == SAME), None)
    shown = _question(pending or rows, history)
    state = "linked" if same else ("closed" if shown is None else "open")
    body = shown or _question(pending or rows, [])
    assert body is not None
    return body | {
        "state": state,
        "judgements": [
            {
                "id": j["id"],
                "verdict": j["verdict"],
                "code": j["code"],
                "name": j["entity_name"],
                "by": j["judged_by"],
                "at": j["judged_at"].isoformat(timespec="seconds"),
                "note": j["note"],
            }
            for j in history
        ],
        "pending": len(pending) if not same else 0,
    }


def apply_judgement(
    conn: Connection,
    review_id: int,
    verdict: str,
    entity: dict[str, Any] | None,
    actor: str,
    note: str | None = None,
) -> dict[str, Any]:
    """A person's judgement of a review's source key, in the caller's transaction (the caller checks who may).

    ``same`` (``entity`` required): every held row of the key is stored for that entity (a link of method
    ``judgement`` beside each record) and later rows of the key are linked to it without asking. ``not_same``:
    ``entity`` (or, when None, every candidate not yet judged) is never linked to the key automatically; when no
    candidate is left the question is closed and its held rows are not stored (the source must correct them)."""
    review = lq.review(conn, review_id)
    if review is None:
        raise JudgementError(f"no match review #{review_id}; 'supervise match review' lists the open ones")
    key = review["source_key"]
    rows = lq.reviews_of_key(conn, key, lock=True)
    history = lq.judgements(conn, [key]).get(key, [])
    same = next((j for j in history if j["verdict"] == SAME), None)
    if same is not None:
        raise JudgementError(
            f"review #{review_id} ({_shown_source(review)}) was judged the same as {same['entity_name']} "
            f"({same['code']}) by {same['judged_by']} on {in_china(same['judged_at']).date().isoformat()} (judgement "
            f"#{same['id']}); its rows are stored for that entity. A judgement is kept as history and not changed"
        )
    linked = lq.linked_reviews(conn, [r["id"] for r in rows])
    pending = [r for r in rows if r["id"] not in linked]
    result: dict[str, Any] = {"review_id": review_id, "source_key": key, "verdict": verdict, "source": review["source"]}
    if verdict == SAME:
        if entity is None:
            raise JudgementError("a 'same' judgement names the entity: give its 统一社会信用代码")
        [judgement_id] = lq.add_judgements(conn, key, SAME, [entity["id"]], review_id, note, actor)
        new = corrected = 0
        by_file: dict[str, list[dict[str, Any]]] = {}
        for r in pending:
            by_file.setdefault(r["file"], []).append(r)
        stamp_day = None
        if pending:
            import_id, stamp = rq.open_import(conn, "judgement", f"supervise match judge {review_id}", actor)
            stamp_day = in_china(stamp).date().isoformat()
            for file, group in by_file.items():
                records = [_unheld(r["record"]) | {"entity_id": entity["id"]} for r in group]
                done = rq.write_records(
                    conn, records, source=file, import_id=import_id, actor=actor, stamp=stamp,
                    reason=f"人工核对判定#{judgement_id}",
                )  # fmt: skip
                new, corrected = new + done.new, corrected + done.corrected
                explanation = f"人工核对：{actor}于{stamp_day}判定为同一主体（{entity['name']}，判定#{judgement_id}）"
                lq.add_links(
                    conn,
                    [
                        {
                            "import_id": import_id,
                            "entity_id": entity["id"],
                            "kind": r["record"]["kind"],
                            "natural_key": r["record"]["natural_key"],
                            "method": "judgement",
                            "score": 100.0,
                            "explanation": explanation,
                            "source": r["source"],
                            "file": r["file"],
                            "row_number": r["row_number"],
                            "review_id": r["id"],
                            "judgement_id": judgement_id,
                        }
                        for r in group
                    ],
                )
        audit(
            conn, actor, "match_judge", key, review_id=review_id, verdict=SAME, code=entity["code"], stored=len(pending)
        )
        return result | {
            "judgement_ids": [judgement_id],
            "code": entity["code"],
            "name": entity["name"],
            "stored": len(pending),
            "new": new,
            "corrected": corrected,
            "closed": True,
        }
    if verdict != NOT_SAME:
        raise JudgementError(f"'{verdict}' is not a judgement; give same CODE or not-same [CODE]")
    judged = {j["entity_id"] for j in history}
    candidates = review["candidates"]
    if entity is not None:
        targets = [entity]
    else:
        targets = [
            {"id": c["entity_id"], "code": c["code"], "name": c["name"]}
            for c in candidates
            if c["entity_id"] not in judged
        ]
        if not targets:
            raise JudgementError(
                f"review #{review_id}: every candidate has been judged not the same already; nothing to judge"
            )
    ids = lq.add_judgements(conn, key, NOT_SAME, [t["id"] for t in targets], review_id, note, actor)
    left = [c for c in candidates if c["entity_id"] not in judged | {t["id"] for t in targets}]
    closed = not left
    audit(
        conn, actor, "match_judge", key, review_id=review_id, verdict=NOT_SAME,
        codes=[t["code"] for t in targets], closed=closed, held=len(pending),
    )  # fmt: skip
    return result | {
        "judgement_ids": ids,
        "not_same": [{"code": t["code"], "name": t["name"]} for t in targets],
        "left": [{"code": c["code"], "name": c["name"], "score": c["score"]} for c in left],
        "closed": closed,
        "held": len(pending),
        "stored": 0,
    }


def _shown_source(review: dict[str, Any]) -> str:
    s = review["source"]
    return "，".join(str(s[k]) for k in ("name", "code", "region") if s.get(k)) or review["source_key"]


def entity_for_judgement(conn: Connection, code: str) -> dict[str, Any]:
    """The entity a judgement names, by its USCC or identity number."""
    try:
        value = normalize_code(code).value
    except AmbiguousCode as exc:
        value = exc.value
    except CodeError as exc:
        raise JudgementError(f"{exc}; a judgement names the entity by its 统一社会信用代码") from None
    entity = eq.get_entity(conn, value)
    if entity is None:
        raise JudgementError(
            f"no entity with code {value} in the register; import it with 'supervise import entities' first"
        )
    return entity


# -- results ---------------------------------------------------------------------------------------------------


def _side_by_side(q: dict[str, Any]) -> list[str]:
    src = q["source"]
    cands = q["candidates"]
    header = ["", "来源记录", *(f"候选{i}" for i in range(1, len(cands) + 1))]
    rows = [
        ("名称", src.get("name", "-"), [c["name"] for c in cands]),
        ("代码", src.get("code", "-"), [c["code"] for c in cands]),
        (
            "区划",
            region_label(src["region"], full=False) if src.get("region") else "-",
            [c.get("region_name") or "-" for c in cands],
        ),
        ("法定代表人", src.get("legal_rep", "-"), [c.get("legal_rep") or "-" for c in cands]),
        ("行业", src.get("industry", "-"), [c.get("industry") or "-" for c in cands]),
        ("得分", "", [f"{c['score']:g}" for c in cands]),
    ]
    out = ["  " + " | ".join(header)]
    for label, mine, theirs in rows:
        out.append(f"  {label}: " + " | ".join([str(mine), *map(str, theirs)]))
    for i, c in enumerate(cands, 1):
        mark = f"  （已判定不是同一主体，判定#{c['judged_not_same']}）" if c.get("judged_not_same") else ""
        out.append(f"  候选{i} {c['code']}：{'；'.join(c['reasons'])}{mark}")
    return out


class ReviewQueue(DictResult):
    """``supervise match review``: the open questions, each with both sides side by side."""

    def lines(self) -> list[str]:
        questions = self["questions"]
        if not questions:
            return ["No rows wait for a person's judgement (the match review queue is empty)."]
        held = sum(len(q["rows"]) for q in questions)
        out = [f"{len(questions)} questions wait for a person's judgement ({held} rows held):"]
        for q in questions:
            rows = "、".join(f"{r['file']}:{r['row_number']}" for r in q["rows"][:5])
            more = f" 等{len(q['rows'])}行" if len(q["rows"]) > 5 else ""
            out.append("")
            out.append(f"#{q['id']}  {q['why']}  （{len(q['rows'])}行待定：{rows}{more}）")
            out.extend(_side_by_side(q))
        out.append("")
        out.append("Judge one: supervise match judge ID same CODE  |  supervise match judge ID not-same [CODE]")
        return out


class Judgement(DictResult):
    """``supervise match judge``: what the judgement did."""

    def lines(self) -> list[str]:
        r = self
        if r["verdict"] == SAME:
            return [
                f"Review #{r['review_id']} judged the same as {r['name']} ({r['code']}): {r['stored']} held rows "
                f"stored ({r['new']} new, {r['corrected']} corrections); later rows with this name and region are "
                f"linked to it without asking."
            ]
        names = "、".join(f"{t['name']}（{t['code']}）" for t in r["not_same"])
        line = f"Review #{r['review_id']} judged not the same as {names}; they are never linked to it automatically."
        if r["closed"]:
            line += (
                f" No candidate is left: the question is closed and its {r['held']} held rows are not stored "
                f"(the source department should correct them, or import the entity and the rows again)."
            )
        else:
            left = "、".join(f"{c['name']}（{c['code']}，{c['score']:g}）" for c in r["left"])
            line += f" Still open with: {left}."
        return [line]
