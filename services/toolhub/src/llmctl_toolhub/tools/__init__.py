"""Toolhub's tools by domain, assembled into one registry."""

from __future__ import annotations

from llmctl_libs.tools import ToolRegistry

from ._deps import ToolDeps
from .branch import branch_tools
from .control import control_tools
from .domain import SPECIAL_NODE_TOOLS, domain_tools
from .models import model_tools
from .observability import observability_tools
from .validation import validation_tools

__all__ = ["SPECIAL_NODE_TOOLS", "ToolDeps", "build_registry", "domain_tools"]


def build_registry(deps: ToolDeps) -> ToolRegistry:
    """Every toolhub tool (memory, plan, milestone and decision domains, connector/branch,
    contract validation, observability, workflow control, model/provider management)."""
    registry = ToolRegistry()
    specs = [
        *domain_tools(),
        *branch_tools(deps),
        *observability_tools(deps),
        *control_tools(deps),
        *model_tools(deps),
    ]
    for spec in specs:
        registry.register(spec)
    for spec in validation_tools(registry):
        registry.register(spec)
    return registry
