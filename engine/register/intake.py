"""Import of entities, records, inspectors and results from CSV (UTF-8/BOM/GB18030), XLSX and JSON Lines.

An import is one transaction: any invalid row means nothing is stored and every error is reported as
``file:row:column: reason``; with ``skip_invalid`` the valid rows are stored and the rejects written out.
A file that cannot be read as a whole (an unclosed quote, duplicate columns, a zip bomb, a wrong encoding) is
refused by name before anything is stored. The limits are the ``MAX_*`` constants below and, for field values,
``limits:`` in policies/record_kinds.yaml.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import gc
import json
import math
import pathlib
import re
import unicodedata
import zipfile
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import ParseError

from engine import values
from engine.errors import CodeError, IntakeError, did_you_mean
from engine.exports import write_csv
from engine.progress import collector_paused
from engine.register.codes import PROVINCES, AmbiguousCode, Code, normalize_code, org_code_problem, validate_reg_no
from engine.register.records import DEFAULT_LIMITS, Limits, RecordKind, parse_day
from engine.store import Connection, Store, audit, chunked
from engine.store import records as rq

MAX_LISTED_ERRORS = 200
CHUNK = 5000

# Column aliases: Chinese government exports use Chinese headers.
ALIASES = {
    "code": "code",
    "uscc": "code",
    "统一社会信用代码": "code",
    "信用代码": "code",
    "身份证号": "code",
    "身份证号码": "code",
    "证件号码": "code",
    "id_number": "code",
    "名称": "name",
    "企业名称": "name",
    "主体名称": "name",
    "姓名": "name",
    "主体类型": "entity_type",
    "类型": "entity_type",
    "区划": "region",
    "行政区划": "region",
    "所属区域": "region",
    "行业": "industry",
    "所属行业": "industry",
    "成立日期": "established_on",
    "established": "established_on",
    "法定代表人": "legal_rep",
    "负责人": "legal_rep",
    "legal_representative": "legal_rep",
    "记录类型": "kind",
    "record_kind": "kind",
    "街道": "township",
    "乡镇": "township",
    "街道乡镇": "township",
    "乡镇街道": "township",
    "所属街道": "township",
    # Record files whose kind has a field named `code` (tax_violation, no_a_condition, conduct) name the entity
    # in this column instead, leaving `code` to the record.
    "entity_code": "entity_code",
    "主体代码": "entity_code",
    # The 15-digit 注册号 an entity had before its USCC (its former number).
    "注册号": "reg_no",
    "原注册号": "reg_no",
    "工商注册号": "reg_no",
    "registration_no": "reg_no",
    # A crosswalk file (supervise import crosswalk): the name before a change, and the day of the change.
    "曾用名": "former_name",
    "原名称": "former_name",
    "变更日期": "changed_on",
    "换照日期": "changed_on",
}


# Raw column names that name the entity explicitly. When one of them stands next to a plain `code` column (a
# records file with `uscc` and `code`), it is the entity and `code` is the record's own field.
ENTITY_COLUMNS = {
    "uscc",
    "统一社会信用代码",
    "信用代码",
    "身份证号",
    "身份证号码",
    "证件号码",
    "id_number",
    "entity_code",
    "主体代码",
}

# Limits of an import file (README "Input files"): beyond them the file is refused with a named error.
MAX_CELL_CHARS = csv.field_size_limit()  # 131072: a longer CSV cell is almost always an unclosed quote
MAX_XLSX_UNPACKED = 256 * 2**20  # bytes a workbook may unpack to (a 1.5 MB zip bomb unpacks to GBs)
MAX_XLSX_SHARED_STRINGS = 128 * 2**20  # bytes of xl/sharedStrings.xml, which is held in memory whole
MAX_XLSX_ROWS = 1_048_576  # Excel's own sheet limits
MAX_XLSX_COLUMNS = 1000
MAX_JSON_DEPTH = 20  # nesting of a JSON Lines object (a record needs 2)
MAX_NUMBER_DIGITS = 20  # a JSON integer with more digits is refused before it is parsed
MAX_LISTED_CHANGES = 20  # corrections an import report prints field by field (--json has more)


@dataclass
class Row:
    number: int  # 1-based data row as a person counts it in the file (header = row 1 for CSV/XLSX)
    data: dict[str, Any]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, reason) found while reading


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
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False  # nothing was stored: the counts and changes say what the import would do
    versioned: bool = False  # a records import: ``updated`` counts corrections (new versions of known records)
    void: int = 0  # rows naming records annulled as entered in error (not restored)
    import_id: int | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)  # corrections, field by field (the first ones)
    org_code_warnings: int = 0  # USCCs whose inner 组织机构代码 (positions 9-17) fails GB 11714 (stored all the same)
    # An import with --match (engine.register.linking): rows linked (by method), held for review, the review CSV.
    matched: bool = False
    linked: int = 0
    held: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    review_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("errors", "versioned", "updated")}
        if self.versioned:
            out["corrected"] = self.updated
        else:
            out.pop("void"), out.pop("changes"), out.pop("import_id")
        if not self.org_code_warnings:
            out.pop("org_code_warnings")
            out["updated"] = self.updated
        if not self.matched:
            for name in ("matched", "linked", "held", "by_method", "review_file"):
                out.pop(name)
        return out | {"errors": self.errors[:MAX_LISTED_ERRORS]}

    def to_json(self) -> dict[str, Any]:
        return self.as_dict()

    def lines(self, noun: str = "rows", warnings: bool = True) -> list[str]:
        """The counts as one line (``noun``: what was rejected, e.g. rows, inspectors, results), then the
        warnings (unless ``warnings`` is false)."""
        changed = "corrected" if self.versioned else "updated"
        line = (
            f"{self.file}: {self.rows} rows, {self.inserted} new, {self.updated} {changed}, "
            f"{self.unchanged} unchanged, {self.rejected} rejected {noun}."
        )
        if self.dry_run:
            line = "Dry run, nothing stored. " + line
        if self.rejects_file:
            line += f" Rejected rows with reasons: {self.rejects_file}"
        out = [line]
        if self.matched:
            methods = "，".join(f"{METHOD_NAMES.get(m, m)}{n}" for m, n in sorted(self.by_method.items()))
            held = "would be held" if self.dry_run else "held"
            out.append(
                f"Matching: {self.linked} rows linked to an entity ({methods or 'none'}), {self.held} {held} for "
                f"review (supervise match review), {self.rejected} rejected."
                + (f" Review rows: {self.review_file}" if self.review_file else "")
            )
        if self.void:
            out.append(
                f"{self.void} rows name records annulled as entered in error; they were not restored "
                f"('supervise records history CODE' shows why)."
            )
        for change in self.changes[:MAX_LISTED_CHANGES]:
            fields = "; ".join(f"{name}: {shown(old)} -> {shown(new)}" for name, (old, new) in change["fields"].items())
            out.append(f"  {change['code']} {change['kind']} [{change['key']}] v{change['version']}: {fields}")
        if self.updated > min(len(self.changes), MAX_LISTED_CHANGES):
            out.append(
                f"  ... and {self.updated - min(len(self.changes), MAX_LISTED_CHANGES)} more corrections (--json lists {len(self.changes)})"
            )
        return [*out, *(f"Warning: {w}" for w in self.warnings)] if warnings else out


# How a row found its entity (engine.register.linking), as reports and the review queue name it.
METHOD_NAMES = {
    "uscc": "统一社会信用代码",
    "org_code": "组织机构代码",
    "reg_no": "注册号",
    "name": "名称",
    "former_name": "曾用名",
    "judgement": "人工核对",
}


def shown(value: Any) -> str:
    """A field value in a report: ``(none)`` for an empty one."""
    return "(none)" if value is None else str(value)


def _clean_header(name: Any) -> str:
    text = str(name or "").strip().lstrip("\ufeff")
    return ALIASES.get(text, ALIASES.get(text.lower(), text.lower() if text.isascii() else text))


def _raw_name(name: Any) -> str:
    text = str(name or "").strip().lstrip("\ufeff")
    return text.lower() if text.isascii() else text


def normalize_header(names: list[Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """Column names after aliases, and [(column, reason)] for two columns that mean the same thing
    (``name,name``, or ``code`` next to ``统一社会信用代码`` in an entity file)."""
    raw = [_raw_name(n) for n in names]
    clean = [_clean_header(n) for n in names]
    explicit = [r for r in raw if r in ENTITY_COLUMNS]
    if explicit and ("code" in raw or any(ALIASES[r] == "entity_code" for r in explicit)):
        # `uscc` + `code`: the explicit column is the entity, `code` the record's own field (and `uscc` next to
        # `entity_code` is two columns for one thing).
        clean = ["entity_code" if r in ENTITY_COLUMNS else c for r, c in zip(raw, clean)]
    errors: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for r, c in zip(raw, clean):
        if not c:
            continue
        if c in seen:
            what = f"column '{r}' appears twice" if seen[c] == r else f"columns '{seen[c]}' and '{r}' both give {c}"
            errors.append((r, f"{what}; keep one of them (the import will not guess which value wins)"))
        else:
            seen[c] = r
    return clean, errors


# Characters that are certainly assigned and not private-use (ASCII, CJK punctuation, CJK unified ideographs,
# full-width forms): a text made of them alone needs no further look. Others are looked up once each.
_PLAIN = re.compile(r"[^\x00-\x7f\u3000-\u303f\u4e00-\u9fff\uff01-\uff5e]")
_SEEN_CHARACTERS: set[str] = set()


def _odd_character(text: str) -> str | None:
    """The first private-use or unassigned character in a text (what a wrong encoding produces), or None."""
    if _PLAIN.search(text) is None:  # the common case: one scan in C
        return None
    for match in _PLAIN.finditer(text):
        ch = match.group()
        if ch in _SEEN_CHARACTERS:
            continue
        if unicodedata.category(ch) in ("Co", "Cn"):
            return ch
        _SEEN_CHARACTERS.add(ch)
    return None


def _check_text(row: Row, source_encoding: str | None) -> bool:
    """Add an error to a row whose text holds a private-use or unassigned character; True if it did."""
    try:
        whole = "".join(row.data) + "".join(row.data.values())  # CSV: every cell is text
    except TypeError:
        whole = "".join(row.data) + "".join(v for v in row.data.values() if isinstance(v, str))
    if _odd_character(whole) is None:
        return False
    for column, value in row.data.items():
        for text in (column, value):
            ch = _odd_character(text) if isinstance(text, str) else None
            if ch is not None:
                hint = (
                    f"the file was read as {source_encoding}; if it is in another encoding (Big5, UTF-16, ...), "
                    f"pass --encoding"
                    if source_encoding
                    else "fix the text"
                )
                row.errors.append(
                    (
                        column or "-",
                        f"'{text[:30]}' contains U+{ord(ch):04X}, a private-use or unassigned character: {hint}",
                    )
                )
                return True
    return False


def read_rows(path: pathlib.Path, encoding: str | None = None, warnings: list[str] | None = None) -> Iterator[Row]:
    """Yield rows from a CSV, XLSX or JSONL file with normalised column names.

    ``encoding`` overrides the detection (CSV: UTF-8 or GB18030; JSON Lines: UTF-8); ``warnings`` collects what
    the reader noticed but did not refuse (an XLSX's external links, a stale sheet size).
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise IntakeError(f"{path}: file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise IntakeError(
            f"{path}: the file is empty (0 bytes); nothing was stored. Export the data again "
            f"(a CSV or XLSX file with its header row)"
        )
    if encoding:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            raise IntakeError(f"{path}: unknown encoding '{encoding}'; use e.g. utf-8, gb18030 or big5") from None
    warnings = warnings if warnings is not None else []
    if suffix in (".xlsx", ".xlsm"):
        rows: Iterable[Row] = _read_xlsx(path, warnings)
        used = None
    elif suffix in (".jsonl", ".ndjson", ".json"):
        used = encoding or "utf-8"
        rows = _read_jsonl(path, used)
    elif suffix in (".csv", ".txt", ".tsv"):
        used = encoding or _encoding(path)
        rows = _read_csv(path, used)
    else:
        raise IntakeError(f"{path}: unknown file type '{suffix}'; use .csv, .xlsx or .jsonl")
    guessed = used if encoding is None else None
    for row in rows:
        if _check_text(row, used) and guessed == "gb18030":
            # A wrong guess spoils every row, also those that happen to decode to real characters.
            raise IntakeError(
                f"{path}:{row.number}:{row.errors[-1][0]}: the file is not UTF-8 and, read as "
                f"GB18030, gives private-use or unassigned characters: it is in another encoding "
                f"(Big5?). Nothing was stored. Pass --encoding big5 (or the file's encoding), or "
                f"save it as UTF-8 CSV"
            )
        yield row


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
    raise IntakeError(
        f"{path}: the file is neither UTF-8 nor GB18030 text; save it as UTF-8 CSV, "
        f"or pass --encoding with the file's encoding"
    )


def _header_error(path: pathlib.Path, problems: list[tuple[str, str]]) -> IntakeError:
    lines = [f"{path}:1:{c}: {r}" for c, r in problems]
    return IntakeError("\n".join(lines) + "\nNothing was stored; fix the header row.", lines)


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"a cell is longer than {MAX_CELL_CHARS} characters, the limit for a CSV cell; "
            f'usually a quote (") that is never closed'
        )
    if "unexpected end of data" in text or "EOF" in text:
        return 'a quoted cell is not closed: its opening quote (") has no closing quote before the end of the file'
    return f'malformed CSV ({text}); check the quotes (") on this row'


