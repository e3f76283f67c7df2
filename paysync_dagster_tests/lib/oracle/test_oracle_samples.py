"""The verbatim public Oracle samples (``../shared/samples/oracle``): every request is accepted by the
sandbox, every response and error text goes through the client's parsers.

Public copies of some responses are truncated (``.PARTIAL.txt``) or printed with placeholders
(``"links": [...]``, trailing commas, ``#`` comments). :func:`salvage` reads what is there: it drops
comments and placeholders and, for a truncated document, keeps every complete value and closes the
open brackets; the tests then assert on the fields that survived.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from paysync_dagster.lib.oracle import OracleFusionClient
from paysync_dagster.lib.oracle.records import (
    parse_account_activity,
    parse_batch_response,
    parse_framework_versions,
    parse_invoice,
    parse_page,
    parse_remittance_reference,
    parse_sales_order,
)
from paysync_dagster.lib.oracle.errors import (
    KNOWN_MESSAGES,
    OracleDuplicateReceipt,
    OracleMissingAttribute,
    OracleValidationError,
    error_for,
    parse_error_body,
)
from paysync_dagster.sandbox.oracle import create_oracle_app
from paysync_dagster.sandbox.server import ServerThread

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples" / "oracle"
USER, PASSWORD = "paysync.integration", "paysync-demo-password"
ROOT = "/fscmRestApi/resources/11.13.18.05"


def sample(name: str) -> str:
    assert SAMPLES.is_dir(), f"the shared Oracle samples must exist at {SAMPLES}"
    return (SAMPLES / name).read_text()


def test_samples_directory_is_present() -> None:
    assert SAMPLES.is_dir(), f"the shared Oracle samples must exist at {SAMPLES}"
    assert len(list(SAMPLES.iterdir())) >= 12


# -- salvaging partial documents -------------------------------------------------------------------------

def _scan(text: str) -> tuple[list[str], list[tuple[int, list[str]]], bool]:
    """Open brackets at the end, (position, open brackets) of every top-level-of-its-container comma,
    and whether the text ends inside a string."""
    stack: list[str] = []
    commas: list[tuple[int, list[str]]] = []
    in_string = escaped = False
    for i, ch in enumerate(text):
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
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}":
            if stack:
                stack.pop()
        elif ch == ",":
            commas.append((i, list(stack)))
    return stack, commas, in_string


def salvage(text: str) -> Any:
    """JSON from a published copy: comments, ``[...]`` placeholders, trailing commas and truncation fixed."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    body = "\n".join(lines)
    body = body.replace("[...]", "[]")
    body = re.sub(r",(\s*[}\]])", r"\1", body)
    try:
        return json.loads(body)
    except ValueError:
        pass
    stack, commas, in_string = _scan(body)
    if not in_string:
        try:
            return json.loads(body.rstrip().rstrip(",") + "".join(reversed(stack)))
        except ValueError:
            pass
    for pos, open_at in reversed(commas):  # cut after the last complete value
        try:
            return json.loads(body[:pos] + "".join(reversed(open_at)))
        except ValueError:
            continue
    raise ValueError("nothing salvageable")


def test_salvage_keeps_complete_values_only() -> None:
    assert salvage('{"a": 1, "b": {"c": [1, 2], "d": "x') == {"a": 1, "b": {"c": [1, 2]}}
    assert salvage('{"a": 1, "b":') == {"a": 1}
    assert salvage('{"items": [ {"x": 1, "y": "z"') == {"items": [{"x": 1, "y": "z"}]}


# -- requests: accepted by the sandbox --------------------------------------------------------------------------

@pytest.fixture
def sandbox() -> Iterator[httpx.Client]:
    app = create_oracle_app(clock=lambda: datetime(2018, 8, 17, 3, 55, 50, tzinfo=timezone.utc))
    with ServerThread(app) as server, httpx.Client(base_url=server.url, auth=(USER, PASSWORD), timeout=30) as http:
        # Oracle's Vision demo customer that samples 06 and 07 bill.
        r = http.post("/fscmRestApi/_sandbox/seed", json={"customers": [{"account": "1008", "company": "Total Internet"}]})
        assert r.status_code == 200, r.text
        yield http


def _split_07() -> tuple[dict, str]:
    text = sample("07_receivables_invoice_automatic_receipt_method.PARTIAL.txt")
    request_part, response_part = text.split("=== RESPONSE", 1)
    request = json.loads(request_part.split("===", 2)[2])
    return request, response_part.split("===", 1)[1]


