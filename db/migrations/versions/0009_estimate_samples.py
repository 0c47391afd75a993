"""estimate on the stream: the stratified random sample of a version (issue 12)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('estimate_samples',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('sentence_id', sa.Integer(), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('stratum', sa.Integer(), nullable=False),
    sa.Column('stratum_size', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['training_runs.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sentence_id'], ['sentences.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'sentence_id')
    )
    op.create_index('ix_estimate_samples_project', 'estimate_samples', ['project_id', 'created_at'], unique=False)
    op.create_index('ix_estimate_samples_sentence', 'estimate_samples', ['sentence_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_estimate_samples_sentence', table_name='estimate_samples')
    op.drop_index('ix_estimate_samples_project', table_name='estimate_samples')
    op.drop_table('estimate_samples')
