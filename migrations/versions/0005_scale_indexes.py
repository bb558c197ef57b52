"""indexes for a catalog at scale (#20): tags by tag, pair tables by their second model

``zoo ls --kind K --tag T`` starts from the tag (``tags``' primary key starts from
the model, so the filter read every model of the kind); "the models most similar to
X" reads both sides of ``similarities``, whose cache-key index serves only
``model_a_id``; and removing a model cascades through the ``model_b_id`` side of
``similarities``, ``prediction_agreements`` and ``ensembles``, which was a full scan.

Revision ID: 0005
Revises: 0004
Create Date: 2027-01-14 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("ix_tags_tag", "tags", ["tag", "model_id"]),
           ("ix_similarities_model_b", "similarities", ["model_b_id"]),
           ("ix_prediction_agreements_model_b", "prediction_agreements", ["model_b_id"]),
           ("ix_ensembles_model_b", "ensembles", ["model_b_id"]))


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
