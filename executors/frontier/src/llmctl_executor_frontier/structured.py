"""Strict JSON output: parse, validate against the node's schema, list the errors."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

__all__ = ["check_schema", "validate_output"]


def check_schema(schema: dict[str, Any]) -> list[str]:
    """Errors in the output schema itself (empty when it is a valid JSON Schema)."""
    return [
        e.message
        for e in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)
    ]


def validate_output(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Parse ``text`` as JSON and validate it.

    Returns:
        The document (an object) and no errors, or ``None`` and the errors with their paths.
    """
    try:
        document = json.loads(text)
    except ValueError as exc:
        return None, [f"reply is not JSON: {exc}"]
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in Draft202012Validator(schema).iter_errors(document)
    ]
    if errors:
        return None, errors
    if not isinstance(document, dict):
        return {"value": document}, []
    return document, []
