"""The Gemini ``generateContent`` answers of the offline demo model (Developer API and Vertex AI).

``generationConfig.responseMimeType: application/json`` with ``responseJsonSchema`` (or
``responseSchema``) is answered with an example document; ``thinkingConfig.includeThoughts``
adds a thought part first. Directed tool calls (``[demo:call]``, see :mod:`._wire`) are
answered with ``functionCall`` parts when the request declares functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llmctl_infra.demo_llm._schema import example_for_schema
from llmctl_infra.demo_llm._wire import (
    INVALID_TEXT_ANSWER,
    RequestError,
    pending_tool_calls,
    text_of,
    tokens,
    wants_invalid_answer,
    with_tool_results,
)

__all__ = ["build_generate_content"]


def _config_value(config: Mapping[str, Any], camel: str, snake: str) -> Any:
    return config.get(camel, config.get(snake))


def _json_answer(config: Mapping[str, Any]) -> str | None:
    mime = _config_value(config, "responseMimeType", "response_mime_type")
    if mime != "application/json":
        return None
    schema = _config_value(config, "responseJsonSchema", "response_json_schema")
    if schema is None:
        schema = _config_value(config, "responseSchema", "response_schema")
    if schema is None:
        return json.dumps({"answer": "demo"})
    if not isinstance(schema, Mapping):
        raise RequestError("generationConfig.responseJsonSchema must be an object", "schema")
    return json.dumps(example_for_schema(schema))


def _function_responses(contents: list[Mapping[str, Any]]) -> list[Any]:
    results: list[Any] = []
    for content in contents:
        parts = content.get("parts")
        if content.get("role", "user") == "user" and isinstance(parts, list):
            for part in parts:
                if isinstance(part, Mapping):
                    response = part.get("functionResponse", part.get("function_response"))
                    if isinstance(response, Mapping):
                        results.append(response.get("response"))
    return results


def build_generate_content(model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Return a ``GenerateContentResponse`` for a ``generateContent`` request body.

    Raises:
        RequestError: The body is malformed.
    """
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise RequestError("contents must be a non-empty array", "contents")
    if not all(
        isinstance(c, Mapping) and c.get("role", "user") in ("user", "model") for c in contents
    ):
        raise RequestError("each content needs role user or model", "contents")
    user_texts = [
        t for c in contents if c.get("role", "user") == "user" if (t := text_of(c.get("parts")))
    ]
    results = _function_responses(contents)
    pending = pending_tool_calls(user_texts, bool(body.get("tools")), len(results))
    has_model_turn = any(c.get("role") == "model" for c in contents)
    config = body.get("generationConfig")
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise RequestError("generationConfig must be an object", "generationConfig")
    if pending:
        answer = json.dumps([name for name, _ in pending])
    elif wants_invalid_answer(user_texts, has_model_turn):
        answer = INVALID_TEXT_ANSWER
    else:
        answer = _json_answer(config) or with_tool_results(
            f"Offline demo model reply to: {user_texts[-1] if user_texts else ''}", results
        )
    parts: list[dict[str, Any]] = []
    thinking = _config_value(config, "thinkingConfig", "thinking_config") or {}
    if isinstance(thinking, Mapping) and _config_value(
        thinking, "includeThoughts", "include_thoughts"
    ):
        parts.append({"text": "Thinking offline.", "thought": True})
    if pending:
        parts.extend(
            {"functionCall": {"id": f"demo-call-{len(results) + i}", "name": name, "args": args}}
            for i, (name, args) in enumerate(pending)
        )
    else:
        parts.append({"text": answer})
    system = text_of((body.get("systemInstruction") or {}).get("parts"))
    prompt = " ".join([system, *(text_of(c.get("parts")) for c in contents)])
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": tokens(prompt),
            "candidatesTokenCount": tokens(answer),
            "totalTokenCount": tokens(prompt) + tokens(answer),
        },
        "modelVersion": model,
    }
