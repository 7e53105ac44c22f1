"""The orchestrator's own schema: flowchart versions and run projections."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from llmctl_libs.store import store_tables
from llmctl_libs.store.idempotency import idempotency_table

__all__ = [
    "RUN_COLUMNS",
    "SCHEMA",
    "artifacts",
    "flowchart_versions",
    "flowcharts",
    "idempotency",
    "metadata",
    "node_runs",
    "runs",
    "store",
    "timers",
]

SCHEMA = "orchestrator"
metadata = sa.MetaData(schema=SCHEMA)
store = store_tables(SCHEMA, metadata)

_now = sa.func.now()

flowcharts = sa.Table(
    "flowcharts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    # Deleted flowcharts keep their rows and versions: runs that pinned a version still run.
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
)
sa.Index("flowcharts_name_idx", sa.func.lower(flowcharts.c.name))

flowchart_versions = sa.Table(
    "flowchart_versions",
    metadata,
    sa.Column("flowchart_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("flowchart_id", sa.Text, nullable=False),
    sa.Column("flowchart_version", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("input", JSONB, nullable=False),
    # the run state (msgpack) as of event ``state_sequence``: a snapshot, rewritten every few
    # events (see run_states.py); the events after it complete it
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("state_sequence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_sequence", sa.Integer, nullable=False, server_default="0"),
    sa.Column("node_executions", sa.Integer, nullable=False, server_default="0"),
    sa.Column("idempotency_key", sa.Text, nullable=True, unique=True),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("error", JSONB, nullable=True),
    sa.Column("outcome", JSONB, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("runs_flowchart_idx", "flowchart_id", "created_at"),
    sa.Index("runs_created_idx", "created_at"),
    sa.Index(
        "runs_deadline_idx",
        "deadline_at",
        postgresql_where=sa.text("status IN ('running', 'pausing', 'paused')"),
    ),
)

RUN_COLUMNS = [c for c in runs.c if c.name != "state"]
"""A run row's columns but the state snapshot: what reads and the step's row lock select (the
snapshot is read only when the service does not hold the run's state in memory, see
run_states.py)."""

node_runs = sa.Table(
    "node_runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False, index=True),
    sa.Column("node_id", sa.Text, nullable=False),
    sa.Column("node_type", sa.Text, nullable=False),
    sa.Column("execution_index", sa.Integer, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),  # 0: not dispatched
    sa.Column("input_context", JSONB, nullable=False),
    sa.Column("output", JSONB, nullable=True),
    sa.Column("routing_state", JSONB, nullable=True),
    sa.Column("error", JSONB, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("superseded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("run_id", "node_id", "execution_index", name="node_runs_activation_key"),
)

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("node_run_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # retry | timeout
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("timers_due_idx", "due_at"),
)

idempotency = idempotency_table(metadata)
"""Remembered idempotent requests (flowchart create/update/delete, run start, run control)."""

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("node_run_id", sa.Text, nullable=False, unique=True),
    sa.Column("node_id", sa.Text, nullable=False),
    sa.Column("node_type", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("content", JSONB, nullable=False),
    sa.Column("content_sha256", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.Integer, nullable=False),
    sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("correlation_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    sa.Index("artifacts_run_idx", "run_id", "node_run_id"),
)
"""One final-state artifact per node run (see :mod:`llmctl_orchestrator.artifacts`)."""
