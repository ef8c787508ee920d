"""Record versions as a clerk sees them: the history of an entity's records, a single correction, an annulment.

A correction or an annulment is a new version of one record, recorded now by the acting user with the reason;
the version before it stays in the history (``engine.store.records``). An annulled record ("entered in error") is
kept, and is in no evaluation whose knowledge date is after the annulment; an evaluation or replay as of an
earlier knowledge date still sees it, as it did then. A correction file (``records correct --file``) goes through
the import loop: every row must name a record that exists, and may only carry fields of its kind.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Sequence
from typing import Any

from engine.errors import UsageProblem, did_you_mean
from engine.register import intake
from engine.register.codes import mask_person_id
from engine.register.entities import resolve_code
from engine.register.intake import METHOD_NAMES, versioned_writer
from engine.register.intake import shown as _shown
from engine.register.records import RecordKind
from engine.results import DictResult
from engine.store import Connection, Store, audit
from engine.store import entities as q
from engine.store import linking as lq
from engine.store import records as rq
from engine.values import in_china

ROW_COLUMNS = ("code", "kind", "reason")  # columns of a correction row that are not record fields


def _entity(conn: Connection, store: Store, raw_code: str) -> dict[str, Any]:
    code = resolve_code(raw_code)
    entity = q.get_entity(conn, code)
    if entity is None:
        shown = mask_person_id(code) if len(code) == 18 and code[:17].isdigit() else code
        raise UsageProblem(
            f"No entity with code {shown} in the register {store.display_url()}; check the code "
            f"('supervise entities show CODE')."
        )
    return entity


def _kind(kinds: dict[str, RecordKind], name: str) -> RecordKind:
    kind = kinds.get(name)
    if kind is None:
        raise UsageProblem(
            f"--kind {name}: not a record kind{did_you_mean(name, kinds)}; known kinds: {', '.join(sorted(kinds))}"
        )
    return kind


def natural_key(kind: RecordKind, given: dict[str, Any], where: str) -> str:
    """The natural key of a record of ``kind`` from the values of its key fields (each parsed as its field is)."""
    parts = []
    for name in kind.key:
        raw = given.get(name)
        if raw is None or str(raw).strip() == "":
            raise UsageProblem(
                f"{where}: give the record's key field {name} (the key of a {kind.name} record is "
                f"{', '.join(kind.key)})"
            )
        try:
            value = kind.fields[name].parse(raw, kind.limits, kind.future_days)
        except ValueError as exc:
            raise UsageProblem(f"{where}: {name}: {exc}") from None
        parts.append(value.isoformat() if isinstance(value, dt.date) else str(value))
    return "|".join(parts)


def parse_assignments(pairs: Sequence[str], option: str) -> dict[str, str]:
    """``field=value`` options as a mapping (``field=`` clears the field)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageProblem(f"{option} {pair}: write field=value (field= clears the field)")
        out[name.strip()] = value.strip()
    return out


def _key_values(kind: RecordKind, key: Sequence[str]) -> dict[str, Any]:
    """``--key`` options: ``field=value`` pairs, or the key's value itself when the kind's key is one field."""
    if len(key) == 1 and "=" not in key[0]:
        if len(kind.key) != 1:
            raise UsageProblem(
                f"--key {key[0]}: the key of a {kind.name} record has the fields {', '.join(kind.key)}; "
                f"give each as --key field=value"
            )
        return {kind.key[0]: key[0]}
    given = parse_assignments(key, "--key")
    unknown = [name for name in given if name not in kind.key]
    if unknown:
        raise UsageProblem(
            f"--key {unknown[0]}: not a key field of {kind.name}{did_you_mean(unknown[0], kind.key)}; "
            f"its key is {', '.join(kind.key)}"
        )
    return given


def _find(conn: Connection, entity: dict[str, Any], kind: RecordKind, key: str) -> dict[str, Any]:
    found = rq.find_record(conn, entity["id"], kind.name, key)
    if found is None:
        keys = rq.keys_of(conn, entity["id"], kind.name)
        known = (
            f"its {kind.name} records have the keys {', '.join(keys[:10])}" if keys else f"it has no {kind.name} record"
        )
        raise UsageProblem(
            f"Entity {entity['code']} has no {kind.name} record with key {key}{did_you_mean(key, keys)}; {known}."
        )
    return found


def _row_of(stored: dict[str, Any]) -> dict[str, Any]:
    return dict(stored["data"] or {})


def _merged(kind: RecordKind, stored: dict[str, Any], sets: dict[str, Any]) -> tuple[dt.date, str, dict, list]:
    """Validate the stored fields with ``sets`` laid over them (a blank value clears a field) as a new row."""
    return kind.validate(_row_of(stored) | sets)


