"""The stand-in for a PayTrace transaction id where the ledger and the exception queue ask for one and no
transaction exists (an installment not charged yet, a vault-sync account, an ERP refund record)."""

from __future__ import annotations

import hashlib


def stand_in_id(text: str) -> int:
    """A stable negative number for ``text``: never a PayTrace id (those are positive), the same every run."""
    digest = hashlib.sha256(text.encode()).digest()
    return -(int.from_bytes(digest[:7], "big") or 1)
