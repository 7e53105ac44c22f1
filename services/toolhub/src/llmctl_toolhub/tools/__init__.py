"""Toolhub's tools by domain, assembled into one registry."""

from __future__ import annotations

from llmctl_libs.tools import ToolRegistry

from ._deps import ToolDeps
from .branch import branch_tools
from .control import control_tools
from .observability import observability_tools
from .validation import validation_tools

__all__ = ["ToolDeps", "build_registry"]


def build_registry(deps: ToolDeps) -> ToolRegistry:
    """Every toolhub tool (connector/branch, contract validation, observability, workflow
    control)."""
    registry = ToolRegistry()
    for spec in [*branch_tools(deps), *observability_tools(deps), *control_tools(deps)]:
        registry.register(spec)
    for spec in validation_tools(registry):
        registry.register(spec)
    return registry
