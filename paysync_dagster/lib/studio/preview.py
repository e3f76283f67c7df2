"""What the rules do to real payments: each payment under the rules in force and under edited rules.

For every payment of a date (or of the transaction ids given): the normalized row, the GL rule that
fired, how the customer was found in each ERP, the invoice matched with its rule and score, and the
receipt each ERP would get. It runs the pipeline's own functions (normalization, cash application,
allocation) on the warehouse's rows, so what the preview shows is what the next run does; it writes
nothing and calls no ERP (the ERPs' open invoices are those the date's last posting read).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from paysync_dagster.lib.mapping import Mapping, gl_account_for
from paysync_dagster.lib.money import format_amount
from paysync_dagster.lib.normalize import normalize
from paysync_dagster.lib.posting.matching import OpenInvoice, Payer, ReferenceRules, Target, allocate, match_payment
from paysync_dagster.lib.warehouse.io import read_partition, read_where
from paysync_dagster.lib.warehouse.tables import erp_customers, metadata, paytrace_transactions

RECEIPT_KINDS = ("sale", "capture")  # what becomes a receipt (refunds, voids and declines do not)
MAX_ROWS = 2_000  # a preview is read by a person: a day beyond this is cut, and says so


@dataclass(frozen=True)
class Outcome:
    """One payment under one set of rules, in words a finance user reads."""

    status: str  # the normalized row: kind, canonical status, invoice reference, the ERP's status word
    gl_account: str
    gl_rule: str
    customers: dict[str, str]  # erp -> "account (found by ...)" or "not found"
    invoices: dict[str, str]  # erp -> "INV-000123 (rule exact, score 1.00)" or "none: ..."
    receipts: dict[str, str]  # erp -> the receipt the ERP would get

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "gl_account": self.gl_account, "gl_rule": self.gl_rule,
                "customers": self.customers, "invoices": self.invoices, "receipts": self.receipts}


@dataclass(frozen=True)
class Row:
    transaction_id: int
    business_date: str
    amount: str  # in currency units, with the currency
    payer: str
    reference: str
    before: Outcome
    after: Outcome
    changed: tuple[str, ...]  # which parts differ: normalized, gl, customer, invoice, receipt


@dataclass
class Preview:
    rows: list[Row] = field(default_factory=list)
    payments: int = 0
    cut: bool = False  # more payments than MAX_ROWS: only the first are shown
    not_found: list[int] = field(default_factory=list)  # transaction ids asked for and not in the warehouse
    erps: tuple[str, ...] = ()

    @property
    def changed(self) -> int:
        return sum(1 for r in self.rows if r.changed)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            for part in r.changed:
                out[part] = out.get(part, 0) + 1
        return out


def read_payments(engine: Engine, *, day: date | None = None, transaction_ids: Sequence[int] = ()) -> pd.DataFrame:
    """The landed PayTrace transactions of ``day``, or those with ``transaction_ids``."""
    if transaction_ids:
        return read_where(engine, paytrace_transactions, "transaction_id", list(transaction_ids))
    if day is None:
        return pd.DataFrame(columns=[c.name for c in paytrace_transactions.columns])
    return read_partition(engine, paytrace_transactions, [day])


def dates_with_payments(engine: Engine, limit: int = 60) -> list[date]:
    """The latest business dates the warehouse has transactions for, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(paytrace_transactions.c.business_date).group_by(paytrace_transactions.c.business_date)
                            .order_by(paytrace_transactions.c.business_date.desc()).limit(limit))
        return [r[0] for r in rows]


def open_invoices(engine: Engine, erp: str, day: date) -> dict[str, OpenInvoice]:
    """The ERP's open invoices as last read on or before ``day`` (empty when never read)."""
    table = metadata.tables.get(f"{erp}_open_invoices")
    if table is None:  # an ERP without an open-invoice snapshot in the warehouse
        return {}
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(table.c.business_date)).where(table.c.business_date <= day)).scalar()
        if latest is None:
            return {}
        rows = conn.execute(select(table).where(table.c.business_date == latest)).mappings().all()
    out = {}
    for r in rows:
        targets = tuple(Target(str(t[0]), int(t[1]), str(t[2] or "")) for t in json.loads(r["installments"] or "[]"))
        out[r["invoice_number"]] = OpenInvoice(r["invoice_number"], r["customer_account"], int(r["balance_minor"]),
                                               r["currency"], r["due_date"], r["erp_invoice_id"], targets,
                                               r["transaction_date"], customer_name=r["customer_name"])
    return out


def _describe_rule(mapping: Mapping, index: int) -> str:
    if index < 0:
        return "default"
    when = mapping.gl_accounts.rules[index].when.model_dump(exclude_none=True)
    return f"rule {index + 1} ({', '.join(f'{k} {v}' for k, v in when.items()) or 'always'})"