def _read_csv(path: pathlib.Path, encoding: str) -> Iterator[Row]:
    # Stream the file: a register export can be hundreds of MB, and decoding it whole costs several times that.
    dialect = csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel
    number = 1
    try:
        with path.open(encoding=encoding, newline="") as handle:
            reader = csv.reader(handle, dialect, strict=True)
            try:
                first = next(reader)
                if not any(c.strip() for c in first):
                    raise StopIteration
                header, header_errors = normalize_header(first)
            except StopIteration:
                raise IntakeError(
                    f"{path}: the file has no header row (its first line is blank); nothing was "
                    f"stored. Export it again with the header row on line 1"
                ) from None
            if header_errors:
                raise _header_error(path, header_errors)
            width = len(header)
            for number, cells in enumerate(reader, start=2):
                if not "".join(cells).strip():  # a blank line: no cell holds more than whitespace
                    continue
                if len(cells) != width:
                    yield Row(number, {}, [("-", f"row has {len(cells)} cells but the header has {width}")])
                    continue
                yield Row(number, dict(zip(header, cells)))
    except csv.Error as exc:
        raise IntakeError(f"{path}:{number + 1}:-: {_csv_problem(exc)}. Nothing was stored.") from None
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f"{path}: not {encoding} text (byte {exc.start} of a block cannot be decoded); "
            f"pass --encoding with the file's encoding"
        ) from None


