"""The task agent loop: tool calls through each provider's real SDK against the demo model.

The tools run in a real (database-less) :class:`ToolRuntime`, so allowlists, argument
validation and error shapes are the framework's own; the bus path is covered end to end in
``tests/e2e/test_task_tools.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import msgspec
import pytest

from llmctl_contracts import ErrorCode
from llmctl_contracts.commands import ExecuteNode
from llmctl_contracts.flowchart import TaskNode
from llmctl_contracts.tools import ToolCaller, ToolCallRecord, ToolStatus
from llmctl_executor_frontier.node_tools import NodeTools
from llmctl_executor_frontier.providers import ProviderRegistry
from llmctl_executor_frontier.task import TaskFailure, run_task
from llmctl_infra.testing import DemoLLMHandle
from llmctl_libs.tools import ToolContext, ToolRegistry, ToolRuntime, ToolSpec

from .conftest import OUTPUT_SCHEMA, binding, root_url

PROVIDERS = ["openai", "anthropic", "gemini"]


class NoteArgs(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    text: str


class Note(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    count: int


class Empty(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Count(msgspec.Struct, frozen=True, kw_only=True):
    count: int


@dataclass
class Notebook:
    """The tools' state: every note added, in order."""

    notes: list[str] = field(default_factory=list)

    def runtime(self) -> ToolRuntime:
        async def note_add(ctx: ToolContext, args: NoteArgs) -> Note:
            self.notes.append(args.text)
            return Note(id=len(self.notes), count=len(self.notes))

        async def note_count(ctx: ToolContext, args: Empty) -> Count:
            return Count(count=len(self.notes))

        return ToolRuntime(
            ToolRegistry(
                [
                    ToolSpec("note_add", 1, "test", "Add a note.", NoteArgs, Note, note_add, True),
                    ToolSpec("note_count", 1, "test", "Count notes.", Empty, Count, note_count),
                ]
            )
        )


def command(
    prompt: str,
    allowlist: list[str],
    *,
    output_schema: dict[str, Any] | None = None,
    max_tool_rounds: int = 10,
) -> ExecuteNode:
    return ExecuteNode(
        node_run_id="nr-tools",
        attempt=1,
        node=TaskNode(
            id="agent",
            prompt=prompt,
            output_schema=output_schema,
            tool_allowlist=allowlist,
            max_tool_rounds=max_tool_rounds,
        ),
        input_context={"run": {"input": {}}},
        timeout_seconds=30,
    )


def node_tools(
    book: Notebook, allowlist: list[str], journal: list[ToolCallRecord] | None = None
) -> NodeTools:
    runtime = book.runtime()
    start = 1 + max((r.call_index or 0 for r in journal or []), default=-1)
    return NodeTools(
        descriptors=[d for d in runtime.registry.describe() if d.name in allowlist],
        invoker=runtime.for_node_run(
            node_run_id="nr-tools",
            run_id="run-tools",
            allowed_tools=allowlist,
            attempt=1,
            start_index=start,
        ),
        journal=journal or [],
    )


def model_for(provider: str, demo: DemoLLMHandle) -> Any:
    return binding(provider, demo.base_url if provider == "openai" else root_url(demo))


