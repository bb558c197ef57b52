"""model ids are never reused: SQLite's models table gets AUTOINCREMENT

Without it SQLite hands out ``max(id) + 1``, so after ``zoo rm`` of the newest model
the next registration got the removed model's id (scripts, notes and caches that
held the old id then named a different model). The table is rebuilt with
AUTOINCREMENT (rows, ids, indexes and references kept; ``store.schema.upgrade``
turns foreign-key actions off meanwhile, so the rebuild's DROP cascades nothing).
PostgreSQL's sequences never hand an id out twice: nothing to do there.

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-11 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("models", recreate="always",
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
