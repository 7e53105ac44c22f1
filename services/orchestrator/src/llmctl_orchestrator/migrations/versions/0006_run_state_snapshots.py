"""Run state snapshots: ``runs.state`` holds the state as of ``runs.state_sequence``.

Before this revision the state was saved with every step, so it was always the state at
``last_sequence``: existing rows get ``state_sequence = last_sequence``. Revision 0001 creates
tables from the live metadata, so a fresh database already has the column (hence
``IF NOT EXISTS``).

Revision ID: 0006
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE orchestrator.runs "
        "ADD COLUMN IF NOT EXISTS state_sequence INTEGER NOT NULL DEFAULT 0"
    )
    op.execute(
        "UPDATE orchestrator.runs SET state_sequence = last_sequence "
        "WHERE state_sequence = 0 AND last_sequence > 0"
    )


def downgrade() -> None:
    # Code before 0006 takes ``state`` for the state at ``last_sequence``: refuse while a run
    # that can still take steps (a failed run can be retried) has an older snapshot.
    op.execute(
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM orchestrator.runs "
        "WHERE state_sequence < last_sequence "
        "AND status NOT IN ('succeeded', 'cancelled')) THEN "
        "RAISE EXCEPTION 'active runs have state snapshots older than their last event; "
        "finish or cancel them before downgrading below 0006'; END IF; END $$"
    )
    op.execute("ALTER TABLE orchestrator.runs DROP COLUMN IF EXISTS state_sequence")
