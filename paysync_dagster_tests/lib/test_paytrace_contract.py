"""PayTraceClient against the PayTrace sandbox over real HTTP: the contract both sides rely on.

The sandbox runs in-process under uvicorn (``ServerThread``) with a fixed clock and generated
history, and is reset before each test through its control API (``/_sandbox/reset``). Waits the
client would make are recorded, never slept.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from paysync_dagster.lib.http import RetryPolicy
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.paytrace.errors import (
    PayTraceApiError,
    PayTraceAuthError,
    PayTraceOutcomeUnknown,
    PayTraceTransportError,
)
from paysync_dagster.sandbox.paytrace.state import FakeClock, HistorySpec
from paysync_dagster.sandbox.server import ServerThread, build_app

USER, PASSWORD, INTEGRATOR = "contract-user", "contract-password", "9575315uXt4u"
VISA = "4012000098765439"
HISTORY = HistorySpec(seed=11, start_date=date(2024, 5, 27), end_date=date(2024, 6, 2), per_day=40)
TODAY = date(2024, 6, 3)
START_EPOCH = 1717434000  # 2024-06-03 10:00 America/Los_Angeles: after the history, before the 8 pm close
BILLING = {"name": "Steve Smith", "street_address": "8320 E. West St.", "city": "Spokane", "state": "WA",
           "zip": "85284", "country": "US"}


@dataclass
class Sandbox:
    server: ServerThread
    clock: FakeClock
    control: httpx.Client

    def faults(self, **config: Any) -> None:
        r = self.control.post("/_sandbox/faults", json=config)
        assert r.status_code == 200, r.text

    def stats(self) -> dict[str, Any]:
        return self.control.get("/_sandbox/stats").json()


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[Sandbox]:
    clock = FakeClock(START_EPOCH)
    app = build_app(history=HISTORY, clock=clock, username=USER, password=PASSWORD, integrator_id=INTEGRATOR)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=60) as control:
        yield Sandbox(server, clock, control)


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    sandbox_server.clock.epoch = START_EPOCH
    r = sandbox_server.control.post("/_sandbox/reset")  # also clears faults and statistics
    assert r.status_code == 200, r.text
    return sandbox_server


@pytest.fixture
def waits() -> list[float]:
    return []


def make_client(sandbox: Sandbox, waits: list[float], password: str = PASSWORD) -> PayTraceClient:
    return PayTraceClient(sandbox.server.url, USER, password, INTEGRATOR, httpx.Timeout(30.0),
                          RetryPolicy(max_attempts=10, base_delay_s=0.05, rng=random.Random(1)), sleep=waits.append)


@pytest.fixture
def client(sandbox: Sandbox, waits: list[float]) -> Iterator[PayTraceClient]:
    with make_client(sandbox, waits) as c:
        yield c


def keyed_sale(client: PayTraceClient, amount_minor: int, **extra: Any) -> dict[str, Any]:
    return client.sale_keyed(amount_minor, VISA, 12, 2030, **{"csc": "123", "billing_address": BILLING, **extra})


# -- auth ---------------------------------------------------------------------------------------------

def test_token_and_ping(sandbox: Sandbox, client: PayTraceClient) -> None:
    assert client.ping() == {"status": "success"}
    assert client.token_fetches == 0  # ping needs no token
    client.export_customers()
    client.export_batch()
    assert client.token_fetches == 1
    assert sandbox.stats()["requests"]["/oauth/token"] == {"200": 1}


def test_bad_password_is_an_auth_error(sandbox: Sandbox, waits: list[float]) -> None:
    with make_client(sandbox, waits, password="wrong-password") as bad:
        with pytest.raises(PayTraceAuthError, match="invalid_grant") as info:
            bad.export_customers()
    assert "wrong-password" not in str(info.value)


def test_token_expiry_on_the_server_clock_means_one_reauthentication(sandbox: Sandbox,
                                                                      client: PayTraceClient) -> None:
    client.export_customers()
    sandbox.clock.advance(7201)  # PayTrace's clock says expired; the client's cache still trusts it
    client.export_customers()
    assert client.token_fetches == 2
    assert sandbox.stats()["requests"]["/v1/customer/export"] == {"200": 2, "401": 1}


# -- transactions -------------------------------------------------------------------------------------

def test_sale_then_export_by_id(sandbox: Sandbox, client: PayTraceClient) -> None:
    sale = keyed_sale(client, 1230, invoice_id="INV-C1", description="contract sale", tax_minor=100)
    assert sale["success"] is True and sale["response_code"] == 101
    assert sale["masked_card_number"] == "xxxxxxxxxxxx5439" and sale["avs_response"] == "Full Exact Match"
    record = client.export_transaction(sale["transaction_id"])
    assert record is not None
    assert record["transaction_type"] == "SALE" and record["amount"] == 12.3 and record["tax_amount"] == "1.00"
    assert record["invoice_id"] == "INV-C1" and record["credit_card"]["masked_number"] == "************5439"
    assert record["settled"] == ""
    assert client.export_transaction(1) is None  # unknown id: error 58, read as "not found"


def test_decline_is_an_answer(sandbox: Sandbox, client: PayTraceClient) -> None:
    declined = keyed_sale(client, 29)
    assert declined["success"] is False and declined["response_code"] == 102
    assert declined["approval_code"] == ""
    record = client.export_transaction(declined["transaction_id"])
    assert record is not None and record["approval_code"] == ""
    declines = client.export_transactions(TODAY, TODAY, transaction_type="DECLINED")
    assert [r["transaction_id"] for r in declines] == [declined["transaction_id"]]


def test_validation_errors_carry_paytrace_codes(sandbox: Sandbox, client: PayTraceClient) -> None:
    with pytest.raises(PayTraceApiError) as info:
        client.sale_keyed(100, "54545454545454", 14, 2030)
    assert info.value.codes == ["35", "43"] and info.value.http_status == 400 and info.value.response_code == 1
    assert "54545454545454" not in str(info.value)


def test_authorize_capture_settle_refund(sandbox: Sandbox, client: PayTraceClient) -> None:
    auth = client.authorize_keyed(500, VISA, 12, 2030, csc="123", invoice_id="INV-C2")
    assert auth["success"] is True
    captured = client.capture(auth["transaction_id"], 200)
    assert captured["response_code"] == 112
    record = client.export_transaction(auth["transaction_id"])
    assert record is not None and record["transaction_type"] == "CAPTURE" and record["amount"] == 2

    with pytest.raises(PayTraceApiError) as info:  # not settled yet
        client.refund(auth["transaction_id"], 100)
    assert info.value.codes == ["817"]

    settled = client.settle()
    assert settled["success"] is True and settled["batch"]["number"] >= 1
    refund = client.refund(auth["transaction_id"], 150)
    assert refund["response_code"] == 106 and refund["transaction_id"] != auth["transaction_id"]
    with pytest.raises(PayTraceApiError) as info:  # more than what is left
        client.refund(auth["transaction_id"], 100)
    assert info.value.codes == ["819"]

    number = settled["batch"]["number"]
    assert client.export_batch(number) == settled["batch"]
    in_batch = {r["transaction_id"] for r in client.batch_transactions(number)}
    assert auth["transaction_id"] in in_batch
    assert client.export_batch()["transaction_count"] == 1  # the open batch holds the refund
    with pytest.raises(PayTraceApiError) as info:  # capture of a capture
        client.capture(auth["transaction_id"])
    assert info.value.codes == ["815"]


def test_void(sandbox: Sandbox, client: PayTraceClient) -> None:
    sale = keyed_sale(client, 4200)
    assert client.void(sale["transaction_id"])["response_code"] == 109
    record = client.export_transaction(sale["transaction_id"])
    assert record is not None and record["transaction_type"] == "VOID"
    with pytest.raises(PayTraceApiError) as info:
        client.void(sale["transaction_id"])
    assert info.value.codes == ["818"]


def test_customers(sandbox: Sandbox, client: PayTraceClient) -> None:
    before = {c["customer_id"] for c in client.export_customers()}
    created = client.create_customer("contract-cust-1", VISA, 11, 2031, billing_address=BILLING,
                                     email="steve@example.com")
    assert created["response_code"] == 160 and created["masked_card_number"] == "xxxxxxxxxxxx5439"
    with pytest.raises(PayTraceApiError) as info:
        client.create_customer("contract-cust-1", VISA, 11, 2031, billing_address=BILLING)
    assert info.value.codes == ["171"]
    sale = client.sale_by_customer("contract-cust-1", 990, invoice_id="INV-C3")
    assert sale["success"] is True
    record = client.export_transaction(sale["transaction_id"])
    assert record is not None and record["customer_id"] == "contract-cust-1"
    exported = {c["customer_id"]: c for c in client.export_customers()}
    assert set(exported) == before | {"contract-cust-1"}
    assert exported["contract-cust-1"]["credit_card"]["masked_number"].endswith("5439")
    assert client.delete_customer("contract-cust-1")["response_code"] == 162
    with pytest.raises(PayTraceApiError) as info:
        client.sale_by_customer("contract-cust-1", 990)
    assert info.value.codes == ["30"]


# -- exports ------------------------------------------------------------------------------------------

def test_exports_by_date_range_and_by_id_agree(sandbox: Sandbox, client: PayTraceClient) -> None:
    days: list[tuple[date, int]] = []
    records = client.export_transactions(HISTORY.start_date, HISTORY.end_date,
                                         progress=lambda day, n: days.append((day, n)))
    assert [d for d, _ in days] == [date(2024, 5, d) for d in range(27, 32)] + [date(2024, 6, 1), date(2024, 6, 2)]
    assert len(records) == sum(n for _, n in days) == sandbox.stats()["paytrace"]["transactions"]
    assert len({r["transaction_id"] for r in records}) == len(records)
    assert sandbox.stats()["requests"]["/v1/transactions/export/by_date_range"] == {"200": 7}
    for record in records[:: max(1, len(records) // 10)]:
        assert client.export_transaction(record["transaction_id"]) == record
    refunds = client.export_transactions(HISTORY.start_date, HISTORY.end_date, transaction_type="REFUND")
    assert refunds and all(r["transaction_type"] == "REFUND" for r in refunds)


def test_batches(sandbox: Sandbox, client: PayTraceClient) -> None:
    batches = client.export_batches(HISTORY.start_date, HISTORY.end_date)
    assert batches and [b["number"] for b in batches] == sorted(b["number"] for b in batches)
    for batch in batches:
        assert client.export_batch(batch["number"]) == batch
        txns = client.batch_transactions(batch["number"])
        assert len(txns) == batch["transaction_count"]
        assert all(t["settled"] for t in txns)
    assert client.export_batch()["number"] == batches[-1]["number"] + 1  # the open batch


# -- faults -------------------------------------------------------------------------------------------

def export_everything(client: PayTraceClient) -> dict[str, Any]:
    batches = client.export_batches(HISTORY.start_date, HISTORY.end_date)
    return {
        "transactions": client.export_transactions(HISTORY.start_date, HISTORY.end_date),
        "batches": batches,
        "batch_transactions": {b["number"]: client.batch_transactions(b["number"]) for b in batches},
        "customers": client.export_customers(),
    }


def test_faulted_run_exports_exactly_the_same_records(sandbox: Sandbox, waits: list[float]) -> None:
    with make_client(sandbox, []) as calm:
        expected = export_everything(calm)
    sandbox.faults(seed=3, error_rate=0.2, error_statuses=[500, 502, 503, 504], rate_limit_every=6,
                   rate_limit_burst=3, retry_after_seconds=1, expire_tokens_after_requests=9)
    with make_client(sandbox, waits) as faulted:
        got = export_everything(faulted)
        assert faulted.token_fetches >= 2  # tokens expired mid-run and were renewed
    assert got == expected
    faults = sandbox.stats()["faults"]
    assert faults.get("rate_limit_429", 0) >= 3 and faults.get("expire_tokens", 0) >= 1
    assert sum(n for kind, n in faults.items() if kind.startswith("error_5")) >= 1
    assert 1.0 in waits  # Retry-After: 1 honoured


def test_sale_whose_answer_is_lost_after_commit_is_not_retried(sandbox: Sandbox, client: PayTraceClient) -> None:
    sandbox.faults(drop_after_commit_rate=1.0, paths=["/v1/transactions/sale/keyed"])
    with pytest.raises(PayTraceOutcomeUnknown) as info:
        keyed_sale(client, 7700, invoice_id="INV-LOST")
    assert info.value.path == "/v1/transactions/sale/keyed"
    sandbox.faults()  # faults off: look the sale up, as a caller must before deciding anything
    found = [r for r in client.export_transactions(TODAY, TODAY) if r["invoice_id"] == "INV-LOST"]
    assert len(found) == 1  # committed once, never charged twice


def test_sale_refused_before_processing_is_retried(sandbox: Sandbox, client: PayTraceClient,
                                                   waits: list[float]) -> None:
    sandbox.faults(rate_limit_every=1, rate_limit_burst=2, retry_after_seconds=2,
                   paths=["/v1/transactions/sale/keyed"])
    keyed_sale(client, 1400, invoice_id="INV-OK")  # request 1 passes; requests 2 and 3 get 429
    sale = keyed_sale(client, 1500, invoice_id="INV-429")
    assert sale["success"] is True and waits == [2.0, 2.0]
    assert sandbox.stats()["requests"]["/v1/transactions/sale/keyed"] == {"200": 2, "429": 2}
    sandbox.faults(error_rate=1.0, error_statuses=[502], paths=["/v1/transactions/sale/keyed"])
    with pytest.raises(PayTraceOutcomeUnknown):  # a 502 may come from a proxy after the commit
        keyed_sale(client, 1600, invoice_id="INV-502")
    sandbox.faults(error_rate=1.0, error_statuses=[503], paths=["/v1/transactions/sale/keyed"])
    with pytest.raises(PayTraceTransportError) as info:  # 503 means "not processed": retried, then given up
        keyed_sale(client, 1700, invoice_id="INV-503")
    assert not isinstance(info.value, PayTraceOutcomeUnknown) and info.value.attempts == 10
    sandbox.faults()
    invoices = [r["invoice_id"] for r in client.export_transactions(TODAY, TODAY)]
    assert invoices.count("INV-429") == 1 and "INV-502" not in invoices and "INV-503" not in invoices
