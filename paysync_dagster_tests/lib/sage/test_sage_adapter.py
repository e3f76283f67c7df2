"""The Poster with SageAdapter against the composed sandbox's Sage 300 Web API over real HTTP: receipts in
the date's PaySync batch applied with the receipt, prepayments on account, the suspense customer and
its identification, redelivery under faults, posting, a late application (entry PATCH before posting,
ApplyDocument after), reversals and refunds, and the reader's view of it all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine

from paysync_dagster.lib.posting import ApplySpec, ErpReceipt, Ledger, RejectedError
from paysync_dagster.lib.posting.late import LateApplier
from paysync_dagster.lib.sage.reader import SageReceiptReader
from paysync_dagster.sandbox.server import SandboxApp, ServerThread
from paysync_dagster_tests.lib.sage.sage_support import (DAY, INVOICES, SETTINGS, adapter, documents, entries, faults,
                                                         fresh, payment, post, post_date, poster, sage_client, seed)

LATER = DAY + timedelta(days=1)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(SandboxApp()) as running:
        yield running


@pytest.fixture
def url(server: ServerThread) -> str:
    return fresh(server.url, [*INVOICES, ("INV-000200", "C2", 4_000)])


def snapshot(url: str) -> dict[str, tuple]:
    """What Sage holds per receipt number, without Sage's own numbers: a duplicate shows as two rows."""
    return {ref: tuple((e["customer"], e["type"], e["amount"], e["unapplied"], tuple(e["lines"])) for e in rows)
            for ref, rows in entries(url).items()}


def test_receipts_go_into_the_dates_batch_applied_with_the_receipt(url: str, sqlite_engine: Engine) -> None:
    first = post(url, sqlite_engine, [payment(1, 10_000, ref="INV-000101")])[1]
    assert (first.outcome, first.invoices, first.applied_minor, first.erp_receipt_id) == \
        ("applied", "INV-000101", 10_000, "CA-1-1")
    outs = post(url, sqlite_engine, [
        payment(2, 7_500, ref="INV-000102", description="Payment for INV-000102, INV-000103"),  # several invoices
        payment(3, 8_000, ref="inv 190", normalized="INV-000190", account="C2"),  # an overpayment
        payment(4, 1_234, ref="PO 7781", normalized="PO7781", account="C2"),  # nothing matches: on account
        payment(5, 999, description="Counter sale")])  # nobody known: the suspense customer
    assert [(o.outcome, o.invoices, o.applied_minor, o.unapplied_minor) for o in outs.values()] == [
        ("applied", "INV-000102,INV-000103", 7_500, 0), ("on_account", "INV-000190", 7_000, 1_000),
        ("on_account", "", 0, 1_234), ("on_account", "", 0, 999)]
    got = entries(url)
    assert {ref: len(rows) for ref, rows in got.items()} == {f"PT-{t}": 1 for t in range(1, 6)}
    assert {r[0]["batch"] for r in got.values()} == {1} and got["PT-1"][0]["description"] == "PaySync 2026-03-05"
    assert [got[f"PT-{t}"][0]["entry"] for t in range(1, 6)] == [1, 2, 3, 4, 5]  # Sage numbered them
    assert (got["PT-1"][0]["customer"], got["PT-1"][0]["type"], got["PT-1"][0]["lines"]) == \
        ("C1", "Receipt", [("INV-000101", 1, 10_000)])
    assert got["PT-2"][0]["lines"] == [("INV-000102", 1, 5_000), ("INV-000103", 1, 2_500)]
    assert (got["PT-4"][0]["customer"], got["PT-4"][0]["type"], got["PT-4"][0]["lines"]) == ("C2", "Prepayment", [])
    assert (got["PT-5"][0]["customer"], got["PT-5"][0]["type"]) == ("SUSPENSE", "Prepayment")

    with sage_client(url) as client:
        a = adapter(client)
        found = a.find_receipts([f"PT-{t}" for t in range(1, 7)])
        assert sorted(found) == [f"PT-{t}" for t in range(1, 6)]
        assert found["PT-5"] == ErpReceipt("CA-1-5", "PT-5", 999, "USD", "", 999, False)  # suspense = unidentified
        assert a.references(found["PT-2"]) == {"INV-000102": 5_000, "INV-000103": 2_500}
        # The open invoices net of what the unposted batch applies (Sage's DocumentNetBalance).
        open_now = {f.invoice.number: f.invoice.balance_minor for f in a.open_invoices(DAY)[0]}
        assert open_now == {"INV-000200": 4_000}
        assert "SUSPENSE" not in {c["account_number"] for c in a.customer_accounts()}
    assert documents(url)["INV-000101"] == ("Invoice", 10_000, False)  # nothing is posted yet


