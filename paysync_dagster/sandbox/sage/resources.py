"""Which resources exist, per module, and what each answers to.

A resource is an entity set (``AR/ARCustomers``) or a process (``AR/ARPostReceiptsAndAdjustments``,
reached as ``('$process')``). Anything not listed is 404 ``ResourceNotFound``; a verb a listed
resource lacks is 405 ``MethodNotAllowed`` (PUT and DELETE everywhere: transactions have neither in
Sage, and master-data replacement is out of the sandbox's scope).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import customers, documents, invoices, ledger, orders, receipts, refunds
from .schema import (CREATE_GL_BATCH, CUSTOMER, GL_ACCOUNT, INVOICE_BATCH, JOURNAL_BATCH, ORDER, POST_INVOICES,
                     POST_RECEIPTS, POST_REFUNDS, POSTED_DOCUMENT, POSTED_RECEIPT, RECEIPT_BATCH, REFUND_BATCH,
                     EntityType)
from .state import SageState

Row = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    module: str
    name: str
    etype: EntityType
    rows: Callable[[SageState, Mapping[str, str]], Iterable[Row]] | None = None  # GET collection (hints: key equalities)
    get: Callable[[SageState, tuple], Row | None] | None = None  # GET entry
    create: Callable[[SageState, Any], Row] | None = None  # POST
    update: Callable[[SageState, tuple, Any], Row] | None = None  # PATCH
    process: Callable[[SageState, Any], Row] | None = None  # POST ('$process')
    template: Callable[[SageState], Row] | None = None  # POST ('$template')

    @property
    def is_process(self) -> bool:
        return self.process is not None


RESOURCES: dict[tuple[str, str], Resource] = {(r.module, r.name): r for r in (
    Resource("AR", "ARCustomers", CUSTOMER, customers.rows, customers.get, customers.create, customers.update),
    Resource("AR", "ARInvoiceBatches", INVOICE_BATCH, invoices.rows, invoices.get, invoices.create, invoices.update),
    Resource("AR", "ARReceiptAndAdjustmentBatches", RECEIPT_BATCH, receipts.rows, receipts.get, receipts.create,
             receipts.update, template=receipts.template),
    Resource("AR", "ARRefundBatches", REFUND_BATCH, refunds.rows, refunds.get, refunds.create, refunds.update),
    Resource("AR", "ARPostedDocuments", POSTED_DOCUMENT, documents.document_rows, documents.get_document),
    Resource("AR", "ARPostedReceipts", POSTED_RECEIPT, documents.receipt_rows, documents.get_receipt),
    Resource("AR", "ARPostReceiptsAndAdjustments", POST_RECEIPTS, process=receipts.post),
    Resource("AR", "ARPostInvoices", POST_INVOICES, process=invoices.post),
    Resource("AR", "ARPostRefunds", POST_REFUNDS, process=refunds.post),
    Resource("AR", "ARCreateGLBatch", CREATE_GL_BATCH, process=ledger.create_gl_batch),
    Resource("GL", "GLAccounts", GL_ACCOUNT, ledger.account_rows, ledger.get_account),
    Resource("GL", "GLJournalBatches", JOURNAL_BATCH, ledger.batch_rows, ledger.get_batch, ledger.create_batch),
    Resource("OE", "OEOrders", ORDER, orders.rows, orders.get, orders.create),
)}

MODULES = sorted({m for m, _ in RESOURCES})