def _size(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 2**10:,.0f} KB" if n >= 2**10 else f"{n:,} bytes"


def _check_xlsx_container(path: pathlib.Path, warnings: list[str]) -> None:
    """Refuse a workbook that unpacks too large or declares a DTD; warn about external links."""
    try:
        with zipfile.ZipFile(path) as book:
            infos = book.infolist()
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_XLSX_UNPACKED:
                raise IntakeError(
                    f"{path}: the workbook unpacks to {_size(unpacked)}, over the "
                    f"{_size(MAX_XLSX_UNPACKED)} limit for an import (compressed it is "
                    f"{_size(path.stat().st_size)}: a zip bomb?). Nothing was read; split "
                    f"the sheet or save it as CSV"
                )
            for info in infos:
                if info.filename == "xl/sharedStrings.xml" and info.file_size > MAX_XLSX_SHARED_STRINGS:
                    raise IntakeError(
                        f"{path}: the workbook's shared strings unpack to {_size(info.file_size)}, "
                        f"over the {_size(MAX_XLSX_SHARED_STRINGS)} limit for an import; split the "
                        f"sheet or save it as CSV"
                    )
                if not info.filename.endswith((".xml", ".rels", ".vml")):
                    continue
                with book.open(info) as part:
                    prolog = part.read(1 << 16)
                if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
                    raise IntakeError(
                        f"{path}: part {info.filename} declares a DOCTYPE or entities, which a "
                        f"workbook never needs (XML entity expansion is refused); save the file "
                        f"again from Excel or WPS"
                    )
            links = [
                i.filename for i in infos if i.filename.startswith("xl/externalLinks/") and i.filename.endswith(".xml")
            ]
            if links:
                warnings.append(
                    f"{path}: the workbook links to {len(links)} other workbook(s); their cells were "
                    f"not followed, the values cached in this file were imported"
                )
    except zipfile.BadZipFile as exc:
        raise IntakeError(f"{path}: not an .xlsx workbook ({exc}); save it again as .xlsx") from None


