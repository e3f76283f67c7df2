"""KPIs by their published definitions (per date, and a range as sums, never averaged rates), and the
report files a finance user opens."""

from datetime import date, datetime

import openpyxl
import pandas as pd

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.reconciliation.files import bar_chart_svg, write_chart, write_reports
from paysync_dagster.lib.reconciliation.kpis import date_kpis, describe, exceptions_by_reason_and_age, summarize, tied_out

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)


def outcomes(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["transaction_id", "outcome", "owns_receipt", "amount_minor", "applied_minor",
                                       "unapplied_minor", "invoices", "exception_code", "currency"])


def batches(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["batch_number", "tied"])


def variances(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["batch_number", "leg", "cause", "amount_minor"])


def kpis(day: date, out: pd.DataFrame, **kw) -> dict[str, tuple[int, int]]:  # noqa: ANN003
    rows = date_kpis(day, out, kw.get("payments", []), kw.get("declined", []), kw.get("flagged", []),
                     kw.get("batches", batches([])), kw.get("transactions", pd.DataFrame(columns=["status"])),
                     kw.get("variances", variances([])))
    return {(r["kpi"] + (f":{r['currency']}" if r["currency"] else "")): (r["numerator"], r["denominator"]) for r in rows}


def test_each_kpi_counts_what_its_definition_says() -> None:
    out = outcomes([
        (1, "applied", True, 10_000, 10_000, 0, "INV-1,INV-2", "", "USD"),       # two invoices, fully applied
        (2, "on_account", True, 5_000, 4_000, 1_000, "INV-3", "", "USD"),        # overpayment
        (3, "on_account", True, 700, 0, 700, "", "no_invoice_match", "USD"),     # nothing matched
        (4, "exception", False, 900, 0, 0, "", "declined", "USD"),               # a decline: no receipt
        (5, "reversed", True, 300, 0, 0, "", "", "USD"),                         # voided after posting
        (6, "refunded", False, 200, 0, 0, "", "", "USD"),                        # a refund: not its own receipt
    ])
    got = kpis(D1, out, payments=[1, 2, 3, 4, 5, 6, 7], declined=[4], flagged=[3, 4, 7],
               batches=batches([(11, True), (12, False), (13, False)]),
               variances=variances([(12, "erp", "refund_in_later_batch", 500), (12, "bank", "fees", 90),
                                    (13, "erp", "missing_in_erp", 700)]),
               transactions=pd.DataFrame({"status": ["matched", "matched", "drift", "unapplied_in_erp"]}))
    assert got["payment_auto_match"] == (1, 3)
    assert got["invoice_auto_match"] == (3, 4)      # INV-1, INV-2, INV-3 applied; one payment matched nothing
    assert got["straight_through"] == (4, 6)        # 7 payments less the decline; 3 and 7 raised exceptions
    assert got["unapplied_cash:USD"] == (1_700, 15_700)
    assert got["batch_tie_out"] == (2, 3)           # 12 is explained (refund later, fees); 13 lacks a receipt
    assert got["reconciled_matched"] == (2, 4)


def test_a_range_is_the_sum_of_its_dates_not_the_average_of_rates() -> None:
    rows = [{"business_date": D1, "kpi": "payment_auto_match", "numerator": 1, "denominator": 1, "currency": ""},
            {"business_date": D2, "kpi": "payment_auto_match", "numerator": 1, "denominator": 9, "currency": ""},
            {"business_date": D1, "kpi": "unapplied_cash", "numerator": 50, "denominator": 1_000, "currency": "USD"},
            {"business_date": D2, "kpi": "unapplied_cash", "numerator": 150, "denominator": 1_000, "currency": "USD"}]
    s = summarize(pd.DataFrame(rows)).set_index("kpi")
    assert (s.loc["payment_auto_match", "numerator"], s.loc["payment_auto_match", "denominator"]) == (2, 10)
    assert s.loc["payment_auto_match", "rate"] == 0.2  # not (1.0 + 0.111) / 2
    lines = describe(summarize(pd.DataFrame(rows)), format_amount)
    assert lines[0] == "auto-match rate (payments): 20.0% (2 of 10)"
    assert lines[1].startswith("unapplied cash: ") and "10.0%" in lines[1]


