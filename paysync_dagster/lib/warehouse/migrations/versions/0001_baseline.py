"""Baseline: the warehouse as the last release before migrations created it (schema version 2).

Every table of tables.py, except oracle_cash_receipts' customer_account, match_tokens and
match_rejected, which 0002 adds. A warehouse that release created is stamped with this revision
instead of running it (see ``migrations/__init__.py``).

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=False),
        sa.Column('action', sa.String(length=100), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('before', sa.Text(), nullable=True),
        sa.Column('after', sa.Text(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_table('build_progress',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('stage', sa.String(length=40), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('landing_id', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('business_date', 'stage', 'transaction_id', name='uq_build_progress')
    )
    op.create_table('erp_customers',
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('account_number', sa.String(length=100), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('erp', 'account_number')
    )
    op.create_table('normalized_payments',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('paytrace_state', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=40), nullable=False),
        sa.Column('oracle_status', sa.String(length=40), nullable=False),
        sa.Column('sage_status', sa.String(length=40), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('base_currency', sa.String(length=3), nullable=False),
        sa.Column('fx_rate', sa.String(length=40), nullable=False),
        sa.Column('fx_rate_date', sa.String(length=10), nullable=False),
        sa.Column('fx_rate_source', sa.String(length=100), nullable=False),
        sa.Column('base_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('settled_at', sa.DateTime(), nullable=True),
        sa.Column('settlement_batch', sa.BigInteger(), nullable=True),
        sa.Column('invoice_reference_raw', sa.String(length=100), nullable=False),
        sa.Column('invoice_reference', sa.String(length=100), nullable=False),
        sa.Column('paytrace_customer_id', sa.String(length=100), nullable=False),
        sa.Column('oracle_customer_account', sa.String(length=100), nullable=False),
        sa.Column('sage_customer_account', sa.String(length=100), nullable=False),
        sa.Column('customer_email', sa.String(length=200), nullable=False),
        sa.Column('customer_name', sa.String(length=200), nullable=False),
        sa.Column('gl_account', sa.String(length=100), nullable=False),
        sa.Column('card_brand', sa.String(length=20), nullable=False),
        sa.Column('card_last_four', sa.String(length=4), nullable=False),
        sa.Column('billing_name', sa.String(length=200), nullable=False),
        sa.Column('billing_street', sa.String(length=200), nullable=False),
        sa.Column('billing_city', sa.String(length=100), nullable=False),
        sa.Column('billing_state', sa.String(length=50), nullable=False),
        sa.Column('billing_postal_code', sa.String(length=20), nullable=False),
        sa.Column('billing_country', sa.String(length=50), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('mapping_version', sa.String(length=100), nullable=False),
        sa.UniqueConstraint('transaction_id', name='uq_normalized_payments_transaction_id')
    )
    op.create_index('ix_normalized_payments_business_date', 'normalized_payments', ['business_date'], unique=False)
    op.create_table('oracle_cash_receipts',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reference', sa.String(length=80), nullable=False),
        sa.Column('receipt_number', sa.String(length=80), nullable=False),
        sa.Column('erp_receipt_id', sa.String(length=40), nullable=False),
        sa.Column('owns_receipt', sa.Boolean(), nullable=False),
        sa.Column('invoices', sa.Text(), nullable=False),
        sa.Column('applied_minor', sa.BigInteger(), nullable=False),
        sa.Column('unapplied_minor', sa.BigInteger(), nullable=False),
        sa.Column('match_rule', sa.String(length=20), nullable=False),
        sa.Column('match_score', sa.Float(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('exception_code', sa.String(length=60), nullable=False),
        sa.UniqueConstraint('transaction_id', name='uq_oracle_cash_receipts_transaction_id')
    )
    op.create_index('ix_oracle_cash_receipts_business_date', 'oracle_cash_receipts', ['business_date'], unique=False)
    op.create_table('oracle_late_applications',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('receipt_number', sa.String(length=80), nullable=False),
        sa.Column('invoice_number', sa.String(length=80), nullable=False),
        sa.Column('target_id', sa.String(length=40), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('match_rule', sa.String(length=20), nullable=False),
        sa.Column('match_score', sa.Float(), nullable=False),
        sa.Column('applied_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('receipt_number', 'invoice_number', 'target_id', name='uq_oracle_late_applications')
    )
    op.create_index('ix_oracle_late_applications_business_date', 'oracle_late_applications', ['business_date'], unique=False)
    op.create_table('oracle_open_invoices',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('invoice_number', sa.String(length=50), nullable=False),
        sa.Column('erp_invoice_id', sa.String(length=40), nullable=False),
        sa.Column('customer_account', sa.String(length=100), nullable=False),
        sa.Column('customer_name', sa.String(length=360), nullable=False),
        sa.Column('transaction_date', sa.String(length=10), nullable=False),
        sa.Column('due_date', sa.String(length=10), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('original_minor', sa.BigInteger(), nullable=False),
        sa.Column('balance_minor', sa.BigInteger(), nullable=False),
        sa.Column('installments', sa.Text(), nullable=False),
        sa.UniqueConstraint('business_date', 'invoice_number', name='uq_oracle_open_invoices_date_number')
    )
    op.create_index('ix_oracle_open_invoices_business_date', 'oracle_open_invoices', ['business_date'], unique=False)
    op.create_table('payment_anomalies',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('rule', sa.String(length=40), nullable=False),
        sa.Column('score', sa.Float(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('related_transaction_id', sa.BigInteger(), nullable=True),
        sa.Column('detected_at', sa.DateTime(), nullable=False),
        sa.UniqueConstraint('business_date', 'transaction_id', 'rule', name='uq_payment_anomalies_date_txn_rule')
    )
    op.create_index('ix_payment_anomalies_business_date', 'payment_anomalies', ['business_date'], unique=False)
    op.create_table('payment_exceptions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('stage', sa.String(length=40), nullable=False),
        sa.Column('reason_code', sa.String(length=60), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('details', sa.Text(), nullable=False),
        sa.Column('suggested_action', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_payment_exceptions_business_date_stage', 'payment_exceptions', ['business_date', 'stage'], unique=False)
    op.create_table('paysync_schema_version',
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('applied_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('version')
    )
    op.create_table('paytrace_batch_transactions',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('batch_number', sa.BigInteger(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('transaction_type', sa.String(length=20), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('settled_at', sa.DateTime(), nullable=True),
        sa.Column('invoice_id', sa.String(length=100), nullable=False),
        sa.UniqueConstraint('batch_number', 'transaction_id', name='uq_paytrace_batch_transactions')
    )
    op.create_index('ix_paytrace_batch_transactions_business_date', 'paytrace_batch_transactions', ['business_date'], unique=False)
    op.create_table('paytrace_export_pulls',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('pulled_at', sa.DateTime(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('landed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('business_date')
    )
    op.create_table('paytrace_landing',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('dedup_key', sa.String(length=120), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('state', sa.String(length=40), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('event_id', sa.String(length=200), nullable=True),
        sa.Column('event_type', sa.String(length=40), nullable=False),
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(), nullable=False),
        sa.Column('landed_at', sa.DateTime(), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedup_key'),
        sa.UniqueConstraint('event_id')
    )
    op.create_index('ix_paytrace_landing_business_date', 'paytrace_landing', ['business_date'], unique=False)
    op.create_index('ix_paytrace_landing_transaction_id', 'paytrace_landing', ['transaction_id'], unique=False)
    op.create_table('paytrace_settlement_batches',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('batch_number', sa.BigInteger(), nullable=False),
        sa.Column('closed_at', sa.DateTime(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('transaction_count', sa.Integer(), nullable=False),
        sa.Column('sales_count', sa.Integer(), nullable=False),
        sa.Column('sales_minor', sa.BigInteger(), nullable=False),
        sa.Column('refund_count', sa.Integer(), nullable=False),
        sa.Column('refund_minor', sa.BigInteger(), nullable=False),
        sa.Column('net_minor', sa.BigInteger(), nullable=False),
        sa.Column('listed_count', sa.Integer(), nullable=False),
        sa.Column('listed_net_minor', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('batch_number')
    )
    op.create_index('ix_paytrace_settlement_batches_business_date', 'paytrace_settlement_batches', ['business_date'], unique=False)
    op.create_table('paytrace_transactions',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('transaction_type', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=40), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('tax_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('settled_at', sa.DateTime(), nullable=True),
        sa.Column('invoice_id', sa.String(length=100), nullable=False),
        sa.Column('customer_id', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('masked_card_number', sa.String(length=32), nullable=False),
        sa.Column('card_last_four', sa.String(length=4), nullable=False),
        sa.Column('expiration_month', sa.Integer(), nullable=True),
        sa.Column('expiration_year', sa.Integer(), nullable=True),
        sa.Column('approval_code', sa.String(length=20), nullable=False),
        sa.Column('approval_message', sa.String(length=200), nullable=False),
        sa.Column('billing_name', sa.String(length=200), nullable=False),
        sa.Column('billing_street', sa.String(length=200), nullable=False),
        sa.Column('billing_city', sa.String(length=100), nullable=False),
        sa.Column('billing_state', sa.String(length=50), nullable=False),
        sa.Column('billing_zip', sa.String(length=20), nullable=False),
        sa.Column('billing_country', sa.String(length=50), nullable=False),
        sa.Column('receipt_emailed_to', sa.String(length=200), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('landing_id', sa.BigInteger(), nullable=False),
        sa.UniqueConstraint('transaction_id', name='uq_paytrace_transactions_transaction_id')
    )
    op.create_index('ix_paytrace_transactions_business_date', 'paytrace_transactions', ['business_date'], unique=False)
    op.create_table('posting_leases',
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('erp', 'business_date')
    )
    op.create_table('posting_ledger',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('reference', sa.String(length=80), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('erp_id', sa.String(length=100), nullable=True),
        sa.Column('parent_reference', sa.String(length=80), nullable=True),
        sa.Column('detail', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('erp', 'reference', name='uq_posting_ledger_erp_reference')
    )
    op.create_index('ix_posting_ledger_business_date', 'posting_ledger', ['business_date'], unique=False)
    op.create_index('ix_posting_ledger_transaction', 'posting_ledger', ['erp', 'transaction_id'], unique=False)
    op.create_table('reconciliation_batches',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('batch_number', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('net_minor', sa.BigInteger(), nullable=False),
        sa.Column('listed_net_minor', sa.BigInteger(), nullable=False),
        sa.Column('erp_net_minor', sa.BigInteger(), nullable=False),
        sa.Column('erp_variance_minor', sa.BigInteger(), nullable=False),
        sa.Column('bank_net_minor', sa.BigInteger(), nullable=True),
        sa.Column('bank_variance_minor', sa.BigInteger(), nullable=True),
        sa.Column('tied', sa.Boolean(), nullable=False),
        sa.Column('transactions', sa.Integer(), nullable=False)
    )
    op.create_index('ix_reconciliation_batches_date', 'reconciliation_batches', ['business_date'], unique=False)
    op.create_table('reconciliation_kpis',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('kpi', sa.String(length=60), nullable=False),
        sa.Column('numerator', sa.BigInteger(), nullable=False),
        sa.Column('denominator', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.UniqueConstraint('business_date', 'kpi', 'currency', name='uq_reconciliation_kpis')
    )
    op.create_table('reconciliation_transactions',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=False),
        sa.Column('transaction_date', sa.Date(), nullable=True),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('settlement_batch', sa.BigInteger(), nullable=True),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('gateway_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('erp_amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('receipt_number', sa.String(length=80), nullable=False),
        sa.Column('erp_receipt_id', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=30), nullable=False),
        sa.Column('detail', sa.Text(), nullable=False)
    )
    op.create_index('ix_reconciliation_transactions_date', 'reconciliation_transactions', ['business_date'], unique=False)
    op.create_table('reconciliation_variances',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('batch_number', sa.BigInteger(), nullable=False),
        sa.Column('leg', sa.String(length=10), nullable=False),
        sa.Column('cause', sa.String(length=40), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('transaction_id', sa.BigInteger(), nullable=True),
        sa.Column('note', sa.Text(), nullable=False)
    )
    op.create_index('ix_reconciliation_variances_date', 'reconciliation_variances', ['business_date'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reconciliation_variances_date', table_name='reconciliation_variances')
    op.drop_table('reconciliation_variances')
    op.drop_index('ix_reconciliation_transactions_date', table_name='reconciliation_transactions')
    op.drop_table('reconciliation_transactions')
    op.drop_table('reconciliation_kpis')
    op.drop_index('ix_reconciliation_batches_date', table_name='reconciliation_batches')
    op.drop_table('reconciliation_batches')
    op.drop_index('ix_posting_ledger_transaction', table_name='posting_ledger')
    op.drop_index('ix_posting_ledger_business_date', table_name='posting_ledger')
    op.drop_table('posting_ledger')
    op.drop_table('posting_leases')
    op.drop_index('ix_paytrace_transactions_business_date', table_name='paytrace_transactions')
    op.drop_table('paytrace_transactions')
    op.drop_index('ix_paytrace_settlement_batches_business_date', table_name='paytrace_settlement_batches')
    op.drop_table('paytrace_settlement_batches')
    op.drop_index('ix_paytrace_landing_transaction_id', table_name='paytrace_landing')
    op.drop_index('ix_paytrace_landing_business_date', table_name='paytrace_landing')
    op.drop_table('paytrace_landing')
    op.drop_table('paytrace_export_pulls')
    op.drop_index('ix_paytrace_batch_transactions_business_date', table_name='paytrace_batch_transactions')
    op.drop_table('paytrace_batch_transactions')
    op.drop_table('paysync_schema_version')
    op.drop_index('ix_payment_exceptions_business_date_stage', table_name='payment_exceptions')
    op.drop_table('payment_exceptions')
    op.drop_index('ix_payment_anomalies_business_date', table_name='payment_anomalies')
    op.drop_table('payment_anomalies')
    op.drop_index('ix_oracle_open_invoices_business_date', table_name='oracle_open_invoices')
    op.drop_table('oracle_open_invoices')
    op.drop_index('ix_oracle_late_applications_business_date', table_name='oracle_late_applications')
    op.drop_table('oracle_late_applications')
    op.drop_index('ix_oracle_cash_receipts_business_date', table_name='oracle_cash_receipts')
    op.drop_table('oracle_cash_receipts')
    op.drop_index('ix_normalized_payments_business_date', table_name='normalized_payments')
    op.drop_table('normalized_payments')
    op.drop_table('erp_customers')
    op.drop_table('build_progress')
    op.drop_table('audit_log')
