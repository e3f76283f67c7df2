"""Sage Pro proposals and the keying worksheet over the stand-in's real Visual FoxPro tables: a payment
matched by each rule (invoice number, sales order, PO number, a one-character typo), the rest on
account; the worksheet's rows and totals; and what a clerk keyed read back as keyed."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from paysync_dagster.lib.posting.matching import EXACT, PO_RULE, SO_RULE, TYPO, ReferenceRules
from paysync_dagster.lib.sagepro.adapter import SageProAdapter, SageProReceipts
from paysync_dagster.lib.sagepro.proposals import (EXCEPTION, KEYED, ON_ACCOUNT, PROPOSED, SKIPPED, keyed_by_reference,
                                                   propose, with_keyed)
from paysync_dagster.lib.sagepro.reader import SageProReader
from paysync_dagster.lib.sagepro.worksheet import HEADER, write_worksheet
from paysync_dagster.sandbox.sagepro import StandInSpec, key_worksheet, write_company

DAY = date(2026, 3, 6)
ACCOUNT = "sagepro_customer_account"
RULES = ReferenceRules()


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sagepro")
    write_company(out, StandInSpec(11, date(2026, 3, 2), DAY, 20, "America/Los_Angeles"))
    return out


def _payment(txn: int, amount_minor: int, account: str, reference: str = "", description: str = "",
             kind: str = "sale", status: str = "settled") -> dict:
    return {"transaction_id": txn, "kind": kind, "status": status, "amount_minor": amount_minor, "currency": "USD",
            "invoice_reference_raw": reference, "description": description, ACCOUNT: account, "billing_name": ""}


def _typo(number: str) -> str:
    """The invoice number with its last two digits swapped (one transposition)."""
    return number[:-2] + number[-1] + number[-2] if number[-1] != number[-2] else number[:-1] + str((int(number[-1]) + 1) % 10)


def test_a_payment_is_matched_by_each_rule_and_the_rest_goes_on_account(company: Path) -> None:
    reader = SageProReader(company)
    fetched, _ = SageProAdapter(reader).open_invoices(DAY)
    invoices = {f.invoice.number: f.invoice for f in fetched}
    with_po = next(i for i in invoices.values() if i.purchase_order)
    with_so = next(i for i in invoices.values() if i.order_number and i.number != with_po.number)
    plain = [i for i in invoices.values() if i.number not in (with_po.number, with_so.number)]
    by_number, typo = plain[0], next(i for i in plain[1:] if i.customer_account != plain[0].customer_account)
    assert with_so.order_number.strip() == with_so.order_number and len(with_so.order_number) < 10

    payments = [
        _payment(1, by_number.balance_minor, by_number.customer_account, by_number.number),
        _payment(2, with_so.balance_minor, with_so.customer_account, f"SO {with_so.order_number}"),
        _payment(3, with_po.balance_minor, with_po.customer_account, "", f"PO {with_po.purchase_order}"),
        _payment(4, typo.balance_minor, typo.customer_account, _typo(typo.number)),
        _payment(5, 12_345, by_number.customer_account, "", "deposit for next order"),
        _payment(6, 500, "", "", "who is this"),
        _payment(7, 2_000, by_number.customer_account, kind="refund"),
        _payment(8, 999, by_number.customer_account, kind="decline", status="declined"),
    ]
    out = {p.transaction_id: p for p in propose(payments, invoices, RULES, DAY, ACCOUNT)}
    assert [(out[t].outcome, out[t].rule, out[t].invoices) for t in (1, 2, 3, 4)] == [
        (PROPOSED, EXACT, (by_number.number,)), (PROPOSED, SO_RULE, (with_so.number,)),
        (PROPOSED, PO_RULE, (with_po.number,)), (PROPOSED, TYPO, (typo.number,))]
    assert 0.5 < out[4].score < 1.0 and out[1].score == 1.0  # a typo scores its similarity, below an exact read
    assert out[5].outcome == ON_ACCOUNT and [(ln.invoice_number, ln.amount_minor) for ln in out[5].lines] == [("", 12_345)]
    assert out[6].outcome == EXCEPTION and out[6].exception[0] == "unidentified_payer" and not out[6].lines
    assert out[7].outcome == EXCEPTION and out[7].exception[0] == "refund_to_key"
    assert out[8].outcome == SKIPPED and not out[8].lines
    assert all(ln.reference == str(t) and ln.customer_number == out[t].customer_account
               for t in (1, 2, 3, 4, 5) for ln in out[t].lines)


def test_the_worksheet_and_a_clerk_keying_part_of_it(company: Path, tmp_path: Path) -> None:
    reader = SageProReader(company)
    fetched, _ = SageProAdapter(reader).open_invoices(DAY)
    invoices = {f.invoice.number: f.invoice for f in fetched}
    first, second = list(invoices.values())[:2]
    payments = [_payment(101, first.balance_minor, first.customer_account, first.number),
                _payment(102, second.balance_minor + 1_000, second.customer_account, second.number)]
    proposals = propose(payments, invoices, RULES, DAY, ACCOUNT)
    lines = [ln for p in proposals for ln in p.lines]
    csv_path, xlsx_path = write_worksheet(tmp_path, "sagepro_keying_2026-03-06", lines)

    with csv_path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == HEADER
    body, total = rows[1:-1], rows[-1]
    assert [(r[1], r[2], Decimal(r[3]), r[5]) for r in body] == [
        (first.customer_account, first.number, Decimal(first.balance_minor) / 100, "101"),
        (second.customer_account, second.number, Decimal(second.balance_minor) / 100, "102"),
        (second.customer_account, "", Decimal("10.00"), "102")]
    assert total[0] == "total" and Decimal(total[3]) == Decimal(first.balance_minor + second.balance_minor + 1_000) / 100
    sheet = load_workbook(xlsx_path).active
    assert [c.value for c in sheet[1]] == list(HEADER) and sheet.max_row == len(rows)

    # The clerk keys only the first payment's line.
    keyed_csv = tmp_path / "first.csv"
    keyed_csv.write_text("\n".join(",".join(r) for r in rows[:2]) + "\n")
    assert key_worksheet(company, keyed_csv)["keyed"] == 1
    keyed = keyed_by_reference((r.refno, r.invno, r.paidamt_minor) for r in reader.cash_receipts())
    after = {p.transaction_id: p for p in with_keyed(proposals, keyed)}
    assert after[101].outcome == KEYED and after[102].outcome == PROPOSED
    frame, _ = SageProReceipts(reader, "PT-").receipts(["PT-101", "PT-102"])
    assert frame[["reference", "amount_minor", "customer_account"]].values.tolist() == [
        ["PT-101", first.balance_minor, first.customer_account]]
    assert first.number not in {f.invoice.number for f in SageProAdapter(reader).open_invoices(DAY)[0]}, \
        "a keyed invoice is paid in Sage Pro's open items"
