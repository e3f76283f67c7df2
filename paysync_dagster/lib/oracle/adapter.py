"""Oracle Fusion as a posting target: the :class:`~paysync_dagster.lib.posting.erp.ErpAdapter` for
standardReceipts, and the open-invoice read the posting starts from (spec §3.1-§3.3, §5).

How each posting effect is represented in Oracle:

- receipt: ``POST standardReceipts`` with ``ReceiptNumber`` (``PT-<PayTrace id>``, deterministic, so an
  uncertain create is resolved with ``q=ReceiptNumber=...``), ``ReceiptDate`` (the business date),
  ``Amount`` (a string from :func:`money.to_wire`), ``Currency``, ``CustomerAccountNumber`` (none: an
  unidentified receipt), ``ReceiptMethod``, ``BusinessUnit`` and ``RemittanceBankAccountNumber`` from
  the mapping file, and ``Comments`` (the PayTrace id and the reference as typed, card numbers masked).
- application: the ``applyReceipt`` action on the invoice's installment (``appliedPaymentScheduleId``)
  for the allocated amount; read back through the customer account's ``standardReceiptApplications``
  (by the names of spec §3.1: ``ReferenceInstallmentId``, ``ApplicationAmount`` in ``EnteredCurrency``,
  ``ApplicationStatus``; see :func:`~paysync_dagster.lib.oracle.records.parse_application`).
- reversal (void after posting, chargeback, full refund): the ``reverseReceipt`` action, category REV
  and reason VOID / CHARGEBACK / REFUND; Oracle unapplies everything, so the invoices reopen.
- refund: Fusion's ``refundReceipt`` is not in the sandbox (and pays out through Payables), so a refund
  is recorded on the original receipt as a remittance reference: ``ReceiptMatchBy`` "Customer
  Reference", ``ReferenceNumber`` = the refund's reference (``PT-<refund id>:RFND``), ``ReferenceAmount``
  = the refunded amount, ``CustomerReason`` "REFUND" for a person reading it (AutoMatch applies only
  "Transaction Number" references, so this mark is never applied to anything). :meth:`refund_marks`
  reads them back by match-by and number (Oracle does not echo ``CustomerReason``). A
  partial refund also takes its amount off the receipt's applications (``unapplyReceipt`` of the
  installment, then ``applyReceipt`` of what remains: :meth:`set_application`); a full one reverses.

Applying with the receipt (``application_method="remittance_reference"``): the create carries one
``remittanceReferences`` child per invoice (``ReceiptMatchBy`` "Transaction Number", ``ReferenceNumber``
the invoice number, ``ReferenceAmount`` the amount allocated to it), and Oracle's "Apply Receipts Using
AutoMatch" process applies them (spec §3.1, applying way 1). One call per receipt instead of a create
and an ``applyReceipt`` per invoice, for pods that run AutoMatch on a schedule; the cash shows as
unapplied until it runs, which reconciliation reports as such. The default, ``"apply_receipt"``,
applies at once (26c+ pods). Cash left on account and applied later, once its invoice appears, is a
reference POSTed to the existing receipt's ``remittanceReferences`` (:meth:`add_references`).

The outbound direction (PaySync acting on what Oracle asks for): :meth:`OracleAdapter.card_on_file_installments`
and :meth:`~OracleAdapter.card_on_file_accounts` read the invoices marked by ``ReceiptMethod``;
:meth:`~OracleAdapter.card_refunds` reads the credit memos a clerk marked for a card refund (their
``ReceiptMethod``) and :meth:`~OracleAdapter.write_back_refund` writes the result in the credit memo's
``CreditMemoComments``. What of ``receivablesCreditMemos`` is confirmed in Oracle's docs, and what is
not (``ReceiptMethod`` on a credit memo, the credited invoice, a PATCH of ``CreditMemoComments``), is
listed in :mod:`paysync_dagster.sandbox.oracle.credit_memos`.

Batching (``batch_size`` > 1): receipt creates and receipt look-ups go as parts of one batch request
(all or nothing). Applications go in batches only where Oracle enables ``applyReceipt`` for batch
execution; ``batch_actions=None`` finds out with the first batch and falls back to one call each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from paysync_dagster.lib import money
from paysync_dagster.lib.oracle.client import OracleFusionClient
from paysync_dagster.lib.oracle.errors import (DUPLICATE_RECEIPT, OracleAmbiguousMatch, OracleApiError, OracleAuthError,
                                               OracleBatchError, OracleDuplicateReceipt, OracleNotFound,
                                               OracleOutcomeUnknown, OracleResponseError, OracleTransportError)
from paysync_dagster.lib.oracle.records import (ReceiptApplication, parse_application, parse_page,
                                                parse_payment_schedule, parse_receipt)
from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.outbound.erp_refunds import ErpRefund
from paysync_dagster.lib.posting.erp import (ApplySpec, DuplicateError, ErpReceipt, FetchedInvoice, OutcomeUnknown,
                                             ReceiptSpec, RejectedError, UnavailableError)
from paysync_dagster.lib.posting.matching import OpenInvoice, Target

# Whether a pod runs applyReceipt inside batch requests, once learnt (by base URL), so that every
# later run skips the refused batch. Learnt again after a restart: one refused batch per process.
_BATCH_ACTIONS_LEARNT: dict[str, bool] = {}

#: where a card refund's result is written on the credit memo: the header comments of receivablesCreditMemos
#: (Oracle's create examples name it so; ``Comments`` is the SOAP name, read too when a pod sends it)
CREDIT_MEMO_COMMENTS = "CreditMemoComments"
#: CreditMemoComments' maximum length (the resource's describe, as transcribed by a third party; the
#: RA_CUSTOMER_TRX_ALL.COMMENTS column is as wide)
CREDIT_MEMO_COMMENTS_LENGTH = 1760
WRITTEN_BACK_ATTRIBUTES = (CREDIT_MEMO_COMMENTS, "Comments")
#: the credited invoice's number on a credit memo: no attribute is confirmed; the sandbox's first, then a
#: name Oracle uses elsewhere for a credited transaction
CREDITED_INVOICE_ATTRIBUTES = ("CreditedTransactionNumber", "PreviousTransactionNumber")
CREDIT_MEMOS = "/receivablesCreditMemos"

REFUND_REASON = "REFUND"
REFUND_MATCH_BY = "Customer Reference"
NOT_BATCHABLE = "isn't enabled for batch execution"


@dataclass(frozen=True)
class ReceiptSettings:
    """The mapping file's ``receipts`` section, as Oracle needs it on every receipt."""

    receipt_method: str
    business_unit: str
    remittance_bank_account: str


