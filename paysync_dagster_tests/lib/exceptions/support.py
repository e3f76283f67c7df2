"""Exception rows as a stage reports them."""

from __future__ import annotations

import json
from datetime import date
from typing import Any


def reported(day: date, transaction_id: int, *, stage: str = "oracle", code: str = "erp_unreachable",
             amount: int = 1_000, currency: str = "USD", reason: str = "Oracle did not answer",
             action: str = "replay the date once the ERP answers") -> dict[str, Any]:
    return {"business_date": day, "transaction_id": transaction_id, "stage": stage, "reason_code": code,
            "reason": reason, "amount_minor": amount, "currency": currency,
            "details": json.dumps({"receipt_number": f"PT-{transaction_id}"}), "suggested_action": action}
