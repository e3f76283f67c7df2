"""Cash on account applied once its invoice appears, against the Oracle sandbox over real HTTP: once,
whatever is re-run or dropped after commit; never for reversed or refunded cash, never to another
customer's look-alike invoice; by remittance reference where Oracle applies with the receipt."""

import json
from datetime import date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, update

from paysync_dagster.lib.posting import Ledger
from paysync_dagster.lib.posting.late import LateApplier, LateRun
from paysync_dagster.lib.posting.poster import MATCH_FIELDS
from paysync_dagster.lib.warehouse.engine import begin_write
from paysync_dagster.lib.warehouse.tables import normalized_payments, posting_ledger
from paysync_dagster.sandbox.server import ServerThread
from paysync_dagster_tests.lib.posting.oracle_support import (DAY, REMITTANCE, active, balances, control, fresh,
                                                              oracle_client, payment, post, poster, receipts, seed)

LATER = DAY + timedelta(days=1)


@pytest.fixture
def url(oracle_server: ServerThread) -> str:
    return fresh(oracle_server.url)



def late(url: str, engine: Engine, as_of: date = LATER, **options) -> LateRun:  # noqa: ANN003
    with oracle_client(url) as client:
        return LateApplier(poster(client, engine, **options)).run(as_of)


def sandbox_applications(url: str) -> list[tuple[str, str, int]]:
    """Every application Oracle holds: (receipt, invoice, amount), active or not, so a duplicate shows."""
    return sorted((r["ReceiptNumber"], a["TransactionNumber"], a["amount_minor"])
                  for r in control(url, "state")["receipts"] for a in r["applications"])


def test_a_payment_posted_before_its_invoice_is_applied_once_it_appears(url: str, sqlite_engine: Engine) -> None:
    out = post(url, sqlite_engine, [payment(1, 4_000, ref="INV-000777", account="C1")])[1]
    assert (out.outcome, out.exception[0]) == ("on_account", "no_invoice_match")
    nothing = late(url, sqlite_engine)
    assert nothing.applied == [] and nothing.skipped == {"no open invoice matches yet": 1}

    seed(url, [("INV-000777", "C1", 4_000)])
    run = late(url, sqlite_engine)
    assert [(a.receipt_number, a.invoice_number, a.amount_minor, a.match_rule, a.applied_on) for a in run.applied] == \
        [("PT-1", "INV-000777", 4_000, "exact", LATER)]
    assert run.receipts == ["PT-1"] and run.errors == {}
    assert active(receipts(url)["PT-1"]) == {"INV-000777": 4_000} and balances(url)["INV-000777"] == 0
    detail = Ledger(sqlite_engine, "oracle").get("PT-1").detail
    assert (detail["unapplied"], detail["rule"], detail["planned_rule"], detail["applied_late"]) == \
        (0, "exact", "none", {"INV-000777": str(LATER)})

    again = late(url, sqlite_engine)
    assert (again.candidates, again.applied) == (0, [])
    assert sandbox_applications(url) == [("PT-1", "INV-000777", 4_000)]
    # The receipt's own date, posted again, now reports the payment applied (no exception left).
    out = post(url, sqlite_engine, [payment(1, 4_000, ref="INV-000777", account="C1")])[1]
    assert (out.outcome, out.invoices, out.applied_minor, out.unapplied_minor, out.exception) == \
        ("applied", "INV-000777", 4_000, 0, None)
    assert f"applied on {LATER} when invoice INV-000777 appeared" in out.reason
    with oracle_client(url) as client:
        applier = LateApplier(poster(client, sqlite_engine))
        assert [(a.receipt_number, a.invoice_number) for a in applier.applied_on(LATER)] == [("PT-1", "INV-000777")]
        assert applier.applied_on(LATER)[0].applied_at is not None and applier.applied_on(DAY) == []


