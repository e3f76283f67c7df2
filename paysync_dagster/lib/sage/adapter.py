"""Sage 300 as a posting target: the :class:`~paysync_dagster.lib.posting.erp.ErpAdapter` for AR receipt
batches, and the open-invoice read the posting starts from (spec ``sage300_webapi.md`` §0, §2.5, §2.6, §5).

How each posting effect is represented in Sage 300:

- receipt: an entry of the business date's PaySync cash batch (``ARReceiptAndAdjustmentBatches``,
  ``BatchRecordType`` CA, ``Description`` "PaySync <YYYY-MM-DD>"): the first receipts of a date create
  the batch (POST), later ones are inserted into the date's open batch (PATCH, ``UpdateOperation``
  Insert; several entries per request, all or none). Sage numbers batches and entries; PaySync's id
  for a receipt is ``CA-<BatchNumber>-<EntryNumber>``, which posting does not change. The entry
  carries ``CheckReceiptNumber`` = the PaySync reference (``PT-<PayTrace id>``), the customer (the
  settings' suspense customer when the payer is not identified: Sage needs one on every receipt),
  ``BankReceiptAmount``/``CustomerReceiptAmount``, the business date, ``PaymentCode``,
  ``EntryDescription`` (the Poster's comments, card numbers masked) and ``EntryReference`` (the
  reference). Cash matched to invoices is a ``Receipt`` with one ``AppliedReceiptsAdjustments`` line
  per invoice installment (``DocumentNumber``, ``PaymentNumber``, ``CustomerReceiptAmount``): Sage
  applies with the receipt, so :attr:`SageAdapter.applies_with_receipt` is true. Cash matched to
  nothing is a ``Prepayment`` (on account); what a Receipt does not apply stays unapplied.
- look-up after a lost answer (§5: an unposted receipt is only reachable through its batch): every
  unposted CA batch (Open, ReadyToPost) is read with its entries, then ``ARPostedReceipts`` by
  ``CheckReceiptNumber`` (an ``or`` of up to ``batch_size`` numbers per request), in that order so a
  batch posted in between is still seen. ``ApplyDocument`` entries (which carry the receipt's number
  too) are never taken for the receipt. Two receipts with one number: ``RejectedError("AMBIGUOUS")``.
- application made after the create (late applications, :meth:`SageAdapter.add_references`,
  :meth:`~SageAdapter.apply`, :meth:`~SageAdapter.set_application`): while the receipt's batch is
  unposted, the entry is PATCHed (applied lines inserted, updated or deleted by ``LineNumber``; a
  Prepayment becomes a Receipt, since a prepayment's lines apply nothing). Once posted, an
  ``ApplyDocument`` entry (spec §2.6, the insurance-broker lifecycle) in the PaySync batch of the day
  the application is made applies the receipt's posted credit (its ``DocumentNumber``: the prepayment,
  or the unapplied cash a receipt left) to the invoice. What a receipt applies is read back from its
  entry and from the ``ApplyDocument`` entries of later PaySync batches that draw on its document.
- identification: the unposted entry's ``CustomerNumber`` is PATCHed (``UpdateOperation`` Update).
- reversal (void, chargeback): an unposted entry is deleted (``UpdateOperation`` Delete); Sage then
  holds nothing for it. A posted receipt cannot be reversed through the Web API (the spec did not
  research it): ``RejectedError`` naming what a person does in Sage.
- refund: an entry of the day's PaySync ``ARRefundBatches`` batch drawing on the receipt's posted
  credit (``RefundDetails``: its document and the amount), ``CheckNumber`` = the refund's reference
  (``PT-<refund id>:RFND``) and ``EntryReference`` = the receipt's, which is how it is found again.
  Sage refunds only draw on posted credits: the cash a posted receipt left unapplied, or else a credit
  note of the refund (``PT-<refund id>-CN``) that PaySync enters in its invoice batch of the day and
  posts first (found again by its number before any resend). An unposted receipt is refused (post
  the batch, then replay), unless the refund is the whole receipt, which deletes its entry.

The outbound direction (PaySync acting on what Sage asks for): :meth:`SageAdapter.card_on_file_accounts`
and :meth:`~SageAdapter.card_on_file_installments` read the customers marked by ``PaymentCode``;
:meth:`~SageAdapter.update_customer` writes vault contact details back to AR/ARCustomers;
:meth:`~SageAdapter.card_refunds` reads the refund entries a clerk marked for a card refund (their
``PaymentCode``) and :meth:`~SageAdapter.write_back_refund` writes the result on the entry's
``EntryReference`` while its batch is unposted.

Posting the batches: :meth:`SageAdapter.post_date` sets a date's PaySync batches ReadyToPost and runs
the posting processes; :meth:`SageAdapter.after_run` does it only when the settings ask to post after
each run (otherwise a person posts them in Sage, which is the usual practice).

Errors: the client's typed errors become the posting loop's (:func:`translated`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.outbound.due import DueInstallment
from paysync_dagster.lib.outbound.erp_refunds import ErpRefund
from paysync_dagster.lib.posting.erp import (ApplySpec, DuplicateError, ErpReceipt, FetchedInvoice, OutcomeUnknown,
                                             ReceiptSpec, RejectedError, UnavailableError)
from paysync_dagster.lib.posting.matching import OpenInvoice
from paysync_dagster.lib.sage.client import (APPLY_DOCUMENT, CASH, INSERT, INVOICE_BATCHES, OPEN, PREPAYMENT,
                                             READY_TO_POST, RECEIPT, RECEIPT_BATCHES, REFUND_BATCHES, NewApplication,
                                             NewReceipt, NewRefund, Sage300Client, amount, and_, eq, ge, gt, le, or_)
from paysync_dagster.lib.sage.errors import (INVALID_ACTION, SageAmbiguousMatch, SageApiError, SageAuthError,
                                             SageDuplicate, SageNotFound, SageOutcomeUnknown, SageRateLimited,
                                             SageRejected, SageResponseError, SageServerError, SageTransportError)
from paysync_dagster.lib.sage.records import (AppliedLine, PostedDocument, ReceiptBatch, ReceiptEntry, minor,
                                              parse_customer, parse_date, parse_int, parse_posted_document,
                                              parse_posted_receipt, parse_receipt_batch)
from paysync_dagster.lib.scrub import mask_card_numbers

#: entries that are cash received (a receipt); ApplyDocument entries move no cash
CASH_TYPES = (RECEIPT, PREPAYMENT, "UnappliedCash")
#: entries whose lines apply cash to documents (a Prepayment's lines only say what it is for)
APPLYING_TYPES = (RECEIPT, APPLY_DOCUMENT)
EDITABLE = (OPEN, READY_TO_POST)
REFUND_SUFFIX = ":RFND"
POSTED = "SAGE_POSTED"
UNPOSTED = "SAGE_UNPOSTED"
#: what :meth:`SageAdapter.customer_master` reads of AR/ARCustomers (the spec's names, §0)
CUSTOMER_MASTER_FIELDS = ("CustomerNumber", "CustomerName", "Email", "PhoneNumber", "AddressLine1", "AddressLine2",
                          "AddressLine3", "AddressLine4", "City", "StateProvince", "ZipPostalCode", "Country")
#: what :meth:`SageAdapter.update_customer` may change: a :meth:`SageAdapter.customer_master` column ->
#: its AR/ARCustomers field (spec §0)
CUSTOMER_UPDATE_FIELDS = {"name": "CustomerName", "email": "Email", "phone": "PhoneNumber",
                          "address_line1": "AddressLine1", "address_line2": "AddressLine2", "city": "City",
                          "state": "StateProvince", "postal_code": "ZipPostalCode", "country": "Country"}
#: the widths of those AR/ARCustomers fields (Sage's fields are fixed-width: a longer value is refused,
#: never cut; the sandbox's schema declares the same widths)
CUSTOMER_FIELD_LENGTHS = {"CustomerName": 60, "Email": 50, "PhoneNumber": 30, "AddressLine1": 60, "AddressLine2": 60,
                          "City": 30, "StateProvince": 30, "ZipPostalCode": 20, "Country": 30}
#: the width of a refund entry's EntryReference (where a card refund's result is written back)
ENTRY_REFERENCE_LENGTH = 60
#: the currency of an amount whose row, batch and customer name none
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class SageReceiptSettings:
    """What Sage needs on every receipt, and how PaySync's batches are kept.

    ``bank_code``: the ``BKBanks`` code the card settlements land in; ``payment_code``: an
    ``ARPaymentCodes`` code (None: the customer's default); ``suspense_customer``: the AR customer that
    holds a receipt whose payer is not identified yet (Sage needs a customer on every receipt; it must
    exist and be active); ``batch_prefix``: the batch descriptions, "<prefix> <YYYY-MM-DD>";
    ``post_after_run``: post the date's batches after each posting run (False: a person posts them);
    ``credit_note_account``: the revenue account of the credit note a refund of invoiced cash draws on
    (None: Sage's default for the customer).
    """

    bank_code: str = "PAYTRACE"
    payment_code: str | None = "CARD"
    suspense_customer: str = "SUSPENSE"
    batch_prefix: str = "PaySync"
    post_after_run: bool = False
    credit_note_account: str | None = None

    def batch_description(self, day: date) -> str:
        return f"{self.batch_prefix} {day.isoformat()}"

    def is_ours(self, description: str | None) -> bool:
        return (description or "").startswith(f"{self.batch_prefix} ")


@contextmanager
def translated() -> Iterator[None]:
    """Sage's errors as the posting loop's (see :mod:`paysync_dagster.lib.posting.erp`)."""
    try:
        yield
    except SageOutcomeUnknown as exc:  # a write may have been committed: look it up
        raise OutcomeUnknown(str(exc)) from exc
    except SageResponseError as exc:  # an unreadable answer: whatever was asked may have been done
        raise OutcomeUnknown(str(exc)) from exc
    except SageDuplicate as exc:
        raise DuplicateError(str(exc), exc.code or "RecordDuplicate") from exc
    except (SageAuthError, SageRateLimited, SageServerError) as exc:  # nothing was done (reads, 429s, sign-in)
        raise UnavailableError(str(exc)) from exc
    except SageTransportError as exc:
        raise UnavailableError(str(exc)) from exc
    except SageAmbiguousMatch as exc:
        raise RejectedError(str(exc), "AMBIGUOUS") from exc
    except SageApiError as exc:  # SageRejected, SageNotFound: Sage refused, nothing was done
        raise RejectedError(str(exc), exc.code or f"HTTP{exc.http_status}") from exc


# -- ids and targets ----------------------------------------------------------------------------------------

def receipt_id(batch_number: int | None, entry_number: int | None) -> str:
    return f"{CASH}-{batch_number}-{entry_number}"


def parse_receipt_id(erp_id: str) -> tuple[int, int] | None:
    parts = (erp_id or "").split("-")
    if len(parts) == 3 and parts[0] == CASH and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return None


def target_id(document_number: str, payment_number: int | None) -> str:
    """The Poster's target of an applied line: the invoice number (installment 1), ``<number>#<n>`` else."""
    return document_number if (payment_number or 1) == 1 else f"{document_number}#{payment_number}"


def split_target(target: str, invoice: str = "") -> tuple[str, int]:
    """(document number, payment number) of a target id (an empty target: the invoice, installment 1)."""
    number, sep, pay = (target or invoice).rpartition("#")
    if sep and pay.isdigit() and number:
        return number, int(pay)
    return target or invoice, 1


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), max(1, size)):
        yield items[i:i + max(1, size)]


