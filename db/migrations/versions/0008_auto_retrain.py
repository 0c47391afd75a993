"""retrain by itself every N label changes (issue 12)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 02:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('auto_retrain_every', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('auto_retrain_every')
