"""The verbatim public Sage 300 samples (``../shared/samples/sage``) go through records.py and errors.py.

Every file in the directory is read (samples held back for acceptance tests included, when they
appear): error bodies give their typed error with Sage's code and text, collections their rows,
request bodies (the official receipt and invoice batch samples) the records PaySync reads back.
Published copies may be cut short or printed carelessly (``get_ar_posted_documents_select.txt``
ends its ``value`` array with ``}`` after a trailing comma): :func:`salvage` repairs brackets and
trailing commas without inventing values.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from paysync_dagster.lib.sage.errors import (
    DOCUMENTED_CODES,
    SageApiError,
    SageNotFound,
    SageRejected,
    error_for,
    parse_error_body,
)
from paysync_dagster.lib.sage.records import (
    parse_customer,
    parse_gl_account,
    parse_invoice_batch,
    parse_page,
    parse_posted_document,
    parse_posted_receipt,
    parse_receipt_batch,
)

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "sage"


def sample_files() -> list[Path]:
    assert SAMPLES.is_dir(), f"the shared Sage samples must exist at {SAMPLES}"
    return sorted(p for p in SAMPLES.iterdir() if p.is_file() and p.suffix in (".json", ".txt"))


def salvage(text: str) -> Any:
    """JSON from a published copy: ``#`` comments and ``[...]`` placeholders dropped, a closing bracket
    that does not match its opening one replaced, trailing commas removed, unclosed brackets closed."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")).replace("[...]", "[]")
    try:
        return json.loads(body)
    except ValueError:
        pass
    out: list[str] = []
    stack: list[str] = []
    in_string = escaped = False
    for ch in body:
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}":
            if not stack:
                continue
            ch = stack.pop()
        out.append(ch)
    if in_string:
        out.append('"')
    repaired = "".join(out) + "".join(reversed(stack))
    repaired = re.sub(r",(\s*[}\]])", r"\1", repaired)
    return json.loads(repaired)


def test_salvage_repairs_what_the_published_copies_break() -> None:
    assert salvage('{"value": [{"a": 1}, {"b": 2},\n }') == {"value": [{"a": 1}, {"b": 2}]}
    assert salvage('{"a": [1, 2,], "b": {"c": "x"') == {"a": [1, 2], "b": {"c": "x"}}
    assert salvage('{"a": "}]"}') == {"a": "}]"}


def test_the_samples_are_there() -> None:
    names = {p.name for p in sample_files()}
    assert {"error_404_record_not_found.json", "error_invalid_parameters.json",
            "get_ar_posted_documents_select.txt", "post_ar_receipt_batch_prepayment.json",
            "post_ar_invoice_batch.json"} <= names


# -- one parser per kind of document ------------------------------------------------------------------------------

def _parse_row(row: dict[str, Any], context: str = "") -> object:
    if "ReceiptsAdjustments" in row or "BatchRecordType" in row:
        return parse_receipt_batch(row)
    if "Invoices" in row:
        return parse_invoice_batch(row)
    if "ARPostedReceipts" in context:
        return parse_posted_receipt(row)
    if "ARPostedDocuments" in context or "DocumentType" in row or "CustomerCurrencyAmountDue" in row:
        return parse_posted_document(row)
    if "ARCustomers" in context or "CustomerName" in row:
        return parse_customer(row)
    if "GLAccounts" in context or "UnformattedAccount" in row:
        return parse_gl_account(row)
    raise AssertionError(f"a sample row of an unknown kind: {sorted(row)[:8]}")


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.name)
def test_every_sample_parses(path: Path) -> None:
    data = salvage(path.read_text())
    assert isinstance(data, dict)
    if "error" in data:
        err = error_for(404 if "not_found" in path.name else 400, path.read_text(), content_type="application/json")
        assert isinstance(err, SageApiError)
        assert err.code in DOCUMENTED_CODES
        assert err.sage_message
        return
    if "value" in data:
        page = parse_page(data)
        assert page.value, "a collection sample with no rows"
        for row in page.value:
            _parse_row(row, page.context or "")
        return
    assert _parse_row(data) is not None


# -- what the samples say, field by field --------------------------------------------------------------------------

def test_record_not_found_sample() -> None:
    text = (SAMPLES / "error_404_record_not_found.json").read_text()
    err = error_for(404, text, content_type="application/json", method="GET", path="/x")
    assert type(err) is SageNotFound
    assert err.code == "RecordNotFound"
    assert err.sage_message == "A Record cannot be found for the specified entity key"
    assert err.http_status == 404
    assert parse_error_body(text).lang == "en-US"


def test_invalid_parameters_sample() -> None:
    text = (SAMPLES / "error_invalid_parameters.json").read_text()
    err = error_for(400, text)
    assert type(err) is SageRejected
    assert err.code == "InvalidParameters"
    assert err.sage_message is not None and err.sage_message.startswith("Could not find a property named 'L010746552'")
    # the code decides, whatever status a proxy put in front of it
    assert type(error_for(500, text)) is SageRejected