# -- history ----------------------------------------------------------------------------------------------------


def record_history(store: Store, raw_code: str, kind: str | None, kinds: dict[str, RecordKind]) -> RecordHistory:
    """Every version of an entity's records (of one kind when given), oldest first, with who and when."""
    if kind is not None:
        _kind(kinds, kind)
    with store.read() as conn:
        entity = _entity(conn, store, raw_code)
        versions = rq.history(conn, entity["id"], kind)
        sources = rq.import_sources(conn, {v["import_id"] for v in versions if v["import_id"]})
        links = {(k["import_id"], k["kind"], k["natural_key"]): k for k in lq.links_of(conn, entity["id"], kind)}
    records: list[dict[str, Any]] = []
    by_record: dict[int, dict[str, Any]] = {}
    for v in versions:
        rec = by_record.get(v["id"])
        if rec is None:
            rec = by_record[v["id"]] = {
                "record_id": v["id"],
                "kind": v["kind"],
                "key": v["natural_key"],
                "versions": [],
            }
            records.append(rec)
        previous = rec["versions"][-1] if rec["versions"] else None
        rec["versions"].append(
            {
                "version": v["version"],
                "status": v["status"],
                "date": v["date"].isoformat(),
                "data": v["data"],
                "changed": rq.field_changes(previous["date"], previous["data"], v["date"], v["data"])
                if previous
                else {},
                "recorded_at": _iso(v["recorded_at"]),
                "superseded_at": _iso(v["superseded_at"]),
                "actor": v["actor"],
                "import_id": v["import_id"],
                "import": sources.get(v["import_id"]),
                "source": v["source"],
                "reason": v["reason"],
                "link": _link(links.get((v["import_id"], v["kind"], v["natural_key"]))),
            }
        )
    for rec in records:
        rec["versions"].sort(key=lambda x: x["version"])
        rec["status"] = rec["versions"][-1]["status"]
    return RecordHistory({"code": entity["code"], "name": entity["name"], "kind": kind, "records": records})


def _link(link: dict[str, Any] | None) -> dict[str, Any] | None:
    """How an import with --match found the entity of this version (engine.register.linking), or None."""
    if link is None:
        return None
    keep = ("method", "score", "explanation", "source", "file", "row_number", "review_id", "judgement_id")
    return {k: link[k] for k in keep}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return in_china(value).isoformat(timespec="seconds")


class RecordHistory(DictResult):
    """``records history``: per record its versions, the fields each changed, who recorded it and when."""

    def lines(self) -> list[str]:
        r = self
        lines = [
            f"{r['name']} {r['code']}: {len(r['records'])} records" + (f" of kind {r['kind']}" if r["kind"] else "")
        ]
        for rec in r["records"]:
            state = " (annulled: entered in error)" if rec["status"] == rq.VOID else ""
            lines.append(f"{rec['kind']} [{rec['key']}]{state}")
            for v in rec["versions"]:
                by = f"by {v['actor']}" if v["actor"] else "by (not recorded)"
                via = f", import {v['import_id']} {v['import']['source']}" if v["import"] else ""
                head = f"  v{v['version']}  recorded {v['recorded_at']} {by}{via}"
                if v["superseded_at"]:
                    head += f"; superseded {v['superseded_at']}"
                lines.append(head)
                if v["status"] == rq.VOID and v["version"] > 1:
                    lines.append("      annulled as entered in error")
                elif v["changed"]:
                    lines.extend(
                        f"      {name}: {_shown(old)} -> {_shown(new)}" for name, (old, new) in v["changed"].items()
                    )
                else:
                    fields = ", ".join(f"{k}={val}" for k, val in v["data"].items())
                    lines.append(f"      {fields}")
                if v["reason"]:
                    lines.append(f"      reason: {v['reason']}")
                if v["link"]:
                    link = v["link"]
                    given = "，".join(f"{k}={val}" for k, val in link["source"].items())
                    lines.append(
                        f"      linked by {METHOD_NAMES.get(link['method'], link['method'])} (score {link['score']:g}, "
                        f"{link['file']} row {link['row_number']}; the row gave {given}): {link['explanation']}"
                    )
        return lines


# -- a clerk's correction and annulment -------------------------------------------------------------------------