@contextmanager
def translated() -> Iterator[None]:
    """Oracle's errors as the posting loop's (see :mod:`paysync_dagster.lib.posting.erp`)."""
    try:
        yield
    except OracleOutcomeUnknown as exc:
        raise OutcomeUnknown(str(exc)) from exc
    except OracleBatchError as exc:
        if exc.code == DUPLICATE_RECEIPT and len(exc.parts) == 1:  # a batch of one create that exists already
            raise DuplicateError(str(exc), exc.code) from exc
        raise RejectedError(str(exc), exc.code or "BATCH") from exc
    except OracleAuthError as exc:  # nothing was done; a configuration problem, not the data's
        raise UnavailableError(str(exc)) from exc
    except OracleApiError as exc:
        if exc.http_status >= 500:
            raise OutcomeUnknown(f"{exc.method} {exc.path}: {exc}") from exc
        if isinstance(exc, OracleDuplicateReceipt):  # the receipt exists already: the poster looks it up
            raise DuplicateError(str(exc), exc.code) from exc
        raise RejectedError(str(exc), exc.code or f"HTTP{exc.http_status}") from exc
    except OracleTransportError as exc:
        raise UnavailableError(str(exc)) from exc
    except OracleResponseError as exc:  # an unreadable answer: whatever was asked may have been done
        raise OutcomeUnknown(f"{exc.path}: {exc}") from exc
    except OracleAmbiguousMatch as exc:
        raise RejectedError(str(exc), "AMBIGUOUS") from exc


APPLICATION_METHODS = ("apply_receipt", "remittance_reference")
TRANSACTION_NUMBER = "Transaction Number"


