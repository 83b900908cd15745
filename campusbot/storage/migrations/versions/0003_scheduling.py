"""Scheduling: tenants on learners, due work, review cards (FSRS), HR notices.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch copy of the table would lose SQLite's AUTOINCREMENT.
    op.add_column('learner', sa.Column('tenant_id', sa.String(length=64), nullable=True))
    op.create_index('ix_learner_tenant_id', 'learner', ['tenant_id'])
    op.create_table('due_work',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('ref', sa.String(length=128), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('learner_id', 'kind', 'ref', name='uq_due_work_learner_kind_ref'),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_due_work_due_at', 'due_work', ['due_at'])
    op.create_table('review_card',
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.String(length=64), nullable=False),
    sa.Column('card', sa.Text(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('learner_id', 'item_id'),
    )
    op.create_index('ix_review_card_learner_due', 'review_card', ['learner_id', 'due_at'])
    op.create_table('hr_notice',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=True),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('module_id', sa.String(length=64), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('learner_id', 'kind', 'module_id', 'due_date', name='uq_hr_notice_once'),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_hr_notice_tenant_id', 'hr_notice', ['tenant_id'])
    op.create_index('ix_hr_notice_learner_id', 'hr_notice', ['learner_id'])


def downgrade() -> None:
    op.drop_table('hr_notice')
    op.drop_table('review_card')
    op.drop_index('ix_due_work_due_at', table_name='due_work')
    op.drop_table('due_work')
    op.drop_index('ix_learner_tenant_id', table_name='learner')
    op.drop_column('learner', 'tenant_id')
