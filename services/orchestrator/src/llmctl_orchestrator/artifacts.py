"""Node-run artifacts: exactly one final-state record per node run, written with the step.

Every event that makes a node run final, or changes its final state, adds a *patch* for that
node run: ``node.succeeded`` (output, warnings), ``node.failed`` (error), ``node.skipped``
(output), ``node.routed`` (routing state: a decision's evaluation), the cancelled ids of
``run.failed`` / ``run.succeeded`` / ``run.controlled``, and the worker's own ``detail`` from its
report (a task's prompt, model and usage; a special node's domain state). At flush, one
statement upserts one row per patched node run, merging the patch into the stored content and
taking status, node and run from the ``node_runs`` row, so the artifact always shows the node
run as it ended. ``UNIQUE(node_run_id)`` and the key ``artifact:<node_run_id>`` keep it to one
artifact per node run whatever is redelivered or retried. The worker's detail is stored here
only, never in the run's events.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import MessageType
from llmctl_contracts.artifacts import ARTIFACT_KIND_BY_NODE_TYPE
from llmctl_libs.messages import Trace
from llmctl_libs.store.driver import driver_connection

from .tables import SCHEMA

__all__ = ["ArtifactPatches"]

_KIND_CASE = " ".join(
    f"WHEN '{node_type}' THEN '{kind.value}'"
    for node_type, kind in ARTIFACT_KIND_BY_NODE_TYPE.items()
)

_UPSERT = f"""
    WITH patch AS (
        SELECT p.node_run_id, p.content, p.request_id, p.correlation_id
        FROM jsonb_to_recordset(%(patches)s::jsonb)
            AS p(node_run_id text, content jsonb, request_id text, correlation_id text)
    )
    INSERT INTO {SCHEMA}.artifacts AS a (
        id, run_id, node_run_id, node_id, node_type, kind, status, content,
        content_sha256, size_bytes, idempotency_key, request_id, correlation_id
    )
    SELECT 'art_' || nr.id, nr.run_id, nr.id, nr.node_id, nr.node_type,
           CASE nr.node_type {_KIND_CASE} ELSE nr.node_type END,
           nr.status, patch.content,
           encode(sha256(convert_to(patch.content::text, 'UTF8')), 'hex'),
           octet_length(patch.content::text),
           'artifact:' || nr.id, patch.request_id, patch.correlation_id
    FROM patch CROSS JOIN LATERAL (
        SELECT * FROM {SCHEMA}.node_runs AS n WHERE n.id = patch.node_run_id LIMIT 1
    ) AS nr
    ON CONFLICT (node_run_id) DO UPDATE SET
        status = EXCLUDED.status,
        content = a.content || EXCLUDED.content,
        content_sha256 = encode(
            sha256(convert_to((a.content || EXCLUDED.content)::text, 'UTF8')), 'hex'
        ),
        size_bytes = octet_length((a.content || EXCLUDED.content)::text),
        request_id = EXCLUDED.request_id,
        updated_at = now()
    """
"""Upserts the artifacts of every patched node run of a transaction (fixed SQL on the driver:
the statement runs with nearly every step).

The node run is looked up per patch, through its primary key (a lateral subquery with a
``LIMIT``, which the planner cannot flatten into a join). As a plain join, the planner took
``jsonb_to_recordset``'s fixed estimate of 100 rows and hashed them against a sequential scan
of the whole ``node_runs`` table while it was under a few thousand rows: 0.5-1 ms of Postgres
time per step, growing with every node run ever recorded."""


class ArtifactPatches:
    """The artifact changes one transaction makes, flushed in one statement."""

    def __init__(self) -> None:
        self._patches: dict[str, dict[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._patches)

    def add(self, node_run_id: str, content: dict[str, Any]) -> None:
        """Merge ``content`` into the node run's artifact (later keys win)."""
        self._patches.setdefault(node_run_id, {}).update(content)

    def note_event(self, type_name: str, payload: Any) -> None:
        """Derive the patch an emitted run event implies, if any."""
        if type_name == MessageType.NODE_SUCCEEDED:
            self.add(
                payload.node_run_id,
                {"output": payload.output, "warnings": payload.warnings, "error": None},
            )
        elif type_name == MessageType.NODE_FAILED:
            self.add(payload.node_run_id, {"error": payload.error})
        elif type_name == MessageType.NODE_SKIPPED:
            self.add(payload.node_run_id, {"output": payload.output, "error": None})
        elif type_name == MessageType.NODE_ROUTED:
            self.add(payload.node_run_id, {"routing_state": payload.routing_state})
        for cancelled in getattr(payload, "cancelled_node_run_ids", None) or ():
            self.add(cancelled, {})

    @staticmethod
    async def flush_all(
        conn: AsyncConnection, changes: list[tuple[ArtifactPatches, Trace]]
    ) -> None:
        """Upsert the artifacts of several runs' patches (one statement), each recorded with
        the request and correlation of its own step's trace."""
        rows = [
            {
                "node_run_id": node_run_id,
                "content": msgspec.to_builtins(content),
                "request_id": trace.request_id,
                "correlation_id": trace.correlation_id,
            }
            for patches, trace in changes
            for node_run_id, content in sorted(patches._patches.items())
        ]
        if not rows:
            return
        driver = await driver_connection(conn)
        await driver.execute(_UPSERT, {"patches": msgspec.json.encode(rows).decode()})
        for patches, _ in changes:
            patches._patches.clear()