def test_every_request_sample_is_accepted(sandbox: httpx.Client) -> None:
    handled: set[str] = set()

    r1 = sandbox.post(ROOT + "/standardReceipts", json=json.loads(sample("01_standard_receipt_create_request.json")))
    assert r1.status_code == 201, r1.text
    created = r1.json()
    assert created["Amount"] == "451.23" and created["ReceiptDate"] == "2018-08-17"  # sample 02's echo and default
    assert created["ReceiptNumber"] == "SKR_Receipt_1008" and created["CustomerName"] is None
    handled.add("01_standard_receipt_create_request.json")

    r3 = sandbox.post(ROOT + "/standardReceipts", json=json.loads(sample("03_standard_receipt_with_remittance_refs_request.json")))
    assert r3.status_code == 201, r3.text
    assert [(x["ReceiptMatchBy"], x["ReferenceAmount"]) for x in r3.json()["remittanceReferences"]] == \
        [("Purchase Order", 8774.45), ("Transaction Number", 8774.45)]
    handled.add("03_standard_receipt_with_remittance_refs_request.json")

    rid = created["StandardReceiptId"]
    r4 = sandbox.post(ROOT + f"/standardReceipts/{rid}/child/remittanceReferences",
                      json=json.loads(sample("04_remittance_reference_create_request.json")))
    assert r4.status_code == 201, r4.text
    expected_05 = salvage(sample("05_remittance_reference_create_response.txt"))
    assert set(r4.json()) == set(expected_05)  # the same attributes as Oracle's answer
    assert r4.json()["ReferenceAmount"] == expected_05["ReferenceAmount"]
    handled.add("04_remittance_reference_create_request.json")

    r6 = sandbox.post(ROOT + "/receivablesInvoices", json=json.loads(sample("06_receivables_invoice_create_with_lines_request.json")))
    assert r6.status_code == 201, r6.text
    assert r6.json()["EnteredAmount"] == 3066.08  # 2 x 1299.99 + 2 x 102.15 + 4 x 65.45
    handled.add("06_receivables_invoice_create_with_lines_request.json")

    request_07, _ = _split_07()
    r7 = sandbox.post(ROOT + "/receivablesInvoices", json=request_07)
    assert r7.status_code == 201, r7.text
    assert r7.json()["TransactionNumber"] == "Aito02" and r7.json()["DueDate"] == "2018-12-19"  # Immediate

    # Sample 08 names two invoices of Oracle's pod; the same batch against two invoices of this one.
    batch = json.loads(sample("08_batch_receivables_invoices_update_request.json"))
    ids = [r6.json()["CustomerTransactionId"], r7.json()["CustomerTransactionId"]]
    for part, iid in zip(batch["parts"], ids):
        part["path"] = re.sub(r"/\d+$", f"/{iid}", part["path"])
    r8 = sandbox.post(ROOT + "/", content=json.dumps(batch), headers={"Content-Type": "application/vnd.oracle.adf.batch+json"})
    assert r8.status_code == 200, r8.text
    parts = parse_batch_response(r8.json())
    assert [(p.id, p.operation) for p in parts] == [("part1", "update"), ("part2", "update")]
    assert parts[1].payload["PaymentTerms"] == "30/60/90" and parts[1].payload["InvoiceStatus"] == "Incomplete"
    assert parts[0].path.endswith(f"/receivablesInvoices/{ids[0]}")
    handled.add("08_batch_receivables_invoices_update_request.json")

    assert handled == {p.name for p in SAMPLES.glob("*.json")}, "a new request sample needs a case here"


# -- responses: parsed by the client ------------------------------------------------------------------------------

def test_remittance_reference_response_05() -> None:
    ref = parse_remittance_reference(salvage(sample("05_remittance_reference_create_response.txt")))
    assert ref.reference_id == 300100153164605 and ref.match_by == "Purchase Order"
    assert ref.reference_number == "SK_PO_1012" and ref.amount_minor == 877445 and ref.created_by == "AR_MGR_OPERATIONS"


def test_invoice_response_07_partial() -> None:
    _, response = _split_07()
    invoice = parse_invoice(salvage(response))
    assert invoice.invoice_id == 300100170996493 and invoice.transaction_number == "Aito02"
    assert invoice.transaction_date == "2018-12-19" and invoice.currency == "USD" and invoice.due_date is None
    assert invoice.total_minor is None and invoice.balance_minor is None  # cut off in the public copy


def test_batch_response_09_partial() -> None:
    [part] = parse_batch_response(salvage(sample("09_batch_receivables_invoices_update_response.PARTIAL.txt")))
    assert (part.id, part.operation, part.messages) == ("part1", "update", [])
    assert part.path == ("https://servername.fa.us2.oraclecloud.com/fscmRestApi/resources/11.13.18.05/"
                         "receivablesInvoices/300100541530598")
    invoice = parse_invoice(part.payload)
    assert invoice.invoice_id == 300100541530598 and invoice.transaction_number == "2345"
    assert invoice.due_date == "2020-12-19" and invoice.currency == "USD"


def test_site_activities_collection_10_partial() -> None:
    page = parse_page(salvage(sample("10_receivables_customer_account_site_activities_GET_collection.PARTIAL.txt")))
    [row] = page.items
    activity = parse_account_activity(row)
    assert activity.account_number == "PERF_ACCT_BAT10_1000" and activity.account_id == 100100148385906
    assert activity.site_use_id == 100100148387733 and activity.customer_id == 100100148382061
    assert activity.open_receivables_minor == 1050000
    assert page.has_more is False  # absent from the truncated copy: the documented default


