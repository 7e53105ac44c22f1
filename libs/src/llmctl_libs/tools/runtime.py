"""Runs tool calls: lookup, allowlist, argument validation, idempotent replay, timeout and
retries, output validation, and one audit record per call."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import ErrorBody, ErrorCode
from llmctl_contracts.codec import field_error_from_msgspec
from llmctl_contracts.tools import (
    ToolCaller,
    ToolCallRecord,
    ToolCallRequest,
    ToolCallResult,
    ToolJournalRequest,
    ToolStatus,
)

from ..ids import new_id
from ..rpc import RpcError
from ..store import Database
from ..store.idempotency import request_fingerprint
from .invoker import NodeRunInvokers, node_run_key_prefix
from .registry import ToolRegistry
from .spec import RETRYABLE_CODES, ToolContext, ToolError, ToolSpec
from .store import ToolCallStore

__all__ = ["ToolRuntime"]

logger = logging.getLogger(__name__)

_NOT_REPLAYED = RETRYABLE_CODES | {ErrorCode.INTERNAL}
"""Failures whose key is released: a repeated call runs again instead of replaying them."""


class ToolRuntime(NodeRunInvokers):
    """Executes calls against a registry, recording each in the service's database.

    Without a database (executors) calls run with ``ctx.conn = None``, nothing is
    deduplicated and the audit record goes to the log only.

    Args:
        registry: The tools.
        database: The owning service's database; ``None`` for database-less runtimes.
        store: Where call records live (required with ``database``).
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        database: Database | None = None,
        store: ToolCallStore | None = None,
    ) -> None:
        if (database is None) != (store is None):
            raise ValueError("database and store go together")
        self.registry = registry
        self._db = database
        self._store = store

    async def journal(self, request: ToolJournalRequest) -> list[ToolCallRecord]:
        """The calls one node-run attempt made so far (see :class:`ToolJournalRequest`); empty
        for a database-less runtime, which keeps no records."""
        if self._db is None or self._store is None:
            return []
        async with self._db.transaction() as conn:
            return await self._store.journal(
                conn,
                node_run_id=request.node_run_id,
                key_prefix=node_run_key_prefix(request.node_run_id, request.attempt) + ":",
            )

    async def invoke(self, request: ToolCallRequest) -> ToolCallResult:
        """Run one call and return its result (errors are results with status ``error``)."""
        call = _Call(request)
        try:
            spec = self.registry.get(request.tool, request.version)
        except ToolError as exc:
            return await self._refused(call, 0, exc.body)
        if request.caller is ToolCaller.NODE and request.allowed_tools is None:
            reason = "a node run's call must carry the node's tool allowlist"
            return await self._refused(
                call,
                spec.version,
                ErrorBody.for_field(
                    ErrorCode.VALIDATION_FAILED, "allowed_tools", reason, message=reason
                ),
            )
        if request.allowed_tools is not None and spec.name not in request.allowed_tools:
            reason = "not in this node's tool allowlist"
            return await self._refused(
                call,
                spec.version,
                ErrorBody.for_field(
                    ErrorCode.FORBIDDEN,
                    "tool",
                    reason,
                    message=f"tool {spec.name!r} is not allowed here: {reason}",
                ),
            )
        try:
            args = spec.decode_arguments(request.arguments)
        except msgspec.ValidationError as exc:
            detail = field_error_from_msgspec(exc)
            field = "arguments" + detail.field.removeprefix("$")
            return await self._refused(
                call,
                spec.version,
                ErrorBody.for_field(
                    ErrorCode.VALIDATION_FAILED,
                    field,
                    detail.reason,
                    message=f"invalid arguments for {spec.name}: {field}: {detail.reason}",
                ),
            )
        if self._db is None or self._store is None:
            result = await self._execute(call, spec, args, None)
            self._log(call.record(result))
            return result
        store = self._store
        key = request.idempotency_key
        async with self._db.transaction() as conn:
            if key is not None:
                fingerprint = request_fingerprint(
                    {"tool": spec.name, "version": spec.version, "arguments": request.arguments}
                )
                claim = await store.claim(conn, key, fingerprint)
                if not claim.new:
                    result = self._replay(
                        call, spec, claim.fingerprint == fingerprint, claim.result
                    )
                    await store.append(conn, call.record(result))
                    return result
            result = await self._execute(call, spec, args, conn)
            if key is not None:
                if result.error is not None and result.error.code in _NOT_REPLAYED:
                    await store.release(conn, key)
                else:
                    await store.record_result(conn, key, result)
            await store.append(conn, call.record(result))
        return result

    async def _execute(
        self, call: _Call, spec: ToolSpec[Any, Any], args: Any, conn: AsyncConnection | None
    ) -> ToolCallResult:
        request = call.request
        body: ErrorBody | None = None
        for attempt in range(1, spec.max_attempts + 1):
            ctx = ToolContext(
                call_id=call.call_id,
                tool=spec.name,
                version=spec.version,
                caller=request.caller,
                attempt=attempt,
                idempotency_key=request.idempotency_key,
                run_id=request.run_id,
                node_run_id=request.node_run_id,
                call_index=request.call_index,
                request_id=request.request_id,
                correlation_id=request.correlation_id,
                conn=conn,
            )
            try:
                output = await self._attempt(spec, ctx, args, conn)
            except ToolError as exc:
                body = exc.body
            except RpcError as exc:
                body = exc.body
            except TimeoutError:
                body = ErrorBody(
                    code=ErrorCode.TIMEOUT,
                    message=f"{spec.name} did not finish in {spec.timeout_seconds:g}s",
                )
            except Exception:
                logger.exception("tool %s failed (call %s)", spec.name, call.call_id)
                body = ErrorBody(code=ErrorCode.INTERNAL, message=f"{spec.name} failed")
            else:
                warned = ctx.warnings or ctx.fallback_used
                return call.result(
                    spec.version,
                    ToolStatus.SUCCESS_WITH_WARNING if warned else ToolStatus.SUCCESS,
                    output=output,
                    fallback_used=ctx.fallback_used,
                    warnings=list(ctx.warnings),
                    attempts=attempt,
                )
            if body.code not in RETRYABLE_CODES or attempt == spec.max_attempts:
                return call.result(spec.version, ToolStatus.ERROR, error=body, attempts=attempt)
            await asyncio.sleep(spec.retry_backoff_seconds)
        raise AssertionError("unreachable: max_attempts >= 1")

    @staticmethod
    async def _attempt(
        spec: ToolSpec[Any, Any], ctx: ToolContext, args: Any, conn: AsyncConnection | None
    ) -> dict[str, Any]:
        """One attempt in its own savepoint, so a failed attempt leaves no partial effect."""
        savepoint: AbstractAsyncContextManager[Any] = (
            conn.begin_nested() if conn is not None else nullcontext()
        )
        async with savepoint:
            async with asyncio.timeout(spec.timeout_seconds):
                value = await spec.handler(ctx, args)
            try:
                checked = msgspec.convert(msgspec.to_builtins(value), spec.output_type)
            except msgspec.ValidationError as exc:
                raise ToolError(
                    ErrorBody(
                        code=ErrorCode.INTERNAL,
                        message=f"{spec.name} returned output outside its schema: {exc}",
                    )
                ) from exc
        output: dict[str, Any] = msgspec.to_builtins(checked)
        return output

    @staticmethod
    def _replay(
        call: _Call, spec: ToolSpec[Any, Any], same: bool, recorded: ToolCallResult | None
    ) -> ToolCallResult:
        if not same:
            reason = "this key was already used for a different tool call"
            return call.result(
                spec.version,
                ToolStatus.ERROR,
                error=ErrorBody.for_field(
                    ErrorCode.IDEMPOTENCY_MISMATCH,
                    "idempotency_key",
                    reason,
                    message=f"idempotency key {call.request.idempotency_key!r}: {reason}",
                ),
            )
        if recorded is None:  # the key is claimed and its result committed in one transaction
            raise RuntimeError("idempotency key claimed without a recorded result")
        return msgspec.structs.replace(
            recorded,
            call_id=call.call_id,
            replayed=True,
            request_id=call.request.request_id,
            correlation_id=call.request.correlation_id,
        )

    async def _refused(self, call: _Call, version: int, body: ErrorBody) -> ToolCallResult:
        result = call.result(version, ToolStatus.ERROR, error=body)
        record = call.record(result)
        if self._db is None or self._store is None:
            self._log(record)
            return result
        async with self._db.transaction() as conn:
            await self._store.append(conn, record)
        return result

    @staticmethod
    def _log(record: ToolCallRecord) -> None:
        logger.info(
            "tool call %s %s v%s status=%s attempts=%s ms=%.1f request=%s correlation=%s",
            record.call_id,
            record.tool,
            record.version,
            record.status.value,
            record.attempts,
            record.duration_ms,
            record.request_id,
            record.correlation_id,
        )


