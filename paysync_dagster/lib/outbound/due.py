"""What an ERP asks to be charged: an invoice installment due, of a customer who pays by card on file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

RECURRING = "recurring"  # the installment id of a contract's recurring charge (no ERP invoice)


@dataclass(frozen=True)
class DueInstallment:
    """One installment of an open invoice, due on or before the date asked for, with its balance."""

    erp: str  # oracle | sage
    invoice_number: str  # as the ERP numbers it (what the charge's invoice_id names, so the receipt applies)
    installment_id: str  # Oracle: the installment's id; Sage: "1" (a Sage document has one amount due)
    customer_account: str  # the ERP's customer account number
    amount_minor: int  # what is still due on the installment now
    currency: str
    due_date: date

    @property
    def names_invoice(self) -> bool:
        """Whether the charge names an ERP invoice (a recurring charge of a contract has none: its
        receipt goes on the customer's account)."""
        return self.installment_id != RECURRING