class OracleAdapter:
    name = "oracle"
    refunds_by_credit_note = False  # a refund takes cash off the receipt's applications: the invoices reopen

    def __init__(self, client: OracleFusionClient, settings: ReceiptSettings, *, batch_size: int = 50,
                 batch_actions: bool | None = None, application_method: str = "apply_receipt"):
        if application_method not in APPLICATION_METHODS:
            raise ValueError(f"application_method must be one of {', '.join(APPLICATION_METHODS)}, "
                             f"not {application_method!r}")
        self.client, self.settings = client, settings
        self.applies_with_receipt = application_method == "remittance_reference"
        self.batch_size = max(1, batch_size)
        if batch_actions is None:
            batch_actions = _BATCH_ACTIONS_LEARNT.get(client.base_url)
        self._batch_actions = batch_actions if self.batch_size > 1 else False
        self._account_ids: dict[str, int] = {}

    @property
    def apply_batch_size(self) -> int:
        return self.batch_size if self._batch_actions is not False else 1

    # -- open invoices and customers --------------------------------------------------------------------

    def open_invoices(self, as_of: date | None = None) -> tuple[list[FetchedInvoice], list[dict[str, Any]]]:
        """Open installments of every customer account (dated on or before ``as_of``), grouped into
        invoices; and the accounts themselves (``account_number``, ``name``, ``account_id``)."""
        customers = self.customer_accounts()
        with translated():
            q = "InstallmentStatus='Open'" + (f" and TransactionDate<='{as_of.isoformat()}'" if as_of else "")
            rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
            for chunk in _chunked(customers, self.batch_size):
                for customer, items in zip(chunk, self._schedules([c["account_id"] for c in chunk], q)):
                    rows.extend((customer, item) for item in items)
        return _group_invoices(rows), customers

    def customer_accounts(self) -> list[dict[str, Any]]:
        """Every customer account: ``account_number``, ``name``, ``account_id``."""
        with translated():
            accounts = self.client.customer_account_activities()
        customers = [{"account_number": str(a["AccountNumber"]), "name": str(a.get("CustomerName") or ""),
                      "account_id": int(a["AccountId"])} for a in accounts if a.get("AccountNumber")]
        self._account_ids.update({c["account_number"]: c["account_id"] for c in customers})
        return customers

    def customer_master(self) -> list[dict[str, str]]:
        """Every customer account with what identifies it, in ``paysync erp customers``' columns: see
        :func:`customer_master`."""
        return customer_master(self.client)

    def _schedules(self, account_ids: Sequence[int], q: str) -> list[list[dict[str, Any]]]:
        def path(account_id: int) -> str:
            return f"/receivablesCustomerAccountActivities/{account_id}/child/transactionPaymentSchedules"

        params = {"q": q, "onlyData": "true"}
        if len(account_ids) == 1 or self.batch_size == 1:
            return [self.client.list_items(path(a), params) for a in account_ids]
        parts = [{"id": str(a), "operation": "get", "path": f"{path(a)}?{urlencode({**params, 'limit': 500})}"}
                 for a in account_ids]
        out = []
        for account_id, part in zip(account_ids, self.client.batch(parts)):
            page = parse_page(part.payload, path=path(account_id))
            out.append(page.items if not page.has_more else self.client.list_items(path(account_id), params))
        return out

    # -- card on file (the outbound direction) ----------------------------------------------------------

    def card_on_file_installments(self, receipt_method: str, due_on_or_before: date) -> list[DueInstallment]:
        """The installments to charge to a card on file: of every receivablesInvoices row whose
        ``ReceiptMethod`` is ``receipt_method`` (spec §3.2; the filter is also checked here, in case a
        pod ignores it), each open installment with a balance above zero and due on or before
        ``due_on_or_before``; sorted by due date, invoice number and installment.

        Installments are the customer account's ``transactionPaymentSchedules`` (the schedules
        :meth:`open_invoices` reads, with the same ``InstallmentStatus='Open'`` filter and batching):
        their ``InstallmentId`` is the payment schedule a receipt is applied to, ``TotalBalanceAmount``
        in ``EnteredCurrency`` what is still due, ``PaymentScheduleDueDate`` the due date. A schedule row
        belongs to the invoice whose ``CustomerTransactionId`` is its ``TransactionId`` (else by
        ``TransactionNumber``). Fields are read by name: an invoice without ``TransactionNumber`` or
        ``BillToCustomerNumber``, an account Oracle does not know, and a schedule row without
        installment id, due date or balance are left out (nothing can be charged or applied for them).
        The currency is the row's ``EnteredCurrency``, else the invoice's ``InvoiceCurrencyCode``."""
        method = receipt_method.strip()
        by_account: dict[str, list[dict[str, Any]]] = {}
        for inv in self._invoices_with_method(method):
            if not _text(inv.get("TransactionNumber")):
                continue
            account = _text(inv.get("BillToCustomerNumber"))
            if account:
                by_account.setdefault(account, []).append(inv)
        known = [(account, account_id) for account in sorted(by_account)
                 if (account_id := self.account_id(account)) is not None]
        out: list[DueInstallment] = []
        with translated():
            for chunk in _chunked(known, self.batch_size):
                schedules = self._schedules([account_id for _, account_id in chunk], "InstallmentStatus='Open'")
                for (account, _), items in zip(chunk, schedules):
                    out.extend(_due_installments(by_account[account], items, account, due_on_or_before))
        return sorted(out, key=lambda d: (d.due_date, d.invoice_number, _id_order(d.installment_id)))

    def card_on_file_accounts(self, receipt_method: str) -> set[str]:
        """The customer accounts that pay by card on file: the ``BillToCustomerNumber`` of every
        receivablesInvoices row whose ``ReceiptMethod`` is ``receipt_method`` (trimmed), whatever its
        status or balance (the search :meth:`card_on_file_installments` makes; the filter is checked here
        too). A row without an account number is left out; a blank method names no account."""
        method = (receipt_method or "").strip()
        if not method:
            return set()
        return {account for inv in self._invoices_with_method(method)
                if (account := _text(inv.get("BillToCustomerNumber")))}

    def _invoices_with_method(self, method: str) -> list[dict[str, Any]]:
        """receivablesInvoices rows whose ``ReceiptMethod`` is ``method``: asked of Oracle with ``q``
        and checked again here, in case a pod ignores the filter."""
        with translated():
            rows = self.client.search_invoices(self.client.q(ReceiptMethod=method), onlyData="true")
        return [inv for inv in rows if _text(inv.get("ReceiptMethod")) == method]

    # -- card refunds a clerk asks for (the outbound direction) ---------------------------------------------------

    def card_refunds(self, receipt_method: str) -> list[ErpRefund]:
        """The credit memos a clerk keyed in Oracle to be refunded to a card: every receivablesCreditMemos
        row whose ``ReceiptMethod`` is ``receipt_method`` (trimmed; asked of Oracle with ``q`` and checked
        here again), any status, every page; in CustomerTransactionId order. Fields are read by name:

        - ``key`` the CustomerTransactionId (what :meth:`write_back_refund` PATCHes); ``document_number``
          the TransactionNumber; ``customer_account`` the BillToCustomerNumber;
        - ``amount_minor`` the ``EnteredAmount`` (negative in Oracle: a credit) as a positive number of
          minor units of ``currency``, the ``CreditMemoCurrency`` (else USD);
        - ``document_date`` the TransactionDate;
        - ``original_transaction_id`` the ``CrossReference`` when it is all digits (where the clerk puts
          the PayTrace transaction id), else None;
        - ``invoice_number`` the credited invoice, when the row names it (:data:`CREDITED_INVOICE_ATTRIBUTES`,
          unconfirmed names), else "";
        - ``written_back`` the ``CreditMemoComments`` (else ``Comments``), trimmed; ``editable`` True.

        A row without CustomerTransactionId, BillToCustomerNumber or amount, or of amount zero, is left
        out (nothing can be refunded or written back for it). An amount that cannot be read makes the
        whole answer unreadable (:class:`OracleResponseError`: the posting loop's unknown outcome) rather
        than hiding a refund. ``ReceiptMethod`` on a credit memo is not confirmed in Oracle's docs (see
        :mod:`paysync_dagster.sandbox.oracle.credit_memos`): a pod without it answers the filter with 400,
        the posting loop's RejectedError. A blank method: none."""
        method = (receipt_method or "").strip()
        if not method:
            return []
        with translated():
            rows = self.client.search_credit_memos(self.client.q(ReceiptMethod=method), onlyData="true")
            refunds = [r for row in rows if (r := _erp_refund(row, method)) is not None]
        return sorted(refunds, key=lambda r: _id_order(r.key))

    def write_back_refund(self, refund: ErpRefund, text: str) -> None:
        """Write PaySync's result on the clerk's credit memo: PATCH its ``CreditMemoComments`` to
        ``text``, cut to :data:`CREDIT_MEMO_COMMENTS_LENGTH` characters. The same PATCH twice gives the
        same credit memo, so it is repeated after a lost answer. A refund that is not Oracle's, or whose
        key is not a CustomerTransactionId, is a ValueError and nothing is sent; what Oracle refuses (a
        credit memo gone: 404; a pod that does not let the comments be updated: 400) is the posting loop's
        :class:`~paysync_dagster.lib.posting.erp.RejectedError` (:func:`translated`)."""
        if refund.erp != self.name:
            raise ValueError(f"refund {refund.key} is not Oracle's ({refund.erp})")
        key = refund.key.strip()
        if not (key.isascii() and key.isdigit()):
            raise ValueError(f"not an Oracle credit memo id (CustomerTransactionId): {refund.key!r}")
        with translated():
            self.client.update_credit_memo(int(key), {CREDIT_MEMO_COMMENTS: (text or "")[:CREDIT_MEMO_COMMENTS_LENGTH]})

    def account_id(self, account_number: str) -> int | None:
        if account_number not in self._account_ids:
            with translated():
                found = self.client.find_customer_account(account_number)
            if found is None:
                return None
            self._account_ids[account_number] = int(found["AccountId"])
        return self._account_ids[account_number]

    # -- receipts -------------------------------------------------------------------------------------------

    def payload(self, spec: ReceiptSpec) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ReceiptNumber": spec.reference, "ReceiptDate": spec.receipt_date.isoformat(),
            "Amount": money.to_wire(spec.amount_minor, spec.currency), "Currency": spec.currency,
            "ReceiptMethod": self.settings.receipt_method, "BusinessUnit": self.settings.business_unit,
            "RemittanceBankAccountNumber": self.settings.remittance_bank_account,
        }
        if spec.customer_account:
            body["CustomerAccountNumber"] = spec.customer_account
        if spec.comments:
            body["Comments"] = spec.comments[:200]
        if spec.applications:  # AutoMatch matches by invoice: one reference per invoice, installments summed
            per_invoice: dict[str, int] = {}
            for invoice, _target, amount in spec.applications:
                per_invoice[invoice] = per_invoice.get(invoice, 0) + amount
            body["remittanceReferences"] = [
                {"ReceiptMatchBy": TRANSACTION_NUMBER, "ReferenceNumber": invoice,
                 "ReferenceAmount": money.to_wire(amount, spec.currency)} for invoice, amount in per_invoice.items()]
        return body

    def find_receipts(self, references: Sequence[str]) -> dict[str, ErpReceipt]:
        with translated():
            if len(references) == 1 or self.batch_size == 1:
                found = {ref: self.client.find_receipts_by_number(ref) for ref in references}
            else:
                parts = [{"id": ref, "operation": "get", "path": "/standardReceipts?" + urlencode(
                    {"q": self.client.q(ReceiptNumber=ref), "onlyData": "true", "limit": 500})} for ref in references]
                found = {ref: parse_page(part.payload).items for ref, part in zip(references, self.client.batch(parts))}
        out = {}
        for ref, items in found.items():
            mine = [i for i in items if i.get("ReceiptNumber") == ref]
            if len(mine) > 1:
                raise RejectedError(f"{len(mine)} receipts are numbered {ref}", "AMBIGUOUS")
            if mine:
                out[ref] = _erp_receipt(mine[0])
        return out

    def create_receipts(self, specs: Sequence[ReceiptSpec]) -> dict[str, str]:
        with translated():
            if len(specs) == 1:
                return {specs[0].reference: str(self.client.create_receipt(self.payload(specs[0]))["StandardReceiptId"])}
            parts = [{"id": s.reference, "operation": "create", "path": "/standardReceipts", "payload": self.payload(s)}
                     for s in specs]
            return {str(p.id): str(p.payload["StandardReceiptId"]) for p in self.client.batch(parts)}

    # -- applications -----------------------------------------------------------------------------------------

    def _apply_params(self, item: ApplySpec) -> dict[str, Any]:
        return {"appliedPaymentScheduleId": int(item.target_id), "calledFrom": "PaySync",
                "amountApplied": money.to_wire(item.amount_minor, item.receipt.currency),
                "applicationDate": item.apply_date.isoformat()}

    def apply(self, items: Sequence[ApplySpec]) -> None:
        with translated():
            if len(items) == 1 or self._batch_actions is False:
                if len(items) > 1:
                    raise RejectedError("applications cannot be batched here; send them one at a time", "NO_BATCH")
                item = items[0]
                self.client.apply_receipt(item.receipt.erp_id, int(item.target_id), item.amount_minor,
                                          currency=item.receipt.currency, application_date=item.apply_date.isoformat())
                return
            parts = [{"id": f"{i.receipt.reference}:{i.target_id}", "operation": "create",
                      "path": f"/standardReceipts/{i.receipt.erp_id}/action/applyReceipt", "payload": self._apply_params(i)}
                     for i in items]
            try:
                self.client.batch(parts)
            except OracleBatchError as exc:
                if any(NOT_BATCHABLE in m.detail for m in exc.messages):
                    self._batch_actions = _BATCH_ACTIONS_LEARNT[self.client.base_url] = False  # nothing was applied
                raise
            self._batch_actions = _BATCH_ACTIONS_LEARNT[self.client.base_url] = True

    def applications(self, receipt: ErpReceipt) -> dict[str, int]:
        """The receipt's active applications by installment (``ReferenceInstallmentId``), summed.

        Rows are read by name (spec §3.1, "Reading applications"). A row of another receipt (when the
        pod ignores the filter) is skipped; an applied row whose installment, amount or status cannot
        be read makes the whole answer unreadable (:class:`OracleResponseError`, which the posting loop
        sees as an unknown outcome), since leaving it out could let an application be made twice."""
        if not receipt.customer_account:
            return {}  # an unidentified receipt cannot be applied
        account_id = self.account_id(receipt.customer_account)
        if account_id is None:
            return {}
        path = f"/receivablesCustomerAccountActivities/{account_id}/child/standardReceiptApplications"
        with translated():
            rows = self.client.receipt_applications(account_id, int(receipt.erp_id))
            out: dict[str, int] = {}
            unreadable: list[str] = []
            for row in rows:
                app = parse_application(row, receipt.currency)
                if not _of_receipt(app, receipt):
                    continue
                applied = app.applied
                if applied is False:
                    continue
                target, amount = app.installment_id, app.amount_minor
                if applied is None or target is None or amount is None:
                    missing = [name for name, value in (("ApplicationStatus", applied), ("ReferenceInstallmentId", target),
                                                        ("ApplicationAmount", amount)) if value is None]
                    unreadable.append(f"application {app.application_id or '?'} ({', '.join(missing)})")
                    continue
                out[target] = out.get(target, 0) + amount
            if unreadable:
                raise OracleResponseError(f"unreadable applications of receipt {receipt.reference}: "
                                          + "; ".join(unreadable), path=path)
        return out

    def set_application(self, receipt: ErpReceipt, target_id: str, amount_minor: int) -> None:
        current = self.applications(receipt).get(target_id, 0)
        with translated():
            if current > amount_minor:  # Oracle unapplies whole applications: take it off, put back the rest
                self.client.unapply_receipt(receipt.erp_id, payment_schedule_id=int(target_id))
                current = 0
            if amount_minor > current:
                self.client.apply_receipt(receipt.erp_id, int(target_id), amount_minor - current, currency=receipt.currency)

    # -- reversals and refunds ----------------------------------------------------------------------------------

    def set_customer(self, receipt: ErpReceipt, customer_account: str) -> None:
        # Oracle lets a receipt's customer change while nothing is applied (spec §3.1, update rules):
        # an unidentified receipt never has applications.
        with translated():
            self.client.update_receipt(receipt.erp_id, {"CustomerAccountNumber": customer_account})

    def reverse(self, receipt: ErpReceipt, category: str, reason: str) -> None:
        with translated():
            self.client.reverse_receipt(receipt.erp_id, category=category, reason=reason)

    def refund_marks(self, receipt: ErpReceipt) -> dict[str, int]:
        with translated():
            refs = self.client.remittance_references(receipt.erp_id)
        # Oracle does not echo CustomerReason (sample 05), so the mark is known by its match-by and number.
        return {str(r["ReferenceNumber"]): money.to_minor(r.get("ReferenceAmount") or 0, receipt.currency)
                for r in refs if r.get("ReceiptMatchBy") == REFUND_MATCH_BY}

    def mark_refund(self, receipt: ErpReceipt, reference: str, amount_minor: int, reason: str) -> None:
        with translated():
            self.client.create_remittance_reference(receipt.erp_id, {
                "ReceiptMatchBy": REFUND_MATCH_BY, "ReferenceNumber": reference,
                "ReferenceAmount": money.to_wire(amount_minor, receipt.currency), "CustomerReason": REFUND_REASON,
                "CustomerReference": reason[:100]})

    def add_references(self, receipt: ErpReceipt, references: Sequence[tuple[str, int]]) -> None:
        # POST .../standardReceipts/{id}/child/remittanceReferences (spec §3.1, applying way 1, sample 04):
        # AutoMatch applies a reference added after the create like one sent with it.
        with translated():
            for invoice, amount_minor in references:
                self.client.create_remittance_reference(receipt.erp_id, {
                    "ReceiptMatchBy": TRANSACTION_NUMBER, "ReferenceNumber": invoice,
                    "ReferenceAmount": money.to_wire(amount_minor, receipt.currency)})

    def references(self, receipt: ErpReceipt) -> dict[str, int]:
        with translated():
            refs = self.client.remittance_references(receipt.erp_id)
        out: dict[str, int] = {}
        for r in refs:
            if r.get("ReceiptMatchBy") == TRANSACTION_NUMBER:
                number = str(r["ReferenceNumber"])
                out[number] = out.get(number, 0) + money.to_minor(r.get("ReferenceAmount") or 0, receipt.currency)
        return out