def test_posted_documents_select_sample() -> None:
    page = parse_page(salvage((SAMPLES / "get_ar_posted_documents_select.txt").read_text()))
    assert page.context is not None and page.context.endswith("#ARPostedDocuments(CustomerNumber,BatchNumber,DocumentType)")
    assert page.next_link is None
    docs = [parse_posted_document(r) for r in page.value]
    assert [(d.customer_number, d.batch_number, d.document_type) for d in docs] == [
        ("L010746552", 62, "CreditNote"), ("L010746552", 76, "DebitNote")]
    # $select left the rest out: read as absent, not as zero
    assert docs[0].amount_due_minor is None and docs[0].fully_paid is None and docs[0].document_number is None


def test_prepayment_receipt_batch_sample() -> None:
    batch = parse_receipt_batch(json.loads((SAMPLES / "post_ar_receipt_batch_prepayment.json").read_text()))
    assert (batch.batch_type, batch.batch_number, batch.batch_date) == ("CA", 146, date(2020, 1, 5))
    assert (batch.bank_code, batch.currency, batch.number_of_entries) == ("SEATAC", "USD", 1)
    (entry,) = batch.entries
    assert (entry.customer_number, entry.transaction_type, entry.entry_number) == ("1500", "Prepayment", 1)
    assert (entry.amount_minor, entry.bank_amount_minor, entry.applied_minor, entry.unapplied_minor) == (2200, 2200, 2200, 0)
    assert entry.reference is None  # "" reads as absent
    (line,) = entry.applied
    assert (line.line_number, line.payment_number, line.amount_minor, line.document_number) == (20, 1, 2200, None)


def test_invoice_batch_sample() -> None:
    batch = parse_invoice_batch(json.loads((SAMPLES / "post_ar_invoice_batch.json").read_text()))
    assert (batch.batch_number, batch.batch_date, batch.status) == (75, date(2020, 1, 15), "Open")
    assert [(i.entry_number, i.document_type, i.total_minor) for i in batch.invoices] == [
        (1, "Invoice", 22600), (2, "DebitNote", 2260), (3, "CreditNote", 3390), (4, "4", 4000)]


# -- what real answers look like beyond the samples (§5 wire habits) ------------------------------------------------

def test_trailing_precision_z_dates_and_flags() -> None:
    row = {"CustomerNumber": "1200", "DocumentNumber": "IN0000123", "DocumentType": "Invoice",
           "DocumentDate": "2026-04-01T00:00:00Z", "DueDate": "2026-05-01T00:00:00.000+00:00",
           "DatePaid": "0001-01-01T00:00:00Z", "CustomerCurrencyInvoiceAmount": json.loads("110.000"),
           "CustomerCurrencyAmountDue": "55.500", "FullyPaid": "No", "CurrencyCode": "USD", "BatchNumber": "62"}
    doc = parse_posted_document(row)
    assert (doc.invoice_amount_minor, doc.amount_due_minor) == (11000, 5550)
    assert (doc.document_date, doc.due_date, doc.date_paid) == (date(2026, 4, 1), date(2026, 5, 1), None)
    assert doc.fully_paid is False and doc.is_open and doc.batch_number == 62


def test_an_amount_with_a_hidden_cent_is_an_error_not_a_rounding() -> None:
    from paysync_dagster.lib.sage.errors import SageResponseError

    with pytest.raises(SageResponseError, match="CustomerCurrencyAmountDue"):
        parse_posted_document({"CustomerCurrencyAmountDue": "10.005"})


@pytest.mark.parametrize("status,body,content_type,cls,code", [
    (500, "<html><head><title>500 - Internal server error.</title></head><body>IIS</body></html>", "text/html",
     "SageServerError", None),
    (502, "Bad Gateway", "text/plain", "SageServerError", None),
    (401, "", "", "SageAuthError", None),
    (404, "not json {", "application/json", "SageNotFound", None),
    (429, '{"error":"too_many_requests","message":"slow down"}', "application/json", "SageRateLimited",
     "too_many_requests"),
    (400, '{"odata.error":{"code":"RecordInvalid","message":{"lang":"en-US","value":"Bad date."}}}',
     "application/json", "SageRejected", "RecordInvalid"),
    (400, '{"error":{"code":"General","message":"Customer is on hold."}}', "application/json", "SageRejected",
     "General"),
])
def test_error_mapping_is_tolerant_of_any_body(status: int, body: str, content_type: str, cls: str,
                                               code: str | None) -> None:
    err = error_for(status, body, content_type=content_type)
    assert type(err).__name__ == cls
    assert err.code == code
    if status == 500:
        assert err.sage_message == "500 - Internal server error."
