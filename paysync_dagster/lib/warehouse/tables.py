"""Warehouse tables, in SQLAlchemy Core.

Conventions: money is integer minor units (``*_minor``) beside a ``currency`` column; timestamps are
naive UTC (``*_at``); ``business_date`` is the merchant's calendar date. Each asset owns its tables
and rewrites its partition (one business date) in one transaction.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments INTEGER PRIMARY KEY; BIGINT elsewhere.
Id = BigInteger().with_variant(Integer(), "sqlite")

schema_version = Table(
    "paysync_schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime, nullable=False),
)

# The single raw record of what PayTrace said. Append-only; two writers (the webhook receiver and
# the export poller) deduplicate on ``dedup_key`` (transaction id + the state the record shows), so
# nothing downstream cares which path a row came by. ``id`` is the sensors' cursor.
paytrace_landing = Table(
    "paytrace_landing",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dedup_key", String(120), nullable=False, unique=True),
    Column("transaction_id", BigInteger, nullable=False),
    Column("state", String(40), nullable=False),
    Column("source", String(16), nullable=False),  # export | webhook
    Column("event_id", String(200), nullable=True, unique=True),
    Column("event_type", String(40), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("landed_at", DateTime, nullable=False),
    Column("payload", Text, nullable=False),  # the PayTrace record as JSON, card data scrubbed
)
Index("ix_paytrace_landing_business_date", paytrace_landing.c.business_date)
Index("ix_paytrace_landing_transaction_id", paytrace_landing.c.transaction_id)

# Which business dates the export poller has pulled completely, and when.
paytrace_export_pulls = Table(
    "paytrace_export_pulls",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("pulled_at", DateTime, nullable=False),
    Column("records", Integer, nullable=False),
    Column("landed", Integer, nullable=False),
)

# One row per PayTrace transaction whose business date is the partition, in its latest known state.
paytrace_transactions = Table(
    "paytrace_transactions",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("transaction_type", String(20), nullable=False),
    Column("state", String(40), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("tax_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("settled_at", DateTime, nullable=True),
    Column("invoice_id", String(100), nullable=False),
    Column("customer_id", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("masked_card_number", String(32), nullable=False),
    Column("card_last_four", String(4), nullable=False),
    Column("expiration_month", Integer, nullable=True),
    Column("expiration_year", Integer, nullable=True),
    Column("approval_code", String(20), nullable=False),
    Column("approval_message", String(200), nullable=False),
    Column("billing_name", String(200), nullable=False),
    Column("billing_street", String(200), nullable=False),
    Column("billing_city", String(100), nullable=False),
    Column("billing_state", String(50), nullable=False),
    Column("billing_zip", String(20), nullable=False),
    Column("billing_country", String(50), nullable=False),
    Column("receipt_emailed_to", String(200), nullable=False),
    Column("source", String(16), nullable=False),
    Column("landing_id", BigInteger, nullable=False),
    UniqueConstraint("transaction_id", name="uq_paytrace_transactions_transaction_id"),
)
Index("ix_paytrace_transactions_business_date", paytrace_transactions.c.business_date)

# Settlement batches closed on the partition's business date (merchant time zone).
paytrace_settlement_batches = Table(
    "paytrace_settlement_batches",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("batch_number", BigInteger, primary_key=True),
    Column("closed_at", DateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("transaction_count", Integer, nullable=False),
    Column("sales_count", Integer, nullable=False),
    Column("sales_minor", BigInteger, nullable=False),
    Column("refund_count", Integer, nullable=False),
    Column("refund_minor", BigInteger, nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("listed_count", Integer, nullable=False),  # transactions in the batch's transaction list
    Column("listed_net_minor", BigInteger, nullable=False),
)
Index("ix_paytrace_settlement_batches_business_date", paytrace_settlement_batches.c.business_date)

paytrace_batch_transactions = Table(
    "paytrace_batch_transactions",
    metadata,
    Column("business_date", Date, nullable=False),  # the batch's
    Column("batch_number", BigInteger, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("transaction_type", String(20), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),  # signed: refunds negative
    Column("currency", String(3), nullable=False),
    Column("settled_at", DateTime, nullable=True),
    Column("invoice_id", String(100), nullable=False),
    UniqueConstraint("batch_number", "transaction_id", name="uq_paytrace_batch_transactions"),
)
Index("ix_paytrace_batch_transactions_business_date", paytrace_batch_transactions.c.business_date)

# The contract every ERP path and the reconciliation read: one row per PayTrace transaction.
normalized_payments = Table(
    "normalized_payments",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("paytrace_state", String(40), nullable=False),
    Column("status", String(40), nullable=False),
    Column("oracle_status", String(40), nullable=False),
    Column("sage_status", String(40), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("fx_rate", String(40), nullable=False),  # a decimal as text: exact
    Column("fx_rate_date", String(10), nullable=False),
    Column("fx_rate_source", String(100), nullable=False),
    Column("base_amount_minor", BigInteger, nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("settled_at", DateTime, nullable=True),
    Column("settlement_batch", BigInteger, nullable=True),
    Column("invoice_reference_raw", String(100), nullable=False),
    Column("invoice_reference", String(100), nullable=False),
    Column("paytrace_customer_id", String(100), nullable=False),
    Column("customer_email", String(200), nullable=False),
    Column("customer_name", String(200), nullable=False),
    Column("gl_account", String(100), nullable=False),
    Column("card_brand", String(20), nullable=False),
    Column("card_last_four", String(4), nullable=False),
    Column("approval_code", String(20), nullable=False, server_default=""),  # the issuer's, as PayTrace gives it
    Column("billing_name", String(200), nullable=False),
    Column("billing_street", String(200), nullable=False),
    Column("billing_city", String(100), nullable=False),
    Column("billing_state", String(50), nullable=False),
    Column("billing_postal_code", String(20), nullable=False),
    Column("billing_country", String(50), nullable=False),
    Column("description", Text, nullable=False),
    Column("source", String(16), nullable=False),
    Column("mapping_version", String(100), nullable=False),
    UniqueConstraint("transaction_id", name="uq_normalized_payments_transaction_id"),
)
Index("ix_normalized_payments_business_date", normalized_payments.c.business_date)

# The payer's account in each ERP, as normalization found it: a row per payment and ERP where one was
# found (no row: not identified there). Written with normalized_payments; an ERP added later needs no
# new column (see lib/warehouse/customer_accounts.py).
payment_customer_accounts = Table(
    "payment_customer_accounts",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("erp", String(20), nullable=False),
    Column("customer_account", String(100), nullable=False),
    UniqueConstraint("transaction_id", "erp", name="uq_payment_customer_accounts_transaction_erp"),
)
Index("ix_payment_customer_accounts_business_date", payment_customer_accounts.c.business_date)

# Everything that could not go through, with its reason and a next step. Each stage rewrites its
# own rows for a business date; a person's decision (resolve, replay) is kept in the audit log.
payment_exceptions = Table(
    "payment_exceptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("business_date", Date, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("stage", String(40), nullable=False),  # paytrace | normalize | oracle | sage | reconciliation
    Column("reason_code", String(60), nullable=False),
    Column("reason", Text, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("details", Text, nullable=False),  # JSON of the offending values (never card data)
    Column("suggested_action", Text, nullable=False),
    Column("status", String(20), nullable=False, default="open"),
    Column("created_at", DateTime, nullable=False),
)
Index("ix_payment_exceptions_business_date_stage", payment_exceptions.c.business_date, payment_exceptions.c.stage)

# ERP customer accounts, for the customer look-up by email or name (filled by the ERP paths).
erp_customers = Table(
    "erp_customers",
    metadata,
    Column("erp", String(10), primary_key=True),
    Column("account_number", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(200), nullable=False),
)

# The posting outbox, one row per intended ERP effect. The intent is written before the API call and
# the outcome after; ``reference`` is deterministic (the ReceiptNumber built from the PayTrace
# transaction id), so an uncertain outcome is resolved by looking the reference up in the ERP.
posting_ledger = Table(
    "posting_ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("erp", String(10), nullable=False),  # oracle | sage
    Column("reference", String(80), nullable=False),
    Column("transaction_id", BigInteger, nullable=False),  # the PayTrace transaction that caused it
    Column("action", String(20), nullable=False),  # receipt | application | reversal | refund
    Column("business_date", Date, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False),  # intent | uncertain | posted | failed
    Column("erp_id", String(100), nullable=True),
    Column("parent_reference", String(80), nullable=True),  # the receipt an application/reversal belongs to
    Column("detail", Text, nullable=False, default="{}"),  # JSON: invoice, match rule and score, reason
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("erp", "reference", name="uq_posting_ledger_erp_reference"),
)
Index("ix_posting_ledger_transaction", posting_ledger.c.erp, posting_ledger.c.transaction_id)
Index("ix_posting_ledger_business_date", posting_ledger.c.business_date)

# Who is posting a business date to an ERP right now: one run at a time per (erp, date), so that two
# runs of the same date (the sensor's and a backfill's) never send the same effect twice. A lease
# expires unless renewed; a holder that died on this host is taken over at once.
posting_leases = Table(
    "posting_leases",
    metadata,
    Column("erp", String(10), primary_key=True),
    Column("business_date", Date, primary_key=True),
    Column("owner", String(200), nullable=False),  # host:pid:random
    Column("expires_at", DateTime, nullable=False),
)

# An ERP's open invoices as read on the partition's business date (those dated on or before it), with
# their installments, the targets cash is applied to: JSON ``[[installment id, balance_minor, due date]]``.
def open_invoices_table(erp: str) -> Table:
    """``<erp>_open_invoices``: the ERP's open invoices as read for a business date."""
    table = Table(
        f"{erp}_open_invoices",
        metadata,
        Column("business_date", Date, nullable=False),
        Column("invoice_number", String(50), nullable=False),
        Column("erp_invoice_id", String(40), nullable=False),  # Oracle: CustomerTransactionId; Sage: DocumentNumber
        Column("customer_account", String(100), nullable=False),
        Column("customer_name", String(360), nullable=False),
        Column("transaction_date", String(10), nullable=False),
        Column("due_date", String(10), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("original_minor", BigInteger, nullable=False),  # of the open installments
        Column("balance_minor", BigInteger, nullable=False),
        Column("installments", Text, nullable=False),
        UniqueConstraint("business_date", "invoice_number", name=f"uq_{erp}_open_invoices_date_number"),
    )
    Index(f"ix_{erp}_open_invoices_business_date", table.c.business_date)
    return table


# What posting did with each normalized payment of the date in an ERP: exactly one row per payment.
# ``outcome``: posted | applied | on_account | reversed | refunded | skipped | exception.
# ``receipt_number`` is the receipt the row concerns (its own, or a refund's original); ``owns_receipt``
# says the payment created it. ``match_rule``/``match_score`` say why cash went to ``invoices``.
def cash_receipts_table(erp: str) -> Table:
    """``<erp>_cash_receipts``: one row per normalized payment of the date, what posting did with it."""
    table = Table(
        f"{erp}_cash_receipts",
        metadata,
        Column("business_date", Date, nullable=False),
        Column("transaction_id", BigInteger, nullable=False),
        Column("kind", String(20), nullable=False),
        Column("outcome", String(20), nullable=False),
        Column("amount_minor", BigInteger, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("reference", String(80), nullable=False),  # the ledger reference of this payment's effect
        Column("receipt_number", String(80), nullable=False),
        Column("erp_receipt_id", String(40), nullable=False),  # Oracle: StandardReceiptId
        Column("owns_receipt", Boolean, nullable=False),
        Column("invoices", Text, nullable=False),  # invoice numbers applied to (or adjusted), comma-separated
        Column("applied_minor", BigInteger, nullable=False),
        Column("unapplied_minor", BigInteger, nullable=False),
        # exact | reference | multiple | purchase_order | sales_order | typo | none (older rows: normalized | fuzzy)
        Column("match_rule", String(20), nullable=False),
        Column("match_score", Float, nullable=False),  # a similarity 0..1, not money
        Column("reason", Text, nullable=False),
        Column("exception_code", String(60), nullable=False),
        # Why cash went where: whom the receipt is for ("" = unidentified), the references read as
        # typed, and each candidate invoice not applied with why.
        Column("customer_account", String(60), nullable=False, server_default=""),
        Column("match_tokens", Text, nullable=False, server_default=""),
        Column("match_rejected", Text, nullable=False, server_default=""),
        UniqueConstraint("transaction_id", name=f"uq_{erp}_cash_receipts_transaction_id"),
    )
    Index(f"ix_{erp}_cash_receipts_business_date", table.c.business_date)
    return table

# Append-only record of decisions people and runs take (who, when, what, before, after).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("note", Text, nullable=True),
)

# Append-only record of each mapping file promoted from one environment to another (``paysync mapping
# promote``): who, when, which version and file hash. The last row for an environment is what its file
# must still hash to, so an edit made there by hand is refused instead of overwritten unseen.
mapping_promotions = Table(
    "mapping_promotions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("promoted_at", DateTime, nullable=False),
    Column("promoted_by", String(100), nullable=False),
    Column("from_env", String(10), nullable=False),
    Column("to_env", String(10), nullable=False),
    Column("version", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("replaced_sha256", String(64), nullable=True),
    Column("note", Text, nullable=True),
)
Index("ix_mapping_promotions_to_env", mapping_promotions.c.to_env)

# What a date's card-on-file charges did with each installment an ERP had due (``<erp>_card_charges``):
# one row per installment, ERP and date; the charges themselves are posting-ledger entries (system
# ``paytrace``, action ``charge``). ``outcome``: charged | already_charged | declined_retry_scheduled |
# waiting_for_retry | dunning_exhausted | no_vault_profile | refused | paytrace_unreachable | would_charge.
card_charges = Table(
    "card_charges",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(10), nullable=False),
    Column("invoice_number", String(50), nullable=False),
    Column("installment_id", String(40), nullable=False),
    Column("customer_account", String(100), nullable=False),
    Column("vault_id", String(100), nullable=False),
    Column("due_date", Date, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("paytrace_transaction_id", BigInteger, nullable=True),
    Column("reason", Text, nullable=False),
    Column("next_attempt", Date, nullable=True),
    Column("dry_run", Boolean, nullable=False),
    UniqueConstraint("business_date", "erp", "invoice_number", "installment_id", name="uq_card_charges_date_erp_installment"),
)
Index("ix_card_charges_business_date", card_charges.c.business_date)

# Customer vault sync (``<erp>_vault_sync``). ``customer_sync_links``: per ERP account linked to a
# PayTrace vault profile, the standardized contact values both sides last agreed on (``base``, JSON)
# and the date an open conflict was first reported; the state the next run compares with.
# ``customer_sync``: what a date's run did per link or account (in_step | updated_in_paytrace |
# updated_in_erp | conflict | key_in_erp | profile_created | profile_deleted | unlinked |
# no_card_payment | profile_missing | first_sync_review | deletion_held | failed | unreachable | would_...),
# with both versions.
customer_sync_links = Table(
    "customer_sync_links",
    metadata,
    Column("erp", String(10), primary_key=True),
    Column("account", String(100), primary_key=True),
    Column("vault_id", String(100), nullable=False),
    Column("base", Text, nullable=True),
    Column("reported_on", Date, nullable=True),
    Column("synced_at", DateTime, nullable=False),
)
customer_sync = Table(
    "customer_sync",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(10), nullable=False),
    Column("account", String(100), nullable=False),
    Column("vault_id", String(100), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("fields", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("erp_version", Text, nullable=True),
    Column("paytrace_version", Text, nullable=True),
    Column("dry_run", Boolean, nullable=False),
    UniqueConstraint("business_date", "erp", "account", "vault_id", name="uq_customer_sync_date_erp_account"),
)
Index("ix_customer_sync_business_date", customer_sync.c.business_date)

# ERP-initiated card refunds (``<erp>_card_refunds``): per date, what became of each ERP refund record
# marked for a card refund; the refunds and voids themselves are posting-ledger entries (system
# ``paytrace``, actions ``card_refund`` and ``card_void``). ``outcome``: refunded | voided | done_before |
# waiting_for_settlement | no_original_payment | refused | paytrace_unreachable | not_written_back | would_...
card_refunds = Table(
    "card_refunds",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(10), nullable=False),
    Column("record_key", String(100), nullable=False),
    Column("document_number", String(50), nullable=False),
    Column("customer_account", String(100), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("original_transaction_id", BigInteger, nullable=True),
    Column("paytrace_transaction_id", BigInteger, nullable=True),
    Column("kind", String(10), nullable=False),
    Column("outcome", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("written_back", Boolean, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    UniqueConstraint("business_date", "erp", "record_key", name="uq_card_refunds_date_erp_record"),
)
Index("ix_card_refunds_business_date", card_refunds.c.business_date)

# Append-only history of the mapping file as the studio saved it (``paysync studio``): each version's
# whole text, who saved it, why, and its diff against the version before. ``target`` is the file the
# pipeline loads; ``number`` counts that file's versions from 1 (the file as the studio first found it).
# The version in force is the one whose sha256 the file has.
mapping_versions = Table(
    "mapping_versions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("target", String(500), nullable=False),
    Column("number", Integer, nullable=False),
    Column("saved_at", DateTime, nullable=False),
    Column("saved_by", String(100), nullable=False),
    Column("action", String(20), nullable=False),  # found | save | rollback | accept
    Column("based_on", Integer, nullable=True),  # the version edited, or rolled back to
    Column("version", String(100), nullable=False),  # the file's `version:`
    Column("sha256", String(64), nullable=False),
    Column("note", Text, nullable=True),
    Column("text", Text, nullable=False),
    Column("diff", Text, nullable=False),  # unified diff against the version before ('' for the first)
    UniqueConstraint("target", "number", name="uq_mapping_versions_target_number"),
)

# One row per alert incident (a failed run, a failed blocking check, the exception queue past a
# threshold, a batch not tied out): ``incident_key`` names what is wrong, stable across sensor ticks;
# ``occurrence`` counts its recurrences (a key resolved and seen again is a new incident). Each channel
# is sent the incident once (``*_notified_at``); ``claimed_until`` keeps two sensors from sending it at
# once. ``message`` is the text sent: ids, masked data and amounts only, never card data or a secret.
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_key", String(300), nullable=False),
    Column("occurrence", Integer, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("title", String(300), nullable=False),
    Column("message", Text, nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("notified_at", DateTime, nullable=True),  # every configured channel has it
    Column("slack_notified_at", DateTime, nullable=True),
    Column("email_notified_at", DateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),  # the channel and the error's class, never its text
    Column("claimed_until", DateTime, nullable=True),
    Column("resolved_at", DateTime, nullable=True),
    UniqueConstraint("incident_key", "occurrence", name="uq_alert_incidents_key_occurrence"),
)
Index("ix_alert_incidents_resolved_at", alert_incidents.c.resolved_at)

# Payments that look wrong, one row per (payment, rule): duplicate charges, refunds above their
# original, amounts unusual for the customer, rate spikes (transaction_id 0: the day as a whole) and
# the outlier model. ``score`` is the strength of the signal 0..1, not money.
payment_anomalies = Table(
    "payment_anomalies",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("rule", String(40), nullable=False),
    Column("score", Float, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reason", Text, nullable=False),
    Column("related_transaction_id", BigInteger, nullable=True),
    Column("detected_at", DateTime, nullable=False),
    UniqueConstraint("business_date", "transaction_id", "rule", name="uq_payment_anomalies_date_txn_rule"),
)
Index("ix_payment_anomalies_business_date", payment_anomalies.c.business_date)

# The reconciliation of a business date (the settlement batches that closed on it and its
# transactions), rewritten with each run: one status per transaction, one row per batch with its
# legs, the variance items that explain each leg, and the KPI numerators and denominators (so a
# range's rate is a sum over its dates, never an average of rates).
reconciliation_transactions = Table(
    "reconciliation_transactions",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(20), nullable=False, server_default="oracle"),  # whose reconciliation (rows from before: Oracle's)  # the report's date
    Column("transaction_id", BigInteger, nullable=False),
    Column("transaction_date", Date, nullable=True),
    Column("kind", String(20), nullable=False),
    Column("settlement_batch", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("gateway_amount_minor", BigInteger, nullable=False),
    Column("erp_amount_minor", BigInteger, nullable=False),
    Column("receipt_number", String(80), nullable=False),
    Column("erp_receipt_id", String(40), nullable=False),
    Column("status", String(30), nullable=False),
    Column("detail", Text, nullable=False),
)
Index("ix_reconciliation_transactions_date", reconciliation_transactions.c.business_date)

reconciliation_batches = Table(
    "reconciliation_batches",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(20), nullable=False, server_default="oracle"),  # whose reconciliation (rows from before: Oracle's)
    Column("batch_number", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_minor", BigInteger, nullable=False),
    Column("listed_net_minor", BigInteger, nullable=False),
    Column("erp_net_minor", BigInteger, nullable=False),
    Column("erp_variance_minor", BigInteger, nullable=False),
    Column("bank_net_minor", BigInteger, nullable=True),
    Column("bank_variance_minor", BigInteger, nullable=True),
    Column("tied", Boolean, nullable=False),
    Column("transactions", Integer, nullable=False),
)
Index("ix_reconciliation_batches_date", reconciliation_batches.c.business_date)

reconciliation_variances = Table(
    "reconciliation_variances",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(20), nullable=False, server_default="oracle"),  # whose reconciliation (rows from before: Oracle's)
    Column("batch_number", BigInteger, nullable=False),
    Column("leg", String(10), nullable=False),  # erp | bank
    Column("cause", String(40), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("transaction_id", BigInteger, nullable=True),
    Column("note", Text, nullable=False),
)
Index("ix_reconciliation_variances_date", reconciliation_variances.c.business_date)

reconciliation_kpis = Table(
    "reconciliation_kpis",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("erp", String(20), nullable=False, server_default="oracle"),  # whose reconciliation (rows from before: Oracle's)
    Column("kpi", String(60), nullable=False),
    Column("numerator", BigInteger, nullable=False),
    Column("denominator", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),  # for money KPIs; "" otherwise
    UniqueConstraint("business_date", "erp", "kpi", "currency", name="uq_reconciliation_kpis_erp"),
)

# Cash applied after its receipt was posted on account, once the invoice appeared: one row per
# application (an invoice installment), under the business date of the run that made it.
def late_applications_table(erp: str) -> Table:
    """``<erp>_late_applications``: applications made after their receipt was posted."""
    table = Table(
        f"{erp}_late_applications",
        metadata,
        Column("business_date", Date, nullable=False),  # the run's date = the application date
        Column("transaction_id", BigInteger, nullable=False),  # the PayTrace payment the receipt came from
        Column("receipt_number", String(80), nullable=False),
        Column("invoice_number", String(80), nullable=False),
        Column("target_id", String(40), nullable=False),  # the installment (payment schedule) applied to
        Column("amount_minor", BigInteger, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("match_rule", String(20), nullable=False),
        Column("match_score", Float, nullable=False),  # a similarity 0..1, not money
        Column("applied_at", DateTime, nullable=False),
        UniqueConstraint("receipt_number", "invoice_number", "target_id", name=f"uq_{erp}_late_applications"),
    )
    Index(f"ix_{erp}_late_applications_business_date", table.c.business_date)
    return table


# Each ERP's tables, built by the same three functions (same columns, named for the ERP).
oracle_open_invoices = open_invoices_table("oracle")
oracle_cash_receipts = cash_receipts_table("oracle")
oracle_late_applications = late_applications_table("oracle")
sage_open_invoices = open_invoices_table("sage")
sage_cash_receipts = cash_receipts_table("sage")
sage_late_applications = late_applications_table("sage")
sagepro_open_invoices = open_invoices_table("sagepro")
sagepro_cash_receipts = cash_receipts_table("sagepro")
sagepro_late_applications = late_applications_table("sagepro")

# What each stage last built for each transaction of a date: the landing row (``landing_id``) its
# current row came from. A near-real-time run builds only the transactions whose landing row moved
# on since (the new events), and records how far it read: ``transaction_id`` 0 holds the date's
# watermark, the highest landing id the stage has read for the date.
build_progress = Table(
    "build_progress",
    metadata,
    Column("business_date", Date, nullable=False),
    Column("stage", String(40), nullable=False),
    Column("transaction_id", BigInteger, nullable=False),
    Column("landing_id", BigInteger, nullable=False),
    UniqueConstraint("business_date", "stage", "transaction_id", name="uq_build_progress"),
)

SCHEMA_VERSION = 3

__all__ = [name for name, obj in list(globals().items()) if isinstance(obj, Table)] + [
    "metadata",
    "SCHEMA_VERSION",
    "Boolean",
]