def _erp_receipt(item: Mapping[str, Any]) -> ErpReceipt:
    r = parse_receipt(item)
    return ErpReceipt(str(r.receipt_id), str(r.receipt_number), r.amount_minor or 0, r.currency,
                      r.customer_account_number or "", r.unapplied_minor, (r.status or "") == "Reversed")


SITE_ACTIVITIES = "/receivablesCustomerAccountSiteActivities"


def customer_master(client: OracleFusionClient) -> list[dict[str, str]]:
    """Every customer account with what identifies it, as ``paysync erp customers`` writes it (spec
    §3.3, §3.4; fields read by name, a missing one is ""):

    - ``account_number``, ``name``: receivablesCustomerAccountActivities' AccountNumber, CustomerName;
    - ``address_line1``: the BillToSiteAddress of the account's bill-to site in
      receivablesCustomerAccountSiteActivities (sample 10), the one line Oracle gives, as it gives it:
      its layout (street, city, postal code...) is not documented, so it is not taken apart. An account
      with several sites: the first by BillToSiteUseId that has an address (the resource does not say
      which site is primary). A pod that does not offer the resource (404): no addresses.
    - ``email``, ``phone``, ``address_line2``, ``city``, ``state``, ``postal_code``, ``country``: "".
      The spec documents no Receivables resource that gives them (the TCA/CX ``hubOrganizations`` of
      crmRestApi holds a party's primary address, but the spec names none of its fields).
    """
    with translated():
        accounts = client.customer_account_activities()
        try:
            sites = client.list_items(SITE_ACTIVITIES, {"onlyData": "true"})
        except OracleNotFound:
            sites = []
    addresses: dict[str, str] = {}
    for site in sorted(sites, key=_site_order):
        number, address = _text(site.get("AccountNumber")), " ".join(_text(site.get("BillToSiteAddress")).split())
        if number and address:
            addresses.setdefault(number, address)
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for account in accounts:
        number = _text(account.get("AccountNumber"))
        if not number or number in seen:
            continue
        seen.add(number)
        out.append({"account_number": number, "name": _text(account.get("CustomerName")), "email": "", "phone": "",
                    "address_line1": addresses.get(number, ""), "address_line2": "", "city": "", "state": "",
                    "postal_code": "", "country": ""})
    return out


