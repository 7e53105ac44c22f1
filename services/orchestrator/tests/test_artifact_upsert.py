"""The step's artifact upsert against real Postgres: one artifact per node run, patches merged
into it, node and status taken from the node run; and the node run found through its primary
key whatever the size of ``node_runs``."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from llmctl_libs.messages import Trace
from llmctl_libs.store import Database
from llmctl_libs.store.driver import driver_connection
from llmctl_orchestrator.artifacts import _UPSERT, ArtifactPatches
from llmctl_orchestrator.tables import artifacts, node_runs

RUN = "run-1"
TRACE = Trace(correlation_id="corr-1", request_id="req-1")


@pytest.fixture
def db(orchestrator_db: Database) -> Database:
    return orchestrator_db


async def _add_node_runs(db: Database, count: int, *, status: str = "succeeded") -> None:
    """``n0#0`` ... node runs of RUN, written in one statement, then analyzed (as autovacuum
    would) so the planner knows the table's size."""
    async with db.transaction() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO orchestrator.node_runs "
                "(id, run_id, node_id, node_type, execution_index, status, attempt, "
                "input_context, updated_at) "
                "SELECT 'n' || i || '#0', :run, 'n' || i, 'decision', 0, :status, 1, "
                "jsonb_build_object('padding', repeat('x', 400)), now() "
                "FROM generate_series(0, :count - 1) AS i"
            ),
            {"run": RUN, "count": count, "status": status},
        )
    async with db.autocommit() as conn:
        await conn.execute(sa.text("ANALYZE orchestrator.node_runs"))


async def _artifacts(db: Database) -> dict[str, Any]:
    async with db.autocommit() as conn:
        result = await conn.execute(sa.select(artifacts))
    return {row.node_run_id: row for row in result}


async def test_patches_merge_into_one_artifact_per_node_run(db: Database) -> None:
    await _add_node_runs(db, 3)
    first, second = ArtifactPatches(), ArtifactPatches()
    first.add("n0#0", {"output": {"a": 1}, "warnings": []})
    first.add("n1#0", {"error": {"code": "x"}})
    async with db.transaction() as conn:
        await ArtifactPatches.flush_all(conn, [(first, TRACE)])
    second.add("n0#0", {"routing_state": {"matched_connector_ids": ["c1"]}})
    async with db.transaction() as conn:
        await conn.execute(
            sa.update(node_runs).where(node_runs.c.id == "n0#0").values(status="failed")
        )
        await ArtifactPatches.flush_all(conn, [(second, TRACE)])

    stored = await _artifacts(db)
    assert set(stored) == {"n0#0", "n1#0"}  # n2 was never patched
    merged = stored["n0#0"]
    assert merged.content == {
        "output": {"a": 1},
        "warnings": [],
        "routing_state": {"matched_connector_ids": ["c1"]},
    }
    assert merged.status == "failed"  # the node run's status as of the latest patch
    assert (merged.node_id, merged.kind, merged.run_id) == ("n0", "decision_evaluation", RUN)
    assert (merged.id, merged.idempotency_key) == ("art_n0#0", "artifact:n0#0")
    assert (merged.request_id, merged.correlation_id) == ("req-1", "corr-1")
    assert stored["n1#0"].content == {"error": {"code": "x"}}
    assert not first  # flushed patches are cleared
    assert not second


async def test_a_patch_without_its_node_run_writes_nothing(db: Database) -> None:
    patches = ArtifactPatches()
    patches.add("missing#0", {"output": {}})
    async with db.transaction() as conn:
        await ArtifactPatches.flush_all(conn, [(patches, TRACE)])
    assert await _artifacts(db) == {}


def _scans(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = [(plan["Node Type"], plan.get("Relation Name"))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_the_upsert_looks_node_runs_up_by_key_not_by_scanning_them(db: Database) -> None:
    # A few thousand node runs: the size at which a join against jsonb_to_recordset's fixed
    # estimate of 100 rows made the planner hash a sequential scan of the whole table.
    await _add_node_runs(db, 3_000)
    patches = '[{"node_run_id": "n7#0", "content": {}, "request_id": "r", "correlation_id": "c"}]'
    async with db.transaction() as conn:
        driver = await driver_connection(conn)
        cursor = await driver.execute(
            "EXPLAIN (FORMAT JSON) " + _UPSERT, {"patches": patches}, prepare=False
        )
        row = await cursor.fetchone()
    assert row is not None
    scans = _scans(row[0][0]["Plan"])
    assert ("Seq Scan", "node_runs") not in scans
    assert ("Index Scan", "node_runs") in scans
