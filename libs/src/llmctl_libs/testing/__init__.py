"""Conformance test cases shipped with the ports (import only from tests: needs pytest)."""

from .eventstore import EventStoreConformance

__all__ = ["EventStoreConformance"]