class _Call:
    """One call in progress: its id and timing, and how its result and record are built."""

    def __init__(self, request: ToolCallRequest) -> None:
        self.request = request
        self.call_id = new_id()
        self.started = datetime.now(UTC)
        self._clock = time.perf_counter()

    def result(
        self,
        version: int,
        status: ToolStatus,
        *,
        output: dict[str, Any] | None = None,
        error: ErrorBody | None = None,
        fallback_used: bool = False,
        warnings: list[str] | None = None,
        attempts: int = 0,
    ) -> ToolCallResult:
        if error is not None and error.request_id is None:
            error = msgspec.structs.replace(error, request_id=self.request.request_id)
        return ToolCallResult(
            call_id=self.call_id,
            tool=self.request.tool,
            version=version,
            status=status,
            output=output,
            error=error,
            fallback_used=fallback_used,
            warnings=warnings or [],
            attempts=attempts,
            request_id=self.request.request_id,
            correlation_id=self.request.correlation_id,
        )

    def record(self, result: ToolCallResult) -> ToolCallRecord:
        request = self.request
        return ToolCallRecord(
            call_id=self.call_id,
            tool=request.tool,
            version=result.version,
            caller=request.caller,
            status=result.status,
            started_at=self.started.isoformat(),
            finished_at=datetime.now(UTC).isoformat(),
            duration_ms=(time.perf_counter() - self._clock) * 1000,
            idempotency_key=request.idempotency_key,
            run_id=request.run_id,
            node_run_id=request.node_run_id,
            call_index=request.call_index,
            request_id=request.request_id,
            correlation_id=request.correlation_id,
            arguments=request.arguments,
            output=result.output,
            error=result.error,
            fallback_used=result.fallback_used,
            warnings=result.warnings,
            attempts=result.attempts,
            replayed=result.replayed,
        )
