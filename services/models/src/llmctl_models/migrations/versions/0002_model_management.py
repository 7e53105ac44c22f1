"""Model management: aliases, capability tags, settings schema snapshot versions, secret
kinds, optimistic versions, runtime settings and idempotent requests.

Revision 0001 creates tables from the live metadata, so a fresh database already has these;
this revision brings databases created before them up to date (hence ``IF NOT EXISTS``).

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = (
    "secret_kind TEXT",
    "settings_schema_version INTEGER NOT NULL DEFAULT 1",
    "default_alias TEXT",
    "capability_tags JSONB NOT NULL DEFAULT '[]'",
    "version INTEGER NOT NULL DEFAULT 1",
    "updated_at TIMESTAMPTZ NOT NULL DEFAULT now()",
)


def upgrade() -> None:
    for column in _COLUMNS:
        op.execute(f"ALTER TABLE models.models ADD COLUMN IF NOT EXISTS {column}")
    op.execute(
        "UPDATE models.models SET secret_kind = 'env' "
        "WHERE api_key_ref IS NOT NULL AND secret_kind IS NULL"
    )
    op.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS models_default_alias_key "
        "ON models.models (default_alias)"
    )
    op.execute(
        "CREATE TABLE IF NOT EXISTS models.runtime_settings ("
        "id TEXT PRIMARY KEY, version INTEGER NOT NULL, document JSONB NOT NULL, "
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    op.execute(
        "CREATE TABLE IF NOT EXISTS models.idempotency ("
        "scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, result JSONB, "
        "created_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))"
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS models.idempotency")
    op.execute("DROP TABLE IF EXISTS models.runtime_settings")
    op.execute("DROP INDEX IF EXISTS models.models_default_alias_key")
    for column in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE models.models DROP COLUMN IF EXISTS {column.split()[0]}")
