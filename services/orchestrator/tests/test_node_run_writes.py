"""Buffered node-run writes against real Postgres: inserts and updates are written at flush,
updates of new node runs fold into their inserts, and the final values always win."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from llmctl_libs.store import Database
from llmctl_orchestrator.node_run_writes import (
    INSERTED_COLUMNS,
    NodeRunWrites,
    flush_node_run_writes,
)
from llmctl_orchestrator.tables import node_runs


@pytest.fixture
def db(orchestrator_db: Database) -> Database:
    return orchestrator_db


def _row(node_run_id: str, run_id: str = "run-1", **values: Any) -> dict[str, Any]:
    node_id, _, index = node_run_id.partition("#")
    row: dict[str, Any] = {
        "id": node_run_id,
        "run_id": run_id,
        "node_id": node_id,
        "node_type": "task",
        "execution_index": int(index or 0),
        "status": "queued",
        "attempt": 0,
        "input_context": {"in": node_run_id},
        "output": None,
    }
    return {**row, **values}


async def _rows(db: Database) -> dict[str, Any]:
    async with db.transaction() as conn:
        result = await conn.execute(sa.select(node_runs).order_by(node_runs.c.id))
    return {row.id: row for row in result}


async def _insert_existing(db: Database, *rows: dict[str, Any]) -> None:
    async with db.transaction() as conn:
        await conn.execute(sa.insert(node_runs), list(rows))


async def test_buffered_inserts_are_invisible_until_flush(db: Database) -> None:
    writes = NodeRunWrites()
    assert not writes
    async with db.transaction() as conn:
        writes.insert(_row("a#0"))
        writes.insert(_row("b#0", status="succeeded", attempt=1, output={"x": 1}))
        assert writes
        count = sa.select(sa.func.count()).select_from(node_runs)
        assert await conn.scalar(count) == 0
        await writes.flush(conn)
        assert not writes
        assert await conn.scalar(count) == 2  # the transaction reads its own writes
    rows = await _rows(db)
    assert sorted(rows) == ["a#0", "b#0"]
    assert (rows["a#0"].status, rows["a#0"].attempt, rows["a#0"].output) == ("queued", 0, None)
    assert (rows["b#0"].status, rows["b#0"].attempt, rows["b#0"].output) == (
        "succeeded",
        1,
        {"x": 1},
    )
    assert rows["a#0"].input_context == {"in": "a#0"}
    assert rows["a#0"].node_id == "a"
    assert rows["a#0"].run_id == "run-1"


async def test_an_update_of_a_new_node_run_is_folded_into_its_insert(db: Database) -> None:
    writes = NodeRunWrites()
    writes.insert(_row("a#0"))
    writes.update("a#0", {"status": "running", "attempt": 1})
    writes.update("a#0", {"status": "succeeded", "output": {"answer": 42}})
    assert writes._updates == {}  # folded: one insert, no update statement
    async with db.transaction() as conn:
        await writes.flush(conn)
    (row,) = (await _rows(db)).values()
    assert (row.status, row.attempt, row.output) == ("succeeded", 1, {"answer": 42})


async def test_an_update_outside_the_inserted_columns_is_applied_after_the_insert(
    db: Database,
) -> None:
    writes = NodeRunWrites()
    writes.insert(_row("a#0"))
    writes.update("a#0", {"status": "routed", "routing_state": {"matched": ["c1"]}})
    async with db.transaction() as conn:
        await writes.flush(conn)
    (row,) = (await _rows(db)).values()
    assert (row.status, row.routing_state) == ("routed", {"matched": ["c1"]})
    assert row.error is None


async def test_a_later_update_after_an_unfolded_one_still_wins(db: Database) -> None:
    writes = NodeRunWrites()
    writes.insert(_row("a#0"))
    writes.update("a#0", {"status": "a", "error": {"code": "internal", "message": "boom"}})
    writes.update("a#0", {"status": "b"})  # foldable on its own, but must not be undone
    async with db.transaction() as conn:
        await writes.flush(conn)
    (row,) = (await _rows(db)).values()
    assert row.status == "b"
    assert row.error == {"code": "internal", "message": "boom"}


async def test_updates_of_existing_rows_across_buffers_are_all_applied(db: Database) -> None:
    await _insert_existing(
        db,
        *(_row(f"{n}#0", run_id="run-1") for n in "ab"),
        *(_row(f"{n}#0", run_id="run-2") for n in "cdf"),
    )
    first, second = NodeRunWrites(), NodeRunWrites()
    first.update("a#0", {"status": "running", "attempt": 1})
    first.update("b#0", {"status": "failed", "error": {"message": "b"}})
    first.insert(_row("e#0", status="succeeded", output={"e": True}))
    second.update("c#0", {"status": "running", "attempt": 2})  # the same columns as a#0
    second.update("d#0", {"status": "failed", "error": {"message": "d"}})  # as b#0
    second.update("f#0", {"status": "running"})
    second.update("f#0", {"attempt": 3})  # merged: then the same columns as a#0
    async with db.transaction() as conn:
        await flush_node_run_writes(conn, [first, second])
    assert not first
    assert not second
    rows = await _rows(db)
    assert {
        node_run_id: (row.status, row.attempt, row.error) for node_run_id, row in rows.items()
    } == {
        "a#0": ("running", 1, None),
        "b#0": ("failed", 0, {"message": "b"}),
        "c#0": ("running", 2, None),
        "d#0": ("failed", 0, {"message": "d"}),
        "e#0": ("succeeded", 0, None),
        "f#0": ("running", 3, None),
    }
    assert rows["e#0"].output == {"e": True}
    assert {node_run_id: row.input_context for node_run_id, row in rows.items()} == {
        node_run_id: {"in": node_run_id} for node_run_id in rows
    }  # columns outside an update are left alone


async def test_json_values_round_trip(db: Database) -> None:
    nested = {"list": [1, "two", None, {"three": 3.5}], "flag": False, "text": "é\"'"}
    writes = NodeRunWrites()
    writes.insert(_row("a#0", input_context=nested, output=None))
    writes.insert(_row("b#0", input_context={}, output={"out": nested}))
    async with db.transaction() as conn:
        await writes.flush(conn)
        writes.update("b#0", {"routing_state": {"fired": []}, "output": None})
        await writes.flush(conn)
        kinds = (
            await conn.execute(
                sa.select(
                    node_runs.c.id,
                    sa.func.jsonb_typeof(node_runs.c.output),
                    sa.func.jsonb_typeof(node_runs.c.routing_state),
                ).order_by(node_runs.c.id)
            )
        ).all()
    assert [tuple(k) for k in kinds] == [("a#0", "null", None), ("b#0", "null", "object")]
    rows = await _rows(db)
    assert rows["a#0"].input_context == nested
    assert rows["a#0"].output is None
    assert rows["b#0"].input_context == {}
    assert rows["b#0"].output is None
    assert rows["b#0"].routing_state == {"fired": []}


async def test_an_insert_without_every_inserted_column_is_refused() -> None:
    writes = NodeRunWrites()
    row = _row("a#0")
    del row["input_context"]
    with pytest.raises(ValueError, match="input_context"):
        writes.insert(row)
    assert not writes
    assert "input_context" in INSERTED_COLUMNS
