"""Order to cash in the demo: eCommerce orders paid by card become Oracle sales orders (and, when Sage
300 is on, OE orders in Sage too); shipping creates their invoices; the receipts, posted on account
before the invoices existed, are applied.

Per order, against the sandboxes: a PayTrace sale through the PayTrace API whose ``invoice_id`` is the
order number (billed to the customer's name, which normalization looks up among Oracle's accounts);
the sales order, created through PaySync (:mod:`paysync_dagster.lib.oracle.orders`: exactly once,
``CustomerPONumber`` = the payment's receipt number); the receipt posted, on account (no invoice yet);
the sandbox's ``shipOrder``, which closes the order and creates its invoice as AutoInvoice would,
numbered with the order number; and ``oracle_on_account_applications`` of the date, which applies the
receipt to that invoice. In Sage (:mod:`paysync_dagster.lib.sage.orders`) the same order becomes an OE
order numbered with the order number; the sandbox's ``ship_order`` stands in for the clerk shipping it
and Day End bringing its invoice to AR with the ``OrderNumber``; ``sage_on_account_applications``
applies the receipt to it by the sales-order rule.

Headless, both steps are runs of the main job for the date, in process. Interactive, as a storefront
would: each sale is announced by a signed webhook and the landing sensor's run posts the receipt; after
shipping, a one-date backfill of the open invoices and the on-account application.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import httpx
from sqlalchemy import Engine

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.orders import EcommerceOrder, OrderLine, create_sales_order
from paysync_dagster.lib.paytrace.client import PayTraceClient
from paysync_dagster.lib.paytrace.records import created_at_of
from paysync_dagster.lib.posting.ledger import APPLICATION, Ledger
from paysync_dagster.lib.sage.client import Sage300Client
from paysync_dagster.lib.sage.orders import create_sales_order as create_sage_order
from paysync_dagster.lib.sage.records import parse_posted_document
from paysync_dagster.lib.timeutil import business_date

ORDERS = 3
CURRENCY = "USD"
# A small storefront catalogue: (product number, description, unit price in cents).
PRODUCTS = (("AS54888", "Standing desk", 45_900), ("AS54999", "Monitor arm", 8_950), ("AS55012", "Desk lamp", 3_475))
TEST_CARD = "4012000098765439"  # PayTrace's published sandbox Visa; it only ever reaches the local simulator
_DONE = ("COMPLETED", "COMPLETED_SUCCESS")
_FINISHED = (*_DONE, "COMPLETED_FAILED", "FAILED", "CANCELED")
# What the interactive demo's second step materializes for each ERP that is on: the receipts are posted by then.
APPLY_ASSETS = ("open_invoices", "on_account_applications")
POSTING_WAIT_S = 900.0  # a busy machine's sensor runs queue behind the live payments' ones


class StaleWarehouse(RuntimeError):
    """The warehouse already holds a posting for a payment PayTrace has just made: it is a previous
    demo's (the sandbox numbers transactions the same way each time it starts)."""


@dataclass(frozen=True)
class SageSide:
    """Sage 300 beside Oracle: its client, and how an order gets shipped and invoiced there."""

    client: Sage300Client
    ship: Callable[[str, date], dict[str, Any]]  # (order number, day) -> the AR invoice it created


@dataclass(frozen=True)
class OrderToCash:
    order_number: str
    customer_account: str
    transaction_id: int
    header_id: int
    invoice_number: str
    receipt_number: str
    amount_minor: int
    applied_minor: int
    invoice_balance_minor: int
    currency: str = CURRENCY
    erp: str = "Oracle"

    @property
    def settled(self) -> bool:
        return self.applied_minor == self.amount_minor and self.invoice_balance_minor == 0

    def line(self) -> str:
        return (f"  {self.erp:<7}{self.order_number}  sales order {self.header_id}  invoice {self.invoice_number}  "
                f"receipt {self.receipt_number}  applied {format_amount(self.applied_minor, self.currency)}"
                + ("" if self.settled else f"  (invoice still owes {format_amount(self.invoice_balance_minor, self.currency)})"))


@dataclass(frozen=True)
class _Customer:
    account: str
    name: str


def customers(oracle: OracleFusionClient, count: int) -> list[_Customer]:
    """``count`` Oracle accounts whose name no other account has (normalization finds a payer by name)."""
    rows = [(str(a["AccountNumber"]), str(a.get("CustomerName") or "").strip())
            for a in oracle.customer_account_activities() if a.get("AccountNumber")]
    names = [n.upper() for _, n in rows]
    unique = sorted((acct, name) for acct, name in rows if name and names.count(name.upper()) == 1)
    if len(unique) < count:
        raise RuntimeError(f"Oracle has {len(unique)} customer accounts with a name of their own; {count} needed")
    return [_Customer(acct, name) for acct, name in unique[:count]]