def _read_xlsx(path: pathlib.Path, warnings: list[str] | None = None) -> Iterator[Row]:
    import openpyxl  # heavy and needed only for a workbook: loaded when one is read

    warnings = warnings if warnings is not None else []
    _check_xlsx_container(path, warnings)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:
        raise IntakeError(
            f"{path}: cannot read the workbook ({type(exc).__name__}: {exc}); save it again as .xlsx"
        ) from exc
    try:
        sheet = book.worksheets[0]
        try:
            claimed = sheet.max_row if sheet.max_row and sheet.max_row > 0 else None
        except Exception:  # noqa: BLE001 - a broken <dimension> is the point: it is not trusted
            claimed = None
        # Read-only mode trusts the sheet's stored <dimension>; a stale one hides rows. Read every row.
        sheet.reset_dimensions()
        rows = sheet.iter_rows(values_only=True)
        seen = 0
        try:
            try:
                header, header_errors = normalize_header(list(next(rows)))
            except StopIteration:
                raise IntakeError(
                    f"{path}: the first sheet is empty (no header row); nothing was stored. Put the "
                    f"header row and data rows on the first sheet"
                ) from None
            if header_errors:
                raise _header_error(path, header_errors)
            seen = 1
            for number, cells in enumerate(rows, start=2):
                seen = number
                if number > MAX_XLSX_ROWS:
                    raise IntakeError(
                        f"{path}: the sheet has more than {MAX_XLSX_ROWS:,} rows, the limit for an import; split it"
                    )
                if len(cells) > MAX_XLSX_COLUMNS:
                    raise IntakeError(
                        f"{path}:{number}:-: the row has {len(cells):,} columns, over the limit of "
                        f"{MAX_XLSX_COLUMNS:,}; delete the unused columns"
                    )
                if all(values.is_blank(c) for c in cells):
                    continue
                data = {}
                for name, cell in zip(header, cells):
                    if name:
                        data[name] = cell.strip() if isinstance(cell, str) else cell
                yield Row(number, data)
        except IntakeError:
            raise
        except (ParseError, ValueError, KeyError, OSError) as exc:
            raise IntakeError(
                f"{path}:{seen + 1}:-: the sheet's XML cannot be read ({type(exc).__name__}: {exc}); "
                f"save the file again as .xlsx. Nothing was stored."
            ) from None
        except Exception as exc:  # defusedxml's EntitiesForbidden/DTDForbidden and whatever else a broken sheet does
            if type(exc).__module__.startswith("defusedxml"):
                raise IntakeError(
                    f"{path}: the sheet's XML declares entities ({type(exc).__name__}), which a "
                    f"workbook never needs; save the file again from Excel or WPS"
                ) from None
            raise IntakeError(
                f"{path}:{seen + 1}:-: the sheet cannot be read ({type(exc).__name__}: {exc}); save "
                f"the file again as .xlsx. Nothing was stored."
            ) from None
        if claimed is not None and seen > claimed:
            warnings.append(
                f"{path}: the sheet's stored size said {claimed} rows, but it has {seen}; every row was read"
            )
    finally:
        book.close()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows; give a finite number or null")


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large for a number (it overflows to infinity)")
    return number


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise ValueError(f"an integer of {digits} digits is not a plausible value (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key '{key}' appears twice in one object; keep one")
        out[key] = value
    return out


