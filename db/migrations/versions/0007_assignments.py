"""assignments and the overlap share (issue 11, blind double labelling)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 01:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assignments',
    sa.Column('sentence_id', sa.Integer(), nullable=False),
    sa.Column('annotator', sa.String(length=100), nullable=False),
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sentence_id'], ['sentences.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sentence_id', 'annotator')
    )
    op.create_index('ix_assignments_queue', 'assignments', ['project_id', 'annotator', 'sentence_id'], unique=False)
    with op.batch_alter_table('projects') as batch:
        batch.add_column(sa.Column('overlap_share', sa.Float(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('projects') as batch:
        batch.drop_column('overlap_share')
    op.drop_index('ix_assignments_queue', table_name='assignments')
    op.drop_table('assignments')