def test_overpayment_keeps_the_excess_unapplied_and_posting_pays_the_invoices(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(10, 3_000, ref="INV-000103", account="C1"),
                              payment(11, 10_000, ref="INV-000101"), payment(12, 800, account="C2")])
    row = entries(url)["PT-10"][0]
    assert (row["type"], row["lines"], row["unapplied"]) == ("Receipt", [("INV-000103", 1, 2_500)], 500)
    assert post_date(url) == [1]
    docs = documents(url)
    assert docs["INV-000101"] == ("Invoice", 0, True) and docs["INV-000103"] == ("Invoice", 0, True)
    assert docs[entries(url)["PT-10"][0]["document"]] == ("UnappliedCash", -500, False)
    assert docs[entries(url)["PT-12"][0]["document"]] == ("Prepayment", -800, False)
    with sage_client(url) as client:
        found = adapter(client).find_receipts(["PT-10", "PT-11", "PT-12"])
    # The same ids after posting; what is left unapplied is read from the receipt's credit.
    assert {r: (e.erp_id, e.unapplied_minor) for r, e in found.items()} == \
        {"PT-10": ("CA-1-1", 500), "PT-11": ("CA-1-2", 0), "PT-12": ("CA-1-3", 800)}
    again = post(url, sqlite_engine, [payment(10, 3_000, ref="INV-000103", account="C1")])[10]  # redelivered
    assert (again.outcome, again.erp_receipt_id) == ("on_account", "CA-1-1") and len(entries(url)["PT-10"]) == 1
    assert post_date(url) == []  # nothing left to post


def test_unidentified_payer_moves_from_suspense_to_its_customer_once(url: str, sqlite_engine: Engine,
                                                                     server: ServerThread) -> None:
    first = post(url, sqlite_engine, [payment(20, 1_234, ref="INV-000101")])[20]
    assert (first.outcome, first.customer_account, first.exception[0]) == ("on_account", "", "unidentified_payer")
    assert entries(url)["PT-20"][0]["customer"] == "SUSPENSE"
    moved = post(url, sqlite_engine, [payment(20, 1_234, ref="INV-000101", account="C1")])[20]
    assert (moved.customer_account, moved.outcome) == ("C1", "on_account") and "moved to customer C1" in moved.reason
    assert entries(url)["PT-20"][0]["customer"] == "C1"
    before = httpx.get(f"{server.url}/_sandbox/stats").json()["requests"]
    again = post(url, sqlite_engine, [payment(20, 1_234, ref="INV-000101", account="C1")])[20]
    assert again.customer_account == "C1" and httpx.get(f"{server.url}/_sandbox/stats").json()["requests"] == before
    moves = Ledger(sqlite_engine, "sage").entries(actions=["identification"])
    assert [(e.reference, e.posted, e.detail["customer_account"]) for e in moves] == [("PT-20:CUST", True, "C1")]
    # Once posted, a receipt cannot be moved through the API: a person transfers it.
    post(url, sqlite_engine, [payment(21, 500)])
    post_date(url)
    with sage_client(url) as client:
        a = adapter(client)
        with pytest.raises(RejectedError) as refused:
            a.set_customer(a.find_receipts(["PT-21"])["PT-21"], "C2")
    assert refused.value.code == "SAGE_POSTED" and "person transfers it" in str(refused.value)


SALES = [payment(100, 10_000, ref="INV-000101"), payment(101, 5_000, ref="INV-000102"),
         payment(102, 2_600, ref="INV-000103", account="C1"), payment(103, 7_000, ref="INV-000190", account="C2"),
         payment(104, 1_000, ref="PO 1", normalized="PO1", account="C2"), payment(105, 800),
         payment(106, 4_000, ref="INV-000200", description="Payment for INV-000200")]
LATER_WAVE = [payment(101, 5_000, kind="void", status="voided", ref="INV-000102")]


