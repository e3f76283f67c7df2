"""mapping_promotions: the append-only audit of mapping files promoted between environments
(``paysync mapping promote``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mapping_promotions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('promoted_at', sa.DateTime(), nullable=False),
        sa.Column('promoted_by', sa.String(length=100), nullable=False),
        sa.Column('from_env', sa.String(length=10), nullable=False),
        sa.Column('to_env', sa.String(length=10), nullable=False),
        sa.Column('version', sa.String(length=100), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('replaced_sha256', sa.String(length=64), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('mapping_promotions', schema=None) as batch_op:
        batch_op.create_index('ix_mapping_promotions_to_env', ['to_env'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mapping_promotions', schema=None) as batch_op:
        batch_op.drop_index('ix_mapping_promotions_to_env')
    op.drop_table('mapping_promotions')
