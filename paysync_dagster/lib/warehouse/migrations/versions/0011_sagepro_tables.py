"""Sage Pro's tables (the same three every ERP has): its open invoices as read, the payments proposed on
its keying worksheet (and whether Sage Pro shows them keyed), and late applications (none: nothing is
applied by PaySync in Sage Pro; the table keeps the ERP layer uniform).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sagepro_cash_receipts',
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
    sa.UniqueConstraint('transaction_id', name='uq_sagepro_cash_receipts_transaction_id')
    )
    with op.batch_alter_table('sagepro_cash_receipts', schema=None) as batch_op:
        batch_op.create_index('ix_sagepro_cash_receipts_business_date', ['business_date'], unique=False)


    op.create_table('sagepro_late_applications',
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
    sa.UniqueConstraint('receipt_number', 'invoice_number', 'target_id', name='uq_sagepro_late_applications')
    )
    with op.batch_alter_table('sagepro_late_applications', schema=None) as batch_op:
        batch_op.create_index('ix_sagepro_late_applications_business_date', ['business_date'], unique=False)


    op.create_table('sagepro_open_invoices',
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
    sa.UniqueConstraint('business_date', 'invoice_number', name='uq_sagepro_open_invoices_date_number')
    )
    with op.batch_alter_table('sagepro_open_invoices', schema=None) as batch_op:
        batch_op.create_index('ix_sagepro_open_invoices_business_date', ['business_date'], unique=False)


def downgrade() -> None:
    for name in ('sagepro_cash_receipts', 'sagepro_late_applications', 'sagepro_open_invoices'):
        op.drop_table(name)