def _field(row: Mapping[str, Any], name: str) -> str:
    """A text field of a row, trimmed; "" when Sage leaves it out or null."""
    value = row.get(name)
    return "" if value is None else str(value).strip()


def _refund_currency(batch: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    """The currency a refund entry or its batch names ("" when neither does)."""
    return _field(entry, "CustomerCurrencyCode") or _field(entry, "CurrencyCode") or _field(batch, "CurrencyCode")


# -- a receipt as Sage holds it ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Held:
    """One receipt in Sage: an entry of a batch (``entry``), and/or a posted receipt (``posted``)."""

    batch_number: int
    entry_number: int
    batch_status: str  # Open, ReadyToPost, Posted; "" when only the posted receipt was read
    entry: ReceiptEntry | None = None
    posted: Any = None  # records.PostedReceipt
    batch_date: date | None = None

    @property
    def erp_id(self) -> str:
        return receipt_id(self.batch_number, self.entry_number)

    @property
    def is_posted(self) -> bool:
        return self.posted is not None or self.batch_status not in EDITABLE

    def _pick(self, name: str) -> Any:
        for source in (self.entry, self.posted):
            value = getattr(source, name, None) if source is not None else None
            if value not in (None, ""):
                return value
        return None

    @property
    def reference(self) -> str:
        return str(self._pick("check_receipt_number") or "")

    @property
    def customer(self) -> str:
        return str(self._pick("customer_number") or "")

    @property
    def document_number(self) -> str:
        return str(self._pick("document_number") or "")

    @property
    def transaction_type(self) -> str:
        return str(self._pick("transaction_type") or "")

    @property
    def currency(self) -> str:
        return str(self._pick("currency") or "USD")

    @property
    def amount_minor(self) -> int:
        return int(self._pick("amount_minor") or 0)

    @property
    def receipt_date(self) -> date | None:
        return self._pick("receipt_date") or self.batch_date

    def own_lines(self) -> tuple[AppliedLine, ...]:
        if self.entry is None or self.transaction_type not in APPLYING_TYPES:
            return ()
        return self.entry.applied


def held_entries(batches: Iterable[ReceiptBatch]) -> Iterator[Held]:
    for b in batches:
        for e in b.entries:
            if e.batch_number is not None or b.batch_number is not None:
                yield Held(int(b.batch_number or e.batch_number or 0), int(e.entry_number or 0), b.status or "", e,
                           batch_date=b.batch_date)


def apply_documents(batches: Iterable[ReceiptBatch]) -> dict[tuple[str, str], list[AppliedLine]]:
    """The lines of every ApplyDocument entry of ``batches``, by the credit they draw on (customer, document)."""
    out: dict[tuple[str, str], list[AppliedLine]] = {}
    for b in batches:
        for e in b.entries:
            if e.transaction_type == APPLY_DOCUMENT and e.document_number:
                out.setdefault((e.customer_number or "", e.document_number), []).extend(e.applied)
    return out


def by_target(lines: Iterable[AppliedLine]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        if line.document_number and line.amount_minor:
            t = target_id(line.document_number, line.payment_number)
            out[t] = out.get(t, 0) + line.amount_minor
    return out


def by_invoice(lines: Iterable[AppliedLine]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines:
        if line.document_number and line.amount_minor:
            out[line.document_number] = out.get(line.document_number, 0) + line.amount_minor
    return out


def find_held(client: Sage300Client, references: Sequence[str], *, chunk: int = 50,
              batches: Sequence[ReceiptBatch] | None = None) -> tuple[dict[str, list[Held]], list[ReceiptBatch]]:
    """Every receipt (cash entry) carrying one of ``references`` as its CheckReceiptNumber: in the
    unposted CA batches (read first, or given) and among the posted receipts (read after). Returns
    them by reference, and the unposted batches read."""
    wanted = set(references)
    if batches is None:
        batches = [parse_receipt_batch(b) for b in client.open_receipt_batches(statuses=EDITABLE)]
    found: dict[tuple[int, int], Held] = {}
    for h in held_entries(batches):
        if h.entry is not None and h.entry.check_receipt_number in wanted and h.transaction_type in CASH_TYPES:
            found[(h.batch_number, h.entry_number)] = h
    for part in _chunks(list(wanted), chunk):
        rows = client.posted_receipts(filter=or_(*(eq("CheckReceiptNumber", r) for r in part)))
        for row in rows:
            p = parse_posted_receipt(row)
            if p.check_receipt_number not in wanted or (p.transaction_type or RECEIPT) not in CASH_TYPES:
                continue
            k = (int(p.batch_number or 0), int(p.entry_number or 0))
            before = found.get(k)
            found[k] = Held(k[0], k[1], before.batch_status if before else "", before.entry if before else None, p,
                            before.batch_date if before else None)
    out: dict[str, list[Held]] = {}
    for h in sorted(found.values(), key=lambda h: (h.batch_number, h.entry_number)):
        out.setdefault(h.reference, []).append(h)
    return out, list(batches)


# -- the adapter --------------------------------------------------------------------------------------------------

class SageAdapter:
    """Sage 300 receipts through one :class:`Sage300Client`. ``batch_size``: entries per create and
    receipt numbers per look-up request; ``today``: the date an application or refund made after
    posting is entered under (the day PaySync makes it)."""

    name = "sage"
    applies_with_receipt = True
    refunds_by_credit_note = True
    apply_batch_size = 1  # applications are PATCHes of one receipt's entry (or one ApplyDocument entry)

    def __init__(self, client: Sage300Client, settings: SageReceiptSettings | None = None, *, batch_size: int = 50,
                 today: Callable[[], date] = date.today):
        self.client = client
        self.settings = settings or SageReceiptSettings()
        self.batch_size = max(1, batch_size)
        self.today = today
        self._open: dict[date, int] = {}  # the open PaySync batch of a date, as last seen

    # -- customers and open invoices --------------------------------------------------------------------------

    def customer_accounts(self) -> list[dict[str, Any]]:
        """Every customer but the suspense one: ``account_number``, ``name``, ``email``."""
        with translated():
            rows = self.client.list_customers(select=["CustomerNumber", "CustomerName", "Email", "Status"])
        out = []
        for row in rows:
            c = parse_customer(row)
            if c.customer_number and c.customer_number != self.settings.suspense_customer:
                out.append({"account_number": c.customer_number, "name": c.name or "", "email": c.email or ""})
        return out

    def customer_master(self) -> list[dict[str, str]]:
        """Every customer but the suspense one, with what identifies it (``paysync erp customers``'
        columns): ``account_number`` (CustomerNumber), ``name`` (CustomerName), ``email`` (Email),
        ``phone`` (PhoneNumber), ``address_line1`` (AddressLine1), ``address_line2`` (AddressLine2..4
        joined with ", " where present), ``city`` (City), ``state`` (StateProvince), ``postal_code``
        (ZipPostalCode), ``country`` (Country). A field Sage leaves out or empty is "" (spec
        ``sage300_webapi.md`` §0, AR/ARCustomers)."""
        with translated():
            rows = self.client.list_customers(select=list(CUSTOMER_MASTER_FIELDS))
        suspense = (self.settings.suspense_customer or "").strip()
        out = []
        for row in rows:
            number = _field(row, "CustomerNumber")
            if not number or number == suspense:
                continue
            more = [line for line in (_field(row, f"AddressLine{i}") for i in (2, 3, 4)) if line]
            out.append({"account_number": number, "name": _field(row, "CustomerName"), "email": _field(row, "Email"),
                        "phone": _field(row, "PhoneNumber"), "address_line1": _field(row, "AddressLine1"),
                        "address_line2": ", ".join(more), "city": _field(row, "City"),
                        "state": _field(row, "StateProvince"), "postal_code": _field(row, "ZipPostalCode"),
                        "country": _field(row, "Country")})
        return out

    def gl_accounts(self) -> set[str]:
        """The accounts of Sage's chart (``GL/GLAccounts``), as formatted and unformatted numbers."""
        with translated():
            rows = self.client.gl_accounts(select=["AccountNumber", "UnformattedAccount"])
        return {str(r[k]) for r in rows for k in ("AccountNumber", "UnformattedAccount") if r.get(k)}

    def open_invoices(self, as_of: date | None = None) -> tuple[list[FetchedInvoice], list[dict[str, Any]]]:
        """Posted documents of type Invoice with an amount due, dated on or before ``as_of``; the balance
        is the amount due less what unposted receipt batches already apply to it (what Sage would still
        let a receipt apply: its DocumentNetBalance). And the customers."""
        customers = self.customer_accounts()
        names = {c["account_number"]: c["name"] for c in customers}
        out = []
        for d, balance in self._open_documents(as_of=as_of):
            name = names.get(d.customer_number or "", "")
            issued = d.document_date.isoformat() if d.document_date else ""
            out.append(FetchedInvoice(
                OpenInvoice(d.document_number, d.customer_number, balance, d.currency,
                            d.due_date.isoformat() if d.due_date else "", d.document_number, (), invoice_date=issued,
                            purchase_order=d.po_number or "", order_number=d.order_number or "", customer_name=name),
                name, issued, d.invoice_amount_minor or 0))
        return sorted(out, key=lambda f: f.invoice.number), customers

    def _open_documents(self, *, as_of: date | None = None,
                        customers: Collection[str] | None = None) -> list[tuple[PostedDocument, int]]:
        """Posted documents of type Invoice not fully paid (dated on or before ``as_of``; of ``customers``
        only, when given: asked for ``batch_size`` customers a request), with their balance: the amount
        due less what unposted receipt batches already apply to it; those with a balance above zero."""
        base = (eq("DocumentType", "Invoice"), eq("FullyPaid", "No"), le("DocumentDate", as_of) if as_of else None)
        with translated():
            if customers is None:
                rows = self.client.posted_documents(and_(*base))
            else:
                rows = [row for chunk in _chunks(sorted(customers), self.batch_size) for row in
                        self.client.posted_documents(and_(*base, or_(*(eq("CustomerNumber", c) for c in chunk))))]
            pending = self._pending_applications()
        out = []
        for row in rows:
            d = parse_posted_document(row)
            if d.document_type != "Invoice" or not d.document_number or not d.customer_number:
                continue
            if as_of is not None and d.document_date is not None and d.document_date > as_of:
                continue
            if customers is not None and d.customer_number not in customers:
                continue
            balance = (d.amount_due_minor or 0) - pending.get((d.customer_number, d.document_number), 0)
            if balance > 0:
                out.append((d, balance))
        return out

    # -- card on file (the outbound direction) -----------------------------------------------------------------

    def card_on_file_installments(self, payment_code: str, due_on_or_before: date) -> list[DueInstallment]:
        """What to charge to a card on file: the open invoices (as :meth:`open_invoices` reads them:
        posted documents of type Invoice not fully paid, the balance net of unposted receipt batches) of
        the customers whose AR/ARCustomers ``PaymentCode`` is ``payment_code`` (asked with ``$filter``
        and checked here), due on or before ``due_on_or_before``: ARPostedDocuments' ``DueDate`` (spec §0;
        a document without one is due on its ``DocumentDate``). Sage holds one amount due per document,
        so each is one installment, id "1", of its whole balance. Sorted by due date and number."""
        code = payment_code.strip()
        with translated():
            rows = self.client.list_customers(filter=eq("PaymentCode", code), select=["CustomerNumber", "PaymentCode"])
        accounts = {c.customer_number for c in map(parse_customer, rows)
                    if c.customer_number and (c.payment_code or "") == code}
        if not accounts:
            return []
        out = []
        for d, balance in self._open_documents(customers=accounts):
            due = d.due_date or d.document_date
            if due is None or due > due_on_or_before:
                continue
            out.append(DueInstallment("sage", d.document_number or "", "1", d.customer_number or "", balance,
                                      d.currency, due))
        return sorted(out, key=lambda i: (i.due_date, i.invoice_number, i.customer_account))

    def card_on_file_accounts(self, payment_code: str) -> set[str]:
        """The customers who pay by card on file with ``payment_code``: the ``CustomerNumber`` of every
        AR/ARCustomers row whose ``PaymentCode`` is that code (spec ``sage300_webapi.md`` §0: Sage marks
        the customer, not the invoice). The ``$filter`` asks Sage for the code as given and upper-cased
        (Sage keeps codes upper-case and compares them as stored); every row answered is checked here,
        trimmed and case-insensitively (a next link drops the ``$filter``, §2: later pages are of every
        customer). A blank code names no customer: an empty set."""
        code = (payment_code or "").strip()
        if not code:
            return set()
        asked = or_(*(eq("PaymentCode", v) for v in dict.fromkeys((code, code.upper()))))
        with translated():
            rows = self.client.list_customers(filter=asked, select=["CustomerNumber", "PaymentCode"])
        wanted = code.casefold()
        return {number for row in rows
                if (number := _field(row, "CustomerNumber")) and _field(row, "PaymentCode").casefold() == wanted}

    def update_customer(self, account: str, changes: Mapping[str, str]) -> None:
        """Change a customer's contact details in Sage: one PATCH of ``AR/ARCustomers('<account>')`` (spec
        §0; §2.4: master data takes PATCH, which changes only what it sends) with the fields in
        ``changes``. Its keys are :meth:`customer_master`'s columns: ``name`` (CustomerName), ``email``
        (Email), ``phone`` (PhoneNumber), ``address_line1`` (AddressLine1), ``address_line2``
        (AddressLine2), ``city`` (City), ``state`` (StateProvince), ``postal_code`` (ZipPostalCode),
        ``country`` (Country); values are sent trimmed ("" clears a field, None is ""). Since
        :meth:`customer_master` reads ``address_line2`` as AddressLine2..4 joined, a new ``address_line2``
        also clears AddressLine3 and AddressLine4, so that the next read gives back what was written.

        Checked before anything is sent: a key that is not one of those (``account_number`` too: Sage's
        CustomerNumber cannot change) or a value that is not text is a ValueError naming it; so is a value
        longer than its Sage field (:data:`CUSTOMER_FIELD_LENGTHS`: Sage refuses it, nothing is cut). No
        changes: nothing is sent. The same PATCH twice leaves the same customer. What Sage refuses (an
        unknown customer, a blank name) is the posting loop's error (:func:`translated`)."""
        number = (account or "").strip()
        if not number:
            raise ValueError("update_customer needs the customer's account number")
        body: dict[str, str] = {}
        for key, value in changes.items():
            name = CUSTOMER_UPDATE_FIELDS.get(key)
            if name is None:
                raise ValueError(f"update_customer cannot change {key!r}: the fields it changes are "
                                 f"{', '.join(CUSTOMER_UPDATE_FIELDS)}")
            if value is not None and not isinstance(value, str):
                raise ValueError(f"update_customer: {key!r} ({name}) must be text, not {type(value).__name__}")
            text = (value or "").strip()
            width = CUSTOMER_FIELD_LENGTHS[name]
            if len(text) > width:
                raise ValueError(f"update_customer: {key!r} is {len(text)} characters; Sage's {name} holds {width}")
            body[name] = text
        if not body:
            return
        if "AddressLine2" in body:
            body.update(AddressLine3="", AddressLine4="")
        with translated():
            self.client.patch_customer(number, body)

    # -- card refunds a clerk asks for (the outbound direction) ---------------------------------------------------

    def card_refunds(self, payment_code: str) -> list[ErpRefund]:
        """The refunds a clerk entered in Sage to be paid back to a card: every entry of every
        ``AR/ARRefundBatches`` batch (spec §2.4, AR0140; all statuses, every page, since no documented
        ``$filter`` reaches an entry's fields) whose ``PaymentCode`` is ``payment_code`` (trimmed,
        case-insensitive), except PaySync's own (:meth:`mark_refund`'s: an entry of a PaySync batch,
        :meth:`SageReceiptSettings.is_ours`, or one whose ``CheckNumber`` is a PaySync refund's reference,
        ``...:RFND``), and except entries of no amount. Refund fields were not in the public material (spec
        §0); they are read by the names the sandbox and :class:`~paysync_dagster.lib.sage.client.NewRefund`
        use, each tolerated missing:

        - ``key`` ``"<BatchNumber>:<EntryNumber>"``; ``document_number`` the entry's DocumentNumber
          (``RF...``); ``customer_account`` its CustomerNumber;
        - ``amount_minor`` its CustomerRefundAmount (else the sum of its RefundDetails' amounts) in minor
          units of ``currency``: the entry's CustomerCurrencyCode or CurrencyCode, else the batch's
          CurrencyCode, else the customer's CurrencyCode (AR/ARCustomers), else :data:`DEFAULT_CURRENCY`;
        - ``document_date`` its DocumentDate, else the batch's BatchDate;
        - ``original_transaction_id`` its TransactionID when that is all digits (the PayTrace transaction);
        - ``invoice_number`` "": a refund draws on posted credits (credit notes, prepayments, unapplied
          cash), and neither the spec nor the sandbox keeps the invoice a credit note credits;
        - ``written_back`` its EntryReference (trimmed): where :meth:`write_back_refund` writes;
        - ``editable`` while the batch is Open or ReadyToPost (Sage refuses edits of a posted batch:
          ``InvalidAction``). Entries of a deleted batch are left out: their refunds were withdrawn.

        In batch and entry order. A blank code: none."""
        code = (payment_code or "").strip().casefold()
        if not code:
            return []
        with translated():
            batches = self.client.refund_batches()
        wanted: list[tuple[Mapping[str, Any], Mapping[str, Any], int, int]] = []
        for b in batches:
            # A deleted batch's refunds were withdrawn: nothing to pay back.
            if self.settings.is_ours(_field(b, "Description")) or _field(b, "BatchStatus") == "Deleted":
                continue
            batch_number = parse_int(b.get("BatchNumber"), field="BatchNumber")
            for r in b.get("Refunds") or ():
                entry_number = parse_int(r.get("EntryNumber"), field="EntryNumber")
                if batch_number is None or entry_number is None or _field(r, "PaymentCode").casefold() != code \
                        or _field(r, "CheckNumber").endswith(REFUND_SUFFIX):
                    continue
                wanted.append((b, r, batch_number, entry_number))
        unknown = sorted({_field(r, "CustomerNumber") for b, r, _, _ in wanted if not _refund_currency(b, r)} - {""})
        currencies = self._currencies(unknown)
        out = []
        for b, r, batch_number, entry_number in wanted:
            customer = _field(r, "CustomerNumber")
            currency = _refund_currency(b, r) or currencies.get(customer) or DEFAULT_CURRENCY
            with translated():
                total = minor(r.get("CustomerRefundAmount"), currency, field="CustomerRefundAmount")
                if total is None and r.get("RefundDetails"):
                    total = sum(minor(d.get("CustomerRefundAmount"), currency, field="CustomerRefundAmount") or 0
                                for d in r["RefundDetails"])
                on = parse_date(r.get("DocumentDate"), field="DocumentDate") or \
                    parse_date(b.get("BatchDate"), field="BatchDate")
            if total is None or total <= 0:
                continue
            transaction = _field(r, "TransactionID")
            out.append(ErpRefund(
                erp=self.name, key=f"{batch_number}:{entry_number}", document_number=_field(r, "DocumentNumber"),
                customer_account=customer, amount_minor=total, currency=currency, document_date=on,
                original_transaction_id=int(transaction) if transaction.isascii() and transaction.isdigit() else None,
                invoice_number="", written_back=_field(r, "EntryReference"),
                editable=_field(b, "BatchStatus") in EDITABLE))
        return out

    def _currencies(self, customers: Sequence[str]) -> dict[str, str]:
        """The CurrencyCode of each of ``customers`` (AR/ARCustomers, ``batch_size`` a request)."""
        out: dict[str, str] = {}
        with translated():
            for chunk in _chunks(list(customers), self.batch_size):
                for row in self.client.list_customers(filter=or_(*(eq("CustomerNumber", c) for c in chunk)),
                                                      select=["CustomerNumber", "CurrencyCode"]):
                    if _field(row, "CustomerNumber") in chunk and _field(row, "CurrencyCode"):
                        out[_field(row, "CustomerNumber")] = _field(row, "CurrencyCode")
        return out

    def write_back_refund(self, refund: ErpRefund, text: str) -> None:
        """Write PaySync's result on the clerk's refund entry: its ``EntryReference`` becomes ``text``
        (cut to the field's 60 characters, :data:`ENTRY_REFERENCE_LENGTH`), by a PATCH of its
        ``AR/ARRefundBatches(<BatchNumber>)`` batch updating that entry (``UpdateOperation`` Update, by
        ``EntryNumber``; spec §2.4: transactions take PATCH). The same PATCH twice gives the same entry,
        so it is repeated after a lost answer. A refund read as not editable (its batch posted or deleted)
        is a ValueError and nothing is sent; a batch posted since it was read is refused by Sage
        (``InvalidAction``), as is an entry deleted since (``RecordNotFound``): the posting loop's
        :class:`~paysync_dagster.lib.posting.erp.RejectedError`."""
        if refund.erp != self.name:
            raise ValueError(f"refund {refund.key} is not Sage's ({refund.erp})")
        if not refund.editable:
            raise ValueError(f"Sage refund {refund.key} ({refund.document_number}) is in a posted batch: Sage takes no "
                             "write-back on it")
        batch, sep, entry = refund.key.partition(":")
        if not (sep and batch.isascii() and batch.isdigit() and entry.isascii() and entry.isdigit()):
            raise ValueError(f"not a Sage refund key (<batch>:<entry>): {refund.key!r}")
        row = {"UpdateOperation": "Update", "EntryNumber": int(entry),
               "EntryReference": (text or "")[:ENTRY_REFERENCE_LENGTH]}
        with translated():
            self.client.patch(REFUND_BATCHES, int(batch), {"Refunds": [row]}, repeatable=True)

    def _pending_applications(self) -> dict[tuple[str, str], int]:
        """What every unposted CA batch applies to each posted document (customer, document)."""
        out: dict[tuple[str, str], int] = {}
        for b in self.client.open_receipt_batches(statuses=EDITABLE):
            for e in parse_receipt_batch(b).entries:
                if e.transaction_type not in APPLYING_TYPES:
                    continue
                for line in e.applied:
                    k = (line.customer_number or e.customer_number or "", line.document_number or "")
                    out[k] = out.get(k, 0) + (line.amount_minor or 0) + (line.discount_minor or 0)
        return out

    # -- receipts -----------------------------------------------------------------------------------------------

    def new_receipt(self, spec: ReceiptSpec) -> NewReceipt:
        """The entry of a receipt: a Receipt applied to the spec's invoices, or a Prepayment (on account)."""
        applications = tuple(NewApplication(invoice, amount, split_target(target, invoice)[1])
                             for invoice, target, amount in spec.applications if amount > 0)
        comments, _ = mask_card_numbers(spec.comments or "")
        return NewReceipt(spec.customer_account or self.settings.suspense_customer, spec.amount_minor,
                          spec.receipt_date, spec.reference, RECEIPT if applications else PREPAYMENT, applications,
                          description=comments[:60], reference=spec.reference[:60],
                          payment_code=self.settings.payment_code, currency=spec.currency)

    def create_receipts(self, specs: Sequence[ReceiptSpec]) -> dict[str, str]:
        """All the specs' entries in one request (a new batch, or an insert into the date's open batch)."""
        if not specs:
            return {}
        days = {s.receipt_date for s in specs}
        if len(days) > 1:  # two batches could not be all or none: nothing is sent
            raise RejectedError("receipts of several dates go in separate batches: send them one date at a time",
                                "ONE_DATE")
        refs = [s.reference for s in specs]
        if len(set(refs)) != len(refs):
            raise RejectedError("a reference appears twice in one create", "DUPLICATE_REFERENCE")
        with translated():
            batch = self._insert(days.pop(), [self.new_receipt(s).to_json() for s in specs])
        ids: dict[str, str] = {}
        for ref in refs:
            mine = [e for e in batch.entries if e.check_receipt_number == ref and e.transaction_type in CASH_TYPES]
            if len(mine) != 1:  # the answer does not say which entry is ours: the look-up will
                raise OutcomeUnknown(f"batch {batch.batch_number} holds {len(mine)} receipts numbered {ref}")
            ids[ref] = receipt_id(batch.batch_number, mine[0].entry_number)
        return ids

    def _insert(self, day: date, entries: Sequence[Mapping[str, Any]]) -> ReceiptBatch:
        """Insert entries into the date's open PaySync batch (creating it when there is none); the batch
        as answered. Not repeated once sent; a batch that stopped being editable (posted by a person)
        refused the insert, so another open batch (or a new one) takes it."""
        description = self.settings.batch_description(day)
        refused: set[int] = set()
        for _ in range(3):
            number = self._open.get(day)
            if number is None or number in refused:
                number = self._find_open(day, refused)
            if number is None:
                answer = self.client.create_receipt_batch(batch_date=day, description=description,
                                                          bank_code=self.settings.bank_code, entries=entries)
                batch = parse_receipt_batch(answer)
                if batch.batch_number is not None:
                    self._open[day] = batch.batch_number
                return batch
            rows = [{"UpdateOperation": INSERT, **e} for e in entries]
            try:
                answer = self.client.patch(RECEIPT_BATCHES, self.client.receipt_batch_key(number),
                                           {"ReceiptsAdjustments": rows}, repeatable=False)
            except (SageRejected, SageNotFound) as exc:
                if isinstance(exc, SageNotFound) or exc.code == INVALID_ACTION:  # not editable any more: nothing done
                    self._open.pop(day, None)
                    refused.add(number)
                    continue
                raise
            if not answer.get("ReceiptsAdjustments"):
                answer = self.client.get_receipt_batch(number)
            return parse_receipt_batch(answer)
        raise RejectedError(f"no open batch for {day} would take the receipts", INVALID_ACTION)

    def _find_open(self, day: date, skip: Collection[int] = ()) -> int | None:
        batches = [parse_receipt_batch(b) for b in self.client.open_receipt_batches(
            day, self.settings.batch_description(day), statuses=(OPEN,))]
        numbers = [b.batch_number for b in batches if b.batch_number is not None and b.batch_number not in skip]
        if numbers:
            self._open[day] = numbers[-1]
            return numbers[-1]
        return None

    def find_receipts(self, references: Sequence[str]) -> dict[str, ErpReceipt]:
        """The receipts Sage holds under these numbers (unposted entries and posted receipts)."""
        refs = list(dict.fromkeys(str(r) for r in references))
        if not refs:
            return {}
        with translated():
            found, batches = find_held(self.client, refs, chunk=self.batch_size)
            many = {ref: hs for ref, hs in found.items() if len(hs) > 1}
            if many:
                ref, hs = next(iter(many.items()))
                raise RejectedError(f"{len(hs)} receipts in Sage carry CheckReceiptNumber {ref} "
                                    f"({', '.join(h.erp_id for h in hs)}): a person keeps one and deletes or reverses "
                                    "the others", "AMBIGUOUS")
            credits = self._credits([hs[0] for hs in found.values() if hs[0].is_posted])
        drawing = apply_documents(batches)  # unposted ApplyDocument entries drawing on a posted credit
        return {ref: self._erp_receipt(hs[0], credits, drawing) for ref, hs in found.items()}

    def _credits(self, held: Sequence[Held]) -> dict[tuple[str, str], int]:
        """What is left on the posted credits (prepayment, unapplied cash) of posted receipts that left some."""
        keys = [(h.customer, h.document_number) for h in held if h.document_number
                and not (h.posted is not None and h.posted.unapplied_minor == 0)]
        out: dict[tuple[str, str], int] = {}
        for part in _chunks(keys, self.batch_size):
            rows = self.client.posted_documents(or_(*(and_(eq("CustomerNumber", c), eq("DocumentNumber", d))
                                                      for c, d in part)))
            for row in rows:
                d = parse_posted_document(row)
                k = (d.customer_number or "", d.document_number or "")
                if k in part:
                    out[k] = max(0, -(d.amount_due_minor or 0))
        return out

    def _erp_receipt(self, h: Held, credits: Mapping[tuple[str, str], int],
                     drawing: Mapping[tuple[str, str], list[AppliedLine]]) -> ErpReceipt:
        k = (h.customer, h.document_number)
        if h.is_posted:
            if k in credits:
                pending = sum((line.amount_minor or 0) for line in drawing.get(k, ()))
                unapplied: int | None = max(0, credits[k] - pending)
            else:  # fully applied when posted (no credit left), or the credit could not be read
                unapplied = h.posted.unapplied_minor if h.posted is not None else None
        else:
            e = h.entry
            assert e is not None
            unapplied = e.unapplied_minor if e.unapplied_minor is not None else \
                h.amount_minor - sum(by_target(h.own_lines()).values())
        return ErpReceipt(h.erp_id, h.reference, h.amount_minor, h.currency, self._account(h.customer), unapplied, False)

    def _account(self, customer: str) -> str:
        return "" if customer == self.settings.suspense_customer else customer

    # -- one receipt by its id ------------------------------------------------------------------------------------

    def locate(self, receipt: ErpReceipt) -> tuple[ReceiptBatch, ReceiptEntry | None]:
        """The receipt's batch (read by its number) and its entry there (None: deleted)."""
        where = parse_receipt_id(receipt.erp_id)
        if where is None:  # an id PaySync did not make: find the receipt by its number
            found = self.find_receipts([receipt.reference]).get(receipt.reference)
            where = parse_receipt_id(found.erp_id) if found else None
            if where is None:
                raise RejectedError(f"receipt {receipt.reference} is not in Sage", "RecordNotFound")
        batch = parse_receipt_batch(self.client.get_receipt_batch(where[0]))
        entry = next((e for e in batch.entries if e.entry_number == where[1]), None)
        return batch, entry

    def _entry(self, receipt: ErpReceipt) -> tuple[ReceiptBatch, ReceiptEntry]:
        batch, entry = self.locate(receipt)
        if entry is None:
            raise RejectedError(f"receipt {receipt.reference} ({receipt.erp_id}) is no longer in Sage batch "
                                f"{batch.batch_number}: it was deleted", "RecordNotFound")
        return batch, entry

    def _patch_entry(self, batch: ReceiptBatch, row: Mapping[str, Any], *, repeatable: bool = False) -> None:
        self.client.patch(RECEIPT_BATCHES, self.client.receipt_batch_key(int(batch.batch_number or 0)),
                          {"ReceiptsAdjustments": [row]}, repeatable=repeatable)

    def _later_lines(self, batch: ReceiptBatch, entry: ReceiptEntry) -> list[AppliedLine]:
        """The ApplyDocument lines of later PaySync batches that draw on the posted receipt's credit."""
        if not entry.document_number:
            return []
        later = [parse_receipt_batch(b) for b in self.client.receipt_batches(gt("BatchNumber", int(batch.batch_number or 0)))]
        mine = [b for b in later if self.settings.is_ours(b.description) and (b.status or "") != "Deleted"]
        return apply_documents(mine).get((entry.customer_number or "", entry.document_number), [])

    def _current_lines(self, receipt: ErpReceipt) -> list[AppliedLine]:
        batch, entry = self.locate(receipt)
        if entry is None:
            return []
        own = list(entry.applied) if entry.transaction_type in APPLYING_TYPES else []
        if (batch.status or "") in EDITABLE:
            return own
        return own + self._later_lines(batch, entry)

    # -- applications -------------------------------------------------------------------------------------------

    def applications(self, receipt: ErpReceipt) -> dict[str, int]:
        """What the receipt applies now, by target (``<invoice>`` or ``<invoice>#<installment>``)."""
        with translated():
            return by_target(self._current_lines(receipt))

    def references(self, receipt: ErpReceipt) -> dict[str, int]:
        """What the receipt applies now, by invoice number (its lines and the ApplyDocuments drawing on it)."""
        with translated():
            return by_invoice(self._current_lines(receipt))

    def add_references(self, receipt: ErpReceipt, references: Sequence[tuple[str, int]]) -> None:
        """Apply the receipt to more invoices (installment 1): its entry's lines while unposted, an
        ApplyDocument entry once posted. Not repeatable: :meth:`references` finds what a lost answer did."""
        with translated():
            self._add(receipt, [(invoice, 1, amount) for invoice, amount in references if amount > 0])

    def apply(self, items: Sequence[ApplySpec]) -> None:
        """Each item a new application; all items must be of one receipt (one request, all or none)."""
        if not items:
            return
        if len({i.receipt.erp_id for i in items}) > 1:
            raise RejectedError("applications of several receipts cannot go in one request; send them one at a time",
                                "NO_BATCH")
        lines = []
        for i in items:
            document, payment = split_target(i.target_id, i.invoice_number)
            lines.append((document, payment, i.amount_minor))
        with translated():
            self._add(items[0].receipt, lines)

    def _add(self, receipt: ErpReceipt, lines: Sequence[tuple[str, int, int]]) -> None:
        if not lines:
            return
        batch, entry = self._entry(receipt)
        if (batch.status or "") in EDITABLE:
            row: dict[str, Any] = {"UpdateOperation": "Update", "EntryNumber": entry.entry_number}
            if entry.transaction_type == PREPAYMENT:  # a prepayment's lines apply nothing: it becomes a receipt
                row["ReceiptTransactionType"] = RECEIPT
            row["AppliedReceiptsAdjustments"] = [
                {"UpdateOperation": INSERT, **NewApplication(doc, amount, pay).to_json(entry.currency)}
                for doc, pay, amount in lines]
            try:
                self._patch_entry(batch, row)
                return
            except SageRejected as exc:
                if exc.code != INVALID_ACTION:
                    raise
                batch, entry = self._entry(receipt)  # posted meanwhile: nothing was changed
                if (batch.status or "") in EDITABLE:
                    raise
        self._apply_document(receipt, entry, lines)

    def _apply_document(self, receipt: ErpReceipt, entry: ReceiptEntry, lines: Sequence[tuple[str, int, int]]) -> None:
        """An ApplyDocument entry applying the posted receipt's credit to invoices (spec §2.6)."""
        if not entry.document_number:
            raise RejectedError(f"receipt {receipt.reference} has no document number in Sage to apply", "RecordInvalid")
        day = self.today()
        body: dict[str, Any] = {
            "CustomerNumber": entry.customer_number, "ReceiptDateAdjustmentDate": day,
            "CheckReceiptNumber": entry.check_receipt_number or receipt.reference,
            "DocumentNumber": entry.document_number,
            "EntryDescription": f"{self.settings.batch_prefix} applies {receipt.reference}"[:60],
            "EntryReference": receipt.reference[:60], "ReceiptTransactionType": APPLY_DOCUMENT,
            "AppliedReceiptsAdjustments": [NewApplication(doc, amount, pay).to_json(entry.currency)
                                           for doc, pay, amount in lines]}
        self._insert(day, [body])

    def set_application(self, receipt: ErpReceipt, target_id: str, amount_minor: int) -> None:
        """Make the application on ``target_id`` exactly ``amount_minor`` (repeatable: it converges).
        Unposted: the entry's lines are updated, deleted or inserted. Posted: a raise is an ApplyDocument
        of the difference; lowering a posted application is refused (a person adjusts it in Sage)."""
        document, payment = split_target(target_id)
        with translated():
            batch, entry = self._entry(receipt)
            if (batch.status or "") not in EDITABLE:
                current = by_target(self._current_lines(receipt)).get(target_id, 0)
                if amount_minor > current:
                    self._apply_document(receipt, entry, [(document, payment, amount_minor - current)])
                elif amount_minor < current:
                    raise RejectedError(
                        f"receipt {receipt.reference} is posted in Sage (batch {batch.batch_number}): the Web API cannot "
                        f"take an application back. A person lowers what it applies to {document} in Sage (an AR "
                        "adjustment of the invoice, or Bank Services > Reverse Transactions and a new receipt)", POSTED)
                return
            lines = [line for line in entry.applied if line.document_number == document and (line.payment_number or 1) == payment]
            current = sum(line.amount_minor or 0 for line in lines) if entry.transaction_type in APPLYING_TYPES else 0
            if current == amount_minor and entry.transaction_type in APPLYING_TYPES:
                return
            rows: list[dict[str, Any]] = []
            if amount_minor <= 0:
                rows = [{"UpdateOperation": "Delete", "LineNumber": line.line_number} for line in lines]
            elif lines:
                rows = [{"UpdateOperation": "Update", "LineNumber": lines[0].line_number,
                         "CustomerReceiptAmount": NewApplication(document, amount_minor, payment).to_json(entry.currency)[
                             "CustomerReceiptAmount"]}]
                rows += [{"UpdateOperation": "Delete", "LineNumber": line.line_number} for line in lines[1:]]
            else:
                rows = [{"UpdateOperation": INSERT, **NewApplication(document, amount_minor, payment).to_json(entry.currency)}]
            row: dict[str, Any] = {"UpdateOperation": "Update", "EntryNumber": entry.entry_number}
            if entry.transaction_type == PREPAYMENT and amount_minor > 0:
                row["ReceiptTransactionType"] = RECEIPT
            row["AppliedReceiptsAdjustments"] = rows
            self._patch_entry(batch, row)

    # -- identification, reversal, refunds ------------------------------------------------------------------------

    def set_customer(self, receipt: ErpReceipt, customer_account: str) -> None:
        """Move an unposted receipt to ``customer_account`` (PATCH of its entry; the same PATCH twice is
        the same state). A posted receipt is refused: a person transfers it in Sage."""
        with translated():
            batch, entry = self._entry(receipt)
            if entry.customer_number == customer_account:
                return
            if (batch.status or "") not in EDITABLE:
                raise RejectedError(
                    f"receipt {receipt.reference} is posted in Sage (batch {batch.batch_number}, customer "
                    f"{entry.customer_number}): the Web API cannot move a posted receipt. A person transfers it to "
                    f"customer {customer_account} in Sage (reverse it in Bank Services > Reverse Transactions and "
                    "enter it again for that customer)", POSTED)
            self._patch_entry(batch, {"UpdateOperation": "Update", "EntryNumber": entry.entry_number,
                                      "CustomerNumber": customer_account}, repeatable=True)

    def reverse(self, receipt: ErpReceipt, category: str, reason: str) -> None:
        """Delete the unposted entry (gone already: done). A posted receipt is refused, except after
        refunds that paid all of it back (Sage then has nothing left to reverse)."""
        with translated():
            batch, entry = self.locate(receipt)
            if entry is None:
                return
            if (batch.status or "") in EDITABLE:
                self._patch_entry(batch, {"UpdateOperation": "Delete", "EntryNumber": entry.entry_number})
                return
            if reason == "REFUND" and sum(self._refunds(receipt, batch).values()) >= receipt.amount_minor:
                return
            raise RejectedError(
                f"receipt {receipt.reference} is posted in Sage (batch {batch.batch_number}, entry {entry.entry_number}): "
                f"the Web API cannot reverse a posted receipt ({category} {reason}). A person reverses it in Sage "
                "(Bank Services > Reverse Transactions), which reopens the invoices it paid", POSTED)

    def refund_marks(self, receipt: ErpReceipt) -> dict[str, int]:
        """The PaySync refund entries recorded against the receipt: refund reference -> amount."""
        with translated():
            batch, _entry = self.locate(receipt)
            return self._refunds(receipt, batch)

    def _refunds(self, receipt: ErpReceipt, batch: ReceiptBatch) -> dict[str, int]:
        since = batch.batch_date
        rows = self.client.refund_batches(ge("BatchDate", since) if since else None)
        return refunds_of(rows, {receipt.reference}, self.settings).get(receipt.reference, {})

    def mark_refund(self, receipt: ErpReceipt, reference: str, amount_minor: int, reason: str) -> None:
        """A refund entry in the day's PaySync refund batch, drawing on the receipt's posted credit."""
        with translated():
            batch, entry = self._entry(receipt)
            if (batch.status or "") in EDITABLE:
                raise RejectedError(
                    f"receipt {receipt.reference} is not posted yet (Sage batch {batch.batch_number} is {batch.status}); "
                    "a Sage refund draws on a posted credit: post the batch, then replay the date", UNPOSTED)
            credit = self._credits([Held(int(batch.batch_number or 0), int(entry.entry_number or 0), batch.status or "",
                                         entry)]).get((entry.customer_number or "", entry.document_number or ""), 0)
            day = self.today()
            # A Sage refund draws on a credit: the cash the receipt left unapplied, or else (its cash
            # paid invoices) a credit note of the refund for the customer, entered and posted first.
            document = entry.document_number or "" if credit >= amount_minor else \
                self._credit_note(receipt, entry, reference, amount_minor, reason, day)
            refund = NewRefund(entry.customer_number or "", day, ((document, amount_minor),),
                               check_number=reference[:24], description=(reason or "PayTrace refund")[:60],
                               reference=receipt.reference[:60], payment_code=self.settings.payment_code,
                               currency=receipt.currency).to_json()
            description = self.settings.batch_description(day)
            open_ = [b for b in self.client.refund_batches(and_(eq("BatchDate", day), eq("Description", description),
                                                                eq("BatchStatus", OPEN)))]
            if open_:
                self.client.patch(REFUND_BATCHES, int(open_[-1]["BatchNumber"]),
                                  {"Refunds": [{"UpdateOperation": INSERT, **refund}]}, repeatable=False)
            else:
                self.client.create_refund_batch(batch_date=day, description=description,
                                                bank_code=self.settings.bank_code, refunds=[refund])

    def _credit_note(self, receipt: ErpReceipt, entry: ReceiptEntry, reference: str, amount_minor: int, reason: str,
                     day: date) -> str:
        """The posted credit note a refund of ``reference`` draws on: found (posted, or in an unposted
        invoice batch, which is then posted), else entered in a PaySync invoice batch and posted. Its
        number comes from the refund's reference, so a resend finds it instead of entering another."""
        customer = entry.customer_number or ""
        number = credit_note_number(reference)
        posted = self.client.posted_documents(and_(eq("CustomerNumber", customer), eq("DocumentNumber", number)))
        if any(parse_posted_document(row).document_number == number for row in posted):
            return number
        holding = None
        for raw in self.client.list(INVOICE_BATCHES, filter=or_(*(eq("BatchStatus", st) for st in EDITABLE))):
            if any(inv.get("DocumentNumber") == number and inv.get("CustomerNumber") == customer
                   for inv in raw.get("Invoices") or ()):
                holding = raw
        if holding is None:
            line: dict[str, Any] = {"Description": f"Card refund {reference}"[:60],
                                    "ExtendedAmountWithoutTIP": amount(amount_minor, receipt.currency)}
            if self.settings.credit_note_account:
                line["RevenueAccount"] = self.settings.credit_note_account
            holding = self.client.create_invoice_batch({
                "BatchDate": day, "Description": self.settings.batch_description(day),
                "Invoices": [{"CustomerNumber": customer, "DocumentNumber": number, "DocumentType": "CreditNote",
                              "DocumentDate": day, "CurrencyCode": receipt.currency,
                              "InvoiceDescription": f"{reason or 'PayTrace refund'} of {receipt.reference}"[:60],
                              "InvoiceDetails": [line]}]})
        batch_number = int(holding["BatchNumber"])
        if holding.get("BatchStatus") == OPEN:
            self.client.set_invoice_batch_ready(batch_number)
        self.client.post_invoice_batches(batch_number)
        return number

    # -- posting the batches ------------------------------------------------------------------------------------

    def post_date(self, day: date) -> list[int]:
        """Post the date's unposted PaySync receipt and refund batches (ReadyToPost, then the posting
        process, one batch at a time so nobody else's batch is posted). Returns the receipt batches posted.
        Safe to repeat: a posted batch is no longer among the unposted ones."""
        description = self.settings.batch_description(day)
        posted: list[int] = []
        with translated():
            for raw in self.client.open_receipt_batches(day, description, statuses=EDITABLE):
                b = parse_receipt_batch(raw)
                if b.batch_number is None or not b.entries:
                    continue
                if b.status == OPEN:
                    self.client.set_receipt_batch_ready(b.batch_number)
                self.client.post_receipt_batches(b.batch_number)
                self._open.pop(day, None)
                posted.append(b.batch_number)
            for raw in self.client.refund_batches(and_(eq("BatchDate", day), eq("Description", description))):
                number, status = parse_int(raw.get("BatchNumber")), str(raw.get("BatchStatus") or "")
                if number is None or status not in EDITABLE or not raw.get("Refunds"):
                    continue
                if status == OPEN:
                    self.client.set_refund_batch_ready(number)
                self.client.post_refund_batches(number)
        return posted

    def after_run(self, day: date) -> list[int]:
        """What a posting run does last when the settings say so: post the date's batches (and today's,
        where applications and refunds made today went), and create the GL batch of what was posted
        (``ARCreateGLBatch``), so the cash reaches the general ledger."""
        if not self.settings.post_after_run:
            return []
        # The date's batch, and today's: applications and refunds made today go in today's batch.
        posted = [n for d in sorted({day, self.today()}) for n in self.post_date(d)]
        if posted:
            with translated():
                self.client.create_gl_batch(receipts=True)
        return posted


def credit_note_number(refund_reference: str) -> str:
    """The number of the credit note a card refund draws on: its PayTrace reference and ``-CN``."""
    return f"{refund_reference.removesuffix(REFUND_SUFFIX)}-CN"[:22]


def refunds_of(refund_batches: Iterable[Mapping[str, Any]], receipts: set[str],
               settings: SageReceiptSettings) -> dict[str, dict[str, int]]:
    """receipt reference -> {refund reference: amount} from PaySync refund batches' entries."""
    out: dict[str, dict[str, int]] = {}
    for b in refund_batches:
        if not settings.is_ours(b.get("Description")) or b.get("BatchStatus") == "Deleted":
            continue
        for r in b.get("Refunds") or ():
            receipt, number = str(r.get("EntryReference") or ""), str(r.get("CheckNumber") or "")
            if receipt in receipts and number.endswith(REFUND_SUFFIX):
                currency = str(r.get("CustomerCurrencyCode") or "USD")
                total = minor(r.get("CustomerRefundAmount"), currency, field="CustomerRefundAmount")
                if total is None:
                    total = sum(minor(d.get("CustomerRefundAmount"), currency, field="CustomerRefundAmount") or 0
                                for d in r.get("RefundDetails") or ())
                mine = out.setdefault(receipt, {})
                mine[number] = mine.get(number, 0) + total
    return out


__all__ = ["CASH_TYPES", "Held", "credit_note_number", "SageAdapter", "SageReceiptSettings", "apply_documents", "by_invoice", "by_target",
           "find_held", "held_entries", "parse_receipt_id", "receipt_id", "refunds_of", "split_target", "target_id",
           "translated"]
