"""The entity types the sandbox serves: their properties, wire types, and strict payload reading.

Property names are Sage's (PascalCase, spec tables); each type keeps only the properties a cash
receipt integration reads or writes, not the hundred-odd a real view has. Types are named as in the
Web API's EDMX (namespace ``Sage.CA.SBS.ERP.Sage300.<MODULE>.WebApi.Models``), which is what the
"Could not find a property named ..." errors quote.

Payloads are read strictly, as the Web API's OData formatter does: an unknown property, a string
where a number is expected (``"12.00"`` for an amount) or a number where a string is expected is
refused with ``InvalidPayload``. Enumerations are written as their names (``"Prepayment"``) and read
as names or as their numeric codes in a string (``"4"``, as Sage's own invoice sample sends). Read-only
properties (keys the server assigns, totals it computes) may be sent, as Sage's samples do, and are
type-checked then ignored. Rows are stored with typed values (``str``, ``int``, ``Decimal``, ``bool``,
``date``, enum names) and rendered by :func:`render`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .errors import SageError

NAMESPACE = "Sage.CA.SBS.ERP.Sage300.{module}.WebApi.Models"
AMOUNT_PLACES = 3  # Sage's views hold amounts as DECIMAL(19,3); answers print all three places
QUANTITY_PLACES = 4


class Enum:
    """A Sage enumeration: names on the wire, numeric codes accepted on input and in filters."""

    def __init__(self, name: str, members: Mapping[str, int]):
        self.name = name
        self.members = dict(members)
        self._by_lower = {k.lower(): k for k in members}
        self._by_code = {str(v): k for k, v in members.items()}

    def lookup(self, text: str) -> str | None:
        return self._by_lower.get(text.strip().lower()) or self._by_code.get(text.strip())

    def code(self, member: str) -> int:
        return self.members[member]


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # str | num | int | bool | date | enum | many
    ro: bool = False  # read-only: accepted in a payload (type-checked), never written from it
    max_len: int | None = None
    enum: Enum | None = None
    child: EntityType | None = None
    places: int = AMOUNT_PLACES

    @property
    def edm(self) -> str:
        return {"str": "Edm.String", "num": "Edm.Decimal", "int": "Edm.Int32", "bool": "Edm.Boolean",
                "date": "Edm.DateTimeOffset"}.get(self.kind) or \
            (self.enum.name if self.enum else f"Collection({self.child.qualified if self.child else '?'})")


@dataclass
class EntityType:
    name: str
    module: str
    fields: dict[str, Field]
    key: tuple[str, ...] = ()
    row_key: str | None = None  # for a detail type: the property that identifies a row in its collection

    @property
    def qualified(self) -> str:
        return f"{NAMESPACE.format(module=self.module)}.{self.name}"

    @property
    def is_detail(self) -> bool:
        return self.row_key is not None

    def field(self, name: str) -> Field | None:
        return self.fields.get(name)


def entity(name: str, module: str, fields: Iterable[Field], key: tuple[str, ...] = (),
           row_key: str | None = None) -> EntityType:
    return EntityType(name, module, {f.name: f for f in fields}, key, row_key)


# Compact field constructors for the tables below.
def S(name: str, n: int | None = None, ro: bool = False) -> Field:
    return Field(name, "str", ro=ro, max_len=n)


def N(name: str, ro: bool = False, places: int = AMOUNT_PLACES) -> Field:
    return Field(name, "num", ro=ro, places=places)


def I(name: str, ro: bool = False) -> Field:  # noqa: E743 (Int32, as the tables read)
    return Field(name, "int", ro=ro)


def B(name: str, ro: bool = False) -> Field:
    return Field(name, "bool", ro=ro)


def D(name: str, ro: bool = False) -> Field:
    return Field(name, "date", ro=ro)


def E(name: str, enum: Enum, ro: bool = False) -> Field:
    return Field(name, "enum", ro=ro, enum=enum)


def M(name: str, child: EntityType, ro: bool = False) -> Field:
    return Field(name, "many", ro=ro, child=child)


# -- enumerations (names as Sage writes them; codes are the sandbox's where Sage's are not public) --

def _enum(module: str, name: str, **members: int) -> Enum:
    return Enum(f"Sage.CA.SBS.ERP.Sage300.{module}.Models.Enums.{name}", members)


UPDATE_OPERATION = _enum("Common", "UpdateOperation", Unspecified=0, Insert=1, Update=2, Delete=3)
BATCH_STATUS = _enum("AR", "BatchStatus", Open=1, Deleted=2, Posted=3, PostInProgress=4, ReadyToPost=5)
BATCH_RECORD_TYPE = _enum("AR", "BatchRecordType", CA=1, AD=2)
RECEIPT_TRANSACTION_TYPE = _enum("AR", "ReceiptTransactionType", Receipt=1, Prepayment=2, UnappliedCash=3,
                                 ApplyDocument=4, MiscellaneousReceipt=5)
INVOICE_DOCUMENT_TYPE = _enum("AR", "DocumentType", Invoice=1, DebitNote=2, CreditNote=3, Interest=4)
INVOICE_TYPE = _enum("AR", "InvoiceType", Summary=1, Item=2)
POSTED_DOCUMENT_TYPE = _enum("AR", "PostedDocumentType", Invoice=1, DebitNote=2, CreditNote=3, Interest=4,
                             UnappliedCash=5, Prepayment=10, Receipt=11, Refund=19)
FULLY_PAID = _enum("AR", "FullyPaid", No=0, Yes=1)
CUSTOMER_STATUS = _enum("AR", "Status", Inactive=0, Active=1)
POST_ALL_BATCHES = _enum("AR", "PostAllBatches", Donotpostallbatches=0, Postallbatches=1)
ACCOUNT_TYPE = _enum("GL", "AccountType", IncomeStatement=0, BalanceSheet=1, RetainedEarnings=2)
NORMAL_BALANCE = _enum("GL", "NormalBalanceDRCR", Debit=0, Credit=1)
ACCOUNT_STATUS = _enum("GL", "Status", Inactive=0, Active=1)
POST_TO_ACCOUNT = _enum("GL", "PostToAccount", Detail=0, Consolidated=1)
GL_BATCH_STATUS = _enum("GL", "BatchStatus", Open=1, Deleted=2, Posted=3, PostInProgress=4, ReadyToPost=5)
LINE_TYPE = _enum("OE", "LineType", Item=1, Miscellaneous=2)

# -- AR -------------------------------------------------------------------------------------------

CUSTOMER_OPTIONAL_FIELD = entity("CustomerOptionalFieldValue", "AR", [
    S("CustomerNumber", 12, ro=True), S("OptionalField", 12), S("Value", 60)], row_key="OptionalField")

CUSTOMER = entity("Customer", "AR", [
    S("CustomerNumber", 12), S("CustomerName", 60), S("ShortName", 10), S("GroupCode", 6),
    E("Status", CUSTOMER_STATUS), B("OnHold"), S("AccountSet", 6), S("Terms", 6), S("TaxGroup", 12),
    S("CurrencyCode", 3), S("Email", 50), S("PhoneNumber", 30), S("AddressLine1", 60), S("AddressLine2", 60),
    S("AddressLine3", 60), S("AddressLine4", 60), S("City", 30), S("StateProvince", 30), S("ZipPostalCode", 20),
    S("Country", 30), S("ContactName", 60), N("CreditLimitCustomerCurrency"), N("BalanceDueInCustomerCurrency", ro=True),
    S("PaymentCode", 12), D("DateLastMaintained", ro=True), D("DateOfLastInvoice", ro=True),
    D("DateOfLastReceipt", ro=True), M("CustomerOptionalFieldValues", CUSTOMER_OPTIONAL_FIELD)],
    key=("CustomerNumber",))

INVOICE_DETAIL = entity("InvoiceDetail", "AR", [
    I("BatchNumber", ro=True), I("EntryNumber", ro=True), I("LineNumber", ro=True), S("ItemNumber", 24),
    S("DistributionCode", 6), S("Description", 60), N("Quantity", places=QUANTITY_PLACES), N("Price"),
    S("RevenueAccount", 45), N("ExtendedAmountWithTIP"), N("ExtendedAmountWithoutTIP")], row_key="LineNumber")

INVOICE_SCHEDULE = entity("InvoicePaymentSchedule", "AR", [
    I("BatchNumber", ro=True), I("EntryNumber", ro=True), I("PaymentNumber", ro=True), D("DueDate"), N("AmountDue")],
    row_key="PaymentNumber")

INVOICE = entity("Invoice", "AR", [
    I("BatchNumber", ro=True), I("EntryNumber", ro=True), S("CustomerNumber", 12), S("DocumentNumber", 22),
    E("DocumentType", INVOICE_DOCUMENT_TYPE), S("TransactionType", 30), E("InvoiceType", INVOICE_TYPE),
    S("OrderNumber", 22), S("PONumber", 22), S("InvoiceDescription", 60), D("DocumentDate"), D("PostingDate"),
    D("DueDate"), S("CurrencyCode", 3), S("Terms", 6), N("DocumentTotalBeforeTax", ro=True), N("TaxTotal", ro=True),
    N("DocumentTotalIncludingTax", ro=True), N("AmountDue", ro=True), M("InvoiceDetails", INVOICE_DETAIL),
    M("InvoicePaymentSchedules", INVOICE_SCHEDULE)], row_key="EntryNumber")

INVOICE_BATCH = entity("InvoiceBatch", "AR", [
    I("BatchNumber", ro=True), D("BatchDate"), S("Description", 60), E("BatchStatus", BATCH_STATUS),
    I("NumberOfEntries", ro=True), N("BatchTotal", ro=True), I("PostingSequenceNumber", ro=True),
    D("DateLastEdited", ro=True), S("SourceApplication", 2, ro=True), M("Invoices", INVOICE)], key=("BatchNumber",))

APPLIED_RECEIPT = entity("AppliedReceiptsAdjustment", "AR", [
    E("BatchType", BATCH_RECORD_TYPE, ro=True), I("BatchNumber", ro=True), I("EntryNumber", ro=True),
    I("LineNumber", ro=True), S("CustomerNumber", 12), S("DocumentNumber", 22), I("PaymentNumber"),
    S("TransactionType", 30, ro=True), E("DocumentType", POSTED_DOCUMENT_TYPE, ro=True), D("DocumentDate", ro=True),
    N("CustomerReceiptAmount"), N("CustomerDiscountAmountTaken"), N("DocumentAmountDue", ro=True),
    N("DiscountAmountAvailable", ro=True), N("DocumentNetBalance", ro=True), N("PendingReceiptAmount", ro=True),
    E("ReceiptTransactionType", RECEIPT_TRANSACTION_TYPE, ro=True)], row_key="LineNumber")

MISCELLANEOUS_RECEIPT = entity("MiscellaneousReceipt", "AR", [
    I("BatchNumber", ro=True), I("EntryNumber", ro=True), I("LineNumber", ro=True), S("DistributionCode", 6),
    S("GLAccount", 45), N("Amount"), S("Description", 60)], row_key="LineNumber")

RECEIPT_ENTRY = entity("ReceiptsAdjustment", "AR", [
    E("BatchType", BATCH_RECORD_TYPE, ro=True), I("BatchNumber", ro=True), I("EntryNumber", ro=True),
    S("CustomerNumber", 12), D("ReceiptDateAdjustmentDate"), D("PostingDate"), S("CheckReceiptNumber", 24),
    S("DocumentNumber", 22), S("EntryDescription", 60), S("EntryReference", 60), S("PaymentCode", 12), S("Payer", 60),
    N("BankReceiptAmount"), N("CustomerReceiptAmount"), N("TotalCustomerAmountApplied", ro=True),
    N("CustomerUnappliedAmount", ro=True), I("NumberOfDocumentsAppliedto", ro=True),
    E("ReceiptTransactionType", RECEIPT_TRANSACTION_TYPE), S("CustomerCurrencyCode", 3, ro=True),
    # Sage's credit-card fields: the natural home of a card gateway's transaction id, approval code, AVS/CSC, last 4.
    S("ProcessingCode", 12), S("TransactionID", 64), S("AuthorizationCode", 30), S("AVSResult", 60),
    S("CVVResult", 60), S("Last4", 4), M("AppliedReceiptsAdjustments", APPLIED_RECEIPT),
    M("MiscellaneousReceipts", MISCELLANEOUS_RECEIPT)], row_key="EntryNumber")

RECEIPT_BATCH = entity("ReceiptAndAdjustmentBatch", "AR", [
    E("BatchRecordType", BATCH_RECORD_TYPE), I("BatchNumber", ro=True), D("BatchDate"), S("Description", 60),
    I("NumberOfEntries", ro=True), N("BatchTotal", ro=True), E("BatchType", BATCH_RECORD_TYPE, ro=True),
    E("BatchStatus", BATCH_STATUS), S("BankCode", 8), S("DefaultBankCurrency", 3), I("DepositNumber", ro=True),
    I("PostingSequenceNumber", ro=True), I("NumberOfErrors", ro=True), D("DateLastEdited", ro=True),
    S("SourceApplication", 2, ro=True), M("ReceiptsAdjustments", RECEIPT_ENTRY)],
    key=("BatchRecordType", "BatchNumber"))

POSTED_DOCUMENT = entity("PostedDocument", "AR", [
    S("CustomerNumber", 12), S("DocumentNumber", 22), E("DocumentType", POSTED_DOCUMENT_TYPE), S("OrderNumber", 22),
    S("PONumber", 22), D("DocumentDate"), D("DueDate"), D("PostingDate"), I("BatchNumber"), I("EntryNumber"),
    S("CurrencyCode", 3), N("CustomerCurrencyInvoiceAmount"), N("CustomerCurrencyAmountDue"),
    N("FunctionalCurrencyInvoiceAmount"), N("FunctionalCurrencyAmountDue"), E("FullyPaid", FULLY_PAID), D("DatePaid"),
    D("DateLastActivity"), S("CheckReceiptNumber", 24), S("DocumentDescription", 60), S("Terms", 6)],
    key=("CustomerNumber", "DocumentNumber"))

POSTED_RECEIPT = entity("PostedReceipt", "AR", [
    S("BankCode", 8), S("CustomerNumber", 12), S("CheckReceiptNumber", 24), I("BatchNumber"), I("EntryNumber"),
    S("DocumentNumber", 22), D("ReceiptDate"), D("PostingDate"), E("ReceiptTransactionType", RECEIPT_TRANSACTION_TYPE),
    S("PaymentCode", 12), S("CurrencyCode", 3), N("BankReceiptAmount"), N("CustomerReceiptAmount"),
    N("TotalCustomerAmountApplied"), N("CustomerUnappliedAmount"), S("EntryDescription", 60), S("EntryReference", 60),
    S("TransactionID", 64), I("PostingSequenceNumber")],
    key=("BankCode", "CustomerNumber", "CheckReceiptNumber", "BatchNumber", "EntryNumber", "DocumentNumber"))

REFUND_DETAIL = entity("RefundDetail", "AR", [
    I("BatchNumber", ro=True), I("EntryNumber", ro=True), I("LineNumber", ro=True), S("DocumentNumber", 22),
    I("PaymentNumber"), E("DocumentType", POSTED_DOCUMENT_TYPE, ro=True), N("DocumentAmountDue", ro=True),
    N("CustomerRefundAmount")], row_key="LineNumber")

REFUND_ENTRY = entity("Refund", "AR", [
    I("BatchNumber", ro=True), I("EntryNumber", ro=True), S("CustomerNumber", 12), S("DocumentNumber", 22, ro=True),
    D("DocumentDate"), D("PostingDate"), S("EntryDescription", 60), S("EntryReference", 60), S("CheckNumber", 24),
    S("PaymentCode", 12), S("TransactionID", 64), N("CustomerRefundAmount", ro=True), M("RefundDetails", REFUND_DETAIL)],
    row_key="EntryNumber")

REFUND_BATCH = entity("RefundBatch", "AR", [
    I("BatchNumber", ro=True), D("BatchDate"), S("Description", 60), E("BatchStatus", BATCH_STATUS), S("BankCode", 8),
    I("NumberOfEntries", ro=True), N("BatchTotal", ro=True), I("PostingSequenceNumber", ro=True),
    D("DateLastEdited", ro=True), M("Refunds", REFUND_ENTRY)], key=("BatchNumber",))

POST_RECEIPTS = entity("PostReceiptsAndAdjustments", "AR", [
    E("BatchType", BATCH_RECORD_TYPE), E("PostAllBatches", POST_ALL_BATCHES), I("PostBatchFrom"), I("PostBatchTo"),
    I("PostingSequenceNumber", ro=True)])
POST_INVOICES = entity("PostInvoices", "AR", [
    E("PostAllBatches", POST_ALL_BATCHES), I("PostBatchFrom"), I("PostBatchTo"), I("PostingSequenceNumber", ro=True)])
POST_REFUNDS = entity("PostRefunds", "AR", [
    E("PostAllBatches", POST_ALL_BATCHES), I("PostBatchFrom"), I("PostBatchTo"), I("PostingSequenceNumber", ro=True)])
CREATE_GL_BATCH = entity("CreateGLBatch", "AR", [
    S("ProcessInvoiceBatch", 40), I("InvoiceThroughPostingSequenceNumber"), S("ProcessReceiptBatch", 40),
    I("ReceiptThroughPostingSequenceNumber"), S("ProcessAdjustmentBatch", 40), I("AdjustmentThroughPostingSequenceNumber"),
    S("ProcessRefundBatch", 40), I("RefundThroughPostingSequenceNumber"), S("GLBatchNumber", 6, ro=True)])

# -- GL -------------------------------------------------------------------------------------------

GL_ACCOUNT = entity("Account", "GL", [
    S("UnformattedAccount", 45), S("AccountNumber", 45), S("Description", 60), E("AccountType", ACCOUNT_TYPE),
    E("NormalBalanceDRCR", NORMAL_BALANCE), E("Status", ACCOUNT_STATUS), E("PostToAccount", POST_TO_ACCOUNT),
    B("ControlAccount"), S("AccountGroupCode", 12), S("AccountSegmentCode1", 15), S("StructureCode", 6),
    B("Multicurrency")], key=("UnformattedAccount",))

JOURNAL_DETAIL = entity("JournalDetail", "GL", [
    S("BatchNumber", 6, ro=True), S("EntryNumber", 5, ro=True), S("TransactionNumber", 10, ro=True),
    S("AccountNumber", 45), N("Amount"), N("SourceCurrencyAmount"), S("Description", 60), S("Reference", 60)],
    row_key="TransactionNumber")

JOURNAL_HEADER = entity("JournalHeader", "GL", [
    S("BatchNumber", 6, ro=True), S("EntryNumber", 5, ro=True), S("SourceLedger", 2), S("SourceType", 2),
    S("Description", 60), D("DocumentDate"), D("PostingDate"), M("JournalDetails", JOURNAL_DETAIL)],
    row_key="EntryNumber")

JOURNAL_BATCH = entity("JournalBatch", "GL", [
    S("BatchNumber", 6, ro=True), S("Description", 60), E("Status", GL_BATCH_STATUS), S("SourceLedger", 2),
    I("NumberOfEntries", ro=True), N("Debits", ro=True), N("Credits", ro=True), D("DateCreated", ro=True),
    M("JournalHeaders", JOURNAL_HEADER)], key=("BatchNumber",))

# -- OE -------------------------------------------------------------------------------------------

ORDER_DETAIL = entity("OrderDetail", "OE", [
    I("LineNumber", ro=True), E("LineType", LINE_TYPE), S("Item", 24), S("Location", 6), S("Description", 60),
    N("QuantityOrdered", places=QUANTITY_PLACES), N("QuantityShipped", places=QUANTITY_PLACES),
    N("QuantityBackordered", ro=True, places=QUANTITY_PLACES), N("UnitPrice"), S("MiscellaneousChargesCode", 6),
    N("ExtendedAmount")], row_key="LineNumber")

ORDER = entity("Order", "OE", [
    I("OrderUniquifier", ro=True), S("OrderNumber", 22), S("CustomerNumber", 12), D("OrderDate"), S("OrderDescription", 60),
    S("OrderReference", 60), S("PurchaseOrderNumber", 22), S("ShipToLocationCode", 6), S("ShipViaCode", 6),
    S("OrderComment", 250), B("InvoiceWillBeProduced"), N("OrderTotal", ro=True), S("LastShipmentNumber", 22, ro=True),
    S("LastInvoiceNumber", 22, ro=True), M("OrderDetails", ORDER_DETAIL)], key=("OrderUniquifier",))


# -- reading payloads --------------------------------------------------------------------------------

def _payload_error(message: str) -> SageError:
    return SageError("InvalidPayload", message)


def _read_value(f: Field, value: Any, etype: EntityType) -> Any:
    where = f"property '{f.name}' of type '{etype.qualified}'"
    if value is None:
        return None  # null = not given
    if f.kind == "str":
        if not isinstance(value, str):
            raise _payload_error(f"Cannot convert a primitive value to the expected type 'Edm.String' ({where}).")
        return value
    if f.kind == "num":
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise _payload_error(f"Cannot convert a primitive value to the expected type 'Edm.Decimal' ({where}).")
        return Decimal(value)
    if f.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _payload_error(f"Cannot convert a primitive value to the expected type 'Edm.Int32' ({where}).")
        return value
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise _payload_error(f"Cannot convert a primitive value to the expected type 'Edm.Boolean' ({where}).")
        return value
    if f.kind == "date":
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise _payload_error(f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset' ({where}).")
        return parsed
    if f.kind == "enum":
        assert f.enum is not None
        member = f.enum.lookup(value) if isinstance(value, str) else None
        if member is None:
            raise _payload_error(f"The value '{value}' is not a valid '{f.enum.name}' ({where}).")
        return member
    if f.kind == "many":
        assert f.child is not None
        if not isinstance(value, list):
            raise _payload_error(f"A collection was expected for {where}.")
        return [read(item, f.child) for item in value]
    raise AssertionError(f.kind)


def read(payload: Any, etype: EntityType) -> dict[str, Any]:
    """The payload's properties, typed; refused with ``InvalidPayload`` the way the formatter would.

    Detail rows may carry ``UpdateOperation`` (kept under that name). ``@odata.*`` annotations a
    client echoes back are skipped.
    """
    if not isinstance(payload, dict):
        raise _payload_error(f"An object of type '{etype.qualified}' was expected.")
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if name.startswith("@odata.") or name.startswith("odata."):
            continue
        if name == "UpdateOperation" and etype.is_detail:
            member = UPDATE_OPERATION.lookup(value) if isinstance(value, str) else None
            if member is None:
                raise _payload_error(f"The value '{value}' is not a valid '{UPDATE_OPERATION.name}'.")
            out[name] = member
            continue
        f = etype.fields.get(name)
        if f is None:
            raise _payload_error(f"The property '{name}' does not exist on type '{etype.qualified}'. Make sure to only "
                                 "use property names that are defined by the type.")
        out[name] = _read_value(f, value, etype)
    return out


def parse_date(text: str) -> date | None:
    """``2020-01-15``, ``2020-01-15T00:00:00Z`` or any ISO date-time: the date as written."""
    text = text.strip()
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("z", "Z")).date()
    except ValueError:
        return None


def writable(values: Mapping[str, Any], etype: EntityType) -> dict[str, Any]:
    """What a payload may set: given, not null, not read-only, not a detail collection."""
    return {k: v for k, v in values.items()
            if v is not None and (f := etype.fields.get(k)) is not None and not f.ro and f.kind != "many"}


def blank(etype: EntityType) -> dict[str, Any]:
    """A row with every property at its empty value (Sage answers every property, set or not)."""
    row: dict[str, Any] = {}
    for f in etype.fields.values():
        if f.kind == "str":
            row[f.name] = ""
        elif f.kind == "num":
            row[f.name] = Decimal(0)
        elif f.kind == "int":
            row[f.name] = 0
        elif f.kind == "bool":
            row[f.name] = False
        elif f.kind == "enum":
            assert f.enum is not None
            row[f.name] = next(iter(f.enum.members))
        elif f.kind == "many":
            row[f.name] = []
        else:
            row[f.name] = None
    return row


def check_lengths(values: Mapping[str, Any], etype: EntityType) -> None:
    """Refuse a string longer than its view field (Sage's fields are fixed-width; nothing is cut)."""
    for name, value in values.items():
        f = etype.fields.get(name)
        if f is None:
            continue
        if f.max_len and isinstance(value, str) and len(value) > f.max_len:
            raise SageError("RecordInvalid", f"{name} '{value}' is longer than {f.max_len} characters.")
        if f.kind == "many" and f.child is not None and isinstance(value, list):
            for item in value:
                check_lengths(item, f.child)


# -- rendering -------------------------------------------------------------------------------------

def _render_value(f: Field, value: Any) -> Any:
    if value is None:
        return None
    if f.kind == "num":
        return Decimal(value).quantize(Decimal(1).scaleb(-f.places))
    if f.kind == "many":
        assert f.child is not None
        return [render(item, f.child) for item in value]
    return value  # dates are written by wire.dumps


def render(row: Mapping[str, Any], etype: EntityType, select: Iterable[str] | None = None) -> dict[str, Any]:
    """The wire object of a stored row, every property in the type's order (``select`` keeps some)."""
    names = etype.fields if select is None else [n for n in etype.fields if n in set(select)]
    out = {n: _render_value(etype.fields[n], row.get(n)) for n in names}
    if etype.is_detail and select is None:
        out["UpdateOperation"] = "Unspecified"
    return out