def _text(value: Any) -> str:  # noqa: ANN401
    return "" if value is None else str(value).strip()


def _due_installments(invoices: Sequence[Mapping[str, Any]], schedules: Sequence[Mapping[str, Any]], account: str,
                      due_on_or_before: date) -> list[DueInstallment]:
    """The schedule rows of one account that belong to ``invoices`` and are due with a balance."""
    by_id = {_text(i.get("CustomerTransactionId")): i for i in invoices if _text(i.get("CustomerTransactionId"))}
    by_number = {_text(i.get("TransactionNumber")): i for i in invoices}
    out = []
    for row in schedules:
        transaction_id = _text(row.get("TransactionId"))
        if transaction_id and by_id:
            invoice = by_id.get(transaction_id)
        else:  # no ids to go by: the number
            invoice = by_number.get(_text(row.get("TransactionNumber")))
        if invoice is None:  # another invoice of the account
            continue
        currency = _text(row.get("EnteredCurrency")) or _text(invoice.get("InvoiceCurrencyCode")) or "USD"
        try:
            schedule = parse_payment_schedule({**row, "EnteredCurrency": currency})
        except ValueError as exc:  # money.MoneyError: an amount that cannot be read
            raise OracleResponseError(f"unreadable installment of invoice {invoice.get('TransactionNumber')}: {exc}",
                                      path="transactionPaymentSchedules") from exc
        due = _date(schedule.due_date)
        installment = _text(schedule.installment_id)
        if not installment or due is None or schedule.balance_minor is None:
            continue
        if schedule.balance_minor <= 0 or due > due_on_or_before:
            continue
        out.append(DueInstallment("oracle", _text(invoice.get("TransactionNumber")), installment, account,
                                  schedule.balance_minor, currency, due))
    return out


