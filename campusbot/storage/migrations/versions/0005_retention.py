"""Retention: issued certificates a municipality must keep outlive an erasure, without the learner.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('achievement') as batch:
        batch.alter_column('learner_id', existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column('retained_until', sa.Date(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM achievement WHERE learner_id IS NULL")
    with op.batch_alter_table('achievement') as batch:
        batch.drop_column('retained_until')
        batch.alter_column('learner_id', existing_type=sa.Integer(), nullable=False)
