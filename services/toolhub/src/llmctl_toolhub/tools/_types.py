"""Annotated argument types shared by toolhub's tool inputs."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["EntityId", "Reason"]

EntityId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
"""A run, node run, node or flowchart id."""

Reason = Annotated[str, msgspec.Meta(max_length=2000)]
"""A human reason recorded with a control action."""
