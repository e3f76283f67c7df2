"""``<erp>_vault_sync``: an ERP's customer accounts and PayTrace's vault profiles kept in step, both
ways (lib/outbound/vault_sync.py): changes written to the side that did not make them, profiles
created from a card payment for accounts that pay by card on file, profiles of deleted accounts
deleted, and a change made on both sides since the last run held as one exception with both versions.

On only for the ERPs ``PAYSYNC_VAULT_SYNC`` names (off unless set; the demo sets it). ``dry_run: true``
lists what a run would write (it reads both sides) and writes nothing anywhere.
"""

# No `from __future__ import annotations` here: Dagster reads the run config's class from the annotation.
import json
from collections import Counter
from datetime import date

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine, delete, select

from paysync_dagster.defs.erp.connectors import ErpConnector, erps_named
from paysync_dagster.defs.erp.posting import API_RETRY, erp_resource
from paysync_dagster.defs.normalize.rules import MAPPING
from paysync_dagster.defs.paytrace.partitions import daily_partitions
from paysync_dagster.defs.shared.provenance import provenance
from paysync_dagster.defs.shared.resources import WarehouseResource
from paysync_dagster.lib.exceptions import stage_writer
from paysync_dagster.lib.markdown import table as md_table
from paysync_dagster.lib.outbound.vault_sync import (CONFLICT, FAILED, HELD, KEY_IN_ERP, LEDGER_SYSTEM, REVIEW_FIRST,
                                                     UNREACHABLE, LinkState, SyncInput, SyncOutcome, SyncRules,
                                                     VaultSync, account_key, links_after)
from paysync_dagster.lib.posting import Ledger
from paysync_dagster.lib.posting.lease import posting_lease
from paysync_dagster.lib.timeutil import utcnow
from paysync_dagster.lib.warehouse.tables import customer_sync, customer_sync_links, payment_exceptions

VAULT_SYNC_SETTING = "PAYSYNC_VAULT_SYNC"
EVERY_DATE = date(2000, 1, 1)  # one sync per ERP at a time, whatever its date: the links are not per date

# reason code, what a person does next
_EXCEPTIONS = {
    CONFLICT: ("vault_sync_conflict", "compare the two versions in the details, correct one side to match the "
                                      "other (the next sync then finds them in step)"),
    KEY_IN_ERP: ("vault_sync_key_in_erp", "key the fields named into the ERP's customer account"),
    REVIEW_FIRST: ("vault_sync_first_sync", "make the two sides agree, or set vault_sync.first_sync to erp or paytrace"),
    HELD: ("vault_sync_deletions_held", "check the ERP's customer list; delete the profiles in PayTrace by hand if "
                                        "the accounts are really gone, or raise vault_sync.max_deletions"),
    FAILED: ("vault_sync_failed", "correct what the error names, then replay the date"),
    UNREACHABLE: ("vault_sync_unreachable", "nothing to do: the next run looks the change up before sending it again"),
}


def vault_sync_on(raw: str | None = None) -> list[str]:
    """The ERPs whose customers are kept in step with PayTrace's vault (``PAYSYNC_VAULT_SYNC``)."""
    return erps_named(VAULT_SYNC_SETTING, raw)


class VaultSyncConfig(dg.Config):
    dry_run: bool = Field(False, description="list what would be written; write nothing in either system")


def _links(engine: Engine, erp: str) -> dict[str, LinkState]:
    t = customer_sync_links
    with engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.erp == erp)).all()
    return {r.account: LinkState(erp, r.account, r.vault_id, json.loads(r.base) if r.base else None, r.reported_on)
            for r in rows}


def _last_card_payments(engine: Engine, c: ErpConnector, day: date) -> dict[str, int]:
    """ERP account -> its latest card payment up to ``day`` that the ERP took as a receipt (the card a
    new vault profile is created from)."""
    r = c.cash_receipts
    with engine.connect() as conn:
        rows = conn.execute(select(r.c.customer_account, r.c.transaction_id).where(
            r.c.business_date <= day, r.c.kind.in_(("sale", "capture")), r.c.customer_account != "",
            r.c.outcome.in_(("posted", "applied", "on_account"))).order_by(r.c.business_date, r.c.transaction_id)).all()
    return {account: int(txn) for account, txn in rows}


def _reported_before(engine: Engine, c: ErpConnector, day: date) -> set[tuple[str, str]]:
    """(account, outcome) an earlier date's run wrote. A linked account's task is reported once through its
    link (``reported_on``); an account without a link (its profile could not be created) through this."""
    t = customer_sync
    with engine.connect() as conn:
        return {(a, o) for a, o in conn.execute(select(t.c.account, t.c.outcome).where(
            t.c.erp == c.name, t.c.business_date < day, t.c.dry_run.is_(False)))}


def _row(day: date, o: SyncOutcome, dry_run: bool) -> dict:
    return {"business_date": day, "erp": o.erp, "account": o.account, "vault_id": o.vault_id, "outcome": o.outcome,
            "fields": ",".join(o.fields)[:200], "reason": o.reason,
            "erp_version": json.dumps(o.erp_version, sort_keys=True) if o.erp_version is not None else None,
            "paytrace_version": json.dumps(o.paytrace_version, sort_keys=True) if o.paytrace_version is not None else None,
            "dry_run": dry_run}


