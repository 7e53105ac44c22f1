"""The OpenAI-compatible Litestar app of the offline demo model."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post

from llmctl_infra.demo_llm._completion import DEMO_MODEL, RequestError, build_completion

__all__ = ["BeforeCompletion", "CompletionStats", "create_app", "stats_of"]

BeforeCompletion = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class CompletionStats:
    """Counters tests read to see what the demo model was asked.

    Attributes:
        requests: Completion requests received (counted before the hook runs).
        completions: Completions answered successfully.
        bodies: Every request body received, in order.
    """

    requests: int = 0
    completions: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def _error(status: int, message: str, param: str | None) -> Response[dict[str, Any]]:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return Response(body, status_code=status, media_type=MediaType.JSON)


def create_app(*, before_completion: BeforeCompletion | None = None) -> Litestar:
    """Build the demo model app.

    Args:
        before_completion: Awaited with each request body before it is answered; tests use
            it to gate completions (e.g. await an ``asyncio.Event``) or to fail them (raise).

    Returns:
        The app; its :class:`CompletionStats` is ``stats_of(app)``.
    """
    stats = CompletionStats()

    @post("/v1/chat/completions", status_code=200)
    async def chat_completions(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not valid JSON", None)
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object", None)
        stats.requests += 1
        stats.bodies.append(body)
        if before_completion is not None:
            await before_completion(body)
        try:
            completion = build_completion(body)
        except RequestError as exc:
            return _error(400, str(exc), exc.param)
        stats.completions += 1
        return Response(completion, status_code=200, media_type=MediaType.JSON)

    @get("/v1/models")
    async def list_models() -> dict[str, Any]:
        entry = {
            "id": DEMO_MODEL,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "llmctl",
        }
        return {"object": "list", "data": [entry]}

    @get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "model": DEMO_MODEL}

    app = Litestar(route_handlers=[chat_completions, list_models, healthz], debug=False)
    app.state["completion_stats"] = stats
    return app


def stats_of(app: Litestar) -> CompletionStats:
    """Return the :class:`CompletionStats` of an app built by :func:`create_app`."""
    stats: CompletionStats = app.state["completion_stats"]
    return stats
