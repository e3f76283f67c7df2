"""ERP-neutral posting: invoice matching, the outbox ledger, and the loop that posts payments exactly once.

``matching`` (which invoices a payment pays), ``ledger`` (intent before the call, outcome after),
``erp`` (what an ERP adapter offers), ``poster`` (receipts and applications, batched) and
``followups`` (voids, chargebacks, refunds). Oracle's adapter is ``lib/oracle/adapter.py``.
"""

from .erp import (ApplySpec, DuplicateError, ErpAdapter, ErpReceipt, OutcomeUnknown, ReceiptSpec, RejectedError,
                  UnavailableError)
from .ledger import Entry, Ledger
from .matching import Allocation, Match, OpenInvoice, Payer, ReferenceRules, Target, allocate, match_payment
from .poster import POSTED_OUTCOMES, Outcome, Poster, Rules, post_all, receipt_reference

__all__ = ["Allocation", "ApplySpec", "DuplicateError", "Entry", "ErpAdapter", "ErpReceipt", "Ledger", "Match", "OpenInvoice",
           "Outcome", "OutcomeUnknown", "POSTED_OUTCOMES", "Payer", "Poster", "ReceiptSpec", "ReferenceRules", "RejectedError",
           "Rules", "Target", "UnavailableError", "allocate", "match_payment", "post_all", "receipt_reference"]
