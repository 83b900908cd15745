"""Certificates: the signed credential of an achievement, and its revocation.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('achievement', sa.Column('credential', sa.Text(), nullable=True))
    op.add_column('achievement', sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('achievement', 'revoked_at')
    op.drop_column('achievement', 'credential')
