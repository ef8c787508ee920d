"""Files the product writes for spreadsheets: CSV and XLSX with formula injection neutralised.

Every CSV or XLSX the product writes (site downloads, plan export and publication, rejects files, report data)
goes through :func:`safe_cell` or the writers below. A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is prefixed with an apostrophe, the OWASP recommendation, so a spreadsheet shows it as
text instead of evaluating it; XLSX cells are always written as strings (``data_type = "s"``), never formulas.
Numbers and dates stay numbers and dates: only text can carry a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import pathlib
from collections.abc import Iterable, Sequence
from typing import Any

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A value safe to put in a spreadsheet cell: text starting with a formula character gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float, dt.date)):
        return value
    text = str(value)
    if text.startswith(DANGEROUS_PREFIXES):
        return "'" + text
    return text


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def write_csv(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]], encoding: str = "utf-8-sig"
) -> int:
    """Write a CSV (UTF-8 with BOM, which Excel opens as UTF-8) with every cell neutralised; return the row count."""
    n = 0
    with pathlib.Path(path).open("w", encoding=encoding, newline="") as handle:
        w = csv.writer(handle)
        w.writerow(safe_row(header))
        for row in rows:
            w.writerow(safe_row(row))
            n += 1
    return n


def write_xlsx(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]], sheet_title: str = "Sheet1"
) -> int:
    """Write an XLSX whose text cells are all strings (never formulas); return the row count."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(title=sheet_title[:31] or "Sheet1")
    ws.append([_xlsx_cell(ws, v) for v in header])
    n = 0
    for row in rows:
        ws.append([_xlsx_cell(ws, v) for v in row])
        n += 1
    wb.save(str(path))
    return n


def _xlsx_cell(ws: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    value = safe_cell(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # a string cell: openpyxl would otherwise store "=..." as a formula
    return cell
