"""Flowchart updates and deletion, run listing indexes, idempotent requests.

Revision 0001 creates tables from the live metadata, so a fresh database already has these;
this revision brings databases created before them up to date (hence ``IF NOT EXISTS``).

Revision ID: 0003
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Backfill updated_at (the latest version's save time) only when the column is new.
    op.execute(
        "DO $$ BEGIN "
        "IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = "
        "'orchestrator' AND table_name = 'flowcharts' AND column_name = 'updated_at') THEN "
        "ALTER TABLE orchestrator.flowcharts "
        "ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT now(); "
        "UPDATE orchestrator.flowcharts f SET updated_at = v.created_at "
        "FROM orchestrator.flowchart_versions v "
        "WHERE v.flowchart_id = f.id AND v.version = f.latest_version; "
        "END IF; END $$"
    )
    op.execute(
        "ALTER TABLE orchestrator.flowcharts ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS flowcharts_name_idx ON orchestrator.flowcharts (lower(name))"
    )
    op.execute(
        "CREATE INDEX IF NOT EXISTS runs_flowchart_idx "
        "ON orchestrator.runs (flowchart_id, created_at)"
    )
    op.execute("CREATE INDEX IF NOT EXISTS runs_created_idx ON orchestrator.runs (created_at)")
    op.execute(
        "CREATE TABLE IF NOT EXISTS orchestrator.idempotency ("
        "scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, result JSONB, "
        "created_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS orchestrator.idempotency")
    op.execute("DROP INDEX IF EXISTS orchestrator.runs_created_idx")
    op.execute("DROP INDEX IF EXISTS orchestrator.runs_flowchart_idx")
    op.execute("DROP INDEX IF EXISTS orchestrator.flowcharts_name_idx")
    op.execute("ALTER TABLE orchestrator.flowcharts DROP COLUMN IF EXISTS deleted_at")
    op.execute("ALTER TABLE orchestrator.flowcharts DROP COLUMN IF EXISTS updated_at")
