"""The Oracle posting adapter over real HTTP against the composed sandbox: the receipt payload, batch
requests and their fallback, applications, reversals, refund marks, open invoices, and errors."""

from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from paysync_dagster.lib.oracle import adapter as adapter_module
from paysync_dagster.lib.oracle.adapter import OracleAdapter
from paysync_dagster.lib.posting.erp import ApplySpec, ErpReceipt, ReceiptSpec, RejectedError, UnavailableError
from paysync_dagster.sandbox.oracle import create_oracle_app
from paysync_dagster.sandbox.oracle.state import OracleState
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import SETTINGS, control, oracle_client, receipts, seed

DAY = date(2026, 3, 5)
ROOT = "/fscmRestApi/resources/11.13.18.05/"


@pytest.fixture(autouse=True)
def forget_what_pods_taught(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ports are reused between tests; what one sandbox taught about batch actions must not leak.
    monkeypatch.setattr(adapter_module, "_BATCH_ACTIONS_LEARNT", {})


def composed(batch_actions: tuple[str, ...] = ()) -> ServerThread:
    oracle = create_oracle_app(OracleState(batch_actions=batch_actions), fault_injection=False,
                               control_prefix="/_sandbox/oracle")
    return ServerThread(SandboxApp(oracle=oracle))


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with composed() as server:
        seed(server.url, [("INV-000301", "C7", 10_000), ("INV-000302", "C7", 6_000), ("INV-000303", "C8", 2_000)])
        yield server.url


def requests_to(url: str, path: str) -> int:
    return sum(httpx.get(f"{url}/_sandbox/stats").json()["requests"].get(path, {}).values())


def spec(ref: str, amount: int, account: str = "C7") -> ReceiptSpec:
    return ReceiptSpec(ref, amount, "USD", DAY, account, f"PayTrace {ref[3:]} INV-000301")


def test_a_receipt_carries_what_the_spec_and_the_mapping_say(url: str) -> None:
    with oracle_client(url) as client:
        ids = OracleAdapter(client, SETTINGS).create_receipts([spec("PT-501", 15_050)])
        item = client.get_receipt(ids["PT-501"])
    assert {k: item[k] for k in ("ReceiptNumber", "ReceiptDate", "Amount", "Currency", "CustomerAccountNumber",
                                 "ReceiptMethod", "BusinessUnit", "RemittanceBankAccountNumber", "Comments")} == {
        "ReceiptNumber": "PT-501", "ReceiptDate": "2026-03-05", "Amount": "150.50", "Currency": "USD",
        "CustomerAccountNumber": "C7", "ReceiptMethod": "PayTrace Card", "BusinessUnit": "US1 Business Unit",
        "RemittanceBankAccountNumber": "PayTrace Clearing - 1021", "Comments": "PayTrace 501 INV-000301"}


def test_receipts_are_created_and_looked_up_in_batches(url: str) -> None:
    before = requests_to(url, ROOT)
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS, batch_size=10)
        ids = adapter.create_receipts([spec(f"PT-6{i:02d}", 100 + i) for i in range(5)])
        found = adapter.find_receipts([f"PT-6{i:02d}" for i in range(6)])
    assert requests_to(url, ROOT) - before == 2  # five creates in one request, six look-ups in another
    assert {r: f.erp_id for r, f in found.items()} == ids and "PT-605" not in found
    assert found["PT-603"].amount_minor == 103 and found["PT-603"].customer_account == "C7"


def test_a_duplicate_is_refused_with_oracles_code(url: str) -> None:
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS)
        adapter.create_receipts([spec("PT-701", 500)])
        with pytest.raises(RejectedError) as refused:
            adapter.create_receipts([spec("PT-701", 500)])
    assert refused.value.code == "AR_RCP_DUP_NUM"


def test_applications_fall_back_to_single_calls_where_batches_refuse_actions(url: str) -> None:
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS, batch_size=10)
        ids = adapter.create_receipts([spec("PT-801", 3_000), spec("PT-802", 3_000)])
        targets = {i["TransactionNumber"]: str(i["installments"][0]["InstallmentId"]) for i in control(url, "state")["invoices"]}
        items = [ApplySpec(ErpReceipt(ids[r], r, 3_000, "USD", "C7"), "INV-000302", targets["INV-000302"], 1_000, DAY)
                 for r in ("PT-801", "PT-802")]
        assert adapter.apply_batch_size == 10
        with pytest.raises(RejectedError):
            adapter.apply(items)  # refused as a whole: nothing applied, and the adapter has learnt it
        assert adapter.apply_batch_size == 1 and receipts(url)["PT-801"]["applications"] == []
        for item in items:
            adapter.apply([item])
        assert adapter.applications(items[0].receipt) == {targets["INV-000302"]: 1_000}


