"""Node-run artifacts (one final-state record per node run).

Revision 0001 creates tables from the live metadata, so a fresh database already has this
table; this revision brings older databases up to date (hence ``IF NOT EXISTS``).

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE IF NOT EXISTS orchestrator.artifacts ("
        "id TEXT PRIMARY KEY, run_id TEXT NOT NULL, node_run_id TEXT NOT NULL UNIQUE, "
        "node_id TEXT NOT NULL, node_type TEXT NOT NULL, kind TEXT NOT NULL, "
        "status TEXT NOT NULL, content JSONB NOT NULL, content_sha256 TEXT NOT NULL, "
        "size_bytes INTEGER NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, request_id TEXT, "
        "correlation_id TEXT NOT NULL, "
        "created_at TIMESTAMPTZ NOT NULL DEFAULT now(), "
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS artifacts_run_idx ON orchestrator.artifacts "
        "(run_id, node_run_id)"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS orchestrator.artifacts")