def test_tied_out_accepts_only_business_causes() -> None:
    b = batches([(1, False), (2, False), (3, True)])
    v = variances([(1, "bank", "timing", 100), (2, "bank", "unexplained", 1), (2, "bank", "fees", 5)])
    assert tied_out(b, v).tolist() == [True, False, True]


def test_open_exceptions_by_reason_and_age() -> None:
    now = datetime(2026, 3, 10, 12, 0)
    x = pd.DataFrame([
        (1, "open", "drift", "USD", 100, datetime(2026, 3, 10, 2, 0)),       # 10 h
        (2, "open", "drift", "USD", 200, datetime(2026, 3, 8, 12, 0)),       # 2 days
        (3, "open", "no_invoice_match", "USD", 50, datetime(2026, 3, 1)),    # 9.5 days
        (4, "resolved", "drift", "USD", 999, datetime(2026, 3, 1)),          # not open: not counted
    ], columns=["transaction_id", "status", "reason_code", "currency", "amount_minor", "created_at"])
    got = exceptions_by_reason_and_age(x, now).set_index("reason_code")
    assert got.loc["drift", ["<1d", "1-3d", "3-7d", ">7d", "count", "amount_minor"]].tolist() == [1, 1, 0, 0, 2, 300]
    assert got.loc["no_invoice_match", [">7d", "count"]].tolist() == [1, 1]


def test_reports_are_written_as_csv_and_xlsx_with_amounts_in_units(tmp_path) -> None:  # noqa: ANN001
    transactions = pd.DataFrame([{"transaction_id": 1, "business_date": D1, "kind": "sale", "settlement_batch": 11,
                                  "currency": "USD", "gateway_amount_minor": 12_345, "erp_amount_minor": 12_300,
                                  "receipt_number": "PT-1", "erp_receipt_id": "9", "status": "amount_mismatch",
                                  "detail": "ERP shows 123.00, PayTrace settled 123.45"}])
    b = pd.DataFrame([{"batch_number": 11, "business_date": D1, "currency": "USD", "net_minor": 12_345,
                       "listed_net_minor": 12_345, "erp_net_minor": 12_300, "erp_variance_minor": 45,
                       "bank_net_minor": None, "bank_variance_minor": None, "tied": False, "transactions": 1}])
    v = pd.DataFrame([{"batch_number": 11, "leg": "erp", "cause": "amount_mismatch", "amount_minor": 45,
                       "transaction_id": 1, "note": "ERP amount differs"}])
    k = summarize(pd.DataFrame([{"business_date": D1, "kpi": "reconciled_matched", "numerator": 0, "denominator": 1,
                                 "currency": ""}]))
    paths = write_reports(tmp_path, D1, transactions=transactions, batches=b, variances=v, kpis=k,
                          exceptions=pd.DataFrame(columns=["transaction_id", "amount_minor", "currency"]))
    assert paths["csv"] == tmp_path / "2026-03-02" / "reconciliation_2026-03-02.csv"
    csv = pd.read_csv(paths["csv"])
    assert csv.loc[0, "gateway_amount"] == 123.45 and csv.loc[0, "erp_amount"] == 123.0 and csv.loc[0, "status"] == "amount_mismatch"
    book = openpyxl.load_workbook(paths["xlsx"])
    assert book.sheetnames == ["Summary", "Batches", "Variances", "Transactions", "Exceptions"]
    header = [c.value for c in book["Variances"][1]]
    assert book["Variances"].cell(2, header.index("amount") + 1).value == 0.45
    assert not list(tmp_path.rglob("*.tmp"))  # written atomically


def test_the_chart_draws_one_pair_of_bars_per_day(tmp_path) -> None:  # noqa: ANN001
    svg = bar_chart_svg(["2026-03-02", "2026-03-03"], [10_000, 20_000], [500, 0], "USD")
    assert svg.startswith("<svg") and svg.count("<rect") == 1 + 4  # background + two bars a day
    assert "2026-03-03: 200.00" in svg and "2026-03-02: 5.00" in svg
    assert write_chart(tmp_path, D1, svg).read_text(encoding="utf-8") == svg