def test_applications_go_in_one_batch_where_oracle_enables_the_action() -> None:
    with composed(batch_actions=("applyReceipt",)) as server:
        seed(server.url, [("INV-000401", "C9", 9_000)])
        with oracle_client(server.url) as client:
            adapter = OracleAdapter(client, SETTINGS, batch_size=10)
            ids = adapter.create_receipts([spec("PT-901", 4_000, "C9"), spec("PT-902", 5_000, "C9")])
            target = str(control(server.url, "state")["invoices"][0]["installments"][0]["InstallmentId"])
            before = requests_to(server.url, ROOT)
            adapter.apply([ApplySpec(ErpReceipt(ids[r], r, a, "USD", "C9"), "INV-000401", target, a, DAY)
                           for r, a in (("PT-901", 4_000), ("PT-902", 5_000))])
            assert requests_to(server.url, ROOT) - before == 1 and adapter.apply_batch_size == 10
        assert control(server.url, "state")["invoices"][0]["balance_minor"] == 0


def test_set_application_converges_and_refund_marks_read_back(url: str) -> None:
    with oracle_client(url) as client:
        adapter = OracleAdapter(client, SETTINGS)
        rid = adapter.create_receipts([spec("PT-1001", 2_000, "C8")])["PT-1001"]
        receipt = ErpReceipt(rid, "PT-1001", 2_000, "USD", "C8")
        target = next(str(i["installments"][0]["InstallmentId"]) for i in control(url, "state")["invoices"]
                      if i["TransactionNumber"] == "INV-000303")
        adapter.set_application(receipt, target, 2_000)
        adapter.set_application(receipt, target, 1_500)
        adapter.set_application(receipt, target, 1_500)  # repeated after an uncertain answer: no change
        assert adapter.applications(receipt) == {target: 1_500}
        adapter.mark_refund(receipt, "PT-1002:RFND", 500, "PayTrace refund")
        assert adapter.refund_marks(receipt) == {"PT-1002:RFND": 500}
        adapter.reverse(receipt, "REV", "REFUND")
        assert adapter.find_receipts(["PT-1001"])["PT-1001"].reversed and adapter.applications(receipt) == {}


def test_open_invoices_group_installments_and_stop_at_the_date() -> None:
    with composed() as server:
        seed(server.url, [("INV-000501", "C1", 1_000)])
        with oracle_client(server.url) as client:
            client.create_invoice({"TransactionNumber": "INV-000502", "BusinessUnit": "US1 Business Unit",
                                   "TransactionSource": "Manual", "TransactionType": "Invoice",
                                   "TransactionDate": "2026-03-02", "BillToCustomerNumber": "C1", "PaymentTerms": "30/60",
                                   "receivablesInvoiceLines": [{"Description": "x", "Quantity": 1, "UnitSellingPrice": 30}]})
            client.create_invoice({"TransactionNumber": "INV-000503", "BusinessUnit": "US1 Business Unit",
                                   "TransactionSource": "Manual", "TransactionType": "Invoice",
                                   "TransactionDate": "2026-03-09", "BillToCustomerNumber": "C1",
                                   "receivablesInvoiceLines": [{"Description": "y", "Quantity": 1, "UnitSellingPrice": 5}]})
            for batch in (1, 10):
                fetched, customers = OracleAdapter(client, SETTINGS, batch_size=batch).open_invoices(date(2026, 3, 5))
                by_number = {f.invoice.number: f for f in fetched}
                assert sorted(by_number) == ["INV-000501", "INV-000502"]  # INV-000503 is dated after the 5th
                two = by_number["INV-000502"].invoice
                assert two.balance_minor == 3_000 and [t.balance_minor for t in two.targets] == [1_500, 1_500]
                assert [c["account_number"] for c in customers] == ["C1"]


def test_an_unreachable_pod_is_unavailable_not_rejected() -> None:
    with oracle_client("http://127.0.0.1:9", attempts=2) as client:
        with pytest.raises(UnavailableError):
            OracleAdapter(client, SETTINGS).find_receipts(["PT-1"])
