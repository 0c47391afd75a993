"""scoring backend per version and resumable scoring of every sentence (issue 10)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scoring_backend', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('scoring_note', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('backend_agreement', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('scored', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('score_total', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('scoring_rate', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('training_runs', schema=None) as batch_op:
        for column in ('scoring_rate', 'score_total', 'scored', 'backend_agreement', 'scoring_note', 'scoring_backend'):
            batch_op.drop_column(column)
