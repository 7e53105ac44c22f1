"""Alembic, run programmatically, one schema (and version table) per service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config

from .tables import INBOX_PROCESSED_INDEX

__all__ = ["inbox_processed_index", "initial_schema", "migrate", "run_env"]


def migrate(database_url: str, *, schema: str, script_location: Path) -> None:
    """Upgrade ``schema`` to head using the migrations in ``script_location``."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["llmctl_schema"] = schema
    command.upgrade(config, "head")


def run_env() -> None:
    """Body of every service's ``migrations/env.py`` (online mode only)."""
    config = context.config
    schema: str = config.attributes["llmctl_schema"]
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        conn.commit()
        context.configure(
            connection=conn,
            version_table_schema=schema,
            include_schemas=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def initial_schema(metadata: sa.MetaData) -> tuple[Callable[[], None], Callable[[], None]]:
    """``upgrade``/``downgrade`` of a service's first revision: create/drop ``metadata``.

    Later revisions are written out explicitly (``op.add_column`` ...), never by changing the
    tables this first revision creates.
    """

    def upgrade() -> None:
        metadata.create_all(op.get_bind())

    def downgrade() -> None:
        metadata.drop_all(op.get_bind())

    return upgrade, downgrade


def inbox_processed_index(schema: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """``upgrade``/``downgrade`` of the revision that adds the inbox's ``processed_at`` index
    (retention) to a schema created before it; a schema created since already has it."""
    index = f'"{schema}".{INBOX_PROCESSED_INDEX}'

    def upgrade() -> None:
        op.execute(
            f"CREATE INDEX IF NOT EXISTS {INBOX_PROCESSED_INDEX} "
            f'ON "{schema}".inbox USING brin (processed_at)'
        )

    def downgrade() -> None:
        op.execute(f"DROP INDEX IF EXISTS {index}")

    return upgrade, downgrade
