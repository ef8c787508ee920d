"""Import of entities, records and inspectors from CSV (UTF-8/BOM/GB18030), XLSX and JSON Lines.

An import is one transaction: any invalid row means nothing is stored and every error is reported as
``file:row:column: reason``; with ``skip_invalid`` the valid rows are stored and the rejects written out.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import json
import pathlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from . import values
from .codes import normalize_code
from .errors import CodeError, IntakeError
from .records import RecordKind

MAX_LISTED_ERRORS = 200
CHUNK = 5000

# Column aliases: Chinese government exports use Chinese headers.
ALIASES = {
    "code": "code", "uscc": "code", "统一社会信用代码": "code", "信用代码": "code", "身份证号": "code",
    "身份证号码": "code", "证件号码": "code", "id_number": "code",
    "名称": "name", "企业名称": "name", "主体名称": "name", "姓名": "name",
    "主体类型": "entity_type", "类型": "entity_type",
    "区划": "region", "行政区划": "region", "所属区域": "region",
    "行业": "industry", "所属行业": "industry",
    "成立日期": "established_on", "established": "established_on",
    "法定代表人": "legal_rep", "负责人": "legal_rep", "legal_representative": "legal_rep",
    "记录类型": "kind", "record_kind": "kind",
    "街道": "township", "乡镇": "township", "街道乡镇": "township", "乡镇街道": "township", "所属街道": "township",
    # Record files whose kind has a field named `code` (tax_violation, no_a_condition, conduct) name the entity
    # in this column instead, leaving `code` to the record.
    "entity_code": "entity_code", "主体代码": "entity_code",
}


@dataclass
class Row:
    number: int  # 1-based data row as a person counts it in the file (header = row 1 for CSV/XLSX)
    data: dict[str, Any]


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    valid: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {"errors": self.errors[:MAX_LISTED_ERRORS]}


def _clean_header(name: Any) -> str:
    text = str(name or "").strip().lstrip("\ufeff")
    return ALIASES.get(text, ALIASES.get(text.lower(), text.lower() if text.isascii() else text))


def read_rows(path: pathlib.Path) -> Iterator[Row]:
    """Yield rows from a CSV, XLSX or JSONL file with normalised column names."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise IntakeError(f"{path}: file not found")
    if suffix in (".xlsx", ".xlsm"):
        yield from _read_xlsx(path)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        yield from _read_jsonl(path)
    elif suffix in (".csv", ".txt", ".tsv"):
        yield from _read_csv(path)
    else:
        raise IntakeError(f"{path}: unknown file type '{suffix}'; use .csv, .xlsx or .jsonl")