def correct_record(
    store: Store,
    raw_code: str,
    kind_name: str,
    key: Sequence[str],
    sets: Sequence[str],
    reason: str,
    actor: str,
    kinds: dict[str, RecordKind],
) -> RecordChanged:
    """Record the next version of one record with the fields ``sets`` (``field=value``; ``field=`` clears it)."""
    kind = _kind(kinds, kind_name)
    reason = _reason(reason)
    given = parse_assignments(sets, "--set")
    if not given:
        raise UsageProblem("Give at least one --set field=value (the fields to correct).")
    for name in given:
        if name not in kind.fields:
            raise UsageProblem(
                f"--set {name}: a {kind.name} record has no field {name}{did_you_mean(name, kind.fields)}; "
                f"its fields: {', '.join(kind.fields)}"
            )
        if name in kind.key:
            raise UsageProblem(
                f"--set {name}: {name} is part of the record's key; a record with another {name} is another "
                f"record: annul this one ('supervise records annul') and import the right one"
            )
    natural = natural_key(kind, _key_values(kind, key), "--key")
    with store.transaction() as conn:
        entity = _entity(conn, store, raw_code)
        stored = _find(conn, entity, kind, natural)
        if stored["status"] == rq.VOID:
            raise UsageProblem(
                f"The {kind.name} record [{natural}] of {entity['code']} was annulled as entered in error on "
                f"{_iso(stored['recorded_at'])}; it cannot be corrected ('supervise records history "
                f"{entity['code']}' shows it)."
            )
        date, new_key, data, errors = _merged(kind, stored, given)
        if errors:
            column, why = errors[0]
            raise UsageProblem(f"--set {column}: {why}")
        changes = rq.field_changes(stored["date"], stored["data"], date, data)
        if not changes:
            raise UsageProblem(
                f"The {kind.name} record [{natural}] of {entity['code']} already holds these values; nothing to "
                f"correct."
            )
        return _record_version(
            conn, entity, kind, stored, natural, date, data, rq.VALID, changes, reason, actor, "correction"
        )


def annul_record(
    store: Store,
    raw_code: str,
    kind_name: str,
    key: Sequence[str],
    reason: str,
    actor: str,
    kinds: dict[str, RecordKind],
) -> RecordChanged:
    """Annul a record entered in error: a new version with status void (kept in the history, out of every later
    evaluation; an evaluation as of an earlier knowledge date still sees it)."""
    kind = _kind(kinds, kind_name)
    reason = _reason(reason)
    natural = natural_key(kind, _key_values(kind, key), "--key")
    with store.transaction() as conn:
        entity = _entity(conn, store, raw_code)
        stored = _find(conn, entity, kind, natural)
        if stored["status"] == rq.VOID:
            raise UsageProblem(
                f"The {kind.name} record [{natural}] of {entity['code']} is already annulled (since "
                f"{_iso(stored['recorded_at'])})."
            )
        return _record_version(
            conn, entity, kind, stored, natural, stored["date"], stored["data"], rq.VOID, {}, reason, actor, "annulment"
        )


def _record_version(
    conn: Connection,
    entity: dict[str, Any],
    kind: RecordKind,
    stored: dict[str, Any],
    natural: str,
    date: dt.date,
    data: dict[str, Any],
    status: str,
    changes: dict[str, list[Any]],
    reason: str,
    actor: str,
    what: str,
) -> RecordChanged:
    """Write a clerk's correction or annulment (``what``) as the record's next version, audited, in the caller's
    transaction."""
    command = "correct" if what == "correction" else "annul"
    import_id, stamp = rq.open_import(conn, what, f"supervise records {command}", actor)
    version = rq.replace_version(
        conn,
        stored,
        date=date,
        data=data,
        status=status,
        source=stored["source"] or what,
        import_id=import_id,
        actor=actor,
        stamp=stamp,
        reason=reason,
    )
    audit(
        conn,
        actor,
        f"record_{command}",
        f"{entity['code']}:{kind.name}:{natural}",
        version=version,
        fields=changes,
        reason=reason,
    )
    return RecordChanged(
        {
            "code": entity["code"],
            "kind": kind.name,
            "key": natural,
            "record_id": stored["id"],
            "version": version,
            "status": status,
            "changed": changes,
            "reason": reason,
            "actor": actor,
            "recorded_at": _iso(stamp),
            "import_id": import_id,
        }
    )


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise UsageProblem("--reason is required: say why the record is corrected or annulled (it is kept with it).")
    return text


class RecordChanged(DictResult):
    """``records correct`` / ``records annul``: the record's new version."""

    def lines(self) -> list[str]:
        r = self
        what = "annulled as entered in error" if r["status"] == rq.VOID else "corrected"
        lines = [
            f"{r['code']} {r['kind']} [{r['key']}] {what}: version {r['version']}, recorded {r['recorded_at']} by "
            f"{r['actor']} (import {r['import_id']})."
        ]
        lines.extend(f"  {name}: {_shown(old)} -> {_shown(new)}" for name, (old, new) in r["changed"].items())
        lines.append(f"  reason: {r['reason']}")
        lines.append("The next cycle decides with this version; replays of earlier cycles keep what they knew.")
        return lines


