"""Identifier generation: UUIDv7 for new entities, UUIDv5 for deterministic ones."""

from __future__ import annotations

import uuid

import uuid_utils

__all__ = ["deterministic_id", "new_id"]

_NAMESPACE = uuid.UUID("6f3d1a4e-9a1b-4c52-8e4e-1d0c7b6a5f21")


def new_id() -> str:
    """A new time-ordered UUIDv7 as a string."""
    return str(uuid_utils.uuid7())


def deterministic_id(*parts: str) -> str:
    """A UUIDv5 derived from ``parts``: the same parts always give the same id."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))
