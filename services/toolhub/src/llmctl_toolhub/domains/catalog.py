"""Every domain operation, by tool name."""

from __future__ import annotations

from . import decision, memory, milestone, plan
from .operation import DomainOperation

__all__ = ["DOMAIN_OPERATIONS", "operations_by_name"]

DOMAIN_OPERATIONS: list[DomainOperation] = [
    *memory.OPERATIONS,
    *plan.OPERATIONS,
    *milestone.OPERATIONS,
    *decision.OPERATIONS,
]


def operations_by_name() -> dict[str, DomainOperation]:
    """``{tool name: operation}`` for every domain."""
    return {op.name: op for op in DOMAIN_OPERATIONS}