def _first_text(row: Mapping[str, Any], names: Sequence[str]) -> str:
    """The first of ``names`` the row has a non-blank value for, trimmed ("" when none)."""
    return next((value for name in names if (value := _text(row.get(name)))), "")


def _erp_refund(row: Mapping[str, Any], method: str) -> ErpRefund | None:
    """A receivablesCreditMemos row as an :class:`ErpRefund` (see :meth:`OracleAdapter.card_refunds`), or
    None when it is not one: another receipt method, or no id, account or amount."""
    if _text(row.get("ReceiptMethod")) != method:
        return None
    key, account, raw = _text(row.get("CustomerTransactionId")), _text(row.get("BillToCustomerNumber")), \
        _text(row.get("EnteredAmount"))
    if not key or not account or not raw:
        return None
    number = _text(row.get("TransactionNumber"))
    currency = _text(row.get("CreditMemoCurrency")) or "USD"
    try:
        amount_minor = abs(money.to_minor(row["EnteredAmount"], currency))
    except money.MoneyError as exc:
        raise OracleResponseError(f"unreadable amount of credit memo {number or key}: {exc}", path=CREDIT_MEMOS) from exc
    if amount_minor == 0:
        return None
    cross = _text(row.get("CrossReference"))
    return ErpRefund(
        erp="oracle", key=key, document_number=number, customer_account=account, amount_minor=amount_minor,
        currency=currency, document_date=_date(row.get("TransactionDate")),
        original_transaction_id=int(cross) if cross.isascii() and cross.isdigit() else None,
        invoice_number=_first_text(row, CREDITED_INVOICE_ATTRIBUTES),
        written_back=_first_text(row, WRITTEN_BACK_ATTRIBUTES), editable=True)


