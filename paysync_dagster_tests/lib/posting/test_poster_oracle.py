"""The Poster against the Oracle sandbox over real HTTP: each posting scenario of the issue, checked by
reading the sandbox's state through its control API; and redelivery under faults."""


import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.posting import Ledger
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import (INVOICES, active, balances, control, fresh, oracle_client,
                                                              payment, post, receipts)


@pytest.fixture
def url(oracle_server: ServerThread) -> str:
    return fresh(oracle_server.url, [*INVOICES, ("INV-000200", "C2", 4_000)])


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine



def test_one_payment_across_several_invoices(url: str, engine: Engine) -> None:
    out = post(url, engine, [payment(1, 15_000, ref="INV-000101", description="Payment for INV-000101, INV-000102")])[1]
    assert (out.outcome, out.match_rule, out.match_score, out.invoices) == ("applied", "multiple", 1.0, "INV-000101,INV-000102")
    r = receipts(url)["PT-1"]
    assert active(r) == {"INV-000101": 10_000, "INV-000102": 5_000}
    assert (r["Status"], r["CustomerAccountNumber"], r["Amount"], r["unapplied_minor"]) == ("Applied", "C1", "150.00", 0)
    assert balances(url)["INV-000101"] == 0 and balances(url)["INV-000102"] == 0


def test_overpayment_is_left_on_account(url: str, engine: Engine) -> None:
    out = post(url, engine, [payment(2, 3_000, ref="inv 103", normalized="INV-000103", account="C1")])[2]
    assert (out.outcome, out.match_rule, out.applied_minor, out.unapplied_minor, out.exception) == \
        ("on_account", "reference", 2_500, 500, None)
    r = receipts(url)["PT-2"]
    assert (active(r), r["unapplied_minor"], r["Status"]) == ({"INV-000103": 2_500}, 500, "Unapplied")


def test_no_invoice_found_gives_an_on_account_receipt_and_an_exception(url: str, engine: Engine) -> None:
    outs = post(url, engine, [payment(3, 1_234, ref="PO 7781", normalized="PO7781", account="C2"),
                              payment(4, 999, description="Counter sale")])
    assert outs[3].outcome == "on_account" and outs[3].exception[0] == "no_invoice_match"
    assert outs[3].match_rule == "none" and outs[3].match_score < 0.86
    assert outs[4].outcome == "on_account" and "unidentified" in outs[4].exception[1]
    got = receipts(url)
    assert (got["PT-3"]["Status"], got["PT-3"]["CustomerAccountNumber"], got["PT-3"]["unapplied_minor"]) == ("Unapplied", "C2", 1_234)
    assert (got["PT-4"]["Status"], got["PT-4"]["CustomerAccountNumber"]) == ("Unidentified", None)


def test_a_one_character_typo_is_applied_when_the_payer_and_the_amount_agree(url: str, engine: Engine) -> None:
    out = post(url, engine, [payment(5, 7_000, ref="INV-109", normalized="INV-000109", account="C2")])[5]
    assert (out.outcome, out.match_rule, out.match_score, out.invoices) == ("applied", "typo", 0.6667, "INV-000190")
    assert active(receipts(url)["PT-5"]) == {"INV-000190": 7_000}


def test_a_decline_posts_nothing_and_is_an_exception_with_its_reason(url: str, engine: Engine) -> None:
    out = post(url, engine, [payment(6, 10_000, kind="decline", status="declined", ref="INV-000101")])[6]
    assert out.outcome == "exception" and out.exception[0] == "declined" and out.reason
    assert receipts(url) == {} and balances(url)["INV-000101"] == 10_000


def test_partial_then_full_refund_linked_to_the_original_receipt(url: str, engine: Engine) -> None:
    post(url, engine, [payment(7, 10_000, ref="INV-000101")])
    out = post(url, engine, [payment(8, 3_000, kind="refund", description="Refund of transaction 7")])[8]
    assert (out.outcome, out.receipt_number, out.reference, out.invoices) == ("refunded", "PT-7", "PT-8:RFND", "INV-000101")
    r = receipts(url)["PT-7"]
    assert active(r) == {"INV-000101": 7_000} and balances(url)["INV-000101"] == 3_000
    assert [(m["ReferenceNumber"], m["ReferenceAmount"], m["CustomerReason"]) for m in r["remittanceReferences"]] == \
        [("PT-8:RFND", 30, "REFUND")]
    out = post(url, engine, [payment(9, 7_000, kind="refund", description="Refund of transaction 7")])[9]
    assert out.outcome == "refunded" and "reversed" in out.reason
    r = receipts(url)["PT-7"]
    assert r["Status"] == "Reversed" and r["reversal"]["reason"] == "REFUND" and active(r) == {}
    assert [m["ReferenceNumber"] for m in r["remittanceReferences"]] == ["PT-8:RFND", "PT-9:RFND"]
    assert balances(url)["INV-000101"] == 10_000 and len(receipts(url)) == 1  # no refund receipt of its own


