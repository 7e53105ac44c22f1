"""Prompt composition for a task node: instructions, node prompt, upstream context."""

from __future__ import annotations

import json
from typing import Any

from llmctl_contracts.flowchart import TaskNode

__all__ = ["compose_messages", "repair_message"]

_SYSTEM = (
    "You are an agent executing one node of an llmctl Studio flowchart. "
    "Follow the task instructions. The run context (outputs of upstream nodes) is JSON."
)


def compose_messages(node: TaskNode, context: dict[str, Any]) -> list[dict[str, Any]]:
    """System + user messages for one task node run."""
    system = _SYSTEM
    if node.output_schema is not None:
        system += " Reply with a single JSON document that validates against the given schema."
    parts = [node.prompt]
    if node.additional_prompt:
        parts.append(node.additional_prompt)
    upstream = {
        "upstream_nodes": context.get("upstream_nodes", []),
        "dotted_upstream_nodes": context.get("dotted_upstream_nodes", {}),
        "run_input": context.get("run", {}).get("input", {}),
    }
    parts.append("Context:\n" + json.dumps(upstream, sort_keys=True, default=str))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def repair_message(errors: list[str]) -> dict[str, Any]:
    """The re-prompt sent after an output failed schema validation."""
    listed = "\n".join(f"- {e}" for e in errors[:20])
    return {
        "role": "user",
        "content": "Your previous reply did not validate against the output schema:\n"
        f"{listed}\nReply again with only a corrected JSON document.",
    }