def _lines(i: int) -> tuple[OrderLine, ...]:
    picked = [PRODUCTS[(i + k) % len(PRODUCTS)] for k in range(1 + i % 2)]
    return tuple(OrderLine(p, 1 + (i + k) % 3, price, description) for k, (p, description, price) in enumerate(picked))


def run_order_to_cash(paytrace: PayTraceClient, oracle: OracleFusionClient, engine: Engine,
                      post_receipts: Callable[[Sequence[dict[str, Any]], Sequence[date]], None],
                      apply_on_account: Callable[[Sequence[date]], None], *, business_unit: str, receipt_prefix: str,
                      tz_name: str, count: int = ORDERS, stamp: str | None = None,
                      sage: SageSide | None = None) -> list[OrderToCash]:
    """Place, pay, post, ship and apply ``count`` orders; what became of each (in Oracle, and in Sage
    when ``sage`` is given). ``post_receipts(records, days)`` gets the sales' PayTrace records posted;
    ``apply_on_account(days)`` runs the on-account application of those dates."""
    # 11 digits in all: longer than an invoice reference, shorter than what scrubbing takes for a card
    stamp = stamp or datetime.now(timezone.utc).strftime("%m%d%H%M%S")
    ledger, sage_ledger = Ledger(engine, "oracle"), Ledger(engine, "sage")
    placed: list[tuple[EcommerceOrder, Any, date]] = []
    sage_orders: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for i, customer in enumerate(customers(oracle, count), start=1):
        number, lines = f"WEB-{stamp}{i}", _lines(i)
        total = sum(line.amount_minor for line in lines)
        sale = paytrace.sale_keyed(total, TEST_CARD, 12, 2030, billing_address={
            "name": customer.name, "street_address": "100 Market St", "city": "San Francisco", "state": "CA",
            "zip": "94105", "country": "US"}, invoice_id=number, description=f"Web order {number}")
        if not sale.get("success"):
            raise RuntimeError(f"PayTrace declined the payment of order {number}: {sale.get('status_message')}")
        txn = int(sale["transaction_id"])
        if ledger.get(f"{receipt_prefix}{txn}") is not None:
            raise StaleWarehouse(f"the warehouse already has a receipt {receipt_prefix}{txn} from an earlier demo; "
                                 "start the demo with a fresh --home to see order to cash")
        record = paytrace.export_transaction(txn)
        if record is None:
            raise RuntimeError(f"PayTrace does not list transaction {txn}")
        records.append(record)
        created = created_at_of(record, tz_name)
        order = EcommerceOrder(number, customer.account, CURRENCY, created, txn, f"{receipt_prefix}{txn}", lines)
        day = business_date(created, tz_name)
        placed.append((order, create_sales_order(oracle, ledger, order, business_unit=business_unit,
                                                 business_date=day), day))
        if sage is not None:
            sage_orders[order.number] = create_sage_order(sage.client, sage_ledger, order, business_date=day)
    days = sorted({day for _, _, day in placed})
    post_receipts(records, days)  # on account: their invoices do not exist yet
    shipped = {order.number: oracle.ship_sales_order(so.order_key, TransactionNumber=order.number,
                                                     TransactionDate=day.isoformat())
               for order, so, day in placed}
    sage_invoices = {order.number: sage.ship(order.number, day) for order, _so, day in placed} if sage else {}
    apply_on_account(days)  # the invoices are there now
    out = []
    for order, so, _day in placed:
        invoice = shipped[order.number]
        applied = sum(e.amount_minor for e in ledger.entries(parents=[order.payment_reference], actions=[APPLICATION])
                      if e.posted and e.detail.get("invoice") == invoice["TransactionNumber"])
        out.append(OrderToCash(order.number, order.customer_account, order.payment_transaction_id, so.header_id,
                               str(invoice["TransactionNumber"]), order.payment_reference, order.total_minor, applied,
                               oracle.invoice_balance_minor(invoice["CustomerTransactionId"], CURRENCY)))
    for order, _so, _day in placed if sage is not None else ():
        invoice = str(sage_invoices[order.number].get("DocumentNumber") or "")
        applied = sum(e.amount_minor for e in sage_ledger.entries(parents=[order.payment_reference],
                                                                  actions=[APPLICATION])
                      if e.posted and e.detail.get("invoice") == invoice)
        due = parse_posted_document(sage.client.posted_document(order.customer_account, invoice)).amount_due_minor
        out.append(OrderToCash(order.number, order.customer_account, order.payment_transaction_id,
                               sage_orders[order.number].order_uniquifier, invoice, order.payment_reference,
                               order.total_minor, applied, int(due or 0), erp="Sage"))
    return out


