"""The Oracle reader against the sandbox over real HTTP: receipts posted by the Poster read back as the
reconciliation frames; then edited, deleted and duplicated over Oracle's REST API and read again."""

from datetime import date, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import Engine

from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.lib.oracle import OracleAuthError, OracleFusionClient
from paysync_dagster.lib.oracle.reader import OracleReceiptReader
from paysync_dagster.lib.reconciliation.frames import ERP_RECEIPTS, ERP_REFUNDS, empty
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.conftest import oracle_resource
from paysync_dagster_tests.lib.posting.oracle_support import (DAY, PASSWORD, SETTINGS, USER, control, fresh,
                                                              oracle_client, payment, poster)

FRAMEWORK_VERSIONS = pytest.mark.parametrize("framework_version", [1, 2, 4], ids=["v1-batch", "v2-in", "v4-in"])


@pytest.fixture
def url(oracle_server: ServerThread) -> str:
    return fresh(oracle_server.url)


def post(url: str, engine: Engine, payments: list[dict]) -> None:
    with oracle_client(url) as client:
        outcomes = poster(client, engine).post_all(payments)
    assert all(o.exception is None or o.exception[0] in ("no_invoice_match", "unidentified_payer")
               for o in outcomes), [o.exception for o in outcomes]


def ids(url: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in control(url, "state", None)["receipts"]:
        out.setdefault(r["ReceiptNumber"], []).append(str(r["StandardReceiptId"]))
    return out


def requests(url: str) -> dict[str, int]:
    """Oracle API calls so far, by "METHOD resource" (a batch counts under the version root)."""
    stats = httpx.get(f"{url}/_sandbox/oracle/stats").json()["requests"]
    return {k: sum(v.values()) for k, v in stats.items()}


def calls_during(url: str, before: dict[str, int]) -> dict[str, int]:
    after = requests(url)
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[tuple]:
    return [tuple(r) for r in frame[list(columns)].itertuples(index=False)]


def assert_typed(receipts: pd.DataFrame, refunds: pd.DataFrame) -> None:
    assert list(receipts.columns) == list(ERP_RECEIPTS) and list(refunds.columns) == list(ERP_REFUNDS)
    for column in ("amount_minor", "applied_minor", "unapplied_minor"):
        assert receipts[column].dtype == "int64", column
    assert receipts["reversed"].dtype == bool and refunds["amount_minor"].dtype == "int64"
    assert all(type(d) is date for d in receipts["receipt_date"])


def receipt(number: str, erp_id: str, amount: int, account: str, applied: int, unapplied: int, reversed_: bool = False,
            day: date = DAY) -> tuple:
    return (number, erp_id, amount, "USD", account, day, applied, unapplied, reversed_)


def create(client: OracleFusionClient, number: str, day: date, amount: str, account: str | None = None) -> str:
    body: dict[str, Any] = {"ReceiptNumber": number, "ReceiptDate": day.isoformat(), "Amount": amount,
                            "Currency": "USD", "ReceiptMethod": SETTINGS.receipt_method,
                            "BusinessUnit": SETTINGS.business_unit,
                            "RemittanceBankAccountNumber": SETTINGS.remittance_bank_account}
    if account:
        body["CustomerAccountNumber"] = account
    return str(client.create_receipt(body)["StandardReceiptId"])


@FRAMEWORK_VERSIONS
def test_posted_receipts_read_back_then_the_edits_show(url: str, sqlite_engine: Engine, framework_version: int) -> None:
    post(url, sqlite_engine, [
        payment(1, 10_000, ref="INV-000101", account="C1"),  # applied in full
        payment(2, 3_000, ref="INV-000103", account="C1"),  # 2,500 applied, 500 on account
        payment(3, 5_000, ref="INV-000102", account="C1"),  # partially refunded below
        payment(5, 7_000, ref="INV-000190", account="C2"),  # refunded in full below: reversed
        payment(7, 999, description="Counter sale"),  # unidentified
        payment(8, 1_234, ref="PO 7781", normalized="PO7781", account="C2"),  # on account: no invoice
    ])
    post(url, sqlite_engine, [payment(4, 1_000, kind="refund", description="Refund of transaction 3"),
                              payment(6, 7_000, kind="refund", description="Refund of transaction 5")])
    n = ids(url)
    with oracle_client(url) as writer:
        # References that are not refund marks: another match-by, or no :RFND suffix.
        writer.create_remittance_reference(n["PT-8"][0], {"ReceiptMatchBy": "Customer Reference",
                                                          "ReferenceNumber": "PO 7781", "ReferenceAmount": "12.34"})
        writer.create_remittance_reference(n["PT-8"][0], {"ReceiptMatchBy": "Purchase Order",
                                                          "ReferenceNumber": "PT-9:RFND", "ReferenceAmount": "1.00"})

    resource = oracle_resource(url, framework_version=framework_version)
    wanted = ["PT-1", "PT-2", "PT-3", "PT-5", "PT-7", "PT-8", "PT-99", "PT-1"]  # PT-99 was never posted
    with resource.client() as client:
        reader = resource.reader(client, MAPPING)
        assert isinstance(reader, OracleReceiptReader) and reader.name == "oracle"
        before = requests(url)
        got, refunds = reader.receipts(wanted)
        calls = calls_during(url, before)
    assert calls == ({"POST 11.13.18.05": 1} if framework_version == 1 else {"GET standardReceipts": 1})
    assert_typed(got, refunds)
    assert rows(got, ERP_RECEIPTS) == [
        receipt("PT-1", n["PT-1"][0], 10_000, "C1", 10_000, 0),
        receipt("PT-2", n["PT-2"][0], 3_000, "C1", 2_500, 500),
        receipt("PT-3", n["PT-3"][0], 5_000, "C1", 4_000, 1_000),
        receipt("PT-5", n["PT-5"][0], 7_000, "C2", 0, 0, True),
        receipt("PT-7", n["PT-7"][0], 999, "", 0, 999),
        receipt("PT-8", n["PT-8"][0], 1_234, "C2", 0, 1_234),
    ]
    assert rows(refunds, ERP_REFUNDS) == [("PT-3", "PT-4:RFND", 1_000), ("PT-5", "PT-6:RFND", 7_000)]

    # An accountant's day in Oracle: re-identifies an unapplied receipt, deletes one, unapplies one,
    # and keys a second receipt under an existing number (accepted: another date and amount).
    app_id = next(r for r in control(url, "state", None)["receipts"]
                  if r["ReceiptNumber"] == "PT-1")["applications"][0]["ReceivableApplicationId"]
    with oracle_client(url) as writer:
        writer.update_receipt(n["PT-8"][0], {"CustomerAccountNumber": "C1"})
        writer.delete_receipt(n["PT-7"][0])
        writer.unapply_receipt(n["PT-1"][0], receivable_application_id=app_id)
        copy = create(writer, "PT-1", DAY + timedelta(days=1), "55.00", "C1")
    with resource.client() as client:
        got, refunds = resource.reader(client, MAPPING).receipts(wanted)
    assert_typed(got, refunds)
    assert rows(got, ERP_RECEIPTS) == [
        receipt("PT-1", n["PT-1"][0], 10_000, "C1", 0, 10_000),
        receipt("PT-1", copy, 5_500, "C1", 0, 5_500, day=DAY + timedelta(days=1)),
        receipt("PT-2", n["PT-2"][0], 3_000, "C1", 2_500, 500),
        receipt("PT-3", n["PT-3"][0], 5_000, "C1", 4_000, 1_000),
        receipt("PT-5", n["PT-5"][0], 7_000, "C2", 0, 0, True),
        receipt("PT-8", n["PT-8"][0], 1_234, "C1", 0, 1_234),
    ]
    assert rows(refunds, ERP_REFUNDS) == [("PT-3", "PT-4:RFND", 1_000), ("PT-5", "PT-6:RFND", 7_000)]


@FRAMEWORK_VERSIONS
def test_receipts_dated_are_the_window_and_the_prefix_across_pages(url: str, sqlite_engine: Engine,
                                                                   framework_version: int) -> None:
    before_day, after_day = DAY - timedelta(days=1), DAY + timedelta(days=1)
    post(url, sqlite_engine, [payment(200 + i, 1_000 + i) for i in range(7)])  # unidentified, on DAY
    post(url, sqlite_engine, [payment(300, 300, day=before_day), payment(400, 400, day=after_day)])
    post(url, sqlite_engine, [payment(500, 100, kind="refund", description="Refund of transaction 201")])
    with oracle_client(url) as writer:
        create(writer, "XX-1", DAY, "20.00")  # another system's receipt on the same day
        create(writer, "XPT-2", DAY, "21.00")
    n = ids(url)
    with OracleFusionClient(url, username=USER, password=PASSWORD, framework_version=framework_version) as client:
        reader = OracleReceiptReader(client, page_size=3)
        before = requests(url)
        got, refunds = reader.receipts_dated(before_day, DAY, "PT-")
        calls = calls_during(url, before)
        assert_typed(got, refunds)
        expected = [receipt(f"PT-{200 + i}", n[f"PT-{200 + i}"][0], 1_000 + i, "", 0, 1_000 + i) for i in range(7)]
        expected.insert(0, receipt("PT-300", n["PT-300"][0], 300, "", 0, 300, day=before_day))
        expected.sort(key=lambda r: r[0])
        assert rows(got, ERP_RECEIPTS) == expected
        assert rows(refunds, ERP_REFUNDS) == [("PT-201", "PT-500:RFND", 100)]
        if framework_version > 1:
            assert calls == {"GET standardReceipts": 3}  # 8 receipts, 3 a page
        # "_" is a wildcard to "like": the prefix itself must still be exact.
        assert all(f.empty for f in reader.receipts_dated(DAY.isoformat(), DAY.isoformat(), "PT_"))
        same_day, _ = reader.receipts_dated(after_day, after_day, "PT-")
        assert list(same_day["reference"]) == ["PT-400"]


def test_empty_inputs_give_empty_frames_without_a_call(url: str) -> None:
    with oracle_client(url) as client:
        reader = OracleReceiptReader(client)
        before = requests(url)
        got, refunds = reader.receipts([])
        assert calls_during(url, before) == {}
        pd.testing.assert_frame_equal(got, empty(ERP_RECEIPTS))
        pd.testing.assert_frame_equal(refunds, empty(ERP_REFUNDS))
        got, refunds = reader.receipts(["PT-12345"])
        assert list(got.columns) == list(ERP_RECEIPTS) and got.empty and refunds.empty
        with pytest.raises(ValueError, match="ends"):
            reader.receipts_dated(DAY, DAY - timedelta(days=1), "PT-")


def test_the_clients_typed_errors_reach_the_caller(url: str) -> None:
    with OracleFusionClient(url, username=USER, password="not the password") as client:
        with pytest.raises(OracleAuthError):
            OracleReceiptReader(client).receipts(["PT-1"])
