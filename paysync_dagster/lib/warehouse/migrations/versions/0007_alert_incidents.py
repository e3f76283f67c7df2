"""alert_incidents: one row per alert incident (a failed run, a failed blocking check, the exception
queue past a threshold, a settlement batch not tied out), so that each is notified once, not once per
sensor tick.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_incidents',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('incident_key', sa.String(length=300), nullable=False),
        sa.Column('occurrence', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('title', sa.String(length=300), nullable=False),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('notified_at', sa.DateTime(), nullable=True),
        sa.Column('slack_notified_at', sa.DateTime(), nullable=True),
        sa.Column('email_notified_at', sa.DateTime(), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('claimed_until', sa.DateTime(), nullable=True),
        sa.Column('resolved_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('incident_key', 'occurrence', name='uq_alert_incidents_key_occurrence'),
    )
    with op.batch_alter_table('alert_incidents', schema=None) as batch_op:
        batch_op.create_index('ix_alert_incidents_resolved_at', ['resolved_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert_incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_alert_incidents_resolved_at')
    op.drop_table('alert_incidents')
