"""The registry of named, versioned tools."""

from __future__ import annotations

import re
from typing import Any

from llmctl_contracts import ErrorBody, ErrorCode, FieldError
from llmctl_contracts.tools import ToolDescriptor

from .schema import struct_schema
from .spec import ToolError, ToolSpec

__all__ = ["ToolRegistry", "describe"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def describe(spec: ToolSpec[Any, Any]) -> ToolDescriptor:
    """The listing of one tool, with JSON Schemas derived from its types."""
    return ToolDescriptor(
        name=spec.name,
        version=spec.version,
        domain=spec.domain,
        description=spec.description,
        input_schema=struct_schema(spec.input_type),
        output_schema=struct_schema(spec.output_type),
        writes=spec.writes,
        timeout_seconds=spec.timeout_seconds,
        max_attempts=spec.max_attempts,
    )


class ToolRegistry:
    """Tools by name and version; the latest version answers unversioned lookups."""

    def __init__(self, specs: list[ToolSpec[Any, Any]] | None = None) -> None:
        self._tools: dict[str, dict[int, ToolSpec[Any, Any]]] = {}
        for spec in specs or []:
            self.register(spec)

    def register(self, spec: ToolSpec[Any, Any]) -> None:
        """Add a tool.

        Raises:
            ValueError: A bad name, a version below 1, a bad policy, or a duplicate.
        """
        if not _NAME.fullmatch(spec.name):
            raise ValueError(f"tool name {spec.name!r} must match {_NAME.pattern}")
        if spec.version < 1 or spec.max_attempts < 1 or spec.timeout_seconds <= 0:
            raise ValueError(f"tool {spec.name!r}: version/max_attempts >= 1, timeout > 0")
        versions = self._tools.setdefault(spec.name, {})
        if spec.version in versions:
            raise ValueError(f"tool {spec.name!r} version {spec.version} is already registered")
        versions[spec.version] = spec

    def get(self, name: str, version: int | None = None) -> ToolSpec[Any, Any]:
        """The tool ``name`` at ``version`` (latest when ``None``).

        Raises:
            ToolError: ``not_found`` naming the ``tool`` or ``version`` field.
        """
        versions = self._tools.get(name)
        if not versions:
            raise ToolError(
                ErrorBody.for_field(
                    ErrorCode.NOT_FOUND, "tool", "no such tool", message=f"no tool named {name!r}"
                )
            )
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise ToolError(
                ErrorBody(
                    code=ErrorCode.NOT_FOUND,
                    message=f"tool {name!r} has no version {version}",
                    details=[
                        FieldError(field="version", reason=f"known versions: {sorted(versions)}")
                    ],
                )
            )
        return versions[version]

    def specs(
        self, *, domain: str | None = None, all_versions: bool = False
    ) -> list[ToolSpec[Any, Any]]:
        """Registered tools sorted by name (then version)."""
        out: list[ToolSpec[Any, Any]] = []
        for name in sorted(self._tools):
            versions = self._tools[name]
            chosen = (
                [versions[v] for v in sorted(versions)]
                if all_versions
                else [versions[max(versions)]]
            )
            out.extend(s for s in chosen if domain is None or s.domain == domain)
        return out

    def describe(
        self, *, domain: str | None = None, all_versions: bool = False
    ) -> list[ToolDescriptor]:
        """Descriptors of :meth:`specs`."""
        return [describe(s) for s in self.specs(domain=domain, all_versions=all_versions)]

    def __contains__(self, name: object) -> bool:
        return name in self._tools
