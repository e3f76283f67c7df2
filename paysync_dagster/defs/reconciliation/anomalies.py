"""payment_anomalies: payments of the business date that look wrong, with the reason, for a person to check."""

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from sqlalchemy import Engine, select

from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.reconciliation.anomalies import COLUMNS, HISTORY_DAYS, RULES, detect, history_dates, linked_originals
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.customer_accounts import SUFFIX, with_customer_accounts
from paysync_dagster.lib.warehouse.io import records, rewrite
from paysync_dagster.lib.warehouse.tables import (
    normalized_payments as normalized_payments_table,
    payment_anomalies as payment_anomalies_table,
)

_NP = normalized_payments_table


# The payer's ERP accounts the detection reads live in payment_customer_accounts, as rows.
_ACCOUNTS = [c for c in COLUMNS if c.endswith(SUFFIX)]
_STORED = [c for c in COLUMNS if c not in _ACCOUNTS]


def _read(engine: Engine, where: Any) -> pd.DataFrame:
    """Only the columns the detection reads: thirty days of payments stay small."""
    with engine.connect() as conn:
        result = conn.execute(select(*[_NP.c[c] for c in _STORED]).where(where))
        frame = pd.DataFrame(result.fetchall(), columns=_STORED)
    frame = with_customer_accounts(engine, frame, [c.removesuffix(SUFFIX) for c in _ACCOUNTS])
    return frame[list(COLUMNS)]


def _read_ids(engine: Engine, ids: Iterable[int], chunk: int = 10_000) -> pd.DataFrame:
    ids = sorted(set(ids))
    frames = [_read(engine, _NP.c.transaction_id.in_(ids[i:i + chunk])) for i in range(0, len(ids), chunk)]
    return pd.concat(frames, ignore_index=True) if frames else _read(engine, _NP.c.transaction_id.in_([]))


def _first_detected(engine: Engine, day: date) -> dict[tuple[int, str], Any]:
    """When each (transaction, rule) of the date was first flagged, so a re-run keeps that time."""
    t = payment_anomalies_table
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.transaction_id, t.c.rule, t.c.detected_at).where(t.c.business_date == day))
        return {(int(r.transaction_id), r.rule): r.detected_at for r in rows}


@dg.asset(
    partitions_def=daily_partitions,
    group_name="reconciliation",
    kinds={"pandas", "scikitlearn", "sql"},
    deps=["normalized_payments"],
)
def payment_anomalies(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Payments of the business date that look wrong, each with a sentence saying why.

    Rules: the same card charged the same amount twice within minutes; refunds above their original;
    an amount far outside the customer's previous 30 days; a day's decline or refund rate far above
    the previous 30 days' (one row for the day, transaction 0); and an IsolationForest over amount,
    hour, customer history, card brand and invoice reference, whose reason names what stands out.
    One row per (payment, rule); a re-run rewrites the date's rows and keeps when each was first seen.
    """
    day = date.fromisoformat(context.partition_key)
    engine = warehouse.engine
    first, last = history_dates(day)
    payments = _read(engine, _NP.c.business_date == day)
    history = _read(engine, _NP.c.business_date.between(first, last))
    known = set(payments["transaction_id"]) | set(history["transaction_id"])
    originals = _read_ids(engine, [i for i in linked_originals(payments) if i not in known])
    earlier_refunds = None
    if not originals.empty and min(originals["business_date"]) < first:
        earlier_refunds = _read(engine, (_NP.c.kind == "refund")
                                & _NP.c.business_date.between(min(originals["business_date"]), first - timedelta(days=1)))
    base = MAPPING.currency.base
    found = detect(day, payments, history, tz_name=daily_partitions.timezone, base_currency=base,
                   originals=originals, earlier_refunds=earlier_refunds)
    seen, now = _first_detected(engine, day), utcnow()
    rows = records(found.anomalies)
    for r in rows:
        r["detected_at"] = seen.get((int(r["transaction_id"]), r["rule"]), now)
    rewrite(engine, [day], {payment_anomalies_table: (None, rows)})

    by_rule = [{"rule": rule, "count": sum(1 for r in rows if r["rule"] == rule and r["currency"] == cur),
                "amount_minor": sum(r["amount_minor"] for r in rows if r["rule"] == rule and r["currency"] == cur),
                "currency": cur}
               for rule in RULES for cur in sorted({r["currency"] for r in rows if r["rule"] == rule})]
    # A payment flagged by several rules counts once; the day's spike rows are no payment.
    flagged = {r["transaction_id"]: r["amount_minor"] for r in rows if r["currency"] == base and r["transaction_id"] != 0}
    in_base = sum(flagged.values())
    return dg.MaterializeResult(metadata={
        **provenance(),
        "business_date": str(day),
        "payments": len(payments),
        "history_payments": len(history),
        "history_days": HISTORY_DAYS,
        "anomalies": len(rows),
        "flagged_payments": len({r["transaction_id"] for r in rows if r["transaction_id"] != 0}),
        **{rule: sum(1 for r in rows if r["rule"] == rule) for rule in RULES},
        "flagged_payments_amount_minor": in_base,
        "flagged_payments_amount": dg.MetadataValue.text(format_amount(in_base, base)),
        "spikes": dg.MetadataValue.text(found.notes.get("spikes", found.notes.get("all", ""))),
        "model": dg.MetadataValue.text(found.notes.get("model_outlier", found.notes.get("all", ""))),
        "by_rule": dg.MetadataValue.md(md_table(by_rule, ["rule", "count", "amount_minor", "currency"],
                                                money=["amount_minor"])),
        "preview": dg.MetadataValue.md(md_table(rows, ["transaction_id", "rule", "score", "amount_minor",
                                                       "related_transaction_id", "reason"], money=["amount_minor"])),
    })
