"""model names: every model gets a readable unique name (``gmn-s0@mnist-5k/...``)

Existing models without a name are named as new ones are: trained models
``KIND-sSEED@SOURCE`` (the population or dataset they were trained on, ``#N`` before
the ``@`` when taken), INRs ``inr#ROW@POPULATION``; a name held twice keeps its first
holder and the others get ``#ID`` appended. Then ``models.name`` is unique.

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _names(rows: list[sa.Row], populations: dict[int, str], datasets: dict[int, str]
           ) -> dict[int, str]:
    """New names for the models of ``rows`` (id, kind, name, seed, dataset_id,
    population_id, population_row), oldest first; existing names are kept if unique."""
    taken = {r.name for r in rows if r.name is not None}
    seen: set[str] = set()
    out: dict[int, str] = {}
    for r in rows:
        if r.name is not None:
            if r.name in seen:  # a duplicate of an earlier holder's name
                out[r.id] = f"{r.name}#{r.id}"
            seen.add(r.name)
            continue
        if r.kind == "inr" and r.population_id is not None:
            out[r.id] = name = f"inr#{r.population_row}@{populations[r.population_id]}"
            taken.add(name)
            continue
        source = (populations.get(r.population_id) if r.population_id is not None
                  else datasets.get(r.dataset_id) if r.dataset_id is not None else None)
        head = r.kind + (f"-s{r.seed}" if r.seed is not None else "")
        tail = f"@{source}" if source else ""
        n = 1
        while (name := f"{head}{tail}" if n == 1 else f"{head}#{n}{tail}") in taken:
            n += 1
        out[r.id] = name
        taken.add(name)
    return out


def upgrade() -> None:
    conn = op.get_bind()
    populations: dict[int, str] = dict(conn.execute(sa.text("SELECT id, name FROM populations")).all())
    datasets: dict[int, str] = dict(conn.execute(sa.text("SELECT id, name FROM datasets")).all())
    rows = conn.execute(sa.text(
        "SELECT id, kind, name, seed, dataset_id, population_id, population_row "
        "FROM models ORDER BY id")).all()
    names = _names(list(rows), populations, datasets)
    if names:
        conn.execute(sa.text("UPDATE models SET name = :name WHERE id = :id"),
                     [{"id": k, "name": v} for k, v in names.items()])
    op.create_index('ix_models_name', 'models', ['name'], unique=True)


def downgrade() -> None:
    op.drop_index('ix_models_name', table_name='models')
