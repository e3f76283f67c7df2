"""The demo's ERP-initiated card refunds: what a clerk enters in each ERP for the outbound flow to act on.

One Oracle credit memo marked for a card refund (receipt method of the mapping's
``refunds.card_refund.oracle``) and one Sage 300 refund entry (payment code of ``refunds.card_refund.sage``),
each naming a settled card sale of the week that nothing refunds yet, and dated the week's last, entered through the
sandboxes' control APIs. The week's last run refunds both through PayTrace and writes the result back.
"""

from __future__ import annotations

from datetime import date

import httpx

from paysync_dagster.lib.mapping import Mapping


def _settled_sales(sandbox_url: str, start: date, end: date, env: dict[str, str]) -> list[dict]:
    """The week's settled, approved card sales that nothing in the week refunds already, earliest first."""
    from paysync_dagster.lib.paytrace.client import PayTraceClient
    from paysync_dagster.lib.posting.followups import REFUND_OF

    with PayTraceClient(sandbox_url, env["PAYTRACE_USERNAME"], env["PAYTRACE_PASSWORD"],
                        env["PAYTRACE_INTEGRATOR_ID"]) as client:
        week = client.export_transactions(start, end)
    refunded = {int(m.group(1)) for r in week if (m := REFUND_OF.search(str(r.get("description") or "")))}
    return [r for r in sorted(week, key=lambda r: int(r["transaction_id"]))
            if r.get("transaction_type") == "SALE" and str(r.get("approval_code") or "").strip()
            and str(r.get("settled") or "").strip() and float(r.get("amount") or 0) >= 20
            and int(r["transaction_id"]) not in refunded]


def _payers(env: dict[str, str], sales: list[dict], wanted: int, excluding: set[str]) -> list[tuple[dict, str]]:
    """The first ``wanted`` sales with the customer of the invoice each paid, as Sage 300 has it (both ERPs
    are seeded from one catalogue), customers in ``excluding`` left out; one Sage session for all."""
    from paysync_dagster.lib.sage.client import Sage300Client
    from paysync_dagster.lib.settings import DEFAULT_SAGE300_COMPANY

    out = []
    with Sage300Client(env["SAGE300_BASE_URL"], env.get("SAGE300_COMPANY") or DEFAULT_SAGE300_COMPANY,
                       env["SAGE300_USERNAME"], env.get("SAGE300_PASSWORD") or "") as client:
        for sale in sales:
            invoice = str(sale.get("invoice_id") or "")
            documents = client.posted_documents_by_number(invoice) if invoice else []
            payer = str(documents[0].get("CustomerNumber") or "") if documents else ""
            if payer and payer not in excluding:
                out.append((sale, payer))
                if len(out) == wanted:
                    break
    return out


def enter_card_refunds(sandbox_url: str, start: date, end: date, env: dict[str, str], mapping: Mapping) -> list[str]:
    """Enter the clerks' refunds; one line each for the terminal (nothing when the week has no such sale)."""
    from paysync_dagster.demo import o2c

    # Not the customers the order-to-cash part orders for today: the refunds come back from PayTrace dated
    # today, and an ERP that did not ask for one takes it from the customer's unapplied cash, which is where
    # an order's receipt waits for its invoice.
    _paytrace, oracle = o2c.clients(env)
    with _paytrace, oracle:
        ordering = {c.account for c in o2c.customers(oracle, o2c.ORDERS)}
    sales = _payers(env, _settled_sales(sandbox_url, start, end, env), 2, ordering)
    if len(sales) < 2:
        return []
    lines = []
    with httpx.Client(base_url=sandbox_url, timeout=30, trust_env=False) as http:
        (sale, payer) = sales[0]
        amount = int(round(float(sale["amount"]) * 100)) // 2
        http.post("/_sandbox/oracle/seed", json={"credit_memos": [{
            "account_number": payer, "amount_minor": amount, "currency": "USD",
            "receipt_method": mapping.refunds.card_refund["oracle"], "cross_reference": str(sale["transaction_id"]),
            "transaction_date": end.isoformat()}]}).raise_for_status()
        lines.append(f"Oracle credit memo for {payer}: {amount / 100:,.2f} USD to refund to the card of PayTrace "
                     f"transaction {sale['transaction_id']}")
        (sale, payer) = sales[1]
        amount = int(round(float(sale["amount"]) * 100)) // 2
        http.post("/_sandbox/sage/card_refund", json={
            "customer": payer, "amount_minor": amount, "transaction_id": str(sale["transaction_id"]),
            "payment_code": mapping.refunds.card_refund["sage"], "date": end.isoformat()}).raise_for_status()
        lines.append(f"Sage 300 refund entry for {payer}: {amount / 100:,.2f} USD to refund to the card of PayTrace "
                     f"transaction {sale['transaction_id']}")
    return lines