# -- a correction file ----------------------------------------------------------------------------------------


def import_corrections(
    store: Store,
    path: str | pathlib.Path,
    kinds: dict[str, RecordKind],
    reason: str,
    actor: str,
    default_kind: str | None = None,
    dry_run: bool = False,
    encoding: str | None = None,
) -> intake.ImportReport:
    """Correct records from a file in one transaction: each row names an existing record by code, kind and key
    fields and gives the fields to correct (an empty cell corrects nothing). A row naming no record, a column that
    is not a field of the row's kind, or a corrected value its field refuses, is an error naming file:row:column;
    any error stores nothing."""
    reason = _reason(reason)
    path = pathlib.Path(path)
    report = intake.ImportReport(str(path), versioned=True)
    write, _ = versioned_writer(report, path, actor, "correction", reason)

    def parse(row: intake.Row) -> tuple[Any, list[tuple[str, str]]]:
        if "__error__" in row.data:
            return None, [("-", row.data["__error__"])]
        name = row.data.get("kind") or default_kind
        kind = kinds.get(str(name or "").strip())
        if kind is None:
            why = (
                "kind is required (or pass --kind)"
                if not name
                else f"unknown record kind '{name}'{did_you_mean(str(name), kinds)}"
            )
            return None, [("kind", why)]
        errors = [
            (
                col,
                f"{col} is not a field of a {kind.name} record{did_you_mean(col, kind.fields)}; its fields: {', '.join(kind.fields)}",
            )
            for col, value in row.data.items()
            if col not in kind.fields and col not in ROW_COLUMNS and str(value or "").strip()
        ]
        try:
            key = natural_key(kind, row.data, "key")
        except UsageProblem as exc:
            errors.append(
                (
                    next((k for k in kind.key if not str(row.data.get(k) or "").strip()), kind.key[0]),
                    str(exc).split(": ", 1)[-1],
                )
            )
            key = ""
        code = str(row.data.get("code") or "").strip()
        if not code:
            errors.append(("code", "code is required (the entity's 统一社会信用代码 or identity number)"))
        # An empty cell corrects nothing (a file mixing kinds has every kind's columns); clearing a field is a
        # single correction: supervise records correct CODE ... --set field=
        sets = {k: v for k, v in row.data.items() if k in kind.fields and k not in kind.key and str(v or "").strip()}
        if not sets and not errors:
            errors.append(
                ("-", f"the row names the record but gives no field to correct (fields: {', '.join(kind.fields)})")
            )
        return ({"code": code, "kind": kind, "key": key, "sets": sets}, errors)

    def resolve(conn: Connection, chunk: list[tuple[intake.Row, Any]], reject: intake.RejectFn) -> list[Any]:
        codes = [resolve_code(p["code"]) for _, p in chunk]
        ids = q.entity_ids(conn, codes)
        keys = {(ids.get(code), p["kind"].name, p["key"]) for code, (_, p) in zip(codes, chunk)}
        stored = rq.current_versions(conn, [(e, k, n) for e, k, n in keys if e is not None], lock=True)
        good = []
        for code, (row, p) in zip(codes, chunk):
            entity_id = ids.get(code)
            kind = p["kind"]
            if entity_id is None:
                reject(row, "code", f"no entity with code {p['code']} in the register")
                continue
            old = stored.get((entity_id, kind.name, p["key"]))
            if old is None:
                reject(
                    row,
                    kind.key[0],
                    f"entity {p['code']} has no {kind.name} record with key {p['key']}; a correction names an existing record (import new ones with 'supervise import records')",
                )
                continue
            if old["status"] == rq.VOID:
                reject(
                    row,
                    kind.key[0],
                    f"the {kind.name} record [{p['key']}] was annulled as entered in error; it cannot be corrected",
                )
                continue
            date, _key, data, errors = _merged(kind, old, p["sets"])
            if errors:
                for column, why in errors:
                    reject(row, column, why)
                continue
            good.append(
                {
                    "entity_id": entity_id,
                    "kind": kind.name,
                    "date": date,
                    "natural_key": p["key"],
                    "data": data,
                    "code": p["code"],
                }
            )
        return good

    intake.run_import(
        store,
        path,
        parse,
        write,
        action="import_corrections",
        counts=("inserted", "updated", "void"),
        resolve=resolve,
        actor=actor,
        encoding=encoding,
        dry_run=dry_run,
        report=report,
    )
    if dry_run:
        report.import_id = None
    return report
