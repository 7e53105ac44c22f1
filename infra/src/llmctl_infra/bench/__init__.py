"""``llmctl bench``: raw NATS/Postgres limits and runtime figures, measured in one run."""

from .runner import main

__all__ = ["main"]
