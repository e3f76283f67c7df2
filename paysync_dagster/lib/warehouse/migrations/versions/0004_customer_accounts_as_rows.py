"""The payer's account in each ERP as rows (``payment_customer_accounts``: business date, transaction
id, ERP, account) instead of one ``normalized_payments`` column per ERP; the accounts already found
move to the rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ERPS = ('oracle', 'sage')  # the columns this revision moves


def upgrade() -> None:
    op.create_table('payment_customer_accounts',
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('transaction_id', sa.BigInteger(), nullable=False),
    sa.Column('erp', sa.String(length=20), nullable=False),
    sa.Column('customer_account', sa.String(length=100), nullable=False),
    sa.UniqueConstraint('transaction_id', 'erp', name='uq_payment_customer_accounts_transaction_erp')
    )
    with op.batch_alter_table('payment_customer_accounts', schema=None) as batch_op:
        batch_op.create_index('ix_payment_customer_accounts_business_date', ['business_date'], unique=False)
    for erp in ERPS:
        op.execute(
            f"INSERT INTO payment_customer_accounts (business_date, transaction_id, erp, customer_account) "
            f"SELECT business_date, transaction_id, '{erp}', {erp}_customer_account FROM normalized_payments "
            f"WHERE {erp}_customer_account <> ''")
    with op.batch_alter_table('normalized_payments', schema=None) as batch_op:
        for erp in ERPS:
            batch_op.drop_column(f'{erp}_customer_account')


def downgrade() -> None:
    with op.batch_alter_table('normalized_payments', schema=None) as batch_op:
        for erp in ERPS:
            batch_op.add_column(sa.Column(f'{erp}_customer_account', sa.String(length=100), nullable=False,
                                          server_default=''))
    for erp in ERPS:
        op.execute(
            f"UPDATE normalized_payments SET {erp}_customer_account = COALESCE((SELECT a.customer_account "
            f"FROM payment_customer_accounts a WHERE a.transaction_id = normalized_payments.transaction_id "
            f"AND a.erp = '{erp}'), '')")
    with op.batch_alter_table('payment_customer_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_customer_accounts_business_date')
    op.drop_table('payment_customer_accounts')
