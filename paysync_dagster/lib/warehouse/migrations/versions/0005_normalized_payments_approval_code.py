"""The issuer's approval code on normalized_payments, so a receipt carries it beside the card's last
four (rows from before have it empty; a replay of their date fills it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('normalized_payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval_code', sa.String(length=20), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('normalized_payments', schema=None) as batch_op:
        batch_op.drop_column('approval_code')
