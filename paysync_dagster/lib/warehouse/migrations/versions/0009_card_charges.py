"""card_charges: what each date's card-on-file charges did with each installment an ERP had due.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'card_charges',
        sa.Column('business_date', sa.Date(), nullable=False),
        sa.Column('erp', sa.String(length=10), nullable=False),
        sa.Column('invoice_number', sa.String(length=50), nullable=False),
        sa.Column('installment_id', sa.String(length=40), nullable=False),
        sa.Column('customer_account', sa.String(length=100), nullable=False),
        sa.Column('vault_id', sa.String(length=100), nullable=False),
        sa.Column('due_date', sa.Date(), nullable=False),
        sa.Column('amount_minor', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.Column('paytrace_transaction_id', sa.BigInteger(), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('next_attempt', sa.Date(), nullable=True),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.UniqueConstraint('business_date', 'erp', 'invoice_number', 'installment_id',
                            name='uq_card_charges_date_erp_installment'),
    )
    with op.batch_alter_table('card_charges', schema=None) as batch_op:
        batch_op.create_index('ix_card_charges_business_date', ['business_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('card_charges', schema=None) as batch_op:
        batch_op.drop_index('ix_card_charges_business_date')
    op.drop_table('card_charges')