def _outcomes(raw: pd.DataFrame, mapping: Mapping, customers: pd.DataFrame | None, erps: Sequence[str],
              invoices: dict[str, dict[str, OpenInvoice]]) -> dict[int, Outcome]:
    result = normalize(raw, mapping, erp_customers=customers)
    payments = result.payments.set_index("transaction_id", drop=False)
    failed = {int(r["transaction_id"]): r for _, r in result.exceptions.iterrows()}
    ids = raw["transaction_id"].astype("int64")
    # per raw row, in raw's order
    found = result.customers_found.set_axis(ids.to_numpy())
    fired = result.gl_rules_fired.set_axis(ids.to_numpy())
    rules = ReferenceRules(mapping.invoice_reference.prefix, mapping.invoice_reference.digits,
                           mapping.invoice_reference.split)
    out: dict[int, Outcome] = {}
    for txn in ids:
        txn = int(txn)
        if txn in failed:
            e = failed[txn]
            out[txn] = Outcome(f"exception {e['reason_code']}: {e['reason']}", "", "", {}, {}, {})
            continue
        p = payments.loc[txn]
        customers_shown, invoices_shown, receipts_shown = {}, {}, {}
        for erp in erps:
            account, by = found.at[txn, erp], found.at[txn, f"{erp}_by"]
            customers_shown[erp] = f"{account} (by {by})" if account else "not found"
            if p["kind"] not in RECEIPT_KINDS or p["status"] in ("declined", "voided"):
                invoices_shown[erp] = "no receipt for this kind"
                receipts_shown[erp] = "none"
                continue
            pool = {n: inv for n, inv in invoices.get(erp, {}).items()
                    if inv.balance_minor > 0 and inv.currency == p["currency"]}
            m = match_payment(p["invoice_reference_raw"], p["description"], int(p["amount_minor"]),
                              Payer(account, str(p["customer_name"])), pool, rules)
            if not account and m.customer_account:
                customers_shown[erp] = f"not found; {m.customer_account} by the invoice it pays ({m.customer_source})"
            if m.invoices:
                invoices_shown[erp] = f"{', '.join(i.number for i in m.invoices)} (rule {m.rule}, score {m.score:.2f})"
            else:
                why = m.exception[0] if m.exception else (m.rejected[0][1] if m.rejected else "no reference read")
                invoices_shown[erp] = f"none: {why}"
            allocations, unapplied = allocate(int(p["amount_minor"]), m.invoices, rules.split)
            applied = "; ".join(f"{a.invoice.number} {format_amount(a.amount_minor, p['currency'])}" for a in allocations)
            receipts_shown[erp] = (f"{mapping.receipts.receipt_number_prefix}{txn} "
                                   f"{format_amount(int(p['amount_minor']), p['currency'])} to "
                                   f"{m.customer_account or 'no customer (unidentified)'}, GL "
                                   f"{gl_account_for(mapping, erp, p['gl_account'])}, status "
                                   f"{p.get(f'{erp}_status') or '(none)'}; applied: {applied or 'nothing'}"
                                   + (f"; on account {format_amount(unapplied, p['currency'])}" if unapplied and allocations else ""))
        normalized = (f"{p['kind']} {p['status']}, invoice reference {p['invoice_reference'] or '(none)'}, "
                      f"{p.get(f'{erps[0]}_status') or '(no status word)'} in {erps[0]}" if erps else p["status"])
        out[txn] = Outcome(normalized, p["gl_account"], _describe_rule(mapping, int(fired.get(txn, -1))),
                           customers_shown, invoices_shown, receipts_shown)
    return out


def _changed(before: Outcome, after: Outcome) -> tuple[str, ...]:
    parts = (("normalized", before.status != after.status),
             ("gl", (before.gl_account, before.gl_rule) != (after.gl_account, after.gl_rule)),
             ("customer", before.customers != after.customers),
             ("invoice", before.invoices != after.invoices),
             ("receipt", before.receipts != after.receipts))
    return tuple(name for name, differs in parts if differs)


def preview(engine: Engine, in_force: Mapping, edited: Mapping, *, day: date | None = None,
            transaction_ids: Sequence[int] = (), erps: Sequence[str] = ("oracle", "sage")) -> Preview:
    """Each payment of ``day`` (or ``transaction_ids``) under ``in_force`` and under ``edited``."""
    raw = read_payments(engine, day=day, transaction_ids=transaction_ids)
    shown = Preview(payments=len(raw), erps=tuple(erps))
    if transaction_ids:
        have = set(raw["transaction_id"].astype("int64")) if len(raw) else set()
        shown.not_found = [t for t in transaction_ids if t not in have]
    if raw.empty:
        return shown
    raw = raw.sort_values("transaction_id").reset_index(drop=True)
    if len(raw) > MAX_ROWS:
        raw, shown.cut = raw.head(MAX_ROWS), True
    customers = pd.read_sql_table(erp_customers.name, engine)
    days = sorted(set(pd.to_datetime(raw["business_date"]).dt.date))
    # One day's open invoices serve a preview of ids across days: the last day's, as the ERP was then.
    invoices = {erp: open_invoices(engine, erp, days[-1]) for erp in erps}
    before = _outcomes(raw, in_force, customers, erps, invoices)
    after = _outcomes(raw, edited, customers, erps, invoices)
    for _, r in raw.iterrows():
        txn = int(r["transaction_id"])
        shown.rows.append(Row(txn, str(r["business_date"])[:10], format_amount(int(r["amount_minor"]), str(r["currency"])),
                              str(r["billing_name"] or ""), str(r["invoice_id"] or ""), before[txn], after[txn],
                              _changed(before[txn], after[txn])))
    return shown