def test_dropped_after_commit_each_late_application_happens_once(url: str, sqlite_engine: Engine) -> None:
    sales = [payment(10 + i, 1_000 * (i + 1), ref=f"INV-00088{i}", account="C1" if i % 2 else "C2") for i in range(5)]
    assert {o.outcome for o in post(url, sqlite_engine, sales).values()} == {"on_account"}
    seed(url, [(f"INV-00088{i}", "C1" if i % 2 else "C2", 1_000 * (i + 1)) for i in range(5)])
    faults = {"seed": 11, "drop_after_commit_rate": 0.1, "error_rate": 0.1, "paths": ["/fscmRestApi/*"]}
    httpx.post(f"{url}/_sandbox/faults", json=faults).raise_for_status()
    try:
        for _ in range(2):
            late(url, sqlite_engine)
        injected = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        httpx.post(f"{url}/_sandbox/faults", json={}).raise_for_status()
    assert injected.get("drop_after_commit"), injected
    final = late(url, sqlite_engine)
    assert final.errors == {}
    expected = [(f"PT-{10 + i}", f"INV-00088{i}", 1_000 * (i + 1)) for i in range(5)]
    assert sandbox_applications(url) == expected  # one each, whatever was dropped
    apps = Ledger(sqlite_engine, "oracle").entries(actions=["application"])
    assert sorted((e.parent_reference, e.detail["invoice"], e.amount_minor) for e in apps if e.posted) == expected
    assert all(e.posted and e.detail["late"] for e in apps)
    assert {r: receipts(url)[r]["unapplied_minor"] for r, _, _ in expected} == {r: 0 for r, _, _ in expected}


def test_reversed_and_refunded_cash_is_left_alone(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(20, 3_000, ref="INV-000720", account="C1"),
                              payment(21, 3_000, ref="INV-000721", account="C1"),
                              payment(22, 3_000, ref="INV-000722", account="C1")])
    outs = post(url, sqlite_engine, [payment(20, 3_000, kind="void", status="voided", ref="INV-000720", account="C1"),
                                     payment(23, 3_000, kind="refund", description="Refund of transaction 21"),
                                     payment(24, 1_000, kind="refund", description="Refund of transaction 22")])
    assert [o.outcome for o in outs.values()] == ["reversed", "refunded", "refunded"]
    seed(url, [("INV-000720", "C1", 3_000), ("INV-000721", "C1", 3_000), ("INV-000722", "C1", 3_000)])
    run = late(url, sqlite_engine)
    assert run.skipped["reversed (or a reversal under way)"] == 2
    assert [(a.receipt_number, a.invoice_number, a.amount_minor) for a in run.applied] == [("PT-22", "INV-000722", 2_000)]
    got = receipts(url)
    assert (active(got["PT-20"]), active(got["PT-21"]), active(got["PT-22"])) == ({}, {}, {"INV-000722": 2_000})
    assert [balances(url)[n] for n in ("INV-000720", "INV-000721", "INV-000722")] == [3_000, 3_000, 1_000]
    assert late(url, sqlite_engine).applied == []  # what stays on the receipt was refunded


def test_an_overpayment_keeps_its_invoice_and_cash_stays_within_its_customer(url: str, sqlite_engine: Engine) -> None:
    outs = post(url, sqlite_engine, [payment(30, 3_000, ref="INV-000103", account="C1"),
                                     payment(31, 700, ref="INV-000888", account="C1")])
    assert (outs[30].outcome, outs[30].unapplied_minor, outs[31].match_rule) == ("on_account", 500, "none")
    # Look-alikes appear: of the overpayment's invoice (one each customer), and of the unmatched
    # reference, but for another customer.
    seed(url, [("INV-000104", "C2", 500), ("INV-000105", "C1", 500), ("INV-000889", "C2", 700)])
    run = late(url, sqlite_engine)
    assert (run.candidates, run.applied, run.skipped) == (2, [], {"no open invoice matches yet": 2})
    assert active(receipts(url)["PT-30"]) == {"INV-000103": 2_500} and active(receipts(url)["PT-31"]) == {}
    assert [balances(url)[n] for n in ("INV-000104", "INV-000105", "INV-000889")] == [500, 500, 700]


def test_an_overpayment_remainder_goes_to_a_second_invoice_the_payment_named(url: str, sqlite_engine: Engine) -> None:
    out = post(url, sqlite_engine, [payment(32, 4_000, ref="INV-000103",
                                            description="Payment for INV-000103 and INV-000555", account="C1")])[32]
    assert (out.outcome, out.applied_minor, out.unapplied_minor) == ("on_account", 2_500, 1_500)
    seed(url, [("INV-000555", "C1", 2_000)])
    run = late(url, sqlite_engine)
    assert [(a.invoice_number, a.amount_minor, a.match_rule) for a in run.applied] == [("INV-000555", 1_500, "multiple")]
    assert active(receipts(url)["PT-32"]) == {"INV-000103": 2_500, "INV-000555": 1_500}


