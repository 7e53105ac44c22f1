"""How a task attempt fails."""

from __future__ import annotations

from llmctl_contracts import ErrorBody

__all__ = ["TaskFailure"]


class TaskFailure(Exception):
    """The attempt failed; ``body`` says why in the shared error shape."""

    def __init__(self, body: ErrorBody) -> None:
        super().__init__(body.message)
        self.body = body
