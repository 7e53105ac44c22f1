"""The tool framework over real NATS and Postgres: validation, allowlists, idempotent replay,
timeouts and retries, savepoints, the fallback contract and one audit record per call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
import pytest
import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode, subjects
from llmctl_contracts.tools import ToolCaller, ToolCallRequest, ToolStatus
from llmctl_libs.bus import Bus
from llmctl_libs.ids import new_id
from llmctl_libs.rpc import RpcError, call
from llmctl_libs.store import Database
from llmctl_libs.tools import (
    ToolCallError,
    ToolCallStore,
    ToolClient,
    ToolContext,
    ToolError,
    ToolRegistry,
    ToolRuntime,
    ToolSpec,
    serve_tools,
    tool_call_tables,
)

SCHEMA = "tools_test"
metadata = sa.MetaData(schema=SCHEMA)
tables = tool_call_tables(metadata)
counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)


class AddArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    by: int = 1
    fail_after_write: bool = False


class Counter(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: int


class EchoArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    text: str
    warn: bool = False


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Empty(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


@dataclass
class Flaky:
    """Fails with ``unavailable`` ``failures`` times, then answers; counts attempts."""

    failures: int
    calls: int = 0

    async def __call__(self, ctx: ToolContext, args: Empty) -> Echo:
        self.calls += 1
        if self.calls <= self.failures:
            raise ToolError(ErrorBody(code=ErrorCode.UNAVAILABLE, message="down for a moment"))
        return Echo(text=f"attempt {ctx.attempt}")


async def counter_add(ctx: ToolContext, args: AddArgs) -> Counter:
    conn = ctx.require_conn()
    row = (
        await conn.execute(
            sa.text(
                f"INSERT INTO {SCHEMA}.counters(name, value) VALUES (:n, :v) "
                f"ON CONFLICT (name) DO UPDATE SET value = {SCHEMA}.counters.value + :v "
                "RETURNING value"
            ),
            {"n": args.name, "v": args.by},
        )
    ).one()
    if args.fail_after_write:
        raise ToolError(ErrorBody(code=ErrorCode.CONFLICT, message="refused after writing"))
    return Counter(name=args.name, value=int(row.value))


async def echo(ctx: ToolContext, args: EchoArgs) -> Echo:
    if args.warn:
        ctx.use_fallback("answered by the fallback path")
    return Echo(text=args.text)


async def wrong_output(ctx: ToolContext, args: Empty) -> Echo:
    return {"text": 3}  # type: ignore[return-value]


@dataclass
class Harness:
    runtime: ToolRuntime
    client: ToolClient
    db: Database
    flaky: Flaky
    hang_release: asyncio.Event

    async def counter(self, name: str) -> int | None:
        async with self.db.transaction() as conn:
            value = (
                await conn.execute(sa.select(counters.c.value).where(counters.c.name == name))
            ).scalar()
        return None if value is None else int(value)

    async def records(self, **where: str) -> list[dict[str, object]]:
        t = tables.calls
        query = sa.select(t)
        for column, value in where.items():
            query = query.where(t.c[column] == value)
        async with self.db.transaction() as conn:
            return [dict(r._mapping) for r in await conn.execute(query.order_by(t.c.started_at))]


def build_registry(flaky: Flaky, hang_release: asyncio.Event) -> ToolRegistry:
    async def hang(ctx: ToolContext, args: Empty) -> Echo:
        await hang_release.wait()
        return Echo(text="released")

    return ToolRegistry(
        [
            ToolSpec(
                "counter_add",
                1,
                "test",
                "Add to a counter.",
                AddArgs,
                Counter,
                counter_add,
                writes=True,
            ),
            ToolSpec("echo", 1, "test", "Echo v1.", EchoArgs, Echo, echo),
            ToolSpec("echo", 2, "test", "Echo v2.", EchoArgs, Echo, echo),
            ToolSpec(
                "flaky",
                1,
                "test",
                "Flaky.",
                Empty,
                Echo,
                flaky,
                max_attempts=3,
                retry_backoff_seconds=0.01,
            ),
            ToolSpec(
                "hang",
                1,
                "test",
                "Never answers.",
                Empty,
                Echo,
                hang,
                timeout_seconds=0.2,
                max_attempts=2,
                retry_backoff_seconds=0.01,
            ),
            ToolSpec("wrong_output", 1, "test", "Bad output.", Empty, Echo, wrong_output),
        ]
    )


@pytest.fixture
async def harness(database_url: str, nats_url: str) -> AsyncIterator[Harness]:
    db = Database(database_url)
    async with db.transaction() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
        await conn.run_sync(metadata.create_all)
    flaky, release = Flaky(failures=1), asyncio.Event()
    runtime = ToolRuntime(build_registry(flaky, release), database=db, store=ToolCallStore(tables))
    service = f"tools-{new_id()}"
    server = Bus(nats_url, service=service)
    serve_tools(server, runtime, service=service)
    await server.start()
    caller = Bus(nats_url, service="tools-caller")
    await caller.start()
    try:
        yield Harness(runtime, ToolClient(caller, service=service, timeout=10), db, flaky, release)
    finally:
        release.set()
        await caller.stop()
        await server.stop()
        await db.dispose()


def request(tool: str, arguments: dict[str, object], **extra: object) -> ToolCallRequest:
    return msgspec.convert({"tool": tool, "arguments": arguments, **extra}, ToolCallRequest)


async def test_success_is_audited_with_request_and_correlation_ids(harness: Harness) -> None:
    result = await harness.client.invoke(
        request("echo", {"text": "hi"}, request_id="req-1", correlation_id="corr-1", run_id="r1")
    )
    assert result.status is ToolStatus.SUCCESS
    assert result.output == {"text": "hi"}
    assert result.version == 2  # latest version by default
    assert (result.request_id, result.correlation_id, result.attempts) == ("req-1", "corr-1", 1)
    [row] = await harness.records(call_id=result.call_id)
    assert (row["tool"], row["status"], row["request_id"], row["correlation_id"]) == (
        "echo",
        "success",
        "req-1",
        "corr-1",
    )
    record = row["record"]
    assert isinstance(record, dict)
    assert record["arguments"] == {"text": "hi"}
    assert record["output"] == {"text": "hi"}
    assert record["duration_ms"] >= 0
    assert record["started_at"] <= record["finished_at"]


async def test_pinned_version_and_unknown_version(harness: Harness) -> None:
    assert (await harness.client.invoke(request("echo", {"text": "x"}, version=1))).version == 1
    result = await harness.client.invoke(request("echo", {"text": "x"}, version=7))
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.code is ErrorCode.NOT_FOUND
    assert result.error.details[0].field == "version"


async def test_unknown_tool_is_refused_and_audited(harness: Harness) -> None:
    result = await harness.client.invoke(request("nope", {}, request_id="req-2"))
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert (result.error.code, result.error.details[0].field) == (ErrorCode.NOT_FOUND, "tool")
    assert result.error.request_id == "req-2"
    [row] = await harness.records(call_id=result.call_id)
    assert (row["status"], row["error_code"], row["version"]) == ("error", "not_found", 0)


@pytest.mark.parametrize(
    ("arguments", "field", "reason"),
    [
        ({}, "arguments.name", "required field is missing"),
        ({"name": 5}, "arguments.name", "Expected `str`, got `int`"),
        ({"name": "a", "by": "2"}, "arguments.by", "Expected `int`, got `str`"),
        ({"name": "a", "surprise": 1}, "arguments", "Object contains unknown field `surprise`"),
    ],
)
async def test_schema_violations_name_the_field_and_change_nothing(
    harness: Harness, arguments: dict[str, object], field: str, reason: str
) -> None:
    result = await harness.client.invoke(
        request("counter_add", arguments, idempotency_key=new_id())
    )
    assert result.status is ToolStatus.ERROR
    assert result.attempts == 0
    assert result.error is not None
    assert result.error.code is ErrorCode.VALIDATION_FAILED
    assert result.error.details[0].field == field
    assert result.error.details[0].reason == reason
    assert await harness.counter("a") is None


async def test_malformed_request_gets_an_error_reply(harness: Harness) -> None:
    with pytest.raises(RpcError) as info:
        await call(
            harness.client._bus,
            subjects.tool_call(harness.client._service),
            {"arguments": {}},
            dict,
        )
    assert info.value.body.code is ErrorCode.VALIDATION_FAILED
    assert info.value.body.details[0].field == "$.tool"


async def test_allowlist_is_enforced_by_the_tool_layer(harness: Harness) -> None:
    denied = await harness.client.invoke(
        request("counter_add", {"name": "deny"}, allowed_tools=["echo"], idempotency_key=new_id())
    )
    assert denied.status is ToolStatus.ERROR
    assert denied.error is not None
    assert (denied.error.code, denied.error.details[0].field) == (ErrorCode.FORBIDDEN, "tool")
    assert await harness.counter("deny") is None
    empty = await harness.client.invoke(request("echo", {"text": "x"}, allowed_tools=[]))
    assert empty.error is not None
    assert empty.error.code is ErrorCode.FORBIDDEN  # an empty allowlist allows nothing
    allowed = await harness.client.invoke(request("echo", {"text": "x"}, allowed_tools=["echo"]))
    assert allowed.status is ToolStatus.SUCCESS
    [row] = await harness.records(call_id=denied.call_id)
    assert row["error_code"] == "forbidden"
    unlisted = await harness.client.invoke(request("echo", {"text": "x"}, caller="node"))
    assert unlisted.error is not None
    assert (unlisted.error.code, unlisted.error.details[0].field) == (
        ErrorCode.VALIDATION_FAILED,
        "allowed_tools",
    )


async def test_repeated_key_replays_the_recorded_result_without_a_second_effect(
    harness: Harness,
) -> None:
    key = f"node-run-{new_id()}:0"
    first = await harness.client.invoke(
        request("counter_add", {"name": "c", "by": 5}, idempotency_key=key)
    )
    again = await harness.client.invoke(
        request("counter_add", {"name": "c", "by": 5}, idempotency_key=key)
    )
    assert first.output == again.output == {"name": "c", "value": 5}
    assert (first.replayed, again.replayed) == (False, True)
    assert await harness.counter("c") == 5
    other = await harness.client.invoke(
        request("counter_add", {"name": "c", "by": 5}, idempotency_key=key + "x")
    )
    assert other.output == {"name": "c", "value": 10}
    rows = await harness.records(idempotency_key=key)
    assert len(rows) == 2  # one audit record per call, the replay included
    assert [r["record"]["replayed"] for r in rows] == [False, True]  # type: ignore[index]


async def test_concurrent_calls_with_one_key_have_one_effect(harness: Harness) -> None:
    key = new_id()
    results = await asyncio.gather(
        *(
            harness.client.invoke(request("counter_add", {"name": "conc"}, idempotency_key=key))
            for _ in range(5)
        )
    )
    assert await harness.counter("conc") == 1
    assert {r.output["value"] for r in results if r.output} == {1}
    assert sum(not r.replayed for r in results) == 1


async def test_same_key_different_arguments_is_a_conflict(harness: Harness) -> None:
    key = new_id()
    await harness.client.invoke(request("counter_add", {"name": "m", "by": 1}, idempotency_key=key))
    clash = await harness.client.invoke(
        request("counter_add", {"name": "m", "by": 2}, idempotency_key=key)
    )
    assert clash.status is ToolStatus.ERROR
    assert clash.error is not None
    assert (clash.error.code, clash.error.details[0].field) == (
        ErrorCode.IDEMPOTENCY_MISMATCH,
        "idempotency_key",
    )
    assert await harness.counter("m") == 1


async def test_failed_attempt_rolls_its_writes_back_and_is_replayed(harness: Harness) -> None:
    key = new_id()
    failed = await harness.client.invoke(
        request("counter_add", {"name": "rb", "fail_after_write": True}, idempotency_key=key)
    )
    assert failed.error is not None
    assert failed.error.code is ErrorCode.CONFLICT
    assert await harness.counter("rb") is None  # the attempt's savepoint was rolled back
    replay = await harness.client.invoke(
        request("counter_add", {"name": "rb", "fail_after_write": True}, idempotency_key=key)
    )
    assert replay.replayed
    assert replay.error == failed.error  # a definite failure is recorded like a success


async def test_retryable_failures_are_retried(harness: Harness) -> None:
    result = await harness.client.invoke(request("flaky", {}))
    assert result.status is ToolStatus.SUCCESS
    assert result.attempts == 2
    assert result.output == {"text": "attempt 2"}
    assert harness.flaky.calls == 2


async def test_timeout_per_attempt_then_error_and_the_key_is_released(harness: Harness) -> None:
    key = new_id()
    result = await harness.client.invoke(request("hang", {}, idempotency_key=key))
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.code is ErrorCode.TIMEOUT
    assert result.attempts == 2
    harness.hang_release.set()
    again = await harness.client.invoke(request("hang", {}, idempotency_key=key))
    assert (again.status, again.replayed, again.output) == (
        ToolStatus.SUCCESS,
        False,
        {"text": "released"},
    )


async def test_fallback_contract(harness: Harness) -> None:
    result = await harness.client.invoke(request("echo", {"text": "x", "warn": True}))
    assert result.status is ToolStatus.SUCCESS_WITH_WARNING
    assert result.fallback_used
    assert result.warnings == ["answered by the fallback path"]
    [row] = await harness.records(call_id=result.call_id)
    assert row["status"] == "success_with_warning"


async def test_output_outside_its_schema_is_an_internal_error(harness: Harness) -> None:
    result = await harness.client.invoke(request("wrong_output", {}))
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.code is ErrorCode.INTERNAL
    assert "outside its schema" in result.error.message


@pytest.mark.parametrize("over_the_bus", [True, False])
async def test_node_run_invoker(harness: Harness, over_the_bus: bool) -> None:
    source = harness.client if over_the_bus else harness.runtime
    node_run_id = new_id()
    tools = source.for_node_run(
        node_run_id=node_run_id,
        run_id="run-1",
        allowed_tools=["counter_add", "echo"],
        request_id="rq",
    )
    assert await tools("counter_add", {"name": node_run_id}) == {"name": node_run_id, "value": 1}
    assert await tools("echo", {"text": "b"}) == {"text": "b"}
    with pytest.raises(ToolCallError) as info:
        await tools("flaky", {})
    assert info.value.body.code is ErrorCode.FORBIDDEN
    assert info.value.result is not None
    rows = await harness.records(node_run_id=node_run_id)
    assert [(r["call_index"], r["idempotency_key"], r["caller"]) for r in rows] == [
        (i, f"{node_run_id}:{i}", ToolCaller.NODE.value) for i in range(3)
    ]
    # the node run executed again (e.g. a redelivered command) replays instead of re-adding
    rerun = source.for_node_run(
        node_run_id=node_run_id, run_id="run-1", allowed_tools=["counter_add"]
    )
    assert await rerun("counter_add", {"name": node_run_id}) == {"name": node_run_id, "value": 1}
    assert rerun.results[0].replayed
    assert await harness.counter(node_run_id) == 1


async def test_invoker_raises_with_a_body_when_nobody_answers(nats_url: str) -> None:
    bus = Bus(nats_url, service="tools-lonely")
    await bus.start()
    try:
        tools = ToolClient(bus, service=f"absent-{new_id()}", timeout=2).for_node_run(
            node_run_id="n", run_id="r", allowed_tools=["echo"]
        )
        with pytest.raises(ToolCallError) as info:
            await tools("echo", {"text": "x"})
        assert info.value.body.code is ErrorCode.UNAVAILABLE
        assert info.value.result is None
    finally:
        await bus.stop()


async def test_list_tools_over_the_bus(harness: Harness) -> None:
    tools = await harness.client.list_tools()
    assert [(t.name, t.version) for t in tools] == [
        ("counter_add", 1),
        ("echo", 2),
        ("flaky", 1),
        ("hang", 1),
        ("wrong_output", 1),
    ]
    every = await harness.client.list_tools(all_versions=True)
    assert ("echo", 1) in [(t.name, t.version) for t in every]
    add = tools[0]
    assert add.writes
    assert add.input_schema["required"] == ["name"]
    assert add.input_schema["properties"]["by"] == {"type": "integer", "default": 1}


async def test_effect_and_records_commit_together(harness: Harness) -> None:
    """When the call cannot be recorded, its effect and its key are rolled back with it."""
    key = new_id()
    async with harness.db.transaction() as conn:
        await conn.execute(sa.text(f"ALTER TABLE {SCHEMA}.tool_calls RENAME TO tool_calls_away"))
    try:
        with pytest.raises(RpcError) as info:
            await harness.client.invoke(
                request("counter_add", {"name": "atomic"}, idempotency_key=key)
            )
        assert info.value.body.code is ErrorCode.INTERNAL
    finally:
        async with harness.db.transaction() as conn:
            await conn.execute(
                sa.text(f"ALTER TABLE {SCHEMA}.tool_calls_away RENAME TO tool_calls")
            )
    assert await harness.counter("atomic") is None
    retried = await harness.client.invoke(
        request("counter_add", {"name": "atomic"}, idempotency_key=key)
    )
    assert (retried.replayed, retried.output) == (False, {"name": "atomic", "value": 1})
    assert await harness.counter("atomic") == 1


async def test_journal_lists_one_attempts_calls_by_index_without_replays(
    harness: Harness,
) -> None:
    node_run = f"nr-{new_id()}"
    first = harness.client.for_node_run(
        node_run_id=node_run, run_id="r-journal", allowed_tools=["counter_add", "echo"], attempt=1
    )
    await first("counter_add", {"name": f"j-{node_run}"})
    with pytest.raises(ToolCallError):
        await first("wrong_output", {})  # refused by the allowlist: still part of the journal
    await first("echo", {"text": "third"})
    again = harness.client.for_node_run(
        node_run_id=node_run, run_id="r-journal", allowed_tools=["counter_add", "echo"], attempt=1
    )
    assert (await again("counter_add", {"name": f"j-{node_run}"}))[
        "value"
    ] == 1  # a replay, not a second add
    tenth = harness.client.for_node_run(
        node_run_id=node_run, run_id="r-journal", allowed_tools=["echo"], attempt=10
    )
    await tenth("echo", {"text": "attempt ten"})  # "<nr>:10:0" must not match attempt 1

    journal = await harness.client.journal(node_run_id=node_run, attempt=1)
    assert [(r.call_index, r.tool, r.status, r.replayed) for r in journal] == [
        (0, "counter_add", ToolStatus.SUCCESS, False),
        (1, "wrong_output", ToolStatus.ERROR, False),
        (2, "echo", ToolStatus.SUCCESS, False),
    ]
    assert journal[0].arguments == {"name": f"j-{node_run}"}
    assert journal[2].output == {"text": "third"}
    [only] = await harness.client.journal(node_run_id=node_run, attempt=10)
    assert only.output == {"text": "attempt ten"}
    assert await harness.client.journal(node_run_id="nr-none", attempt=1) == []


async def test_journal_request_is_validated(harness: Harness) -> None:
    with pytest.raises(RpcError) as refused:
        await harness.client.journal(node_run_id="nr", attempt=0)
    assert refused.value.body.code is ErrorCode.VALIDATION_FAILED
    assert refused.value.body.details[0].field == "$.attempt"
