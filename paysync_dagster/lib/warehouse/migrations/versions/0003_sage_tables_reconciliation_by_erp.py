"""Sage 300's tables (the same three every ERP has) and the reconciliation tables keyed by ERP.

Rows already in the reconciliation tables are Oracle's (the only ERP before this revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sage_cash_receipts',
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
    sa.Column('customer_account', sa.String(length=60), server_default='', nullable=False),
    sa.Column('match_tokens', sa.Text(), server_default='', nullable=False),
    sa.Column('match_rejected', sa.Text(), server_default='', nullable=False),
    sa.UniqueConstraint('transaction_id', name='uq_sage_cash_receipts_transaction_id')
    )
    with op.batch_alter_table('sage_cash_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_sage_cash_receipts_business_date', ['business_date'], unique=False)

    op.create_table('sage_late_applications',
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
    sa.UniqueConstraint('receipt_number', 'invoice_number', 'target_id', name='uq_sage_late_applications')
    )
    with op.batch_alter_table('sage_late_applications', schema=None) as batch_op:
        batch_op.create_index('ix_sage_late_applications_business_date', ['business_date'], unique=False)

    op.create_table('sage_open_invoices',
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
    sa.UniqueConstraint('business_date', 'invoice_number', name='uq_sage_open_invoices_date_number')
    )
    with op.batch_alter_table('sage_open_invoices', schema=None) as batch_op:
        batch_op.create_index('ix_sage_open_invoices_business_date', ['business_date'], unique=False)

    with op.batch_alter_table('reconciliation_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erp', sa.String(length=20), server_default='oracle', nullable=False))

    with op.batch_alter_table('reconciliation_kpis', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erp', sa.String(length=20), server_default='oracle', nullable=False))
        batch_op.drop_constraint(batch_op.f('uq_reconciliation_kpis'), type_='unique')
        batch_op.create_unique_constraint('uq_reconciliation_kpis_erp', ['business_date', 'erp', 'kpi', 'currency'])

    with op.batch_alter_table('reconciliation_transactions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erp', sa.String(length=20), server_default='oracle', nullable=False))

    with op.batch_alter_table('reconciliation_variances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erp', sa.String(length=20), server_default='oracle', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('reconciliation_variances', schema=None) as batch_op:
        batch_op.drop_column('erp')

    with op.batch_alter_table('reconciliation_transactions', schema=None) as batch_op:
        batch_op.drop_column('erp')

    with op.batch_alter_table('reconciliation_kpis', schema=None) as batch_op:
        batch_op.drop_constraint('uq_reconciliation_kpis_erp', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_reconciliation_kpis'), ['business_date', 'kpi', 'currency'])
        batch_op.drop_column('erp')

    with op.batch_alter_table('reconciliation_batches', schema=None) as batch_op:
        batch_op.drop_column('erp')

    with op.batch_alter_table('sage_open_invoices', schema=None) as batch_op:
        batch_op.drop_index('ix_sage_open_invoices_business_date')

    op.drop_table('sage_open_invoices')
    with op.batch_alter_table('sage_late_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_sage_late_applications_business_date')

    op.drop_table('sage_late_applications')
    with op.batch_alter_table('sage_cash_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_sage_cash_receipts_business_date')

    op.drop_table('sage_cash_receipts')
