"""Warehouse rows for the alert and metrics tests: exceptions, settlement batches and their
reconciliations, with card-like numbers in the free-text fields that must never reach a message."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, insert

from paysync_dagster.lib.warehouse import begin_write
from paysync_dagster.lib.warehouse.tables import (
    payment_exceptions,
    paytrace_settlement_batches,
    reconciliation_batches,
    reconciliation_variances,
)

CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"


def exception(transaction_id: int, amount_minor: int, created_at: datetime, *, currency: str = "USD",
              reason_code: str = "no_invoice_match", stage: str = "oracle", status: str = "open",
              business_date: date = date(2026, 11, 2)) -> dict:
    return {"business_date": business_date, "transaction_id": transaction_id, "stage": stage, "reason_code": reason_code,
            "reason": f"payer typed card {CARD} as the invoice number", "amount_minor": amount_minor, "currency": currency,
            "details": f'{{"invoice_reference_raw": "{CARD}", "cvv": "123"}}', "suggested_action": "apply by hand",
            "status": status, "created_at": created_at}


def add_exceptions(engine: Engine, rows: list[dict]) -> None:
    with begin_write(engine) as conn:
        conn.execute(insert(payment_exceptions), rows)


def settlement_batch(batch_number: int, day: date, net_minor: int, currency: str = "USD") -> dict:
    return {"business_date": day, "batch_number": batch_number, "closed_at": datetime(day.year, day.month, day.day, 4),
            "currency": currency, "transaction_count": 3, "sales_count": 3, "sales_minor": net_minor, "refund_count": 0,
            "refund_minor": 0, "net_minor": net_minor, "listed_count": 3, "listed_net_minor": net_minor}


def reconciled_batch(batch_number: int, day: date, net_minor: int, *, erp: str = "oracle", tied: bool,
                     erp_variance_minor: int = 0, currency: str = "USD") -> dict:
    return {"business_date": day, "erp": erp, "batch_number": batch_number, "currency": currency, "net_minor": net_minor,
            "listed_net_minor": net_minor, "erp_net_minor": net_minor - erp_variance_minor,
            "erp_variance_minor": erp_variance_minor, "bank_net_minor": None, "bank_variance_minor": None, "tied": tied,
            "transactions": 3}


def variance(batch_number: int, day: date, cause: str, amount_minor: int, *, erp: str = "oracle") -> dict:
    return {"business_date": day, "erp": erp, "batch_number": batch_number, "leg": "erp", "cause": cause,
            "amount_minor": amount_minor, "transaction_id": None, "note": f"card {CARD} in a note"}


def add_batches(engine: Engine, settled: list[dict], reconciled: list[dict], variances: list[dict]) -> None:
    with begin_write(engine) as conn:
        for table, rows in ((paytrace_settlement_batches, settled), (reconciliation_batches, reconciled),
                            (reconciliation_variances, variances)):
            if rows:
                conn.execute(insert(table), rows)


def assert_no_card_data(*texts: str) -> None:
    for text in texts:
        squeezed = "".join(ch for ch in text if ch.isalnum())
        assert CARD_DIGITS not in squeezed, text
        assert "cvv" not in text.lower()