def test_a_partial_refund_covered_by_what_is_on_account_leaves_the_applications(url: str, engine: Engine) -> None:
    post(url, engine, [payment(10, 3_000, ref="INV-000103", account="C1")])  # 500 on account
    out = post(url, engine, [payment(11, 400, kind="refund", description="Refund of transaction 10")])[11]
    assert out.outcome == "refunded" and out.invoices == ""
    assert active(receipts(url)["PT-10"]) == {"INV-000103": 2_500}


def test_a_refund_without_a_posted_original_is_an_exception(url: str, engine: Engine) -> None:
    out = post(url, engine, [payment(12, 100, kind="refund", description="Refund of transaction 999")])[12]
    assert out.outcome == "exception" and out.exception[0] == "refund_without_receipt"


def test_void_before_posting_posts_nothing_and_after_posting_reverses(url: str, engine: Engine) -> None:
    out = post(url, engine, [payment(13, 5_000, kind="void", status="voided", ref="INV-000102")])[13]
    assert out.outcome == "skipped" and receipts(url) == {}
    post(url, engine, [payment(14, 5_000, ref="INV-000102")])
    assert balances(url)["INV-000102"] == 0
    out = post(url, engine, [payment(14, 5_000, kind="void", status="voided", ref="INV-000102")])[14]
    assert (out.outcome, out.receipt_number, out.owns_receipt) == ("reversed", "PT-14", True)
    r = receipts(url)["PT-14"]
    assert (r["Status"], r["reversal"]["category"], r["reversal"]["reason"]) == ("Reversed", "REV", "VOID")
    assert balances(url)["INV-000102"] == 5_000


def test_a_chargeback_reverses_the_receipt_with_its_reason(url: str, engine: Engine) -> None:
    post(url, engine, [payment(15, 4_000, ref="INV-000200")])
    out = post(url, engine, [payment(15, 4_000, kind="chargeback", status="disputed", ref="INV-000200")])[15]
    assert out.outcome == "reversed" and "chargeback" in out.reason
    r = receipts(url)["PT-15"]
    assert (r["Status"], r["reversal"]["reason"]) == ("Reversed", "CHARGEBACK") and balances(url)["INV-000200"] == 4_000
    again = post(url, engine, [payment(15, 4_000, kind="chargeback", status="disputed", ref="INV-000200")])[15]
    assert again.outcome == "reversed" and control(url, "state")["counts"]["reversals"] == 1


@pytest.mark.parametrize("batch", [1, 50], ids=["single-calls", "batched"])
def test_redelivered_under_faults_each_effect_happens_once(url: str, engine: Engine, batch: int) -> None:
    faults = {"seed": 3, "error_rate": 0.25, "drop_after_commit_rate": 0.2, "rate_limit_every": 15, "rate_limit_burst": 2,
              "retry_after_seconds": 0, "paths": ["/fscmRestApi/*"]}
    sales = [payment(100, 10_000, ref="INV-000101"), payment(101, 5_000, ref="INV-000102"),
             payment(102, 2_600, ref="INV-000103", account="C1"), payment(103, 7_000, ref="INV-000190", account="C2"),
             payment(104, 1_000, ref="INV-000200"), payment(105, 800)]
    later = [payment(106, 4_000, kind="refund", description="Refund of transaction 100"),
             payment(107, 1_000, kind="refund", description="Refund of transaction 104"),
             payment(101, 5_000, kind="void", status="voided", ref="INV-000102"),
             payment(103, 7_000, kind="chargeback", status="disputed", ref="INV-000190")]
    httpx.post(f"{url}/_sandbox/faults", json=faults).raise_for_status()
    try:
        for wave in (sales, later):
            for _ in range(3):  # every event delivered three times
                post(url, engine, wave, batch_size=batch)
        injected = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        httpx.post(f"{url}/_sandbox/faults", json={}).raise_for_status()
    assert injected.get("drop_after_commit") and injected.get("rate_limit_429"), injected
    outs = post(url, engine, later, batch_size=batch)
    assert [o.outcome for o in outs.values()] == ["refunded", "refunded", "reversed", "reversed"], [o.reason for o in outs.values()]
    state = control(url, "state")
    assert sorted(r["ReceiptNumber"] for r in state["receipts"]) == [f"PT-{t}" for t in range(100, 106)]  # one each
    got = {r["ReceiptNumber"]: r for r in state["receipts"]}
    assert {n: r["Status"] for n, r in got.items()} == {"PT-100": "Unapplied", "PT-101": "Reversed", "PT-102": "Unapplied",
                                                        "PT-103": "Reversed", "PT-104": "Reversed", "PT-105": "Unidentified"}
    assert active(got["PT-100"]) == {"INV-000101": 6_000} and got["PT-100"]["unapplied_minor"] == 4_000  # refunded
    assert [m["ReferenceNumber"] for m in got["PT-100"]["remittanceReferences"]] == ["PT-106:RFND"]
    assert state["counts"]["reversals"] == 3
    assert balances(url) == {"INV-000101": 4_000, "INV-000102": 5_000, "INV-000103": 0, "INV-000190": 7_000, "INV-000200": 4_000}
    posted = {e.reference: e.erp_id for e in Ledger(engine, "oracle").entries(actions=["receipt"]) if e.posted}
    assert posted == {r["ReceiptNumber"]: str(r["StandardReceiptId"]) for r in state["receipts"]}


