"""The keying worksheet: the date's cash receipts for a clerk to key into Sage Pro, as CSV and XLSX.

Columns ``batch, customer_number, invoice_number, amount, date, reference``: the amount in currency
units (123.45), the date ISO (YYYY-MM-DD), the reference the PayTrace transaction id, which the clerk
keys as the receipt's reference (ARCASH ``refno``) so that PaySync finds it keyed; a line without an
invoice number is a receipt on account. A last line per currency gives the total (CSV: a ``total`` row;
XLSX: a total row in bold). Written whole each time (a temporary file renamed into place), so a
reader never sees half a worksheet.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from paysync_dagster.lib.money import to_decimal
from paysync_dagster.lib.sagepro.proposals import WorksheetLine

HEADER = ("batch", "customer_number", "invoice_number", "amount", "date", "reference")


def totals(lines: Sequence[WorksheetLine]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for line in lines:
        out[line.currency] += line.amount_minor
    return dict(out)


def rows(lines: Sequence[WorksheetLine]) -> list[list[str]]:
    return [[line.batch, line.customer_number, line.invoice_number, f"{to_decimal(line.amount_minor, line.currency)}",
             line.date.isoformat(), line.reference] for line in lines]


def write_worksheet(folder: Path, stem: str, lines: Sequence[WorksheetLine]) -> tuple[Path, Path]:
    """``<folder>/<stem>.csv`` and ``.xlsx``; returns both paths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    folder.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = folder / f"{stem}.csv", folder / f"{stem}.xlsx"
    body = rows(lines)
    sums = [["total", "", "", f"{to_decimal(v, k)}", k, ""] for k, v in sorted(totals(lines).items())]
    tmp = csv_path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(body)
        writer.writerows(sums)
    os.replace(tmp, csv_path)
    book = Workbook()
    sheet = book.active
    sheet.title = "Keying worksheet"
    sheet.append(list(HEADER))
    for line in lines:  # amounts as numbers, so the sheet adds them up
        sheet.append([line.batch, line.customer_number, line.invoice_number,
                      float(to_decimal(line.amount_minor, line.currency)), line.date.isoformat(), line.reference])
    for total in sums:
        sheet.append([total[0], "", "", float(total[3]), total[4], ""])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for column, width in zip("ABCDEF", (8, 16, 18, 12, 12, 14)):
        sheet.column_dimensions[column].width = width
    tmp_x = xlsx_path.with_suffix(".xlsx.tmp")
    book.save(tmp_x)
    os.replace(tmp_x, xlsx_path)
    return csv_path, xlsx_path