def report(results: Sequence[OrderToCash]) -> str:
    head = "Order to cash (eCommerce orders: sale, sales order, receipt on account, shipped, invoice, applied; per ERP)"
    return "\n".join([head, *(r.line() for r in results)])


# -- the demo's two modes ------------------------------------------------------------------------------------


def clients(env: dict[str, str]) -> tuple[PayTraceClient, OracleFusionClient]:
    """The demo's PayTrace and Oracle clients, from its environment."""
    return (PayTraceClient(env["PAYTRACE_BASE_URL"], env["PAYTRACE_USERNAME"], env["PAYTRACE_PASSWORD"],
                           env["PAYTRACE_INTEGRATOR_ID"]),
            OracleFusionClient(env["ORACLE_FUSION_BASE_URL"], username=env["ORACLE_FUSION_USERNAME"],
                               password=env["ORACLE_FUSION_PASSWORD"]))


def _run(env: dict[str, str], post_receipts: Callable[[Sequence[dict[str, Any]], Sequence[date]], None],
         apply_on_account: Callable[[Sequence[date]], None]) -> list[OrderToCash]:
    from paysync_dagster.lib.mapping import load_mapping
    from paysync_dagster.lib.warehouse import make_engine

    mapping = load_mapping()
    paytrace, oracle = clients(env)
    sage = _sage(env) if "sage" in _erps(env) else None
    engine = make_engine(env["PAYSYNC_DATABASE_URL"])
    try:
        return run_order_to_cash(paytrace, oracle, engine, post_receipts, apply_on_account,
                                 business_unit=mapping.receipts.business_unit,
                                 receipt_prefix=mapping.receipts.receipt_number_prefix,
                                 tz_name=env.get("PAYSYNC_MERCHANT_TIMEZONE") or mapping.merchant_time_zone, sage=sage)
    finally:
        paytrace.close()
        oracle.close()
        if sage is not None:
            sage.client.close()
        engine.dispose()


def _erps(env: dict[str, str]) -> list[str]:
    from paysync_dagster.defs.erp.connectors import erps_on

    return [c.name for c in erps_on(env.get("PAYSYNC_ERPS"))]


def _sage(env: dict[str, str]) -> SageSide:
    """Sage 300 in the demo's sandbox: the client, and the sandbox's stand-in for shipping and Day End."""
    client = Sage300Client(env["SAGE300_BASE_URL"], env.get("SAGE300_COMPANY") or "SAMLTD", env["SAGE300_USERNAME"],
                           env.get("SAGE300_PASSWORD") or "")

    def ship(order_number: str, day: date) -> dict[str, Any]:
        answer = httpx.post(f"{env['PAYTRACE_BASE_URL']}/_sandbox/sage/ship_order",
                            json={"order_number": order_number, "date": day.isoformat()}, timeout=60)
        answer.raise_for_status()
        return answer.json().get("invoice") or {}

    return SageSide(client, ship)


