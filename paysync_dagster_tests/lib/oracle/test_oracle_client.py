"""OracleFusionClient against the Oracle sandbox over real HTTP: receipts, applications, invoices, paging,
batch, typed errors, Basic and OAuth, and fault runs (5xx, 429 bursts, timeout after commit)."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from typing import Any

import pytest

from paysync_dagster_tests.support import rsa_pem_pair
from paysync_dagster.lib.http import OutcomeUnknown, RetryPolicy
from paysync_dagster.lib.oracle import (
    OAuthSettings,
    OracleAuthError,
    OracleBatchError,
    OracleDuplicateReceipt,
    OracleFusionClient,
    OracleMissingAttribute,
    OracleNotFound,
    OracleOutcomeUnknown,
    OraclePreconditionFailed,
    OracleValidationError,
)
from paysync_dagster.lib.oracle.records import (
    parse_account_activity,
    parse_installment,
    parse_invoice,
    parse_payment_schedule,
    parse_receipt,
    parse_sales_order,
)
from paysync_dagster.sandbox.oracle import OAuthServerConfig, OracleSandbox, SeedSpec, create_oracle_app, dump
from paysync_dagster.sandbox.paytrace.generator import open_invoices
from paysync_dagster.sandbox.server import ServerThread

USER, PASSWORD = "paysync.integration", "paysync-demo-password"
CLIENT_ID, CLIENT_SECRET = "paysync-oauth-client", "client-secret-never-logged"
ROOT = "/fscmRestApi/resources/11.13.18.05"
BU = "Vision Operations"
SEED = SeedSpec(seed=23, start_date=date(2024, 5, 27), end_date=date(2024, 5, 31), per_day=30)
FIXED_NOW = datetime(2024, 6, 3, 17, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return rsa_pem_pair()


class Running:
    def __init__(self, app: OracleSandbox, server: ServerThread):
        self.app, self.server, self.url = app, server, server.url
        self.waits: list[float] = []
        self._clients: list[OracleFusionClient] = []

    def client(self, **kw: Any) -> OracleFusionClient:
        kw.setdefault("retry", RetryPolicy(max_attempts=8, base_delay_s=0.001, rng=random.Random(5)))
        if "oauth" not in kw:
            kw.setdefault("username", USER)
            kw.setdefault("password", PASSWORD)
        c = OracleFusionClient(self.url, sleep=self.waits.append, **kw)
        self._clients.append(c)
        return c

    def faults(self, **config: Any) -> None:
        assert self.app.faults is not None
        from paysync_dagster.sandbox.faults import FaultConfig

        self.app.faults.configure(FaultConfig(**config))

    def close(self) -> None:
        for c in self._clients:
            c.close()


@pytest.fixture
def start(keys: tuple[str, str]) -> Iterator[Callable[[], Running]]:
    """Starts sandboxes (same seed each time) and stops every one of them afterwards."""
    started: list[tuple[ServerThread, Running]] = []

    def make() -> Running:
        oauth = OAuthServerConfig(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, public_key_pem=keys[1])
        app = create_oracle_app(seed=SEED, oauth=oauth, clock=lambda: FIXED_NOW)
        server = ServerThread(app).start()
        running = Running(app, server)
        started.append((server, running))
        return running

    try:
        yield make
    finally:
        for server, running in started:
            running.close()
            server.stop()


@pytest.fixture
def sb(start: Callable[[], Running]) -> Running:
    return start()


def catalogue() -> list[dict]:
    return open_invoices(SEED.seed, SEED.start_date, SEED.end_date, SEED.per_day)


def receipt_payload(number: str, inv: dict, amount_minor: int | None = None) -> dict:
    amount = amount_minor if amount_minor is not None else inv["amount_minor"]
    return {"ReceiptNumber": number, "BusinessUnit": BU, "ReceiptMethod": "Credit Card", "ReceiptDate": "2024-06-03",
            "Amount": f"{amount // 100}.{amount % 100:02d}", "Currency": "USD",
            "CustomerAccountNumber": inv["customer_account"]}


# -- reads and paging ------------------------------------------------------------------------------------

def test_pagination_iterates_every_page(sb: Running) -> None:
    client = sb.client(page_size=20)
    expected = sorted(i["invoice_number"] for i in catalogue())
    assert len(expected) > 60
    items = client.list_items("/receivablesInvoices")
    assert sorted(i["TransactionNumber"] for i in items) == expected
    pages = -(-len(expected) // 20)
    assert sb.app.statistics()["requests"]["GET receivablesInvoices"] == {"200": pages}
    page = client.page("/receivablesInvoices", {"limit": 10, "offset": 5, "totalResults": "true"})
    assert page.count == 10 and page.offset == 5 and page.has_more and page.total_results == len(expected)


def test_invoice_customer_and_schedule_lookups(sb: Running) -> None:
    client = sb.client()
    inv = catalogue()[3]
    found = client.find_invoice_by_number(inv["invoice_number"])
    assert found is not None
    parsed = parse_invoice(found)
    assert parsed.total_minor == parsed.balance_minor == inv["amount_minor"]
    assert parsed.customer_account_number == inv["customer_account"] and parsed.due_date == inv["due_date"]
    assert client.find_invoice_by_number(inv["invoice_number"] + "0") is None
    assert client.find_invoice_by_number(inv["invoice_number"][:-1] + "%") is None  # exact, not LIKE
    assert client.invoice_balance_minor(parsed.invoice_id) == inv["amount_minor"]
    theirs = sorted(i["invoice_number"] for i in catalogue() if i["customer_account"] == inv["customer_account"])
    assert [i["TransactionNumber"] for i in client.invoices_for_customer(inv["customer_account"])] == theirs
    account = client.find_customer_account(inv["customer_account"])
    assert account is not None
    activity = parse_account_activity(account)
    assert activity.customer_name == inv["customer_name"]
    schedules = [parse_payment_schedule(s) for s in client.payment_schedules(activity.account_id)]
    assert sorted(s.transaction_number for s in schedules) == theirs
    assert all(s.status == "Open" and s.balance_minor == s.original_minor for s in schedules)
    versions = client.framework_versions()
    assert versions.version == "11.13.18.05" and 4 in versions.allowed


# -- receipts ---------------------------------------------------------------------------------------------

def test_receipt_lifecycle_and_typed_errors(sb: Running) -> None:
    client = sb.client()
    inv = catalogue()[0]
    created = client.create_receipt(receipt_payload("PT-1001", inv))
    r = parse_receipt(created)
    assert r.amount_minor == inv["amount_minor"] and r.status == "Unapplied" and r.href and r.href.endswith(str(r.receipt_id))
    assert client.get_receipt(r.receipt_id)["ReceiptNumber"] == "PT-1001"
    assert client.find_receipt_by_number("PT-1001")["StandardReceiptId"] == r.receipt_id
    assert client.find_receipt_by_number("PT-1001", amount_minor=1) is None
    assert client.find_receipt_by_number("PT-9999") is None

    with pytest.raises(OracleDuplicateReceipt) as dup:
        client.create_receipt(receipt_payload("PT-1001", inv))
    assert dup.value.code == "AR_RCP_DUP_NUM" and dup.value.http_status == 400
    with pytest.raises(OracleMissingAttribute) as missing:
        client.create_receipt({"ReceiptNumber": "PT-X"})
    assert missing.value.attributes == ["Amount", "BusinessUnit"]
    with pytest.raises(OracleValidationError) as bad_bu:
        client.create_receipt({**receipt_payload("PT-1002", inv), "BusinessUnit": "Nowhere"})
    assert bad_bu.value.codes == ["AR_RAPI_BU_INVALID"]
    with pytest.raises(OracleNotFound):
        client.get_receipt(42)

    # The same codes from Oracle's plain-text bodies (no Accept for structured errors).
    plain = sb.client(structured_errors=False)
    with pytest.raises(OracleDuplicateReceipt) as dup_plain:
        plain.create_receipt(receipt_payload("PT-1001", inv))
    assert dup_plain.value.codes == ["AR_RCP_DUP_NUM"]
    with pytest.raises(OracleMissingAttribute) as missing_plain:
        plain.create_receipt({})
    assert missing_plain.value.attributes == ["Amount", "BusinessUnit"]

    etag = client.request("GET", f"/standardReceipts/{r.receipt_id}").headers["etag"]
    assert client.update_receipt(r.receipt_id, {"Comments": "via PaySync"}, if_match=etag)["Comments"] == "via PaySync"
    with pytest.raises(OraclePreconditionFailed):
        client.update_receipt(r.receipt_id, {"Comments": "stale"}, if_match=etag)
    ref = client.create_remittance_reference(r.receipt_id, {"ReceiptMatchBy": "Transaction Number",
                                                            "ReferenceNumber": inv["invoice_number"],
                                                            "ReferenceAmount": "1.00"})
    assert [x["RemittanceReferenceId"] for x in client.remittance_references(r.receipt_id)] == [ref["RemittanceReferenceId"]]
    client.delete_receipt(r.receipt_id)
    assert client.find_receipt_by_number("PT-1001") is None


def test_apply_unapply_reverse(sb: Running) -> None:
    client = sb.client()
    inv = next(i for i in catalogue() if i["amount_minor"] > 10000)
    found = parse_invoice(client.find_invoice_by_number(inv["invoice_number"]))
    [inst] = [parse_installment(i) for i in client.invoice_installments(found.invoice_id)]
    receipt = parse_receipt(client.create_receipt(receipt_payload("PT-2001", inv)))

    applied = client.apply_receipt(receipt.receipt_id, inst.installment_id, 6000)
    assert applied["amountApplied"] == 60
    assert client.invoice_balance_minor(found.invoice_id) == inv["amount_minor"] - 6000
    account = parse_account_activity(client.find_customer_account(inv["customer_account"]))
    apps = client.receipt_applications(account.account_id, receipt.receipt_id)
    assert [(a["ReferenceTransactionNumber"], a["ReferenceInstallmentId"], a["ApplicationAmount"], a["EnteredCurrency"],
             a["ApplicationStatus"]) for a in apps] == [(inv["invoice_number"], inst.installment_id, 60, "USD", "Applied")]
    assert not {"InstallmentId", "AppliedAmount", "Currency"} & set(apps[0])  # not attributes of the resource
    client.unapply_receipt(receipt.receipt_id, receivable_application_id=applied["receivableApplicationId"])
    assert client.invoice_balance_minor(found.invoice_id) == inv["amount_minor"]
    client.bulk_apply_receipt(receipt.receipt_id, [inst.installment_id])
    assert client.invoice_balance_minor(found.invoice_id) == 0
    assert parse_receipt(client.get_receipt(receipt.receipt_id)).status == "Applied"
    reversal = client.reverse_receipt(receipt.receipt_id, category="NSF", reason="NSF")
    assert reversal["status"] == "Reversed"
    assert client.invoice_balance_minor(found.invoice_id) == inv["amount_minor"]
    with pytest.raises(OracleValidationError):
        client.apply_receipt(receipt.receipt_id, inst.installment_id)


def test_framework_version_1_queries(sb: Running) -> None:
    client = sb.client(framework_version=1)
    inv = catalogue()[1]
    client.create_receipt(receipt_payload("PT V1 3001", inv))
    assert client.q(ReceiptNumber="PT V1 3001") == "ReceiptNumber=PT V1 3001"
    assert client.find_receipt_by_number("PT V1 3001")["ReceiptNumber"] == "PT V1 3001"
    assert client.find_invoice_by_number(inv["invoice_number"])["TransactionNumber"] == inv["invoice_number"]
    v4 = sb.client()
    assert v4.q(ReceiptNumber="O'Brien 1", StandardReceiptId=5) == "ReceiptNumber='O''Brien 1' and StandardReceiptId=5"
    v4.create_receipt({**receipt_payload("O'Brien 1", inv)})
    assert v4.find_receipt_by_number("O'Brien 1")["ReceiptNumber"] == "O'Brien 1"


def test_batch(sb: Running) -> None:
    client = sb.client()
    inv = catalogue()[2]
    found = client.find_invoice_by_number(inv["invoice_number"])
    parts = client.batch([
        {"id": "p1", "path": "/standardReceipts", "operation": "create", "payload": receipt_payload("PT-B1", inv)},
        {"id": "p2", "path": f"/receivablesInvoices/{found['CustomerTransactionId']}", "operation": "update",
         "payload": {"PaymentTerms": "15 Net"}},
    ])
    assert [(p.id, p.operation, p.messages) for p in parts] == [("p1", "create", []), ("p2", "update", [])]
    assert parts[0].payload["ReceiptNumber"] == "PT-B1" and parts[1].payload["PaymentTerms"] == "15 Net"
    before = dump(sb.app.state)
    with pytest.raises(OracleBatchError) as failed:
        client.batch([
            {"id": "ok", "path": "/standardReceipts", "operation": "create", "payload": receipt_payload("PT-B2", inv)},
            {"id": "dup", "path": "/standardReceipts", "operation": "create", "payload": receipt_payload("PT-B1", inv)},
        ])
    assert [p["id"] for p in failed.value.parts] == ["dup"]
    assert failed.value.codes == ["AR_RCP_DUP_NUM"]
    assert dump(sb.app.state)["receipts"] == before["receipts"]  # nothing of the batch was applied


def test_sales_order_to_invoice(sb: Running) -> None:
    client = sb.client()
    customer = next(c for c in dump(sb.app.state)["customers"] if c["AccountNumber"] == "C10004")
    order = parse_sales_order(client.create_sales_order({
        "SourceTransactionNumber": "SHOP-77", "SourceTransactionSystem": "OPS", "SourceTransactionId": "SHOP-77",
        "BusinessUnitName": BU, "BuyingPartyId": customer["CustomerId"], "SubmittedFlag": True,
        "lines": [{"ProductNumber": "AS54888", "OrderedQuantity": 3, "UnitSellingPrice": "10.10"}]}))
    assert order.order_key == "OPS:SHOP-77" and order.status == "OPEN"
    again = client.create_sales_order({"SourceTransactionNumber": "SHOP-77", "SourceTransactionSystem": "OPS",
                                       "SourceTransactionId": "SHOP-77", "CustomerPONumber": "PO-9"}, upsert=True)
    assert again["CustomerPONumber"] == "PO-9"
    assert parse_sales_order(client.get_sales_order(order.order_key)).order_number == order.order_number
    result = client.ship_sales_order(order.order_key)
    invoice = parse_invoice(client.find_invoice_by_number(result["TransactionNumber"]))
    assert invoice.total_minor == 3030 and invoice.customer_account_number == "C10004"


# -- auth ---------------------------------------------------------------------------------------------------

def test_oauth_token_is_cached_and_renewed(sb: Running, keys: tuple[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = OAuthSettings(token_url=sb.url + "/oauth2/v1/token", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                             username=USER, private_key_pem=keys[0], key_id="paysync-key")
    client = sb.client(oauth=settings)
    inv = catalogue()[5]
    client.create_receipt(receipt_payload("PT-OA-1", inv))
    client.find_receipt_by_number("PT-OA-1")
    client.list_items("/receivablesInvoices")
    assert client.token_fetches == 1
    sb.app.state.expire_tokens()  # every bearer token is now refused: the client renews once and carries on
    assert client.find_receipt_by_number("PT-OA-1") is not None
    assert client.token_fetches == 2
    sb.faults(expire_tokens_after_requests=3)
    for _ in range(7):
        client.get("/standardReceipts", {"limit": 1})
    assert client.token_fetches >= 4
    text = caplog.text + repr(client) + repr(settings)
    for secret in (CLIENT_SECRET, PASSWORD, keys[0].splitlines()[1]):
        assert secret not in text

    other, _ = rsa_pem_pair()
    wrong_key = sb.client(oauth=OAuthSettings(**{**settings.__dict__, "private_key_pem": other}))
    with pytest.raises(OracleAuthError) as refused:
        wrong_key.get("/standardReceipts")
    assert refused.value.codes == ["invalid_grant"]
    with pytest.raises(OracleAuthError) as basic_refused:
        sb.client(password="wrong").get("/standardReceipts")
    assert basic_refused.value.http_status == 401


# -- faults --------------------------------------------------------------------------------------------------

def _post_all(client: OracleFusionClient, plan: list[tuple[dict, dict]]) -> int:
    """What a posting step does: create each receipt and apply it, resolving every uncertain outcome by a
    look-up before trying again. Returns how many outcomes had to be resolved."""
    resolved = 0
    for payload, inv in plan:
        receipt = None
        for _ in range(20):
            try:
                receipt = client.create_receipt(payload)
                break
            except OracleOutcomeUnknown:
                resolved += 1
                receipt = client.find_receipt_by_number(payload["ReceiptNumber"], receipt_date=payload["ReceiptDate"])
                if receipt is not None:
                    break
        assert receipt is not None
        r = parse_receipt(receipt)
        invoice = parse_invoice(client.find_invoice_by_number(inv["invoice_number"]))
        [inst] = [parse_installment(i) for i in client.invoice_installments(invoice.invoice_id)]
        account = parse_account_activity(client.find_customer_account(inv["customer_account"]))
        for _ in range(20):
            if any(a["ApplicationStatus"] == "Applied" for a in client.receipt_applications(account.account_id, r.receipt_id)):
                break
            try:
                client.apply_receipt(r.receipt_id, inst.installment_id, min(r.amount_minor, inst.balance_minor))
                break
            except OracleOutcomeUnknown:
                resolved += 1
    return resolved


def _projection(state: dict) -> dict:
    return {"receipts": state["receipts"], "invoices": state["invoices"]}


def test_faulted_run_reaches_the_same_final_state(start: Callable[[], Running]) -> None:
    invoices = catalogue()[:14]
    plan = [(receipt_payload(f"PT-{7000 + i}", inv, inv["amount_minor"] if i % 3 else inv["amount_minor"] // 2), inv)
            for i, inv in enumerate(invoices)]
    clean = start()
    assert _post_all(clean.client(), plan) == 0

    faulted = start()
    faulted.faults(seed=3, error_rate=0.2, error_statuses=[500, 502, 503], rate_limit_every=9, rate_limit_burst=2,
                   retry_after_seconds=1)
    resolved = _post_all(faulted.client(), plan)
    stats = faulted.app.faults.stats()["faults"]
    assert stats.get("rate_limit_429", 0) > 0 and stats.get("error_500", 0) + stats.get("error_502", 0) > 0
    assert resolved > 0  # some writes met a 500/502 and were resolved by a look-up, not retried blindly
    assert 1.0 in faulted.waits  # Retry-After was honoured (recorded, not slept)
    assert _projection(dump(faulted.app.state)) == _projection(dump(clean.app.state))
    assert all(r["Status"] == "Applied" or r["unapplied_minor"] == 0 for r in dump(faulted.app.state)["receipts"])


def test_timeout_after_commit_is_outcome_unknown_then_found(sb: Running) -> None:
    client = sb.client()
    inv = catalogue()[7]
    payload = receipt_payload("PT-DROP-1", inv)
    sb.faults(drop_after_commit_rate=1.0, paths=[f"{ROOT}/standardReceipts"])
    with pytest.raises(OracleOutcomeUnknown) as unknown:
        client.create_receipt(payload)
    assert isinstance(unknown.value, OutcomeUnknown) and unknown.value.attempts == 1
    assert sb.app.faults.stats()["faults"]["drop_after_commit"] == 1
    found = client.find_receipt_by_number("PT-DROP-1", receipt_date="2024-06-03", amount_minor=inv["amount_minor"],
                                          customer_account_number=inv["customer_account"])
    assert found is not None and parse_receipt(found).amount_minor == inv["amount_minor"]
    sb.faults()
    with pytest.raises(OracleDuplicateReceipt):  # a blind retry would have been refused as a duplicate
        client.create_receipt(payload)
    assert len(client.find_receipts_by_number("PT-DROP-1")) == 1
