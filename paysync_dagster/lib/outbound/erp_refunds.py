"""What an ERP asks to be refunded to a card: a refund record marked for a card refund.

Oracle: a receivables credit memo whose receipt method is the one the mapping file names
(``refunds.card_refund.oracle``); Sage 300: an entry of an AR refund batch whose payment code is the
one it names (``refunds.card_refund.sage``). Each adapter reads them as :class:`ErpRefund`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WRITE_BACK_PREFIX = "PayTrace "  # how PaySync's result starts where it is written back on the ERP record


@dataclass(frozen=True)
class ErpRefund:
    """One ERP refund record marked for a card refund."""

    erp: str  # oracle | sage
    key: str  # the ERP record's own id: Oracle the credit memo's CustomerTransactionId; Sage "<batch>:<entry>"
    document_number: str  # as people see it: Oracle TransactionNumber; Sage the refund's DocumentNumber
    customer_account: str
    amount_minor: int  # what is to be refunded, > 0
    currency: str
    document_date: date | None
    original_transaction_id: int | None  # the PayTrace transaction the record names, when it names one
    invoice_number: str  # the invoice the record credits, when it names one ("" otherwise)
    written_back: str  # the record's write-back field as read ("" = PaySync has written nothing there yet)
    editable: bool = True  # whether the ERP still accepts a write-back on the record (Sage: unposted batch)

    @property
    def has_result(self) -> bool:
        return self.written_back.startswith(WRITE_BACK_PREFIX)