def tool_results_sent(provider: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results a provider request carries, decoded, in order."""
    if provider == "openai":
        return [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]
    if provider == "anthropic":
        return [
            json.loads(block["content"])
            for m in body["messages"]
            if isinstance(m["content"], list)
            for block in m["content"]
            if block["type"] == "tool_result"
        ]
    return [
        part["functionResponse"]["response"]
        for c in body["contents"]
        for part in c["parts"]
        if "functionResponse" in part
    ]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_parallel_then_sequential_calls_feed_the_structured_answer(
    provider: str, demo: DemoLLMHandle
) -> None:
    book = Notebook()
    allow = ["note_add", "note_count"]
    prompt = (
        "Take notes.\n"
        '[demo:call] note_add {"text": "alpha"}\n'
        '[demo:also] note_add {"text": "beta"}\n'
        "[demo:call] note_count {}"
    )
    tools = node_tools(book, allow)
    outcome = await run_task(
        command(prompt, allow, output_schema=OUTPUT_SCHEMA),
        model_for(provider, demo),
        ProviderRegistry(),
        tools,
    )
    jsonschema.validate(outcome.output, OUTPUT_SCHEMA)
    assert book.notes == ["alpha", "beta"]
    assert outcome.tool_rounds == 2
    assert [(c["index"], c["tool"], c["status"]) for c in outcome.tool_calls] == [
        (0, "note_add", "success"),
        (1, "note_add", "success"),
        (2, "note_count", "success"),
    ]
    calls = demo.stats.calls_of(provider)
    assert len(calls) == 3  # two tool rounds, then the answer
    assert tool_results_sent(provider, calls[0].body) == []
    assert tool_results_sent(provider, calls[1].body) == [
        {"output": {"id": 1, "count": 1}},
        {"output": {"id": 2, "count": 2}},
    ]
    assert tool_results_sent(provider, calls[2].body)[-1] == {"output": {"count": 2}}
    offered = json.dumps(calls[0].body)
    assert "note_add" in offered
    assert "note_count" in offered
    roles = [m["role"] for m in outcome.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant", "tool"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_text_answer_sees_the_tool_results(provider: str, demo: DemoLLMHandle) -> None:
    book = Notebook()
    outcome = await run_task(
        command('[demo:call] note_add {"text": "x"}', ["note_add"]),
        model_for(provider, demo),
        ProviderRegistry(),
        node_tools(book, ["note_add"]),
    )
    assert book.notes == ["x"]
    text = outcome.output["text"]
    assert "Tool results:" in text
    assert '"count": 1' in text


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_tool_outside_the_allowlist_is_refused_and_the_model_goes_on(
    provider: str, demo: DemoLLMHandle
) -> None:
    book = Notebook()
    outcome = await run_task(
        command('[demo:call] note_add {"text": "sneaky"}', ["note_count"]),
        model_for(provider, demo),
        ProviderRegistry(),
        node_tools(book, ["note_count"]),
    )
    assert book.notes == []  # refused by the tool layer, whatever the model asked
    [call] = outcome.tool_calls
    assert call["status"] == "error"
    refused = tool_results_sent(provider, demo.stats.calls_of(provider)[-1].body)
    assert refused[0]["error"]["code"] == ErrorCode.FORBIDDEN.value
    offered = json.dumps(demo.stats.calls_of(provider)[0].body)
    assert "note_add" not in offered.replace("[demo:call] note_add", "")


async def test_bad_arguments_come_back_to_the_model_naming_the_field(
    demo: DemoLLMHandle,
) -> None:
    book = Notebook()
    outcome = await run_task(
        command('[demo:call] note_add {"txt": "typo"}', ["note_add"]),
        model_for("openai", demo),
        ProviderRegistry(),
        node_tools(book, ["note_add"]),
    )
    assert book.notes == []
    [error] = tool_results_sent("openai", demo.stats.calls_of("openai")[-1].body)
    assert error["error"]["code"] == ErrorCode.VALIDATION_FAILED.value
    [detail] = error["error"]["details"]
    assert detail["field"] == "arguments"
    assert "txt" in detail["reason"]
    assert outcome.tool_calls[0]["status"] == "error"


async def test_a_model_that_keeps_asking_for_tools_fails_the_node(demo: DemoLLMHandle) -> None:
    book = Notebook()
    prompt = "[demo:call] note_count {}\n[demo:call] note_count {}\n[demo:call] note_count {}"
    with pytest.raises(TaskFailure) as failure:
        await run_task(
            command(prompt, ["note_count"], max_tool_rounds=2),
            model_for("openai", demo),
            ProviderRegistry(),
            node_tools(book, ["note_count"]),
        )
    assert failure.value.body.code is ErrorCode.VALIDATION_FAILED
    assert failure.value.body.details[0].field == "max_tool_rounds"
    assert len(demo.stats.calls_of("openai")) == 3


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_journal_resumes_the_conversation_without_calling_again(
    provider: str, demo: DemoLLMHandle
) -> None:
    """A redelivered attempt replays the calls it already made and goes on from there."""
    book = Notebook(notes=["alpha"])  # the effect of the call made before the crash
    journal = [
        ToolCallRecord(
            call_id="call-rec-0",
            tool="note_add",
            version=1,
            caller=ToolCaller.NODE,
            status=ToolStatus.SUCCESS,
            started_at="2026-11-24T10:00:00+00:00",
            finished_at="2026-11-24T10:00:00+00:00",
            duration_ms=1.0,
            idempotency_key="nr-tools:1:0",
            node_run_id="nr-tools",
            call_index=0,
            arguments={"text": "alpha"},
            output={"id": 1, "count": 1},
        )
    ]
    prompt = '[demo:call] note_add {"text": "alpha"}\n[demo:call] note_count {}'
    tools = node_tools(book, ["note_add", "note_count"], journal)
    outcome = await run_task(
        command(prompt, ["note_add", "note_count"]),
        model_for(provider, demo),
        ProviderRegistry(),
        tools,
    )
    assert book.notes == ["alpha"]  # not added twice
    assert [(c["index"], c["tool"], c["replayed"]) for c in outcome.tool_calls] == [
        (0, "note_add", True),
        (1, "note_count", False),
    ]
    first = demo.stats.calls_of(provider)[0].body
    assert tool_results_sent(provider, first) == [{"output": {"id": 1, "count": 1}}]
    assert '"count": 1' in outcome.output["text"]
