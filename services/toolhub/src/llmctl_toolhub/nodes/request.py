"""One special-node execution as its handler sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from llmctl_contracts.flowchart import Node
from llmctl_contracts.special_nodes import SpecialNodeTooling

from .context_paths import MISSING, resolve_path
from .invoker import ToolInvoker
from .llm import ModelCaller

__all__ = ["NodeRequest"]

C = TypeVar("C", bound=SpecialNodeTooling)


@dataclass(slots=True)
class NodeRequest(Generic[C]):
    """A node, its decoded config and input context, and the ports it may use.

    Attributes:
        node: The flowchart node.
        config: Its typed config.
        context: The node run's input context (``run``, ``node``, ``upstream_nodes``, ...).
        tools: The tool invoker (the only way to domain state).
        models: Strict-JSON model calls (guided mode, fallback, summaries).
        last_state: The latest domain state a tool returned: the artifact when the run falls
            back to the LLM midway.
    """

    node: Node
    config: C
    context: dict[str, Any]
    tools: ToolInvoker
    models: ModelCaller
    last_state: dict[str, Any] | None = field(default=None)

    def value_at(self, path: str | None) -> Any:
        """The context value at ``path`` (:data:`MISSING` when unset or absent)."""
        return MISSING if path is None else resolve_path(self.context, path)

    @property
    def run_id(self) -> str:
        """The run id from the context metadata (``-`` when absent)."""
        run = self.context.get("run")
        return str(run.get("id", "-")) if isinstance(run, dict) else "-"

    @property
    def flowchart_id(self) -> str | None:
        """The flowchart id from the context metadata."""
        run = self.context.get("run")
        value = run.get("flowchart_id") if isinstance(run, dict) else None
        return value if isinstance(value, str) else None

    @property
    def execution_count(self) -> int:
        """How many times this node has run in this run, this one included."""
        node = self.context.get("node")
        index = node.get("execution_index") if isinstance(node, dict) else None
        return index + 1 if isinstance(index, int) and index >= 0 else 1

    def upstream_payload(self) -> dict[str, Any]:
        """The upstream outputs, for model prompts."""
        return {
            "upstream_nodes": self.context.get("upstream_nodes", []),
            "dotted_upstream_nodes": self.context.get("dotted_upstream_nodes", {}),
        }
