"""How a domain describes its operations so a tool registry can register them in a loop."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["DomainOperation", "operation"]

OperationFunc = Callable[[AsyncConnection, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class DomainOperation:
    """One tool: ``await function(conn, input_type(...)) -> output_type``.

    Attributes:
        name: Tool name (``memory_create``).
        description: The function's docstring; the tool description.
        input_type: Strict msgspec Struct of the arguments (the input schema).
        output_type: msgspec Struct of the result (the output schema).
        function: The operation; raises :class:`~.errors.DomainError` on failure.
        writes: Whether it changes state.
    """

    name: str
    description: str
    input_type: type[Any]
    output_type: type[Any]
    function: OperationFunc
    writes: bool


def operation(name: str, function: OperationFunc, *, writes: bool) -> DomainOperation:
    """Describe ``function`` from its signature and docstring."""
    hints = inspect.get_annotations(function, eval_str=True)
    params = [p for p in inspect.signature(function).parameters if p != "conn"]
    return DomainOperation(
        name=name,
        description=inspect.cleandoc(function.__doc__ or name),
        input_type=hints[params[0]],
        output_type=hints["return"],
        function=function,
        writes=writes,
    )
