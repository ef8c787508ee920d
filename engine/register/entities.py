"""The entity register: import entities and records, show an entity with its records."""

from __future__ import annotations

import pathlib
from typing import Any

from engine.errors import CodeError, EntityNotFound
from engine.regions import region_label
from engine.register import intake, linking
from engine.register.codes import AmbiguousCode, mask_person_id, normalize_code
from engine.register.intake import ProgressFn
from engine.register.matchconfig import MatchSettings
from engine.register.records import Limits, RecordKind
from engine.results import DictResult
from engine.store import Connection, Store
from engine.store import entities as q
from engine.store import records as rq


def import_entities(
    store: Store,
    path: str | pathlib.Path,
    limits: Limits,
    skip_invalid: bool = False,
    actor: str = "cli",
    progress: ProgressFn | None = None,
    encoding: str | None = None,
    strict_org_code: bool = False,
) -> intake.ImportReport:
    """Upsert entities from a file in one transaction; ``limits`` are the plausible field values (the packs'
    ``limits:``), ``encoding`` overrides the detection of a CSV's. A USCC whose inner 组织机构代码 fails GB 11714
    is a warning counted in the report, an error with ``strict_org_code``."""
    report = intake.ImportReport(str(path))
    intake.run_import(
        store,
        path,
        intake.org_code_checked(lambda row: intake.parse_entity(row, limits), report, path, strict_org_code),
        q.upsert_entities,
        action="import_entities",
        skip_invalid=skip_invalid,
        actor=actor,
        progress=progress,
        encoding=encoding,
        report=report,
        parallel=None,  # a large file is read and parsed in a second process while this one writes
    )
    intake.org_code_summary(report)
    return report


def import_records(
    store: Store,
    path: str | pathlib.Path,
    kinds: dict[str, RecordKind],
    skip_invalid: bool = False,
    default_kind: str | None = None,
    actor: str = "cli",
    progress: ProgressFn | None = None,
    encoding: str | None = None,
    dry_run: bool = False,
    strict_org_code: bool = False,
    match: MatchSettings | None = None,
) -> intake.ImportReport:
    """Import credit records from a file in one transaction; unknown entities are errors. ``default_kind``
    (--kind) applies to rows without a kind; a row whose own kind differs is an error.

    A row whose record (entity, kind, natural key) is new is stored as version 1; one whose record exists with
    other content is a correction, stored as the next version (the old one kept in the history); identical content
    changes nothing. Every version this import writes is recorded at its start, by ``actor``, under one import id.
    ``dry_run`` stores nothing and reports the corrections field by field. A USCC whose inner 组织机构代码 fails
    GB 11714 is a warning counted in the report, an error with ``strict_org_code``.

    ``match`` (--match): rows may name their entity by 组织机构代码, 注册号 or name, matched with these settings
    (:mod:`engine.register.linking`): each is linked (stored with its link), held for a person or rejected; a dry
    run also writes FILE.review.csv."""
    report = intake.ImportReport(str(path), versioned=True, matched=match is not None)
    write, written = intake.versioned_writer(report, path, actor, "file")

    def with_entities(conn: Connection, chunk: list[tuple[intake.Row, Any]], reject: intake.RejectFn) -> list[Any]:
        ids = q.entity_ids(conn, [p["code"] for _, p in chunk])
        good = []
        for row, parsed in chunk:
            entity_id = ids.get(parsed["code"])
            if entity_id is None:
                reason = (
                    f"no entity with code {parsed['code']} in the register; "
                    f"import it with 'supervise import entities' first"
                )
                try:
                    normalize_code(parsed["code"])
                except CodeError as exc:  # an ambiguous code: say so too
                    reason += f" ({exc})"
                reject(row, "code", reason)
                continue
            parsed["entity_id"] = entity_id  # the parsed row is this import's own: no copy
            good.append(parsed)
        return good

    linker = None if match is None else linking.Linker(match, pathlib.Path(path), actor, report, write, dry_run)
    parse = linking.parse_matched if linker else intake.parse_record
    intake.run_import(
        store,
        path,
        intake.org_code_checked(lambda row: parse(row, kinds, default_kind), report, path, strict_org_code),
        linker.write if linker else write,
        action="import_records",
        counts=("inserted", "updated", "void", "held") if linker else ("inserted", "updated", "void"),
        resolve=linker.resolve if linker else with_entities,
        skip_invalid=skip_invalid,
        actor=actor,
        progress=progress,
        encoding=encoding,
        dry_run=dry_run,
        report=report,
        parallel=None,  # a large file is read and parsed in a second process while this one writes
    )
    if written.repeated:
        report.warnings.append(
            f"{written.repeated} rows give a record that an earlier row of the file also gives, with other fields; "
            f"the later row counts (check the file for duplicates)"
        )
    intake.org_code_summary(report)
    if dry_run:
        report.import_id = None
        if linker:
            linker.dry_run_done()
    return report


def resolve_code(raw: str) -> str:
    try:
        return normalize_code(raw).value
    except AmbiguousCode as exc:
        return exc.value  # a code is looked up by its text; the register knows what it is
    except CodeError as exc:
        raise CodeError(f"{exc}. Give a valid 统一社会信用代码 or resident identity number.") from None


def show_entity(store: Store, raw_code: str) -> dict[str, Any]:
    code = resolve_code(raw_code)
    with store.read() as conn:
        entity = q.get_entity(conn, code)
        if entity is None:
            shown = mask_person_id(code) if len(code) == 18 and code[:17].isdigit() else code
            raise EntityNotFound(
                f"No entity with code {shown} in the register {store.display_url()}; "
                f"check the code or import it with 'supervise import entities'."
            )
        records = rq.record_rows(conn, [entity["id"]]).get(entity["id"], [])
    return EntityView(
        {
            "code": entity["code"],
            "code_kind": entity["code_kind"],
            "name": entity["name"],
            "entity_type": entity["entity_type"],
            "region": entity["region"],
            "region_name": region_label(entity["region"]),
            "industry": entity["industry"],
            "established_on": entity["established_on"].isoformat() if entity["established_on"] else None,
            "legal_rep": entity["legal_rep"],
            "records": [
                {
                    "kind": r["kind"],
                    "date": r["date"].isoformat(),
                    "data": r["data"],
                    "source": r["source"],
                    "version": r["version"],
                }
                for r in records
            ],
        }
    )


class EntityView(DictResult):
    """An entity with its credit records (show_entity); region_name is the region's name (GB/T 2260)."""

    def lines(self) -> list[str]:
        r = self
        lines = [
            f"{r['name']}  {r['code']}  ({r['entity_type']}, region {r['region']} {r['region_name']}, "
            f"industry {r['industry'] or '-'},"
            f" established {r['established_on'] or '-'})",
            f"legal representative: {r['legal_rep'] or '-'}",
            f"{len(r['records'])} records:",
        ]
        for rec in r["records"]:
            data = ", ".join(f"{k}={v}" for k, v in rec["data"].items())
            lines.append(f"  {rec['date']}  {rec['kind']:<20} {data}")
        return lines
