"""active learning tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:52:12.014443
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('embeddings',
    sa.Column('model_key', sa.String(length=40), nullable=False),
    sa.Column('text_hash', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('model_key', 'text_hash')
    )
    op.create_table('suggestion_state',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('model_key', sa.String(length=40), nullable=False),
    sa.Column('labelled_count', sa.Integer(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id')
    )
    op.create_table('suggestions',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('sentence_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.Integer(), nullable=False),
    sa.Column('probs_json', sa.Text(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sentence_id'], ['sentences.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'sentence_id')
    )
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.create_index('ix_suggestions_rank', ['project_id', 'rank'], unique=False)

    op.create_table('suspects',
    sa.Column('project_id', sa.Integer(), nullable=False),
    sa.Column('sentence_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('given_label', sa.Integer(), nullable=False),
    sa.Column('suggested_label', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('probs_json', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sentence_id'], ['sentences.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'sentence_id')
    )
    with op.batch_alter_table('suspects', schema=None) as batch_op:
        batch_op.create_index('ix_suspects_score', ['project_id', 'score'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('suspects', schema=None) as batch_op:
        batch_op.drop_index('ix_suspects_score')

    op.drop_table('suspects')
    with op.batch_alter_table('suggestions', schema=None) as batch_op:
        batch_op.drop_index('ix_suggestions_rank')

    op.drop_table('suggestions')
    op.drop_table('suggestion_state')
    op.drop_table('embeddings')
    