def test_an_unidentified_receipt_moves_to_its_customer_once_when_the_payer_is_identified(url: str, engine: Engine) -> None:
    # The reference names C1's invoice but neither the amount nor a name corroborates it: unidentified.
    first = post(url, engine, [payment(20, 1_234, ref="INV-000101")])[20]
    assert (first.outcome, first.customer_account, first.exception[0]) == ("on_account", "", "unidentified_payer")
    assert (receipts(url)["PT-20"]["Status"], receipts(url)["PT-20"]["CustomerAccountNumber"]) == ("Unidentified", None)
    # A person maps the payer (the payment now carries C1's account), and the date is posted again, twice.
    for _ in range(2):
        again = post(url, engine, [payment(20, 1_234, ref="INV-000101", account="C1")])[20]
        assert (again.outcome, again.customer_account) == ("on_account", "C1")
        assert "moved to customer C1" in again.reason and again.exception[0] == "no_invoice_match"
    r = receipts(url)["PT-20"]
    assert (r["CustomerAccountNumber"], r["Status"], r["unapplied_minor"]) == ("C1", "Unapplied", 1_234)
    moves = Ledger(engine, "oracle").entries(actions=["identification"])
    assert [(e.reference, e.posted, e.detail["customer_account"]) for e in moves] == [("PT-20:CUST", True, "C1")]
    # One call on the receipt itself (the update); every look-up is a query on the collection.
    calls = httpx.get(f"{url}/_sandbox/stats").json()["requests"]
    assert sum(sum(by.values()) for path, by in calls.items() if path.endswith(f"/standardReceipts/{r['StandardReceiptId']}")) == 1


def test_a_lost_apply_receipt_answer_is_looked_up_by_the_resources_names_and_not_applied_twice(
        url: str, engine: Engine) -> None:
    # Every applyReceipt is committed and then its answer is lost (rate 1.0, on that action's path
    # only): the poster must read the receipt's standardReceiptApplications (ReferenceInstallmentId,
    # ApplicationAmount, ApplicationStatus) to learn that the cash is applied, instead of sending again.
    apply_path = "/fscmRestApi/resources/11.13.18.05/standardReceipts/*/action/applyReceipt"
    httpx.post(f"{url}/_sandbox/faults", json={"drop_after_commit_rate": 1.0, "paths": [apply_path]}).raise_for_status()
    try:
        outs = [post(url, engine, [payment(30, 10_000, ref="INV-000101")])[30] for _ in range(2)]  # and redelivered
        stats = httpx.get(f"{url}/_sandbox/stats").json()
    finally:
        httpx.post(f"{url}/_sandbox/faults", json={}).raise_for_status()
    assert stats["faults"] == {"drop_after_commit": 1}, stats["faults"]
    sent = {path: by for path, by in stats["requests"].items() if path.endswith("/action/applyReceipt")}
    assert list(sent.values()) == [{"200": 1}]  # one apply, committed, its answer dropped; never sent again
    assert any(path.endswith("/child/standardReceiptApplications") for path in stats["requests"])
    assert [(o.outcome, o.invoices, o.applied_minor, o.unapplied_minor) for o in outs] == \
        [("applied", "INV-000101", 10_000, 0)] * 2, [o.reason for o in outs]

    state = control(url, "state")
    [receipt] = state["receipts"]
    [inst] = next(i for i in state["invoices"] if i["TransactionNumber"] == "INV-000101")["installments"]
    assert [(a["InstallmentId"], a["TransactionNumber"], a["amount_minor"], a["status"]) for a in receipt["applications"]] == \
        [(inst["InstallmentId"], "INV-000101", 10_000, "APP")]  # applied exactly once
    assert balances(url)["INV-000101"] == 0 and inst["balance_minor"] == 0
    [entry] = Ledger(engine, "oracle").entries(actions=["application"])
    assert (entry.reference, entry.posted, entry.amount_minor) == \
        (f"PT-30:APP:INV-000101:{inst['InstallmentId']}", True, 10_000)

    # What the poster read: the row under the resource's names, none of the names it does not have.
    with oracle_client(url) as client:
        account_id = client.find_customer_account("C1")["AccountId"]
        [row] = client.receipt_applications(account_id, receipt["StandardReceiptId"])
    assert (row["ReferenceInstallmentId"], row["ReferenceTransactionNumber"], row["ApplicationAmount"],
            row["EnteredCurrency"], row["ApplicationStatus"]) == (inst["InstallmentId"], "INV-000101", 100, "USD", "Applied")
    assert not {"InstallmentId", "AppliedAmount", "Currency"} & set(row)