def headless(env: dict[str, str], job: Any, instance: Any) -> bool:
    """After the demo week: the orders of today, each step a run of the main job in this process.
    Prints one line per order; False when an order did not end applied to its invoice."""

    def run_dates(days: Sequence[date]) -> None:
        for day in days:
            result = job.execute_in_process(partition_key=day.isoformat(), instance=instance, raise_on_error=False,
                                            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
            if not result.success:
                raise RuntimeError(f"the run of {day} failed (run {result.run_id[:8]})")

    try:
        results = _run(env, lambda _records, days: run_dates(days), run_dates)
    except StaleWarehouse as exc:
        print(f"\nOrder to cash skipped: {exc}", flush=True)
        return True
    except Exception as exc:  # noqa: BLE001 - the demo reports it and exits non-zero
        print(f"\nOrder to cash FAILED: {type(exc).__name__}: {exc}", flush=True)
        return False
    print("\n" + report(results), flush=True)
    return all(r.settled for r in results)


_BACKFILL_STATUS = """
query($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
        numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed } } }
    }
  }
}
"""


def _backfill_status(ui_url: str, backfill_id: str) -> tuple[str, int, int]:
    """The backfill's status, and how many of its asset partitions are done (materialized or failed) of how many."""
    answer = httpx.post(f"{ui_url}/graphql", json={"query": _BACKFILL_STATUS, "variables": {"id": backfill_id}},
                        timeout=30).json()
    backfill = (answer.get("data") or {}).get("partitionBackfillOrError") or {}
    counts = [c for c in ((backfill.get("assetBackfillData") or {}).get("assetBackfillStatuses") or []) if c]
    done = sum(int(c.get("numPartitionsMaterialized") or 0) + int(c.get("numPartitionsFailed") or 0) for c in counts)
    return str(backfill.get("status") or ""), done, sum(int(c.get("numPartitionsTargeted") or 0) for c in counts)


def _wait_backfill(ui_url: str, backfill_id: str, stop: threading.Event) -> None:
    """Until the backfill ends; a line each time more of it is done (progress for whoever watches the demo)."""
    shown = -1
    while not stop.wait(2.0):
        status, done, total = _backfill_status(ui_url, backfill_id)
        if total and done != shown:
            print(f"  backfill {backfill_id}: {done}/{total} asset partitions done", flush=True)
            shown = done
        if status in _FINISHED:
            if status not in _DONE:
                raise RuntimeError(f"backfill {backfill_id} ended {status}")
            return
    raise RuntimeError("the demo is stopping")


def _wait_posted(database_url: str, references: Sequence[str], erps: Sequence[str], stop: threading.Event,
                 timeout_s: float) -> None:
    from paysync_dagster.lib.warehouse import make_engine

    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout_s
    try:
        while not stop.wait(2.0):
            ledgers = [Ledger(engine, erp).get_many(references) for erp in erps]
            if all(r in got and got[r].posted for got in ledgers for r in references):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the receipts {', '.join(references)} were not posted within {timeout_s:.0f}s")
    finally:
        engine.dispose()
    raise RuntimeError("the demo is stopping")


def start_interactive(stack: ExitStack, env: dict[str, str], ui_url: str, week_backfill: str, receiver_url: str) -> None:
    """Once the week's backfill is done, the orders of today in a thread, as a storefront would send them:
    each sale announced by a signed webhook (the landing sensor's run posts its receipt), then, after
    shipping, a one-date backfill of the open invoices and the on-account application."""
    from paysync_dagster.demo.headless import launch_backfill
    from paysync_dagster.webhooks.stream import envelope, post_signed

    stop = threading.Event()

    def post_receipts(records: Sequence[dict[str, Any]], _days: Sequence[date]) -> None:
        with httpx.Client(timeout=30) as http:
            for record in records:
                post_signed(http, receiver_url, env["PAYSYNC_WEBHOOK_SECRET"],
                            envelope("transaction.approved", record)).raise_for_status()
        from paysync_dagster.lib.mapping import load_mapping

        prefix = load_mapping().receipts.receipt_number_prefix
        refs = [f"{prefix}{r['transaction_id']}" for r in records]
        print(f"order to cash: {len(refs)} orders paid and sent to the ERPs as sales orders; waiting for the landing "
              f"sensor's run to post receipts {', '.join(refs)}", flush=True)
        _wait_posted(env["PAYSYNC_DATABASE_URL"], refs, _erps(env), stop, POSTING_WAIT_S)

    def apply_on_account(days: Sequence[date]) -> None:
        print("order to cash: shipped; applying the receipts on account to the new invoices", flush=True)
        assets = [f"{erp}_{asset}" for erp in _erps(env) for asset in APPLY_ASSETS]
        for day in days:
            _wait_backfill(ui_url, launch_backfill(ui_url, day, day, title=f"PaySync order to cash {day}",
                                                   assets=assets), stop)

    def work() -> None:
        try:
            _wait_backfill(ui_url, week_backfill, stop)
            began = time.monotonic()
            results = _run(env, post_receipts, apply_on_account)
            print("\n" + report(results) + f"\n  ({time.monotonic() - began:.0f}s)", flush=True)
        except Exception as exc:  # noqa: BLE001 - the demo keeps serving; say what went wrong
            if not stop.is_set():
                print(f"order to cash stopped: {type(exc).__name__}: {exc}", flush=True)

    worker = threading.Thread(target=work, daemon=True, name="demo-order-to-cash")
    worker.start()

    def _close() -> None:
        stop.set()
        worker.join(timeout=15)

    stack.callback(_close)
