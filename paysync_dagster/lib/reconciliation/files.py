"""The reconciliation's files for finance: a CSV and an XLSX per business date, and a chart.

Under the reports folder, one folder per date (``<reports>/<YYYY-MM-DD>/``):

- ``reconciliation_<date>.csv``: one row per transaction (status, amounts in the currency's units,
  receipt, why; and how its cash was applied: customer, invoices, rule, score, references read,
  candidates rejected with why), the file most tools import;
- ``reconciliation_<date>.xlsx``: sheets Summary (KPIs), Batches, Variances, Transactions and
  Exceptions (the date's open queue), amounts as numbers with two decimals;
- ``matched_vs_unmatched.svg``: matched against unmatched amounts per day, as shown in Dagster.

Each ERP's reconciliation writes its own files: Oracle's under the names above (as the product
shipped them), another ERP's prefixed with its name (``sage_reconciliation_<date>.csv``, ...).

Files are written to a temporary name and renamed, so a reader never opens half a file.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import pandas as pd

from paysync_dagster.lib.money import exponent as minor_exponent


def reconciliation_name(erp: str) -> str:
    """The name of an ERP's reconciliation: its exception stage and the stem of its files. Oracle's
    keeps the name the product shipped with ("reconciliation"); another ERP's is "<erp>_reconciliation"."""
    return "reconciliation" if erp == "oracle" else f"{erp}_reconciliation"


def _as_units(df: pd.DataFrame, currency_column: str = "currency") -> pd.DataFrame:
    """Minor-unit columns as decimal amounts (``amount`` instead of ``amount_minor``), for people."""
    out = df.copy()
    if out.empty:
        return out.rename(columns={c: c.removesuffix("_minor") for c in out.columns if c.endswith("_minor")})
    exps = out[currency_column].map(lambda cur: minor_exponent(str(cur) or "USD")).tolist() \
        if currency_column in out else [2] * len(out)
    for c in [c for c in out.columns if c.endswith("_minor")]:
        values = pd.to_numeric(out[c], errors="coerce")
        out[c] = [None if pd.isna(v) else round(float(v) / 10 ** e, e) for v, e in zip(values, exps)]
    return out.rename(columns={c: c.removesuffix("_minor") for c in out.columns if c.endswith("_minor")})


def _atomic(path: Path, write) -> Path:  # noqa: ANN001
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


#: why cash went where, from the ERP's cash receipts rows, as the transaction CSV shows it
CASH_APPLICATION_COLUMNS = {"customer_account": "customer_account", "invoices": "applied_to_invoices",
                            "match_rule": "match_rule", "match_score": "match_score",
                            "match_tokens": "references_read", "match_rejected": "not_applied_and_why"}


def with_cash_application(transactions: pd.DataFrame, receipts: pd.DataFrame) -> pd.DataFrame:
    """The transactions with how each payment's cash was applied (customer, invoices, rule, score,
    references read, candidates rejected and why), so a clerk reading the file sees why."""
    present = [c for c in CASH_APPLICATION_COLUMNS if c in receipts.columns]
    if transactions.empty or receipts.empty or not present:
        return transactions
    explained = receipts[["transaction_id", *present]].drop_duplicates("transaction_id").rename(columns=CASH_APPLICATION_COLUMNS)
    return transactions.merge(explained, on="transaction_id", how="left")


def write_reports(folder: str | Path, day: date, *, transactions: pd.DataFrame, batches: pd.DataFrame,
                  variances: pd.DataFrame, kpis: pd.DataFrame, exceptions: pd.DataFrame,
                  erp: str = "oracle") -> dict[str, Path]:
    """Write the date's CSV and XLSX of one ERP's reconciliation; returns their paths by kind."""
    stem = f"{reconciliation_name(erp)}_{day.isoformat()}"
    target = Path(folder) / day.isoformat()
    target.mkdir(parents=True, exist_ok=True)
    people = _as_units(transactions)
    csv = _atomic(target / f"{stem}.csv", lambda p: people.to_csv(p, index=False))

    def xlsx(p: Path) -> None:
        with pd.ExcelWriter(p, engine="openpyxl") as book:
            summary = kpis.assign(rate=kpis["rate"].map(lambda r: None if r is None or pd.isna(r) else round(float(r), 4))) \
                if not kpis.empty else kpis
            summary.to_excel(book, sheet_name="Summary", index=False)
            _as_units(batches).to_excel(book, sheet_name="Batches", index=False)
            # A variance is in its batch's currency.
            currency = variances["batch_number"].map(dict(zip(batches["batch_number"], batches["currency"])))
            _as_units(variances.assign(currency=currency)).to_excel(book, sheet_name="Variances", index=False)
            people.to_excel(book, sheet_name="Transactions", index=False)
            _as_units(exceptions).to_excel(book, sheet_name="Exceptions", index=False)
            for sheet in book.sheets.values():  # readable column widths
                for column in sheet.columns:
                    width = max(len(str(c.value)) if c.value is not None else 0 for c in column[:200])
                    sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width + 2))

    book = _atomic(target / f"{stem}.xlsx", xlsx)
    return {"csv": csv, "xlsx": book}


def bar_chart_svg(days: list[str], matched: list[int], unmatched: list[int], currency: str, *, exponent: int = 2) -> str:
    """Grouped bars per day: matched (green) and unmatched (red) amounts; a plain SVG a browser draws."""
    width, height, left, bottom, top = max(320, 60 + 56 * len(days)), 240, 70, 40, 24
    peak = max([*matched, *unmatched, 1])
    scale = (height - bottom - top) / peak
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="14">matched (green) and unmatched (red), {escape(currency)}</text>']
    for i in range(5):  # y axis: five ticks
        v = peak * i / 4
        y = height - bottom - v * scale
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{v / 10 ** exponent:,.0f}</text>')
    for i, (d, m, u) in enumerate(zip(days, matched, unmatched)):
        x = left + 10 + i * 56
        for j, (value, colour) in enumerate(((m, "#2e7d32"), (u, "#c62828"))):
            h = value * scale
            parts.append(f'<rect x="{x + j * 20}" y="{height - bottom - h:.1f}" width="18" height="{h:.1f}" fill="{colour}">'
                         f'<title>{escape(d)}: {value / 10 ** exponent:,.2f}</title></rect>')
        parts.append(f'<text x="{x + 19}" y="{height - bottom + 14}" text-anchor="middle">{escape(d[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_chart(folder: str | Path, day: date, svg: str, erp: str = "oracle") -> Path:
    target = Path(folder) / day.isoformat()
    target.mkdir(parents=True, exist_ok=True)
    name = "matched_vs_unmatched.svg" if erp == "oracle" else f"{erp}_matched_vs_unmatched.svg"
    return _atomic(target / name, lambda p: p.write_text(svg, encoding="utf-8"))
