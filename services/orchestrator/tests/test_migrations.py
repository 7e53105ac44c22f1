"""Migration 0003 brings a database created before it up to date, on real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from llmctl_libs.store.migrations import migrate
from llmctl_orchestrator.app import DEFINITION

BEFORE_0003 = [
    "DROP TABLE orchestrator.idempotency",
    "DROP INDEX orchestrator.flowcharts_name_idx",
    "DROP INDEX orchestrator.runs_flowchart_idx",
    "DROP INDEX orchestrator.runs_created_idx",
    "ALTER TABLE orchestrator.flowcharts DROP COLUMN updated_at",
    "ALTER TABLE orchestrator.flowcharts DROP COLUMN deleted_at",
    "UPDATE orchestrator.alembic_version SET version_num = '0002'",
]


def _migrate(url: str) -> None:
    assert DEFINITION.migrations is not None
    migrate(url, schema=DEFINITION.schema or "", script_location=DEFINITION.migrations)


def test_0003_upgrades_an_existing_database_and_is_idempotent(database_url: str) -> None:
    _migrate(database_url)  # head on an empty database
    engine = sa.create_engine(database_url)
    version_one = datetime(2026, 1, 1, tzinfo=UTC)
    later = version_one + timedelta(days=30)
    try:
        with engine.begin() as conn:
            for statement in BEFORE_0003:  # the schema as 0002 left it
                conn.execute(sa.text(statement))
            conn.execute(
                sa.text(
                    "INSERT INTO orchestrator.flowcharts (id, name, latest_version, created_at) "
                    "VALUES ('fc', 'old', 2, :created)"
                ),
                {"created": version_one},
            )
            for version, created in ((1, version_one), (2, version_one + timedelta(days=3))):
                conn.execute(
                    sa.text(
                        "INSERT INTO orchestrator.flowchart_versions "
                        "(flowchart_id, version, definition, created_at) "
                        "VALUES ('fc', :v, '{}', :created)"
                    ),
                    {"v": version, "created": created},
                )
        _migrate(database_url)
        with engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT updated_at, deleted_at FROM orchestrator.flowcharts")
            ).one()
            assert row.updated_at == version_one + timedelta(days=3)  # the latest version's
            assert row.deleted_at is None
            assert (
                conn.execute(sa.text("SELECT count(*) FROM orchestrator.idempotency")).scalar() == 0
            )
            indexes = set(
                conn.execute(
                    sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'orchestrator'")
                ).scalars()
            )
            assert {"flowcharts_name_idx", "runs_flowchart_idx", "runs_created_idx"} <= indexes
            version = conn.execute(sa.text("SELECT version_num FROM orchestrator.alembic_version"))
            assert version.scalar() == "0006"  # 0004 (artifacts), 0005, 0006 follow
        with engine.begin() as conn:  # 0003 again on an up-to-date schema changes nothing
            conn.execute(
                sa.text("UPDATE orchestrator.flowcharts SET updated_at = :t"), {"t": later}
            )
            conn.execute(sa.text("UPDATE orchestrator.alembic_version SET version_num = '0002'"))
        _migrate(database_url)
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT updated_at FROM orchestrator.flowcharts"))
            assert kept.scalar() == later
    finally:
        engine.dispose()


def test_0006_takes_existing_states_for_snapshots_at_their_last_sequence(
    database_url: str,
) -> None:
    _migrate(database_url)
    engine = sa.create_engine(database_url)
    insert = sa.text(
        "INSERT INTO orchestrator.runs (id, flowchart_id, flowchart_version, status, input, "
        "state, last_sequence, correlation_id) "
        "VALUES (:id, 'f', 1, 'running', '{}', '', :last_sequence, 'c')"
    )
    try:
        with engine.begin() as conn:  # the schema as 0005 left it, with a run saved by it
            conn.execute(sa.text("ALTER TABLE orchestrator.runs DROP COLUMN state_sequence"))
            conn.execute(sa.text("UPDATE orchestrator.alembic_version SET version_num = '0005'"))
            conn.execute(
                insert, [{"id": "old", "last_sequence": 7}, {"id": "new", "last_sequence": 0}]
            )
        _migrate(database_url)
        with engine.connect() as conn:
            saved = dict(
                conn.execute(sa.text("SELECT id, state_sequence FROM orchestrator.runs")).all()
            )
        assert saved == {"old": 7, "new": 0}
    finally:
        engine.dispose()