def _date(value: Any) -> date | None:  # noqa: ANN401
    """An Oracle date ("2026-03-05", or a timestamp starting with one), None when absent or unreadable."""
    try:
        return date.fromisoformat(_text(value)[:10]) if _text(value) else None
    except ValueError:
        return None


def _id_order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def _site_order(site: Mapping[str, Any]) -> tuple[int, int]:
    try:
        return 0, int(site.get("BillToSiteUseId"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1, 0


def _chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + max(1, size)]


def _group_invoices(rows: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> list[FetchedInvoice]:
    by_number: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for customer, item in rows:
        by_number.setdefault(str(item["TransactionNumber"]), []).append((customer, item))
    out = []
    for number in sorted(by_number):
        customer = by_number[number][0][0]
        items = by_number[number]
        schedules = sorted((parse_payment_schedule(i) for _, i in items), key=lambda s: (s.due_date or "", s.number or 0))
        targets = tuple(Target(str(s.installment_id), s.balance_minor or 0, s.due_date or "") for s in schedules)
        first = items[0][1]
        out.append(FetchedInvoice(
            OpenInvoice(number, customer["account_number"], sum(t.balance_minor for t in targets), schedules[0].currency,
                        schedules[0].due_date or "", str(first.get("TransactionId") or ""), targets,
                        invoice_date=str(first.get("TransactionDate") or ""),
                        # not confirmed on the schedule rows in Oracle's docs (spec §3.2): read by name, "" if absent
                        purchase_order=str(first.get("PurchaseOrder") or ""), customer_name=customer["name"]),
            customer["name"], str(first.get("TransactionDate") or ""),
            sum(s.original_minor or 0 for s in schedules)))
    return out


def _of_receipt(app: ReceiptApplication, receipt: ErpReceipt) -> bool:
    """Whether an application row belongs to ``receipt``, by whichever of its keys the row carries."""
    if app.receipt_id is not None and str(app.receipt_id) != str(receipt.erp_id):
        return False
    return app.receipt_number is None or app.receipt_id is not None or app.receipt_number == receipt.reference
