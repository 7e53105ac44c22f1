"""Retention of bookkeeping rows: published outbox rows, inbox rows, remembered idempotent
requests and replayable tool results are deleted once they are older than their retention.

Each service with a schema runs one :class:`RetentionSweeper` (started by the service
runtime): every ``LLMCTL_RETENTION_INTERVAL_SECONDS`` (default 3600; 0 disables it) it deletes,
per :class:`RetentionRule`, the rows older than the rule's retention, in batches so no
statement holds many locks. Inbox rows are kept at least as long as the streams keep a
message (a redelivery may come until then). What is kept for good: events (the run history)
and tool call audit records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ..bus import STREAM_MAX_AGE_SECONDS
from .database import Database

__all__ = [
    "INTERVAL_ENV",
    "RetentionRule",
    "RetentionSweeper",
    "idempotency_retention",
    "inbox_retention",
    "outbox_retention",
    "sweep_interval_from_env",
    "tool_results_retention",
]

logger = logging.getLogger(__name__)

INTERVAL_ENV = "LLMCTL_RETENTION_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 3600.0
BATCH = 5000


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """Rows of ``table`` whose ``column`` (a timestamp) is older than the retention go.

    Attributes:
        name: What the rows are, for logs.
        table: The table.
        column: Name of its timestamp column.
        env: Environment variable holding the retention in hours.
        default_hours: Retention when ``env`` is unset.
        only_when: Further condition a row must meet to go (e.g. published).
        min_hours: The shortest retention the setting may ask for.
        min_reason: Why (for the error naming the setting).
    """

    name: str
    table: sa.Table
    column: str
    env: str
    default_hours: float
    only_when: sa.ColumnElement[bool] | None = None
    min_hours: float = 0.0
    min_reason: str = ""

    def keep(self, environ: Mapping[str, str] = os.environ) -> timedelta:
        """The retention, from ``env`` or the default.

        Raises:
            SystemExit: the variable is not a number of hours > 0, or is below ``min_hours``
                (naming it).
        """
        hours = _env_number(environ, self.env, self.default_hours, "hours", allow_zero=False)
        if hours < self.min_hours:
            raise SystemExit(
                f"{self.env} must be at least {self.min_hours:g} hours ({self.min_reason}), "
                f"got {environ.get(self.env, '').strip()!r}"
            )
        return timedelta(hours=hours)


def outbox_retention(outbox: sa.Table) -> RetentionRule:
    """Published outbox rows, kept a day by default (``LLMCTL_RETENTION_OUTBOX_HOURS``)."""
    return RetentionRule(
        name="published outbox rows",
        table=outbox,
        column="published_at",
        env="LLMCTL_RETENTION_OUTBOX_HOURS",
        default_hours=24,
        only_when=outbox.c.published_at.is_not(None),
    )


def inbox_retention(inbox: sa.Table) -> RetentionRule:
    """Inbox rows (processed message ids), kept 14 days by default and never less than the
    streams keep a message (``LLMCTL_RETENTION_INBOX_HOURS``): a copy of a message can be
    delivered again only while its stream still holds it."""
    stream_hours = STREAM_MAX_AGE_SECONDS / 3600
    return RetentionRule(
        name="inbox rows",
        table=inbox,
        column="processed_at",
        env="LLMCTL_RETENTION_INBOX_HOURS",
        default_hours=2 * stream_hours,
        min_hours=stream_hours,
        min_reason="the streams keep a message that long, and a redelivered copy needs its "
        "inbox row",
    )


def idempotency_retention(idempotency: sa.Table) -> RetentionRule:
    """Remembered ``Idempotency-Key`` requests, kept 7 days by default
    (``LLMCTL_RETENTION_IDEMPOTENCY_HOURS``): a retry with the same key after that runs again."""
    return RetentionRule(
        name="idempotent requests",
        table=idempotency,
        column="created_at",
        env="LLMCTL_RETENTION_IDEMPOTENCY_HOURS",
        default_hours=7 * 24,
    )


def tool_results_retention(results: sa.Table) -> RetentionRule:
    """Replayable tool results, kept 30 days by default (``LLMCTL_RETENTION_TOOL_RESULTS_HOURS``);
    the audit records stay."""
    return RetentionRule(
        name="replayable tool results",
        table=results,
        column="created_at",
        env="LLMCTL_RETENTION_TOOL_RESULTS_HOURS",
        default_hours=30 * 24,
    )


def sweep_interval_from_env(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds between sweeps; 0 disables them.

    Raises:
        SystemExit: the variable is not a number of seconds >= 0 (naming it).
    """
    return _env_number(environ, INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS, "seconds", allow_zero=True)


def _env_number(
    environ: Mapping[str, str], name: str, default: float, unit: str, *, allow_zero: bool
) -> float:
    """``name`` as a number of ``unit`` (``default`` when unset), > 0 or, with ``allow_zero``,
    >= 0; anything else stops the service naming the variable."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value >= 0 if allow_zero else value > 0):
        bound = ">= 0" if allow_zero else "> 0"
        raise SystemExit(f"{name} must be a number of {unit} {bound}, got {raw!r}")
    return value


class RetentionSweeper:
    """Deletes expired rows of each rule, now and then.

    Args:
        database: The service's database.
        rules: What to delete (retentions are read from the environment here, so a bad
            setting stops the service at start).
        interval_seconds: Seconds between sweeps (0: :meth:`start` does nothing).
        batch: Rows per delete statement.
        environ: Where the retentions are read.
    """

    def __init__(
        self,
        database: Database,
        rules: list[RetentionRule],
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        batch: int = BATCH,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self._db = database
        self._rules = [(rule, rule.keep(environ)) for rule in rules]
        self._interval = interval_seconds
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> dict[str, int]:
        """Delete every expired row now; rows deleted per rule name."""
        deleted: dict[str, int] = {}
        for rule, keep in self._rules:
            column = rule.table.c[rule.column]
            expired = column < sa.func.now() - keep
            if rule.only_when is not None:
                expired = sa.and_(rule.only_when, expired)
            ctid: sa.ColumnClause[Any] = sa.literal_column("ctid")
            statement = sa.delete(rule.table).where(
                ctid.in_(sa.select(ctid).select_from(rule.table).where(expired).limit(self._batch))
            )
            total = 0
            while True:
                async with self._db.transaction() as conn:
                    count = (await conn.execute(statement)).rowcount
                total += count
                if count < self._batch:
                    break
            deleted[rule.name] = total
            if total:
                logger.info("retention: deleted %d %s older than %s", total, rule.name, keep)
        return deleted

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("retention sweep failed; trying again at the next interval")
            await asyncio.sleep(self._interval)

    async def start(self) -> None:
        """Sweep now and then every interval, in the background (not when disabled)."""
        if self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop sweeping."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