def _depth(value: Any, limit: int) -> bool:
    """True if value nests deeper than limit (iteratively, so it never recurses)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


def _jsonl_lines(path: pathlib.Path, encoding: str) -> Iterator[tuple[int, str | None]]:
    """(line number, text or None if it does not decode). UTF-8 is decoded line by line, so one bad line is one
    error; another encoding (UTF-16 has no byte-wise lines) is decoded as a stream."""
    if encoding.replace("_", "-") in ("utf-8", "utf-8-sig"):
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, raw.decode(encoding)
                except UnicodeDecodeError:
                    yield number, None
        return
    number = 0
    try:
        with path.open(encoding=encoding, newline=None) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line
    except UnicodeDecodeError:
        yield number + 1, None


def _read_jsonl(path: pathlib.Path, encoding: str = "utf-8") -> Iterator[Row]:
    for number, line in _jsonl_lines(path, encoding):
        if line is None:
            yield Row(
                number,
                {},
                [
                    (
                        "-",
                        f"the line is not {encoding} text (JSON Lines are UTF-8; GBK?); save "
                        f"the file as UTF-8 or pass --encoding",
                    )
                ],
            )
            continue
        if number == 1:
            line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        if line.count("[") + line.count("{") > 4 * MAX_JSON_DEPTH and _bracket_depth(line) > MAX_JSON_DEPTH:
            yield Row(
                number,
                {},
                [
                    (
                        "-",
                        f"the JSON nests deeper than {MAX_JSON_DEPTH} levels; a record is "
                        f"an object with at most a 'data' object inside",
                    )
                ],
            )
            continue
        try:
            obj = json.loads(
                line,
                parse_constant=_refuse_constant,
                parse_float=_parse_float,
                parse_int=_parse_int,
                object_pairs_hook=_unique_keys,
            )
        except json.JSONDecodeError as exc:
            yield Row(number, {}, [("-", f"invalid JSON ({exc.msg} at column {exc.colno})")])
            continue
        except RecursionError:
            yield Row(number, {}, [("-", f"the JSON nests too deeply (over {MAX_JSON_DEPTH} levels)")])
            continue
        except ValueError as exc:
            yield Row(number, {}, [("-", f"invalid JSON: {exc}")])
            continue
        if not isinstance(obj, dict):
            yield Row(number, {}, [("-", "each line must be a JSON object")])
            continue
        if _depth(obj, MAX_JSON_DEPTH):
            yield Row(number, {}, [("-", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")])
            continue
        inner = obj.get("data") if isinstance(obj.get("data"), dict) else None
        top = [k for k in obj if not (k == "data" and inner is not None)]
        names, errors = normalize_header(top)
        data = {n: obj[k] for k, n in zip(top, names)}
        if inner is not None:
            if "code" in inner and "code" in data:
                data.setdefault("entity_code", data.pop("code"))  # top-level code = entity, data.code = field
            inner_names, inner_errors = normalize_header(list(inner))
            errors += inner_errors
            for k, n in zip(inner, inner_names):
                if n in data and n != "code":
                    errors.append((k, f"'{k}' is given both at the top level and in 'data'; keep one"))
                data[n] = inner[k]
        yield Row(number, data, errors)


def _bracket_depth(line: str) -> int:
    """Maximum nesting of [ and { in a JSON line, ignoring those inside strings."""
    depth = best = 0
    in_string = escaped = False
    for ch in line:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


# -- entities -------------------------------------------------------------------------------------


def _text(value: Any, what: str = "text") -> str:
    """A cell as text: a JSON object, list or boolean where a text is expected is an error."""
    if value.__class__ is str:  # every CSV cell
        return value.strip()
    if isinstance(value, dict):
        raise ValueError(f"expected {what}, got a JSON object")
    if isinstance(value, (list, tuple)):
        raise ValueError(f"expected {what}, got a JSON list")
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got {str(value).lower()}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected {what}, got the number {value}")
    return str(value).strip()


def _code_text(value: Any, what: str) -> str:
    """A code cell as text: an integer is its digits; a float (350100.0, 3.5e17) has lost or may lose digits."""
    if isinstance(value, float):
        raise ValueError(
            f"{value!r} is a decimal number where {what} is expected; give the code as text "
            f"(in a spreadsheet, format the column as text; in JSON, quote it)"
        )
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(value, what)


def _entity_code(
    data: dict[str, Any], errors: list[tuple[str, str]], entity_type: Any = None, ambiguous_ok: bool = False
) -> Code | None:
    column = "entity_code" if "entity_code" in data else "code"
    if values.is_blank(data.get(column)):
        errors.append((column, "code is required (the entity's 统一社会信用代码 or identity number)"))
        return None
    try:
        text = _code_text(data[column], "a 统一社会信用代码 or identity number")
        return normalize_code(text, entity_type=entity_type)
    except AmbiguousCode as exc:
        if ambiguous_ok:
            return Code(exc.value, "ambiguous", "")
        errors.append((column, str(exc)))
    except (CodeError, ValueError) as exc:
        errors.append((column, str(exc)))
    return None


def parse_entity(row: Row, limits: Limits = DEFAULT_LIMITS) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    data = row.data
    if "__error__" in data:
        return None, [("-", data["__error__"])]
    errors: list[tuple[str, str]] = []
    if "entity_code" in data and "code" in data:
        errors.append(
            (
                "code",
                "the file has an entity code column (uscc, 统一社会信用代码, entity_code, ...) and "
                "a 'code' column; an entity file has one code column, keep one",
            )
        )
    entity_type = data.get("entity_type")
    try:
        entity_type = None if values.is_blank(entity_type) else _text(entity_type)
    except ValueError as exc:
        errors.append(("entity_type", str(exc)))
        entity_type = None
    code = _entity_code(data, errors, entity_type)
    texts: dict[str, str | None] = {}
    for column in ("name", "industry", "legal_rep"):
        try:
            texts[column] = None if values.is_blank(data.get(column)) else _text(data[column])
        except ValueError as exc:
            errors.append((column, str(exc)))
            texts[column] = None
    name = data.get("name")
    if values.is_blank(name):
        errors.append(("name", "name is required"))
    established = None
    if not values.is_blank(data.get("established_on")):
        try:
            if isinstance(data["established_on"], (dict, list, float, bool)):
                raise ValueError(f"expected a date (YYYY-MM-DD), got {data['established_on']!r}")
            established = parse_day(data["established_on"])
            today = dt.date.today()
            if established > today:
                raise ValueError(f"{established.isoformat()} is in the future (today is {today.isoformat()})")
            if established < limits.earliest_date:
                raise ValueError(
                    f"{established.isoformat()} is before {limits.earliest_date.isoformat()}, "
                    f"the earliest plausible date"
                )
        except ValueError as exc:
            errors.append(("established_on", str(exc)))
    region = data.get("region")
    if not values.is_blank(region):
        try:
            region = _code_text(region, "a 6-digit administrative division code")
            if not (len(region) == 6 and region.isdigit()):
                raise ValueError(f"'{region}' is not a 6-digit administrative division code")
            if region[:2] not in PROVINCES:
                raise ValueError(
                    f"'{region}' is not an administrative division code (it must begin with a "
                    f"province's two digits, e.g. 35 for Fujian)"
                )
        except ValueError as exc:
            errors.append(("region", str(exc)))
    township = None
    if not values.is_blank(data.get("township")):
        try:
            township = _code_text(data["township"], "a street/township code")
            if not (township.isdigit() and 9 <= len(township) <= 12):
                raise ValueError(
                    f"'{township}' is not a street/township code (9 to 12 digits, "
                    f"the 6-digit division code followed by the street/township number)"
                )
        except ValueError as exc:
            errors.append(("township", str(exc)))
    reg_no = None
    if not values.is_blank(data.get("reg_no")):
        try:
            reg_no = validate_reg_no(_code_text(data["reg_no"], "a 15-digit 注册号"))
        except (CodeError, ValueError) as exc:
            errors.append(("reg_no", str(exc)))
    if errors or code is None:
        return None, errors
    if values.is_blank(region):
        region = code.value[2:8] if code.kind == "uscc" else code.value[:6]
    entity = {
        "code": code.value,
        "code_kind": code.kind,
        "name": texts["name"],
        "entity_type": entity_type or code.entity_type,
        "region": region,
        "industry": texts["industry"],
        "established_on": established,
        "legal_rep": texts["legal_rep"],
        "extra": {"township": township} if township else None,
        "reg_no": reg_no,
    }
    # A file without an optional column (e.g. only code and name) leaves what the register holds for it; an
    # empty cell in a column the file has clears it.
    for column, key in (
        ("industry", "industry"),
        ("established_on", "established_on"),
        ("legal_rep", "legal_rep"),
        ("township", "extra"),
        ("reg_no", "reg_no"),
    ):
        if column not in data:
            del entity[key]
    return entity, []


# -- records --------------------------------------------------------------------------------------


def parse_record(
    row: Row, kinds: dict[str, RecordKind], default_kind: str | None = None
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    data = row.data
    if "__error__" in data:
        return None, [("-", data["__error__"])]
    errors: list[tuple[str, str]] = []
    # The code's text is what finds the entity: an ambiguous one is fine if the register has it.
    code = _entity_code(data, errors, ambiguous_ok=True)
    body = record_body(data, kinds, default_kind, errors)
    if errors or code is None or body is None:
        return None, errors
    # code_kind (uscc, person, ambiguous): the inner organisation-code check needs no second validation
    return {"code": code.value, "code_kind": code.kind, **body}, []


def record_body(
    data: dict[str, Any], kinds: dict[str, RecordKind], default_kind: str | None, errors: list[tuple[str, str]]
) -> dict[str, Any] | None:
    """A records row's kind and fields, parsed: {kind, date, natural_key, data, present}, or None with ``errors``
    added (the entity it names is the caller's)."""
    kind_name = data.get("kind")
    if not values.is_blank(kind_name):
        try:
            kind_name = _text(kind_name, "a record kind")
        except ValueError as exc:
            errors.append(("kind", str(exc)))
            return None
        if default_kind is not None and kind_name != default_kind:
            errors.append(
                (
                    "kind",
                    f"the row's kind is '{kind_name}' but --kind says '{default_kind}'; drop --kind or correct the row",
                )
            )
            return None
    else:
        kind_name = default_kind
    if kind_name is None:
        errors.append(("kind", "kind is required (or pass --kind)"))
        return None
    kind = kinds.get(str(kind_name).strip())
    if kind is None:
        errors.append(
            (
                "kind",
                f"unknown record kind '{kind_name}'{did_you_mean(str(kind_name), kinds)}; "
                f"known kinds: {', '.join(sorted(kinds))}",
            )
        )
        return None
    date, key, payload, field_errors = kind.validate(data)
    errors.extend(field_errors)
    if field_errors:
        return None
    # The fields whose columns the row has: a correction keeps the stored value of a field the file does not carry.
    present = kind.present(data)
    return {"kind": kind.name, "date": date, "natural_key": key, "data": payload, "present": present}


def _parse_each(
    rows: Iterable[Row], parse: Callable[[Row], tuple[Any, list]]
) -> Generator[tuple[Row, Any, list], None, None]:
    """(row, parsed, errors) of each row: a row with reading errors is not parsed."""
    for row in rows:
        if row.errors:
            yield row, None, row.errors
        else:
            parsed, errors = parse(row)
            yield row, parsed, errors


def _validated(
    path: pathlib.Path,
    parsed_rows: Iterable[tuple[Row, Any, list]],
    report: ImportReport,
    rejects: list[tuple[Row, str]],
) -> Iterator[tuple[Row, Any]]:
    """(row, parsed) of the valid rows; the others counted and their errors listed in the report."""
    for row, parsed, errors in parsed_rows:
        report.rows += 1
        if errors:
            report.rejected += 1
            for column, reason in errors:
                report.errors.append(f"{path}:{row.number}:{column}: {reason}")
            rejects.append((row, "; ".join(f"{c}: {r}" for c, r in errors)))
            continue
        report.valid += 1
        yield row, parsed


# -- reading and parsing in a second process --------------------------------------------------------------

# A file at least this large is read and parsed in a forked worker process while this one resolves and writes
# the chunks before (run_import's ``parallel``); a smaller one in this process (the fork would cost more).
PARALLEL_MIN_BYTES = 2 * 2**20
WORKER_BATCH = 500  # rows a worker sends at a time (a batch of a few hundred stays in the CPU caches while it is built)
WORKER_QUEUE = 64  # batches received and not yet used, at most


def _use_worker(path: pathlib.Path, parallel: bool | None) -> bool:
    if parallel is not None:
        return parallel
    import multiprocessing
    import threading

    if "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1:
        return False  # a forked child of a threaded process may inherit a lock some other thread holds
    try:
        return path.is_file() and path.stat().st_size >= PARALLEL_MIN_BYTES
    except OSError:
        return False


def _report_state(report: ImportReport) -> tuple[int, int]:
    """What a row's parse may change in the report, cheaply: the warnings (read_rows', org_code_checked's) and
    the organisation-code count."""
    return len(report.warnings), report.org_code_warnings


def _report_delta(report: ImportReport, since: dict[str, Any]) -> dict[str, Any] | None:
    """The report's changes since ``since`` (a snapshot, updated): added list items, integer differences."""
    delta: dict[str, Any] = {}
    for name, value in report.__dict__.items():
        old = since.get(name)
        if isinstance(value, list):
            if len(value) != old:
                delta[name] = value[old or 0 :]
                since[name] = len(value)
        elif isinstance(value, int) and not isinstance(value, bool) and value != old:
            delta[name] = value - (old or 0)
            since[name] = value
    return delta or None


def _snapshot(report: ImportReport) -> dict[str, Any]:
    return {
        name: len(value) if isinstance(value, list) else value
        for name, value in report.__dict__.items()
        if isinstance(value, list) or (isinstance(value, int) and not isinstance(value, bool))
    }


def _apply(report: ImportReport, delta: dict[str, Any]) -> None:
    for name, change in delta.items():
        if isinstance(change, list):
            getattr(report, name).extend(change)
        else:
            setattr(report, name, getattr(report, name) + change)


class _SentRow(Row):
    """A row the worker sent as its cells (its columns are the file's): ``data`` is made from them when it is first
    read, which for most rows is never (the rejects file and a linked row's review are what read it)."""

    def __init__(self, number: int, columns: tuple[str, ...], cells: tuple[Any, ...]):
        self.number = number
        self.errors = []
        self._columns, self._cells = columns, cells
        self._data: dict[str, Any] | None = None

    @property  # a field of Row, a property here: the same attribute to its readers
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = dict(zip(self._columns, self._cells))
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value


def _work(
    out: Any,
    path: pathlib.Path,
    encoding: str | None,
    report: ImportReport,
    parse: Callable[[Row], tuple[Any, list]],
) -> None:
    """The worker: read and parse the file, send batches of (number, data, reading errors, parsed, errors, report
    changes) down ``out``, then ("end", changes); an exception is sent as ("error", ...)."""
    import pickle

    # What the fork inherited is never garbage here: leave it out of the collections, and collect less often (a
    # batch holds thousands of new containers, none of them garbage until it is sent).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    since = _snapshot(report)
    state = _report_state(report)
    batch: list[tuple[Any, ...]] = []
    columns: tuple[str, ...] = ()  # the first row's column names: a row with the same ones is sent as its cells
    try:
        for row, parsed, errors in _parse_each(read_rows(path, encoding, report.warnings), parse):
            delta = None
            if _report_state(report) != state:
                delta = _report_delta(report, since)
                state = _report_state(report)
            data: Any = row.data
            if not columns:
                columns = tuple(data)
            elif tuple(data) == columns:
                data = tuple(data.values())
            batch.append((row.number, data, row.errors or None, parsed, errors or None, delta))
            if len(batch) >= WORKER_BATCH:
                out.send_bytes(pickle.dumps(("rows", columns, batch), protocol=pickle.HIGHEST_PROTOCOL))
                batch = []
        out.send_bytes(pickle.dumps(("rows", columns, batch), protocol=pickle.HIGHEST_PROTOCOL))
        out.send_bytes(pickle.dumps(("end", _report_delta(report, since)), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # noqa: BLE001 - whatever stopped the reading is raised in the importing process
        if isinstance(exc, IntakeError):
            message: tuple[Any, ...] = ("intake", str(exc), exc.errors)
        else:
            try:
                pickle.dumps(exc)
                message = ("error", exc)
            except Exception:  # noqa: BLE001 - an exception that does not pickle is sent as its text
                import traceback

                message = ("failed", "".join(traceback.format_exception(exc)))
        try:
            out.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            pass  # the importing process is gone or stopped listening
    finally:
        out.close()


def _widen(fd: int) -> None:
    """Let a pipe hold a whole batch (Linux: up to /proc/sys/fs/pipe-max-size, 1 MB by default, instead of 64 KB),
    so that the thread taking the batches off it wakes once a batch, not once every 64 KB."""
    import fcntl

    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is None:
        return
    try:
        limit = int(pathlib.Path("/proc/sys/fs/pipe-max-size").read_text())
        fcntl.fcntl(fd, setsize, min(limit, 4 * 2**20))
    except (OSError, ValueError):
        pass  # the default size works, only more slowly


def _parsed_in_worker(
    path: pathlib.Path, encoding: str | None, report: ImportReport, parse: Callable[[Row], tuple[Any, list]]
) -> Generator[tuple[Row, Any, list], None, None]:
    """What :func:`_parse_each` over :func:`read_rows` gives, read and parsed in a forked process: the rows in file
    order, each row's changes to the report applied just before it (where the parse made them), any exception of
    the reading raised here at the same place. The worker is stopped when the import stops early."""
    import multiprocessing
    import pickle
    import queue
    import threading

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    _widen(send.fileno())
    worker = ctx.Process(target=_work, args=(send, path, encoding, report, parse), daemon=True)
    worker.start()
    send.close()
    # A thread takes the worker's batches off the pipe as they come (the read waits without the GIL), so that the
    # worker goes on parsing while this thread resolves and writes a chunk; at most WORKER_QUEUE batches wait.
    waiting: queue.Queue[bytes | None] = queue.Queue(WORKER_QUEUE)
    stopping = threading.Event()

    def take() -> None:
        try:
            while not stopping.is_set():
                waiting.put(receive.recv_bytes())
        except (EOFError, OSError):
            waiting.put(None)

    taker = threading.Thread(target=take, name="import-reader", daemon=True)
    taker.start()
    try:
        while True:
            message = waiting.get()
            if message is None:
                worker.join()
                raise IntakeError(
                    f"{path}: the process reading the file stopped (exit code {worker.exitcode}) before the end of "
                    f"the file; nothing was stored. Run the import again (with more memory if it was killed)"
                ) from None
            with collector_paused():  # unpickling a batch allocates thousands of containers, none of them garbage
                kind, *body = pickle.loads(message)
            if kind == "rows":
                columns = body[0]
                for number, data, read_errors, parsed, errors, delta in body[1]:
                    if delta:
                        _apply(report, delta)
                    row = _SentRow(number, columns, data) if data.__class__ is tuple else Row(number, data)
                    if read_errors:
                        row.errors = read_errors
                        yield row, parsed, read_errors
                    else:
                        yield row, parsed, errors or []
            elif kind == "end":
                if body[0]:
                    _apply(report, body[0])
                return
            elif kind == "intake":
                raise IntakeError(body[0], body[1])
            elif kind == "error":
                raise body[0]
            else:
                raise RuntimeError(f"reading {path} failed in the worker process:\n{body[0]}")
    finally:
        stopping.set()
        if worker.is_alive():
            worker.terminate()  # the taker's read ends when the worker's end of the pipe closes
        worker.join()
        while taker.is_alive():  # make room for the taker's last put, then it sees ``stopping``
            try:
                waiting.get(timeout=1)
            except queue.Empty:
                pass
        taker.join()
        receive.close()


def write_rejects(path: pathlib.Path, rejects: list[tuple[Row, str]]) -> pathlib.Path:
    """FILE.rejects.csv: the rejected rows with their reasons, through engine.exports (formula cells neutralised)."""
    out = path.with_name(path.stem + ".rejects.csv")
    columns: list[str] = []
    for row, _ in rejects:
        for key in row.data:
            if key not in columns and key != "__error__":
                columns.append(key)
    write_csv(
        out,
        ["row", *columns, "reason"],
        ([row.number, *[_cell(row.data.get(c)) for c in columns], reason] for row, reason in rejects),
    )
    return out


def _cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)[:200]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value  # numbers stay numbers in the rejects file
    return str(value)


def fail_message(report: ImportReport) -> str:
    shown = report.errors[:MAX_LISTED_ERRORS]
    more = len(report.errors) - len(shown)
    lines = "\n".join(shown) + (f"\n... and {more} more" if more else "")
    return (
        f"{report.rejected} of {report.rows} rows in {report.file} are invalid; nothing was stored. "
        f"Fix them, or pass --skip-invalid to store the valid rows and write the rest to a rejects file.\n"
        f"{lines}"
    )


MAX_LISTED_ORG_WARNINGS = 5


def org_code_checked(
    parse: Callable[[Row], tuple[Any, list[tuple[str, str]]]],
    report: ImportReport,
    path: str | pathlib.Path,
    strict: bool,
) -> Callable[[Row], tuple[Any, list[tuple[str, str]]]]:
    """``parse`` with the USCC's inner GB 11714 check (positions 9-17) on the parsed ``code``: a warning counted in
    ``report.org_code_warnings`` (the first ones listed as ``file:row:column``), or with ``strict`` an error."""

    def checked(row: Row) -> tuple[Any, list[tuple[str, str]]]:
        parsed, errors = parse(row)
        if parsed is None or parsed.get("code_kind", "uscc") != "uscc" or len(parsed["code"]) != 18:
            return parsed, errors
        if parsed.get("code_kind") is None and validate_uscc_quietly(parsed["code"]) is None:
            return parsed, errors  # a records row naming a person or an ambiguous code: no organisation code
        problem = org_code_problem(parsed["code"])
        if problem is None:
            return parsed, errors
        column = "entity_code" if "entity_code" in row.data else "code"
        if strict:
            return None, [(column, f"{problem}; correct the code (the import was told to refuse such codes)")]
        report.org_code_warnings += 1
        if report.org_code_warnings <= MAX_LISTED_ORG_WARNINGS:
            report.warnings.append(f"{path}:{row.number}:{column}: {problem}; stored all the same")
        return parsed, errors

    return checked


def validate_uscc_quietly(code: str) -> Code | None:
    """The code as a valid USCC (not an identity number), or None."""
    try:
        found = normalize_code(code)
    except CodeError:
        return None
    return found if found.kind == "uscc" else None


def org_code_summary(report: ImportReport) -> None:
    """One warning line counting the USCCs whose organisation code failed (when more than were listed)."""
    n = report.org_code_warnings
    if n:
        report.warnings.append(
            f"{n} codes have a 组织机构代码 (positions 9-17) that fails the GB 11714 check; they were stored "
            f"(some real codes fail it). Pass --strict-org-code, or set matching.strict_org_code in "
            f"policies/record_kinds.yaml, to refuse them"
            + (f" (the first {MAX_LISTED_ORG_WARNINGS} are listed above)" if n > MAX_LISTED_ORG_WARNINGS else "")
        )


def versioned_writer(
    report: ImportReport, path: str | pathlib.Path, actor: str, kind: str, reason: str | None = None
) -> tuple[Callable[[Connection, list[dict[str, Any]]], tuple[int, int, int]], rq.Written]:
    """The ``write`` of a records import (a file, or a correction file: ``kind``): one import id and recorded time
    opened with the first chunk, each chunk stored by :func:`engine.store.records.write_records`, its corrections
    added to ``report``; returns it with the running totals (``repeated`` rows)."""
    opened: list[tuple[int, Any]] = []  # (import id, recorded time)
    totals = rq.Written()
    source = pathlib.Path(path).name

    def write(conn: Connection, good: list[dict[str, Any]]) -> tuple[int, int, int]:
        if not opened:
            opened.append(rq.open_import(conn, kind, str(path), actor))
            report.import_id = opened[0][0]
        import_id, stamp = opened[0]
        done = rq.write_records(
            conn,
            good,
            source=source,
            import_id=import_id,
            actor=actor,
            stamp=stamp,
            reason=reason,
            max_changes=rq.MAX_CHANGES - len(report.changes),
        )
        report.changes.extend(done.changes)
        totals.repeated += done.repeated
        return done.new, done.corrected, done.void

    return write, totals


# -- the import loop --------------------------------------------------------------------------------

ProgressFn = Callable[[int], None]
RejectFn = Callable[[Row, str, str], None]  # reject(row, column, reason): a row refused after it parsed


def run_import(
    store: Store,
    path: str | pathlib.Path,
    parse: Callable[[Row], tuple[Any, list[tuple[str, str]]]],
    write: Callable[[Connection, list[Any]], tuple[int, ...]],
    *,
    action: str,
    counts: tuple[str, ...] = ("inserted", "updated"),
    resolve: Callable[[Connection, list[tuple[Row, Any]], RejectFn], list[Any]] | None = None,
    skip_invalid: bool = False,
    actor: str = "cli",
    progress: ProgressFn | None = None,
    encoding: str | None = None,
    dry_run: bool = False,
    report: ImportReport | None = None,
    parallel: bool | None = False,
) -> ImportReport:
    """Import one file in one transaction and return its report; the one loop of every importer.

    Each row is read (``encoding`` overrides the detection) and ``parse``d into a value or errors. Per chunk of
    valid rows, ``resolve`` (if given) looks them up in the store, refuses rows with ``reject(row, column,
    reason)`` and returns what to store (without it, the parsed values themselves); ``write`` stores them and
    returns the report fields named by ``counts``, in that order. Any error refuses the whole file (every error
    is still listed) unless ``skip_invalid``, which stores the valid rows and writes the rejects to
    FILE.rejects.csv. The audit entry ``action`` records the rows, ``counts`` and rejected rows. Rows neither
    refused nor counted are ``unchanged``. ``dry_run`` does all of it and rolls the transaction back: the report
    says what the import would store (no rejects file, no audit entry). ``report`` is the report to fill (the
    caller's ``write`` may add to it).

    ``parallel``: read and parse the file in a forked worker process while this one resolves and writes (None:
    when the file is at least ``PARALLEL_MIN_BYTES`` and this process has no other threads). Only for a ``parse``
    whose effects outside its result are on the report's warnings and counters (they are carried back); the
    rows, errors, report and stored rows are those of the serial path.
    """
    path = pathlib.Path(path)
    report = report if report is not None else ImportReport(str(path))
    report.dry_run = dry_run
    rejects: list[tuple[Row, str]] = []

    def reject(row: Row, column: str, reason: str) -> None:
        report.valid -= 1
        report.rejected += 1
        report.errors.append(f"{path}:{row.number}:{column}: {reason}")
        rejects.append((row, f"{column}: {reason}"))

    # What the process held before the import is no garbage the import makes: left out of the collections while
    # it runs, which otherwise walk the whole heap again and again as the chunks' rows pile up.
    gc.freeze()
    try:
        with store.transaction() as conn, contextlib.ExitStack() as stack:
            parsed_rows = (
                _parsed_in_worker(path, encoding, report, parse)
                if _use_worker(path, parallel)
                else _parse_each(read_rows(path, encoding, report.warnings), parse)
            )
            rows = _validated(path, parsed_rows, report, rejects)
            stack.callback(parsed_rows.close)  # a worker is stopped when the import stops early
            for chunk in chunked(rows, CHUNK):
                batch = resolve(conn, chunk, reject) if resolve else [parsed for _, parsed in chunk]
                if report.errors and not skip_invalid:
                    continue  # keep validating to list every error; nothing will be stored
                for name, n in zip(counts, write(conn, batch), strict=True):
                    setattr(report, name, getattr(report, name) + n)
                if progress:
                    progress(len(chunk))
            report.unchanged = report.valid - sum(getattr(report, name) for name in counts)
            if report.errors and not skip_invalid:
                raise IntakeError(fail_message(report), report.errors)
            if dry_run:
                raise _DryRun
            if rejects:
                report.rejects_file = str(write_rejects(path, rejects))
            detail = {
                "rows": report.rows,
                **{name: getattr(report, name) for name in counts},
                "rejected": report.rejected,
            }
            if report.import_id is not None:
                detail["import_id"] = report.import_id
            audit(conn, actor, action, str(path), **detail)
    except _DryRun:
        pass  # rolled back: the report is what the import would have done
    finally:
        gc.unfreeze()
    return report


class _DryRun(Exception):
    """Raised inside a dry run's transaction so that it rolls back."""