def test_redelivered_under_faults_holds_one_entry_per_payment_like_a_clean_run(
        server: ServerThread, sqlite_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    from paysync_dagster.lib.warehouse import make_engine, migrate

    url = fresh(server.url, [*INVOICES, ("INV-000200", "C2", 4_000)])
    clean_engine = make_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    migrate(clean_engine)
    for wave in (SALES, LATER_WAVE):
        post(url, clean_engine, wave, batch_size=3)
    clean = snapshot(url)
    clean_engine.dispose()
    assert "PT-101" not in clean and len(clean) == 6  # the void deleted its unposted entry

    url = fresh(server.url, [*INVOICES, ("INV-000200", "C2", 4_000)])
    faults(url, seed=5, error_rate=0.2, drop_after_commit_rate=0.1, rate_limit_every=6, rate_limit_burst=2,
           retry_after_seconds=0, paths=["/Sage300WebApi/*"])
    try:
        for wave in (SALES, LATER_WAVE):
            for _ in range(3):  # every event delivered three times
                post(url, sqlite_engine, wave, batch_size=1)  # one entry per request: more requests to fault
        injected = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        faults(url)
    assert injected.get("drop_after_commit") and injected.get("rate_limit_429") and \
        any(k.startswith("error_") for k in injected), injected
    outs = post(url, sqlite_engine, SALES + LATER_WAVE)  # a last clean delivery settles what stayed uncertain
    assert not [o for o in outs.values() if o.outcome == "exception" and o.exception[0].startswith("erp_")]
    assert snapshot(url) == clean
    ledger = {e.reference: e.erp_id for e in Ledger(sqlite_engine, "sage").entries(actions=["receipt"]) if e.posted}
    with sage_client(url) as client:
        found = adapter(client).find_receipts(list(ledger))
    assert {r: e.erp_id for r, e in found.items()} == {r: i for r, i in ledger.items() if r != "PT-101"}


def test_late_application_by_entry_patch_and_by_apply_document(url: str, sqlite_engine: Engine) -> None:
    outs = post(url, sqlite_engine, [payment(30, 4_000, ref="INV-000777", account="C1"),
                                     payment(31, 2_000, ref="INV-000778", account="C2")])
    assert [o.outcome for o in outs.values()] == ["on_account", "on_account"]
    seed(url, [("INV-000777", "C1", 4_000)])  # appears while the batch is still open
    with sage_client(url) as client:
        run = LateApplier(poster(client, sqlite_engine, today=LATER)).run(LATER)
    assert [(a.receipt_number, a.invoice_number, a.amount_minor) for a in run.applied] == [("PT-30", "INV-000777", 4_000)]
    row = entries(url)["PT-30"][0]
    assert (row["type"], row["lines"], row["batch"]) == ("Receipt", [("INV-000777", 1, 4_000)], 1)  # the entry itself

    post_date(url)  # PT-31 is a posted prepayment now; its invoice appears afterwards
    seed(url, [("INV-000778", "C2", 2_000)])
    faults(url, drop_after_commit_rate=1.0, paths=["*/AR/ARReceiptAndAdjustmentBatches*"])  # the insert's answer is lost
    try:
        with sage_client(url) as client:
            run = LateApplier(poster(client, sqlite_engine, today=LATER)).run(LATER)
        dropped = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        faults(url)
    assert dropped == {"drop_after_commit": 1}, dropped  # sent once; the look-up found it
    assert [(a.receipt_number, a.invoice_number, a.amount_minor) for a in run.applied] == [("PT-31", "INV-000778", 2_000)]
    got = entries(url)["PT-31"]
    assert [(r["type"], r["description"], r["lines"]) for r in got] == [
        ("Prepayment", "PaySync 2026-03-05", []), ("ApplyDocument", "PaySync 2026-03-06", [("INV-000778", 1, 2_000)])]
    with sage_client(url) as client:
        a = adapter(client)
        receipt = a.find_receipts(["PT-31"])["PT-31"]  # the ApplyDocument entry is not taken for the receipt
        assert (receipt.erp_id, receipt.unapplied_minor) == ("CA-1-2", 0)  # pending application counted
        assert a.references(receipt) == {"INV-000778": 2_000}
    with sage_client(url) as client:
        assert LateApplier(poster(client, sqlite_engine, today=LATER)).run(LATER).applied == []
    assert post_date(url, LATER) == [2]
    docs = documents(url)
    assert docs["INV-000778"] == ("Invoice", 0, True) and docs[got[0]["document"]] == ("Prepayment", 0, True)
    assert post(url, sqlite_engine, [payment(31, 2_000, ref="INV-000778", account="C2")])[31].outcome == "applied"


def test_voids_refunds_and_what_a_person_does_in_sage(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(40, 5_000, ref="INV-000102"), payment(41, 1_500, account="C2"),
                              payment(42, 7_000, ref="INV-000190", account="C2")])
    void = post(url, sqlite_engine, [payment(40, 5_000, kind="void", status="voided", ref="INV-000102")])[40]
    assert void.outcome == "reversed" and "PT-40" not in entries(url)  # the unposted entry is deleted
    assert post(url, sqlite_engine, [payment(40, 5_000, kind="void", status="voided")])[40].outcome == "reversed"
    early = post(url, sqlite_engine, [payment(43, 500, kind="refund", description="Refund of transaction 41")])[43]
    assert early.outcome == "exception" and "SAGE_UNPOSTED" in early.reason and "post the batch" in early.reason
    post_date(url)
    refund = post(url, sqlite_engine, [payment(43, 500, kind="refund", description="Refund of transaction 41")])[43]
    assert (refund.outcome, refund.reference, refund.receipt_number) == ("refunded", "PT-43:RFND", "PT-41")
    with sage_client(url) as client:
        a = adapter(client)
        receipt = a.find_receipts(["PT-41"])["PT-41"]
        assert a.refund_marks(receipt) == {"PT-43:RFND": 500}
        assert a.post_date(DAY) == []
    post(url, sqlite_engine, [payment(43, 500, kind="refund", description="Refund of transaction 41")])  # redelivered
    with sage_client(url) as client:
        refunds = [r for b in client.refund_batches() for r in b["Refunds"]]
    assert [(r["CheckNumber"], r["EntryReference"]) for r in refunds] == [("PT-43:RFND", "PT-41")]
    # The rest refunded: the refunds now pay the whole receipt back, so Sage has nothing left to reverse.
    rest = post(url, sqlite_engine, [payment(44, 1_000, kind="refund", description="Refund of transaction 41")])[44]
    assert rest.outcome == "refunded" and "reversed" in rest.reason
    with sage_client(url) as client:
        assert adapter(client).refund_marks(receipt) == {"PT-43:RFND": 500, "PT-44:RFND": 1_000}
        frame, refunds = SageReceiptReader(client, SETTINGS).receipts(["PT-41"])
    # The reconciliation reads it as PaySync's ledger has it: reversed, by refunds of its whole amount.
    assert bool(frame.set_index("reference").loc["PT-41", "reversed"]) and refunds["amount_minor"].sum() == 1_500
    chargeback = post(url, sqlite_engine, [payment(42, 7_000, kind="chargeback", status="disputed")])[42]
    assert chargeback.outcome == "exception" and "Reverse Transactions" in chargeback.reason