def _encoding(path: pathlib.Path) -> str:
    """UTF-8 (with or without BOM) or GB18030, checked over the whole file without loading it at once."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise IntakeError(f"{path}: the file is neither UTF-8 nor GB18030 text; save it as UTF-8 CSV")


def _read_csv(path: pathlib.Path) -> Iterator[Row]:
    # Stream the file: a register export can be hundreds of MB, and decoding it whole costs several times that.
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    with path.open(encoding=_encoding(path), newline="") as handle:
        reader = csv.reader(handle, dialect)
        try:
            header = [_clean_header(h) for h in next(reader)]
        except StopIteration:
            return
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) > len(header):
                yield Row(number, {"__error__": f"row has {len(cells)} cells but the header has {len(header)}"})
                continue
            yield Row(number, dict(zip(header, cells)))


def _read_xlsx(path: pathlib.Path) -> Iterator[Row]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise IntakeError(f"{path}: cannot read the workbook ({exc}); save it again as .xlsx") from exc
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        try:
            header = [_clean_header(h) for h in next(rows)]
        except StopIteration:
            return
        for number, cells in enumerate(rows, start=2):
            if all(values.is_blank(c) for c in cells):
                continue
            data = {}
            for name, cell in zip(header, cells):
                if name:
                    data[name] = cell.strip() if isinstance(cell, str) else cell
            yield Row(number, data)
    finally:
        book.close()


def _read_jsonl(path: pathlib.Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Row(number, {"__error__": f"invalid JSON ({exc.msg} at column {exc.colno})"})
                continue
            if not isinstance(obj, dict):
                yield Row(number, {"__error__": "each line must be a JSON object"})
                continue
            data = {_clean_header(k): v for k, v in obj.items() if k != "data"}
            if isinstance(obj.get("data"), dict):
                if "code" in obj["data"] and "code" in data:
                    data.setdefault("entity_code", data.pop("code"))  # top-level code = entity, data.code = field
                data.update(obj["data"])
            yield Row(number, data)


# -- entities -------------------------------------------------------------------------------------

def parse_entity(row: Row) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    data = row.data
    if "__error__" in data:
        return None, [("-", data["__error__"])]
    errors: list[tuple[str, str]] = []
    code = None
    if values.is_blank(data.get("code")):
        errors.append(("code", "code is required (统一社会信用代码 or identity number)"))
    else:
        try:
            code = normalize_code(str(data["code"]))
        except CodeError as exc:
            errors.append(("code", str(exc)))
    name = data.get("name")
    if values.is_blank(name):
        errors.append(("name", "name is required"))
    established = None
    if not values.is_blank(data.get("established_on")):
        try:
            established = values.parse_date(data["established_on"])
        except ValueError as exc:
            errors.append(("established_on", str(exc)))
    region = data.get("region")
    if not values.is_blank(region):
        region = str(region).strip()
        if isinstance(data.get("region"), (int, float)):
            region = str(int(data["region"]))
        if not (len(region) == 6 and region.isdigit()):
            errors.append(("region", f"'{region}' is not a 6-digit administrative division code"))
    township = None
    if not values.is_blank(data.get("township")):
        township = str(int(data["township"])) if isinstance(data["township"], (int, float)) else str(data["township"]).strip()
        if not (township.isdigit() and 9 <= len(township) <= 12):
            errors.append(("township", f"'{township}' is not a street/township code (9 to 12 digits, "
                                       f"the 6-digit division code followed by the street/township number)"))
    if errors or code is None:
        return None, errors
    if values.is_blank(region):
        region = code.value[2:8] if code.kind == "uscc" else code.value[:6]
    entity_type = data.get("entity_type")
    entity_type = code.entity_type if values.is_blank(entity_type) else str(entity_type).strip()
    return {
        "code": code.value, "code_kind": code.kind, "name": str(name).strip(), "entity_type": entity_type,
        "region": region, "industry": None if values.is_blank(data.get("industry")) else str(data["industry"]).strip(),
        "established_on": established,
        "legal_rep": None if values.is_blank(data.get("legal_rep")) else str(data["legal_rep"]).strip(),
        "extra": {"township": township} if township else None,
    }, []


# -- records --------------------------------------------------------------------------------------

def parse_record(row: Row, kinds: dict[str, RecordKind], default_kind: str | None = None
                 ) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    data = row.data
    if "__error__" in data:
        return None, [("-", data["__error__"])]
    errors: list[tuple[str, str]] = []
    code = None
    column = "entity_code" if "entity_code" in data else "code"
    if values.is_blank(data.get(column)):
        errors.append((column, "code is required (the entity's 统一社会信用代码 or identity number)"))
    else:
        try:
            code = normalize_code(str(data[column]))
        except CodeError as exc:
            errors.append((column, str(exc)))
    kind_name = data.get("kind") if not values.is_blank(data.get("kind")) else default_kind
    if kind_name is None:
        errors.append(("kind", "kind is required (or pass --kind)"))
        return None, errors
    kind = kinds.get(str(kind_name).strip())
    if kind is None:
        from .errors import did_you_mean

        errors.append(("kind", f"unknown record kind '{kind_name}'{did_you_mean(str(kind_name), kinds)}; "
                               f"known kinds: {', '.join(sorted(kinds))}"))
        return None, errors
    date, key, payload, field_errors = kind.validate(data)
    errors.extend(field_errors)
    if errors or code is None:
        return None, errors
    return {"code": code.value, "kind": kind.name, "date": date, "natural_key": key, "data": payload}, []


def validate_rows(path: pathlib.Path, rows: Iterable[Row], parse: Callable[[Row], tuple[Any, list]],
                  report: ImportReport, rejects: list[tuple[Row, str]]) -> Iterator[Any]:
    """Yield parsed rows; record errors (and rejects) in the report as ``file:row:column: reason``."""
    for row in rows:
        report.rows += 1
        parsed, errors = parse(row)
        if errors:
            report.rejected += 1
            for column, reason in errors:
                report.errors.append(f"{path}:{row.number}:{column}: {reason}")
            rejects.append((row, "; ".join(f"{c}: {r}" for c, r in errors)))
            continue
        report.valid += 1
        yield row, parsed


def write_rejects(path: pathlib.Path, rejects: list[tuple[Row, str]]) -> pathlib.Path:
    out = path.with_name(path.stem + ".rejects.csv")
    columns: list[str] = []
    for row, _ in rejects:
        for key in row.data:
            if key not in columns and key != "__error__":
                columns.append(key)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", *columns, "reason"])
        for row, reason in rejects:
            writer.writerow([row.number, *[_cell(row.data.get(c)) for c in columns], reason])
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def fail_message(report: ImportReport) -> str:
    shown = report.errors[:MAX_LISTED_ERRORS]
    more = len(report.errors) - len(shown)
    lines = "\n".join(shown) + (f"\n... and {more} more" if more else "")
    return (f"{report.rejected} of {report.rows} rows in {report.file} are invalid; nothing was stored. "
            f"Fix them, or pass --skip-invalid to store the valid rows and write the rest to a rejects file.\n"
            f"{lines}")


# One chunking helper for the whole product (engine.store.chunked); this name is kept for the importers.
from .store import chunked as chunked_rows  # noqa: E402, F401 - a re-export
