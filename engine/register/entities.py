"""The entity register: import entities and records, show an entity with its records."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

from engine.errors import CodeError, EntityNotFound, IntakeError
from engine.register import intake
from engine.register.codes import AmbiguousCode, mask_person_id, normalize_code
from engine.store import Store, audit
from engine.store import entities as q

ProgressFn = Callable[[int], None]


def import_entities(
    store: Store,
    path: str | pathlib.Path,
    skip_invalid: bool = False,
    actor: str = "cli",
    progress: ProgressFn | None = None,
    encoding: str | None = None,
) -> intake.ImportReport:
    """Upsert entities from a file in one transaction (``encoding`` overrides the detection of a CSV's)."""
    from policies import base_limits

    path = pathlib.Path(path)
    report = intake.ImportReport(str(path))
    rejects: list = []
    limits = base_limits()

    def parse(row: intake.Row):
        return intake.parse_entity(row, limits)

    with store.transaction() as conn:
        rows = intake.validate_rows(path, intake.read_rows(path, encoding, report.warnings), parse, report, rejects)
        for chunk in intake.chunked_rows(rows, intake.CHUNK):
            if report.errors and not skip_invalid:
                continue  # keep validating to list every error; nothing will be stored
            inserted, updated = q.upsert_entities(conn, [p for _, p in chunk])
            report.inserted += inserted
            report.updated += updated
            if progress:
                progress(len(chunk))
        _finish(report, path, rejects, skip_invalid)
        audit(
            conn,
            actor,
            "import_entities",
            str(path),
            rows=report.rows,
            inserted=report.inserted,
            updated=report.updated,
            rejected=report.rejected,
        )
    return report


def import_records(
    store: Store,
    path: str | pathlib.Path,
    kinds: dict,
    skip_invalid: bool = False,
    default_kind: str | None = None,
    actor: str = "cli",
    progress: ProgressFn | None = None,
    encoding: str | None = None,
) -> intake.ImportReport:
    """Insert credit records from a file in one transaction; unknown entities are errors. ``default_kind``
    (--kind) applies to rows without a kind; a row whose own kind differs is an error."""
    path = pathlib.Path(path)
    report = intake.ImportReport(str(path))
    rejects: list = []

    def parse(row: intake.Row):
        return intake.parse_record(row, kinds, default_kind)

    with store.transaction() as conn:
        rows = intake.validate_rows(path, intake.read_rows(path, encoding, report.warnings), parse, report, rejects)
        for chunk in intake.chunked_rows(rows, intake.CHUNK):
            ids = q.entity_ids(conn, [p["code"] for _, p in chunk])
            good = []
            for row, parsed in chunk:
                entity_id = ids.get(parsed["code"])
                if entity_id is None:
                    report.valid -= 1
                    report.rejected += 1
                    reason = (
                        f"no entity with code {parsed['code']} in the register; "
                        f"import it with 'supervise import entities' first"
                    )
                    try:
                        normalize_code(parsed["code"])
                    except CodeError as exc:  # an ambiguous code: say so too
                        reason += f" ({exc})"
                    report.errors.append(f"{path}:{row.number}:code: {reason}")
                    rejects.append((row, f"code: {reason}"))
                    continue
                good.append(
                    {
                        "entity_id": entity_id,
                        "kind": parsed["kind"],
                        "date": parsed["date"],
                        "natural_key": parsed["natural_key"],
                        "data": parsed["data"],
                    }
                )
            if report.errors and not skip_invalid:
                continue
            report.inserted += q.insert_records(conn, good, source=path.name)
            if progress:
                progress(len(chunk))
        report.unchanged = report.valid - report.inserted
        _finish(report, path, rejects, skip_invalid)
        audit(
            conn,
            actor,
            "import_records",
            str(path),
            rows=report.rows,
            inserted=report.inserted,
            rejected=report.rejected,
        )
    return report


def _finish(report: intake.ImportReport, path: pathlib.Path, rejects: list, skip_invalid: bool) -> None:
    if report.errors and not skip_invalid:
        raise IntakeError(intake.fail_message(report), report.errors)
    if rejects:
        report.rejects_file = str(intake.write_rejects(path, rejects))


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
        records = q.records_for(conn, entity["id"])
    return {
        "code": entity["code"],
        "code_kind": entity["code_kind"],
        "name": entity["name"],
        "entity_type": entity["entity_type"],
        "region": entity["region"],
        "industry": entity["industry"],
        "established_on": entity["established_on"].isoformat() if entity["established_on"] else None,
        "legal_rep": entity["legal_rep"],
        "records": [
            {"kind": r["kind"], "date": r["date"].isoformat(), "data": r["data"], "source": r["source"]}
            for r in records
        ],
    }
