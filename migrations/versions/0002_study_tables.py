"""study tables: prediction agreements, ensembles, studies, their models and findings

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('prediction_agreements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_a_id', sa.Integer(), nullable=False),
    sa.Column('model_b_id', sa.Integer(), nullable=False),
    sa.Column('probe_set_id', sa.Integer(), nullable=False),
    sa.Column('code_version', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('acc_a', sa.Float(), nullable=False),
    sa.Column('acc_b', sa.Float(), nullable=False),
    sa.Column('agreement', sa.Float(), nullable=False),
    sa.Column('kappa', sa.Float(), nullable=False),
    sa.Column('both_correct', sa.Float(), nullable=False),
    sa.Column('only_a_correct', sa.Float(), nullable=False),
    sa.Column('only_b_correct', sa.Float(), nullable=False),
    sa.Column('neither_correct', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_a_id'], ['models.id'], name=op.f('fk_prediction_agreements_model_a_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_b_id'], ['models.id'], name=op.f('fk_prediction_agreements_model_b_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['probe_set_id'], ['probe_sets.id'], name=op.f('fk_prediction_agreements_probe_set_id_probe_sets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_agreements')),
    sa.UniqueConstraint('model_a_id', 'model_b_id', 'probe_set_id', 'code_version', name='uq_prediction_agreements_key')
    )
    op.create_table('ensembles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_a_id', sa.Integer(), nullable=False),
    sa.Column('model_b_id', sa.Integer(), nullable=False),
    sa.Column('probe_set_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('code_version', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('acc_a', sa.Float(), nullable=False),
    sa.Column('acc_b', sa.Float(), nullable=False),
    sa.Column('accuracy', sa.Float(), nullable=False),
    sa.Column('gain_best', sa.Float(), nullable=False),
    sa.Column('gain_mean', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['model_a_id'], ['models.id'], name=op.f('fk_ensembles_model_a_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['model_b_id'], ['models.id'], name=op.f('fk_ensembles_model_b_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['probe_set_id'], ['probe_sets.id'], name=op.f('fk_ensembles_probe_set_id_probe_sets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ensembles')),
    sa.UniqueConstraint('model_a_id', 'model_b_id', 'probe_set_id', 'method', 'code_version', name='uq_ensembles_key')
    )
    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=False),
    sa.Column('probe_set_id', sa.Integer(), nullable=False),
    sa.Column('population_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['population_id'], ['populations.id'], name=op.f('fk_studies_population_id_populations')),
    sa.ForeignKeyConstraint(['probe_set_id'], ['probe_sets.id'], name=op.f('fk_studies_probe_set_id_probe_sets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studies')),
    sa.UniqueConstraint('name', name=op.f('uq_studies_name'))
    )
    op.create_table('study_models',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('slot', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_study_models_model_id_models'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_study_models_study_id_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('study_id', 'model_id', name=op.f('pk_study_models'))
    )
    with op.batch_alter_table('study_models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_models_slot'), ['slot'], unique=False)

    op.create_table('findings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('finding', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('label_a', sa.String(length=200), nullable=False),
    sa.Column('value_a', sa.Float(), nullable=True),
    sa.Column('label_b', sa.String(length=200), nullable=False),
    sa.Column('value_b', sa.Float(), nullable=True),
    sa.Column('difference', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('n_boot', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_findings_study_id_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_findings')),
    sa.UniqueConstraint('study_id', 'finding', name=op.f('uq_findings_study_id_finding'))
    )


def downgrade() -> None:
    op.drop_table('findings')
    with op.batch_alter_table('study_models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_models_slot'))

    op.drop_table('study_models')
    op.drop_table('studies')
    op.drop_table('ensembles')
    op.drop_table('prediction_agreements')
