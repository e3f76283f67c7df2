"""customer_sync_links, customer_sync, card_refunds: the customer vault sync's state and reports, and
what each date did with the ERP refund records marked for a card refund.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'customer_sync_links',
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('vault_id', sa.String(length=100), nullable=False),
        sa.Column('base', sa.Text(), nullable=True),
        sa.Column('reported_on', sa.Date(), nullable=True),
        sa.Column('synced_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('erp', 'account'),
    )
    op.create_table(
        'customer_sync',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('account', sa.String(length=100), nullable=False),
        sa.Column('vault_id', sa.String(length=100), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.Column('fields', sa.String(length=200), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('erp_version', sa.Text(), nullable=True),
        sa.Column('paytrace_version', sa.Text(), nullable=True),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.UniqueConstraint('business_date', 'erp', 'account', 'vault_id', name='uq_customer_sync_date_erp_account'),
    )
    with op.batch_alter_table('customer_sync', schema=None) as batch_op:
        batch_op.create_index('ix_customer_sync_business_date', ['business_date'], unique=False)
    op.create_table(
        'card_refunds',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('record_key', sa.String(length=100), nullable=False),
        sa.Column('document_number', sa.String(length=50), nullable=False),
        sa.Column('customer_account', sa.String(length=100), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('original_transaction_id', sa.BigInteger(), nullable=True),
        sa.Column('paytrace_transaction_id', sa.BigInteger(), nullable=True),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('written_back', sa.Boolean(), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.UniqueConstraint('business_date', 'erp', 'record_key', name='uq_card_refunds_date_erp_record'),
    )
    with op.batch_alter_table('card_refunds', schema=None) as batch_op:
        batch_op.create_index('ix_card_refunds_business_date', ['business_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('card_refunds', schema=None) as batch_op:
        batch_op.drop_index('ix_card_refunds_business_date')
    op.drop_table('card_refunds')
    with op.batch_alter_table('customer_sync', schema=None) as batch_op:
        batch_op.drop_index('ix_customer_sync_business_date')
    op.drop_table('customer_sync')
    op.drop_table('customer_sync_links')