def test_the_readers_view_matches_the_ledger(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(50, 3_000, ref="INV-000103", account="C1"),
                              payment(51, 900, ref="INV-000779", account="C2"),
                              payment(52, 700)])
    post_date(url)
    seed(url, [("INV-000779", "C2", 600)])
    post(url, sqlite_engine, [payment(53, 10_000, ref="INV-000101")])  # unposted, in a new batch
    with sage_client(url) as client:
        LateApplier(poster(client, sqlite_engine, today=LATER)).run(LATER)  # an ApplyDocument of 600 on PT-51's prepayment
        reader = SageReceiptReader(client, SETTINGS)
        frame, refunds = reader.receipts(["PT-50", "PT-51", "PT-52", "PT-53", "PT-99"])
        dated, _ = reader.receipts_dated(DAY, DAY, "PT-")
    ledger = {e.reference: e for e in Ledger(sqlite_engine, "sage").entries(actions=["receipt"])}
    got = {r.reference: r for r in frame.itertuples()}
    assert sorted(got) == sorted(ledger) == ["PT-50", "PT-51", "PT-52", "PT-53"] and refunds.empty
    assert {r: (g.erp_id, g.amount_minor, g.customer_account) for r, g in got.items()} == \
        {r: (e.erp_id, e.amount_minor, e.detail["customer_account"]) for r, e in ledger.items()}
    assert {r: (g.applied_minor, g.unapplied_minor) for r, g in got.items()} == \
        {"PT-50": (2_500, 500), "PT-51": (600, 300), "PT-52": (0, 700), "PT-53": (10_000, 0)}
    assert sorted(dated["reference"]) == ["PT-50", "PT-51", "PT-52", "PT-53"]
    assert frame["amount_minor"].dtype == "int64" and not frame["reversed"].any()


