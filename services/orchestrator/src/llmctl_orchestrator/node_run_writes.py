"""Node-run projection writes of one transaction, buffered and written in a few statements.

A step inserts a node run when it queues one and updates it as it is dispatched, succeeds, is
routed, fails or is cancelled. Written one statement each, these were most of a batch's round
trips. Instead, a run's writer buffers them: an update of a node run inserted in the same
transaction is folded into its insert, other updates are merged per node run, and
:func:`flush_node_run_writes` writes every buffered insert in one statement and every update
in one statement per set of columns. Anything that reads node runs, or changes them with its
own statement, flushes the run's buffer first (:meth:`NodeRunWrites.flush`), so a transaction
always reads its own writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_libs.store.driver import driver_connection

from .tables import node_runs

__all__ = ["INSERTED_COLUMNS", "NodeRunWrites", "flush_node_run_writes"]

INSERTED_COLUMNS = (
    "id",
    "run_id",
    "node_id",
    "node_type",
    "execution_index",
    "status",
    "attempt",
    "input_context",
    "output",
)
"""Columns a queued node run is inserted with (later updates may set any of them but the id)."""

_SQL_TYPES = {
    sa.Text: "text",
    sa.String: "text",
    sa.Integer: "integer",
    sa.BigInteger: "bigint",
    sa.Boolean: "boolean",
    sa.DateTime: "timestamptz",
    JSONB: "jsonb",
}


def _sql_type(column: str) -> str:
    kind = type(node_runs.c[column].type)
    for base, name in _SQL_TYPES.items():
        if issubclass(kind, base):
            return name
    raise TypeError(f"node_runs.{column}: no array type for {kind.__name__}")


_JSON_COLUMNS = frozenset(c.name for c in node_runs.c if isinstance(c.type, JSONB))
_TABLE = f"{node_runs.schema}.node_runs"
_UPDATED_AT = "updated_at"
_statements: dict[tuple[str, ...], str] = {}
"""Update statements by the columns they set (a handful of shapes)."""


def _param(column: str, value: Any) -> Any:
    # msgspec encodes JSON several times faster than the json module psycopg uses by default
    return Jsonb(value, dumps=msgspec.json.encode) if column in _JSON_COLUMNS else value


def _insert_statement() -> str:
    names = ", ".join(INSERTED_COLUMNS)
    arrays = ", ".join(f"%({c})b::{_sql_type(c)}[]" for c in INSERTED_COLUMNS)
    return (
        f"INSERT INTO {_TABLE} ({names}, {_UPDATED_AT}) "
        f"SELECT {names}, %(now)s FROM unnest({arrays}) AS v({names})"
    )


_INSERT = _insert_statement()


def _update_statement(columns: tuple[str, ...]) -> str:
    statement = _statements.get(columns)
    if statement is None:
        every = ("id", *columns)
        arrays = ", ".join(f"%({c})b::{_sql_type(c)}[]" for c in every)
        assignments = ", ".join(f"{c} = v.{c}" for c in columns)
        statement = (
            f"UPDATE {_TABLE} AS n SET {assignments}, {_UPDATED_AT} = %(now)s "
            f"FROM unnest({arrays}) AS v({', '.join(every)}) WHERE n.id = v.id"
        )
        _statements[columns] = statement
    return statement


class NodeRunWrites:
    """One run's buffered node-run inserts and updates in the current transaction."""

    def __init__(self) -> None:
        self._inserts: dict[str, dict[str, Any]] = {}
        self._updates: dict[str, dict[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._inserts or self._updates)

    def insert(self, row: dict[str, Any]) -> None:
        """Buffer a new node run (``row`` has every column of :data:`INSERTED_COLUMNS`)."""
        missing = set(INSERTED_COLUMNS) - set(row)
        if missing:
            raise ValueError(f"node run insert lacks {sorted(missing)}")
        self._inserts[row["id"]] = dict(row)

    def update(self, node_run_id: str, values: dict[str, Any]) -> None:
        """Buffer changes to a node run (folded into its insert if it is new here)."""
        inserted = self._inserts.get(node_run_id)
        folds = node_run_id not in self._updates and set(values) <= set(INSERTED_COLUMNS)
        if inserted is not None and folds:
            inserted.update(values)
        else:
            self._updates.setdefault(node_run_id, {}).update(values)

    async def flush(self, conn: AsyncConnection) -> None:
        """Write what is buffered now (before reading node runs or changing them directly)."""
        await flush_node_run_writes(conn, [self])

    def _take(self) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        inserts, updates = list(self._inserts.values()), self._updates
        self._inserts, self._updates = {}, {}
        return inserts, updates


async def flush_node_run_writes(conn: AsyncConnection, buffers: Iterable[NodeRunWrites]) -> None:
    """Write the buffered node-run changes of several runs: one insert for all new node runs,
    then one update per set of changed columns."""
    inserts: list[dict[str, Any]] = []
    by_columns: dict[tuple[str, ...], list[tuple[str, dict[str, Any]]]] = {}
    for buffer in buffers:
        new, changed = buffer._take()
        inserts += new
        for node_run_id, values in changed.items():
            by_columns.setdefault(tuple(sorted(values)), []).append((node_run_id, values))
    if not inserts and not by_columns:
        return
    driver = await driver_connection(conn)
    now = datetime.now(UTC)
    if inserts:
        params: dict[str, Any] = {
            column: [_param(column, row[column]) for row in inserts] for column in INSERTED_COLUMNS
        }
        await driver.execute(_INSERT, {**params, "now": now})
    for columns, changes in by_columns.items():
        params = {"id": [node_run_id for node_run_id, _ in changes], "now": now}
        for column in columns:
            params[column] = [_param(column, values[column]) for _, values in changes]
        await driver.execute(_update_statement(columns), params)
