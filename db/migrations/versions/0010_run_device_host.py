"""the device and host a run was trained on (issue 13)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 05:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('training_runs') as batch:
        batch.add_column(sa.Column('device', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('host', sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('training_runs') as batch:
        batch.drop_column('host')
        batch.drop_column('device')
