"""oracle_cash_receipts: why cash went where (schema version 3).

Whom the receipt is for ("" = unidentified), the references read as typed, and each candidate invoice
not applied with why. Rows already there get "".

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("oracle_cash_receipts") as batch_op:
        batch_op.add_column(sa.Column("customer_account", sa.String(length=60), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("match_tokens", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("match_rejected", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("oracle_cash_receipts") as batch_op:
        batch_op.drop_column("match_rejected")
        batch_op.drop_column("match_tokens")
        batch_op.drop_column("customer_account")