def test_applications_are_set_exactly_while_unposted_and_only_raised_after(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(60, 15_000, ref="INV-000101", description="Payment for INV-000101, INV-000102")])
    with sage_client(url) as client:
        a = adapter(client, today=LATER)
        receipt = a.find_receipts(["PT-60"])["PT-60"]
        assert a.applications(receipt) == {"INV-000101": 10_000, "INV-000102": 5_000}
        a.set_application(receipt, "INV-000102", 2_000)
        a.set_application(receipt, "INV-000102", 2_000)  # repeated: the same state
        assert a.applications(receipt) == {"INV-000101": 10_000, "INV-000102": 2_000}
        a.set_application(receipt, "INV-000101", 0)
        assert a.applications(receipt) == {"INV-000102": 2_000}
        assert a.find_receipts(["PT-60"])["PT-60"].unapplied_minor == 13_000
        a.apply([ApplySpec(receipt, "INV-000103", "INV-000103", 2_500, LATER)])
        assert entries(url)["PT-60"][0]["lines"] == [("INV-000102", 1, 2_000), ("INV-000103", 1, 2_500)]
        a.post_date(DAY)
        a.set_application(receipt, "INV-000102", 5_000)  # posted: the difference as an ApplyDocument
        assert a.applications(receipt) == {"INV-000102": 5_000, "INV-000103": 2_500}
        with pytest.raises(RejectedError) as refused:
            a.set_application(receipt, "INV-000103", 1_000)
        assert refused.value.code == "SAGE_POSTED"
        with pytest.raises(RejectedError) as several:
            other = ErpReceipt("CA-9-9", "PT-61", 100, "USD", "C1")
            a.apply([ApplySpec(receipt, "INV-000102", "INV-000102", 1, LATER), ApplySpec(other, "X", "X", 1, LATER)])
        assert several.value.code == "NO_BATCH"
    assert [e["type"] for e in entries(url)["PT-60"]] == ["Receipt", "ApplyDocument"]


def test_a_refund_of_invoiced_cash_draws_on_one_credit_note_whatever_is_lost(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(60, 7_000, ref="INV-000190", account="C2")])
    post_date(url)  # the receipt is posted and pays the invoice in full: it leaves no credit to refund from
    assert documents(url)["INV-000190"][1:] == (0, True)
    # The credit note is entered and posted, and the answer to its batch's create is lost on the way back.
    faults(url, drop_after_commit_rate=1.0, paths=["/Sage300WebApi/*/AR/ARInvoiceBatches"])
    refund = post(url, sqlite_engine, [payment(61, 2_000, kind="refund", description="Refund of transaction 60")])[61]
    # The refund was not found, so it was sent again: the credit note found in its batch, posted, drawn on.
    assert (refund.outcome, refund.reference, refund.receipt_number) == ("refunded", "PT-61:RFND", "PT-60"), refund.reason
    assert "invoices stay paid" in refund.reason
    assert httpx.get(f"{url}/_sandbox/stats", timeout=30).json()["faults"]["drop_after_commit"] >= 1
    faults(url)
    post(url, sqlite_engine, [payment(61, 2_000, kind="refund", description="Refund of transaction 60")])  # redelivered
    held = documents(url)
    credit_notes = {n: d for n, d in held.items() if d[0] == "CreditNote"}
    assert credit_notes == {"PT-61-CN": ("CreditNote", -2_000, False)}  # one, drawn on once the refund is posted
    with sage_client(url) as client:
        refunds = [r for b in client.refund_batches() for r in b["Refunds"]]
        receipt = adapter(client).find_receipts(["PT-60"])["PT-60"]
        assert adapter(client).refund_marks(receipt) == {"PT-61:RFND": 2_000}
    assert [(r["CheckNumber"], [d["DocumentNumber"] for d in r["RefundDetails"]]) for r in refunds] == [
        ("PT-61:RFND", ["PT-61-CN"])]
    post_date(url)
    held = documents(url)
    assert held["PT-61-CN"][1] == 0 and held["INV-000190"][1:] == (0, True)  # the invoice stays paid


def test_a_receipt_names_the_card_by_brand_and_last_four_and_its_approval_code_never_more(url: str,
                                                                                      sqlite_engine: Engine) -> None:
    card = {"card_brand": "VISA", "card_last_four": "4242", "approval_code": "TAS042"}
    typed = "INV-000101 paid with 4111 1111 1111 1111"  # a payer who typed the card number in the reference
    post(url, sqlite_engine, [{**payment(70, 10_000, ref=typed, normalized="INV-000101", account="C1"), **card}])
    with sage_client(url) as client:
        [entry] = [e for b in client.receipt_batches() for e in b["ReceiptsAdjustments"]
                   if e["CheckReceiptNumber"] == "PT-70"]
    assert entry["EntryDescription"].startswith("PayTrace 70, Visa ending 4242, approval TAS042")
    # Sage keeps 60 characters; the ledger keeps the whole text, the typed card number masked.
    comments = Ledger(sqlite_engine, "sage").get("PT-70").detail["comments"]
    assert comments.startswith(entry["EntryDescription"]) and "INV-000101 paid with" in comments
    assert "4111 1111 1111 1111" not in comments and "411111111111" not in comments.replace(" ", "")