def test_cash_a_person_applied_in_oracle_meanwhile_is_not_applied_again(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(40, 2_000, ref="INV-000740", account="C1")])
    with oracle_client(url) as client:
        [inst] = client.invoice_installments(client.find_invoice_by_number("INV-000102")["CustomerTransactionId"])
        client.apply_receipt(receipts(url)["PT-40"]["StandardReceiptId"], inst["InstallmentId"], 2_000)
    seed(url, [("INV-000740", "C1", 2_000)])
    run = late(url, sqlite_engine)
    assert (run.applied, run.skipped) == ([], {"applied in the ERP": 1})
    assert sandbox_applications(url) == [("PT-40", "INV-000102", 2_000)] and balances(url)["INV-000740"] == 2_000


def test_where_oracle_applies_with_the_receipt_a_remittance_reference_is_added_once(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(50, 1_500, ref="INV-000750", account="C2")], **REMITTANCE)
    seed(url, [("INV-000750", "C2", 1_500)])
    faults = {"seed": 3, "drop_after_commit_rate": 0.5, "paths": ["/fscmRestApi/*/remittanceReferences"]}
    httpx.post(f"{url}/_sandbox/faults", json=faults).raise_for_status()
    try:
        for _ in range(3):
            late(url, sqlite_engine, **REMITTANCE)
        injected = httpx.get(f"{url}/_sandbox/stats").json()["faults"]
    finally:
        httpx.post(f"{url}/_sandbox/faults", json={}).raise_for_status()
    assert injected.get("drop_after_commit"), injected
    assert late(url, sqlite_engine, **REMITTANCE).errors == {}
    refs = receipts(url)["PT-50"]["remittanceReferences"]
    assert [(m["ReceiptMatchBy"], m["ReferenceNumber"], m["ReferenceAmount"]) for m in refs] == \
        [("Transaction Number", "INV-000750", 15)]
    assert active(receipts(url)["PT-50"]) == {}  # AutoMatch applies it, later
    control(url, "automatch", {})
    assert active(receipts(url)["PT-50"]) == {"INV-000750": 1_500} and balances(url)["INV-000750"] == 0
    out = post(url, sqlite_engine, [payment(50, 1_500, ref="INV-000750", account="C2")], **REMITTANCE)[50]
    assert out.outcome == "applied" and "remittance references" in out.reason


def test_a_plan_without_the_payment_fields_is_matched_from_normalized_payments(url: str, sqlite_engine: Engine) -> None:
    post(url, sqlite_engine, [payment(60, 900, ref="WEB-2026030501", account="C1")])
    with begin_write(sqlite_engine) as conn:  # a plan made before plans kept what the payment said
        [raw] = conn.execute(posting_ledger.select().where(posting_ledger.c.reference == "PT-60")).all()
        detail = {k: v for k, v in json.loads(raw.detail).items() if k not in MATCH_FIELDS}
        conn.execute(update(posting_ledger).where(posting_ledger.c.reference == "PT-60").values(detail=json.dumps(detail)))
        conn.execute(normalized_payments.insert(), [normalized_row(60, "WEB-2026030501", DAY)])
    seed(url, [("WEB-2026030501", "C1", 900)])
    run = late(url, sqlite_engine)
    assert [(a.invoice_number, a.match_rule) for a in run.applied] == [("WEB-2026030501", "exact")]


def normalized_row(txn: int, reference: str, day: date) -> dict:
    blank = {int: 0, float: 0.0, bool: False, str: "", date: day, datetime: datetime(2026, 3, 5, 18)}
    row = {c.name: blank[c.type.python_type] for c in normalized_payments.columns if not c.nullable}
    row.update(transaction_id=txn, kind="sale", amount_minor=900, currency="USD", invoice_reference_raw=reference,
               invoice_reference="2026030501", description="Web order")
    return row
