"""Node-run timers (retry backoff, timeouts) and superseded node runs (rewind).

Revision 0001 creates tables from the live metadata, so a fresh database already has these;
this revision brings databases created before them up to date (hence ``IF NOT EXISTS``).

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE orchestrator.node_runs "
        "ADD COLUMN IF NOT EXISTS superseded BOOLEAN NOT NULL DEFAULT false"
    )
    op.execute(
        "CREATE TABLE IF NOT EXISTS orchestrator.timers ("
        "id TEXT PRIMARY KEY, run_id TEXT NOT NULL, node_run_id TEXT NOT NULL, "
        "kind TEXT NOT NULL, attempt INTEGER NOT NULL, due_at TIMESTAMPTZ NOT NULL)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS timers_due_idx ON orchestrator.timers (due_at)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS orchestrator.timers")
    op.execute("ALTER TABLE orchestrator.node_runs DROP COLUMN IF EXISTS superseded")
