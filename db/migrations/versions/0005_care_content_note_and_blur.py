"""care for the people labelling: a content note per project, blur-until-revealed per account (issue 11)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:07:32.618943
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_note', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('blur_sentences', sa.Boolean(), server_default='0', nullable=False))




def downgrade() -> None:

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('blur_sentences')

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('content_note')