def _exception(day: date, c: ErpConnector, o: SyncOutcome, currency: str) -> dict:
    code, action = _EXCEPTIONS[o.outcome]
    what = f"{c.title} customer {o.account} / PayTrace profile {o.vault_id or '(none)'}: {o.reason}"
    if o.fields:
        what += f" (fields: {', '.join(o.fields)})"
    return {"business_date": day, "transaction_id": account_key(c.name, o.account), "stage": f"{c.name}_vault_sync",
            "reason_code": code, "reason": what, "amount_minor": 0, "currency": currency,
            "details": json.dumps({"account": o.account, "vault_id": o.vault_id, "fields": list(o.fields),
                                   "erp_version": o.erp_version, "paytrace_version": o.paytrace_version,
                                   "last_synced": o.base}, sort_keys=True),
            "suggested_action": action}


def vault_sync_asset(c: ErpConnector) -> dg.AssetsDefinition:
    name = f"{c.name}_vault_sync"

    @dg.asset(name=name, partitions_def=daily_partitions, deps=[f"{c.name}_cash_receipts"], group_name=c.name,
              kinds={c.name, "paytrace", "sql"}, pool=c.pool, retry_policy=API_RETRY,
              required_resource_keys={"warehouse", c.resource_key, "paytrace"},
              description=f"{c.title}'s customer accounts and PayTrace's vault profiles kept in step both ways "
                          "(a change goes to the side that did not make it; a change on both sides since the last "
                          "sync is an exception with both versions, never an overwrite); profiles created from a "
                          "card payment for customers who pay by card on file; each write once, through the "
                          "posting ledger. Only vault ids and masked card numbers are read.")
    def _vault_sync(context: dg.AssetExecutionContext, config: VaultSyncConfig) -> dg.MaterializeResult:
        warehouse: WarehouseResource = context.resources.warehouse
        engine = warehouse.engine
        day = date.fromisoformat(context.partition_key)
        rules = SyncRules(MAPPING.vault_sync.first_sync, MAPPING.vault_sync.max_deletions)
        mapped = {str(getattr(accounts, c.name)): str(pid) for pid, accounts in MAPPING.customers.map.items()
                  if getattr(accounts, c.name, None)}
        erp = erp_resource(context, c)
        with erp.client() as client, posting_lease(engine, f"vlt_{c.name}"[:10], EVERY_DATE) as lease, \
                context.resources.paytrace.client() as paytrace:
            adapter = erp.adapter(client, MAPPING)
            master = {r["account_number"]: r for r in adapter.customer_master()}
            links = _links(engine, c.name)
            data = SyncInput(
                erp=c.name, accounts=master,
                profiles={str(p.get("customer_id") or ""): p for p in paytrace.export_customers()},
                links=links, mapped=mapped, account_is_vault_id="id" in MAPPING.customers.lookup_fallback,
                card_accounts=adapter.card_on_file_accounts(MAPPING.charges.card_on_file[c.name]),
                last_card_payment=_last_card_payments(engine, c, day))
            writer = getattr(adapter, "update_customer", None)
            sync = VaultSync(c.name, paytrace, erp_writer=writer,
                             erp_reader=lambda account: next((r for r in adapter.customer_master()
                                                              if r["account_number"] == account), None),
                             paytrace_ledger=Ledger(engine, LEDGER_SYSTEM, lease), erp_ledger=Ledger(engine, c.name, lease),
                             rules=rules, currency=MAPPING.currency.base, log=context.log.info)
            outcomes = sync.run(data, day, dry_run=config.dry_run)
        seen = _reported_before(engine, c, day)
        exceptions = [_exception(day, c, o, MAPPING.currency.base) for o in outcomes
                      if o.is_exception_on(day) and (o.account in links or (o.account, o.outcome) not in seen)]
        if not config.dry_run:
            now = utcnow()
            clear = {customer_sync: customer_sync.c.erp == c.name}
            with stage_writer(engine, [day], f"{c.name}_vault_sync", clear) as write:
                write(customer_sync, [_row(day, o, False) for o in outcomes])
                write(payment_exceptions, exceptions)
                write.conn.execute(delete(customer_sync_links).where(customer_sync_links.c.erp == c.name))
                write(customer_sync_links, [
                    {"erp": s.erp, "account": s.account, "vault_id": s.vault_id,
                     "base": json.dumps(s.base, sort_keys=True) if s.base is not None else None,
                     "reported_on": s.reported_on, "synced_at": now} for s in links_after(outcomes, links).values()])
        counts = Counter(o.outcome for o in outcomes)
        changed_first = sorted(outcomes, key=lambda o: (o.outcome == "in_step", o.account))
        preview = [{"account": o.account, "vault id": o.vault_id, "outcome": o.outcome, "fields": ", ".join(o.fields),
                    "reason": o.reason[:90]} for o in changed_first[:20]]
        return dg.MaterializeResult(metadata={
            **provenance(), "dry_run": config.dry_run, "accounts_in_erp": len(master),
            "links": len(links_after(outcomes, links)),
            **{f"outcome_{k}": v for k, v in sorted(counts.items())}, "exceptions": len(exceptions),
            "preview": dg.MetadataValue.md(md_table(preview, ["account", "vault id", "outcome", "fields", "reason"]))})

    return _vault_sync