def test_sales_order_12_partial() -> None:
    order = parse_sales_order(salvage(sample("12_sales_order_for_order_hub_GET_item.PARTIAL.txt")))
    assert order.header_id == 300000069400014 and order.order_number == "84430"
    assert order.order_key == "OPS:ORDER_01_11" and order.business_unit == "EMEA - Italy"
    assert order.buying_party_id == 100000018251790


def test_framework_versions_13() -> None:
    versions = parse_framework_versions(salvage(sample("13_rest_context_root_framework_versions.txt")))
    assert versions.version == "11.13.18.05" and versions.default == 3 and versions.allowed == (1, 2, 3, 4)


# -- error texts: typed errors with their codes ------------------------------------------------------------------------

def _sample_11() -> tuple[list[tuple[str | None, str]], list[str]]:
    coded, framework = [], []
    for line in sample("11_error_messages_standard_receipts.txt").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if " | " in line:
            code, text = line.split(" | ", 1)
            coded.append((None if code.startswith("(") else code.strip(), text.strip()))
        else:
            framework.append(line.strip())
    return coded, framework


FILLED = {"{ATTRIBUTE_NAME}": "Amount", "{RECEIPT_ID}": "300100153164586", "{ACTION_NAME}": "applyReceipt"}


def _fill(text: str) -> str:
    for placeholder, value in FILLED.items():
        text = text.replace(placeholder, value)
    return text


def test_error_texts_11_map_to_codes_and_classes() -> None:
    coded, framework = _sample_11()
    assert len(coded) == 7 and len(framework) == 2
    known = {(c, t) for c, t in KNOWN_MESSAGES}
    for code, text in coded:
        assert (code, text) in known, text
        for body, content_type in ((_fill(text), "text/plain"),
                                   (f"{code}: {_fill(text)}" if code else _fill(text), "text/plain"),
                                   (json.dumps({"title": "Bad Request", "status": "400", "o:errorDetails": [
                                       {"detail": _fill(text), "o:errorCode": code}]}), "application/vnd.oracle.adf.error+json")):
            [message] = parse_error_body(body, content_type)
            assert message.code == code and message.detail == _fill(text)
            err = error_for(400, [message], method="POST", path=f"{ROOT}/standardReceipts")
            expected = {"AR_RCP_DUP_NUM": OracleDuplicateReceipt,
                        "FND_CMN_REQ_ATTRIB_API_SERV": OracleMissingAttribute}.get(code or "", OracleValidationError)
            assert type(err) is expected and err.code == code
    [missing] = parse_error_body(_fill(coded[1][1]))
    assert missing.params == {"ATTRIBUTE_NAME": "Amount"}
    [update] = parse_error_body(_fill(coded[6][1]))
    assert update.code is None and update.params == {"RECEIPT_ID": "300100153164586"}
    batch, invalid = (parse_error_body(_fill(t))[0] for t in framework)
    assert batch.code is None and batch.params == {"ACTION_NAME": "applyReceipt"}
    assert invalid.code is None and invalid.params == {"OPERATION": "create"}
    both = parse_error_body("\n".join(_fill(t) for _, t in coded[:2]))
    assert [m.code for m in both] == ["AR_RCP_DUP_NUM", "FND_CMN_REQ_ATTRIB_API_SERV"]
    assert isinstance(error_for(400, both), OracleDuplicateReceipt)


def test_sandbox_error_texts_are_sample_11_texts(sandbox: httpx.Client) -> None:
    """What the sandbox says for these refusals is word for word what Oracle publishes."""
    coded, _ = _sample_11()
    texts = {code: text for code, text in coded if code}
    base = {"BusinessUnit": "Vision Operations", "Amount": "10", "ReceiptNumber": "E-1", "ReceiptDate": "2018-08-17"}
    cases = {"AR_RAPI_BU_INVALID": {**base, "BusinessUnit": "Nowhere"}, "AR_RAPI_CURR_CODE_INVALID": {**base, "Currency": "ZZZ"},
             "AR_INVAL_RECEIPT_MTH_ID": {**base, "ReceiptMethod": "Barter"},
             "AR_BOE_OBSOLETE": {**base, "ReceiptMethod": "Bills of Exchange"}, "FND_CMN_REQ_ATTRIB_API_SERV": {"Amount": "1"}}
    for code, payload in cases.items():
        r = sandbox.post(ROOT + "/standardReceipts", json=payload)
        assert r.status_code == 400 and r.text == _fill(texts[code]).replace("Amount", "BusinessUnit"), code
        assert parse_error_body(r.text, r.headers["content-type"])[0].code == code
    assert sandbox.post(ROOT + "/standardReceipts", json=base).status_code == 201
    dup = sandbox.post(ROOT + "/standardReceipts", json=base)
    assert dup.text == texts["AR_RCP_DUP_NUM"]
    with OracleFusionClient(str(sandbox.base_url), username=USER, password=PASSWORD, structured_errors=False) as client:
        with pytest.raises(OracleDuplicateReceipt):
            client.create_receipt(base)
