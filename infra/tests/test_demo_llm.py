"""The offline demo model, exercised through the real OpenAI SDK."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jsonschema
import openai
import pytest

from llmctl_infra.demo_llm import example_for_schema
from llmctl_infra.testing import async_wait_until, demo_llm_server

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 8},
        "confidence": {"type": "number", "minimum": 0.5, "maximum": 1},
        "count": {"type": "integer", "exclusiveMinimum": 2},
        "route": {"type": "string", "enum": ["left", "right"]},
        "kind": {"const": "final"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "nested": {"$ref": "#/$defs/Nested"},
        "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
    },
    "required": ["answer", "confidence", "count", "route", "kind", "tags", "nested", "maybe"],
    "additionalProperties": False,
    "$defs": {
        "Nested": {
            "type": "object",
            "properties": {
                "ok": {"type": "boolean"},
                "when": {"type": "string", "format": "date-time"},
            },
            "required": ["ok", "when"],
            "additionalProperties": False,
        }
    },
}


def _client(base_url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key="offline-demo", max_retries=0)


async def test_json_schema_response_validates() -> None:
    async with demo_llm_server() as demo, _client(demo.base_url) as client:
        completion = await client.chat.completions.create(
            model="offline-demo",
            messages=[{"role": "user", "content": "classify this"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": SCHEMA, "strict": True},
            },
        )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    document = json.loads(choice.message.content or "")
    jsonschema.validate(document, SCHEMA)
    assert document["route"] == "left"
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0
    assert demo.stats.completions == 1


async def test_text_and_json_object_responses() -> None:
    async with demo_llm_server() as demo, _client(demo.base_url) as client:
        text = await client.chat.completions.create(
            model="offline-demo",
            messages=[
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hello there"},
            ],
        )
        assert "hello there" in (text.choices[0].message.content or "")
        again = await client.chat.completions.create(
            model="offline-demo", messages=[{"role": "user", "content": "hello there"}]
        )
        assert again.choices[0].message.content == text.choices[0].message.content
        obj = await client.chat.completions.create(
            model="offline-demo",
            messages=[{"role": "user", "content": "as json"}],
            response_format={"type": "json_object"},
        )
        assert isinstance(json.loads(obj.choices[0].message.content or ""), dict)
        models = await client.models.list()
        assert [m.id for m in models.data] == ["offline-demo"]


async def test_bad_request_is_a_400() -> None:
    async with demo_llm_server() as demo, _client(demo.base_url) as client:
        with pytest.raises(openai.BadRequestError, match="messages"):
            await client.chat.completions.create(model="offline-demo", messages=[])


async def test_before_completion_gates_each_completion() -> None:
    gate = asyncio.Event()

    async def hold(body: dict[str, Any]) -> None:
        await gate.wait()

    async with (
        demo_llm_server(before_completion=hold) as demo,
        _client(demo.base_url) as client,
    ):
        pending = asyncio.create_task(
            client.chat.completions.create(
                model="offline-demo", messages=[{"role": "user", "content": "wait"}]
            )
        )
        await async_wait_until(lambda: demo.stats.requests == 1, timeout=10, what="request")
        assert demo.stats.completions == 0
        assert not pending.done()
        gate.set()
        completion = await asyncio.wait_for(pending, 10)
    assert completion.choices[0].message.content
    assert demo.stats.completions == 1
    assert demo.stats.bodies[0]["messages"][0]["content"] == "wait"


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "minLength": 12, "maxLength": 20},
        {"type": "integer", "minimum": 5, "multipleOf": 3},
        {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.25},
        {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
        {"type": ["null", "string"], "format": "uuid"},
        {
            "allOf": [
                {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
            ]
        },
        {"oneOf": [{"type": "object", "properties": {"k": {"const": 1}}, "required": ["k"]}]},
        {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
        {"definitions": {"D": {"type": "string"}}, "$ref": "#/definitions/D"},
        {},
    ],
)
def test_example_for_schema_validates(schema: dict[str, Any]) -> None:
    jsonschema.validate(example_for_schema(schema), schema)
