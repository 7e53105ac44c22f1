"""The Litestar app of the offline demo model: OpenAI, Anthropic and Gemini/Vertex wire formats.

Routes:

* ``POST /v1/chat/completions``: OpenAI Chat Completions;
* ``POST /v1/messages``: Anthropic Messages (``x-api-key``);
* ``POST /{version}/models/{model}:generateContent``: Gemini Developer API
  (``x-goog-api-key``; the installed ``google-genai`` uses ``v1beta`` or ``v1``);
* ``POST /{version}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent``:
  Vertex AI (``Authorization: Bearer``; ``google-genai`` uses ``v1beta1``);
* ``POST /token``: an OAuth2 token endpoint for service-account JWT grants (point a test
  service-account key's ``token_uri`` here); the access token it issues is
  ``demo-sa-token-<client email>``.

Error simulation and credential handling: :mod:`llmctl_infra.demo_llm._wire`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import SerializationException

from llmctl_infra.demo_llm._anthropic import build_message
from llmctl_infra.demo_llm._completion import DEMO_MODEL, RequestError, build_completion
from llmctl_infra.demo_llm._gemini import build_generate_content
from llmctl_infra.demo_llm._token import issue_token
from llmctl_infra.demo_llm._wire import (
    is_rejected_credential,
    is_unknown_model,
    recorded_headers,
)

__all__ = ["BeforeCompletion", "CompletionStats", "RecordedCall", "create_app", "stats_of"]

BeforeCompletion = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One model request as the demo model saw it (credentials fingerprinted, never kept).

    Attributes:
        api: ``openai``, ``anthropic``, ``gemini`` or ``vertex``.
        path: The request path.
        headers: Lower-case header names; credential headers hold a fingerprint.
        body: The JSON request body.
        status: The HTTP status answered.
    """

    api: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int


@dataclass(slots=True)
class CompletionStats:
    """Counters tests read to see what the demo model was asked.

    Attributes:
        requests: Completion requests received (counted before the hook runs).
        completions: Completions answered successfully.
        bodies: Every request body received, in order.
        calls: Every model request of any API, in order, with its headers and answer status.
    """

    requests: int = 0
    completions: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    calls: list[RecordedCall] = field(default_factory=list)

    def calls_of(self, api: str) -> list[RecordedCall]:
        """The recorded calls of one API."""
        return [c for c in self.calls if c.api == api]


def _error(status: int, message: str, param: str | None) -> Response[dict[str, Any]]:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    }
    return Response(body, status_code=status, media_type=MediaType.JSON)


_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
}
_GOOGLE_STATUSES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}


def _anthropic_error(status: int, message: str) -> Response[dict[str, Any]]:
    body = {"type": "error", "error": {"type": _ANTHROPIC_ERROR_TYPES[status], "message": message}}
    return Response(body, status_code=status, media_type=MediaType.JSON)


def _google_error(status: int, message: str) -> Response[dict[str, Any]]:
    body = {"error": {"code": status, "message": message, "status": _GOOGLE_STATUSES[status]}}
    return Response(body, status_code=status, media_type=MediaType.JSON)


async def _json_body(request: Request[Any, Any, Any]) -> dict[str, Any] | str:
    try:
        body = await request.json()
    except (ValueError, SerializationException):
        return "request body is not valid JSON"
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    return body


def create_app(*, before_completion: BeforeCompletion | None = None) -> Litestar:
    """Build the demo model app.

    Args:
        before_completion: Awaited with each request body (of every API) before it is
            answered; tests use it to gate completions (e.g. await an ``asyncio.Event``) or to
            fail them (raise).

    Returns:
        The app; its :class:`CompletionStats` is ``stats_of(app)``.
    """
    stats = CompletionStats()

    def record(
        api: str, request: Request[Any, Any, Any], body: dict[str, Any], status: int
    ) -> None:
        stats.calls.append(
            RecordedCall(
                api=api,
                path=request.url.path,
                headers=recorded_headers(request.headers),
                body=body,
                status=status,
            )
        )

    @post("/v1/chat/completions", status_code=200)
    async def chat_completions(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        body = await _json_body(request)
        if isinstance(body, str):
            return _error(400, body, None)
        stats.requests += 1
        stats.bodies.append(body)
        if before_completion is not None:
            await before_completion(body)
        try:
            completion = build_completion(body)
        except RequestError as exc:
            record("openai", request, body, 400)
            return _error(400, str(exc), exc.param)
        record("openai", request, body, 200)
        stats.completions += 1
        return Response(completion, status_code=200, media_type=MediaType.JSON)

    @post("/v1/messages", status_code=200)
    async def messages(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        body = await _json_body(request)
        if isinstance(body, str):
            return _anthropic_error(400, body)
        stats.requests += 1
        stats.bodies.append(body)
        key = request.headers.get("x-api-key") or request.headers.get("authorization")
        if is_rejected_credential(key):
            record("anthropic", request, body, 401)
            return _anthropic_error(401, "invalid x-api-key")
        model = str(body.get("model", ""))
        if is_unknown_model(model):
            record("anthropic", request, body, 404)
            return _anthropic_error(404, f"model: {model}")
        if before_completion is not None:
            await before_completion(body)
        try:
            message = build_message(body)
        except RequestError as exc:
            record("anthropic", request, body, 400)
            return _anthropic_error(400, str(exc))
        record("anthropic", request, body, 200)
        stats.completions += 1
        return Response(message, status_code=200, media_type=MediaType.JSON)

    async def generate(
        api: str, request: Request[Any, Any, Any], model_action: str, credential: str | None
    ) -> Response[dict[str, Any]]:
        body = await _json_body(request)
        if isinstance(body, str):
            return _google_error(400, body)
        model, _, action = model_action.partition(":")
        if action != "generateContent":
            return _google_error(404, f"method {action!r} is not served by the demo model")
        stats.requests += 1
        stats.bodies.append(body)
        if is_rejected_credential(credential):
            record(api, request, body, 401)
            return _google_error(401, "Request is missing or has an invalid credential.")
        if is_unknown_model(model):
            record(api, request, body, 404)
            return _google_error(404, f"models/{model} is not found")
        if before_completion is not None:
            await before_completion(body)
        try:
            answer = build_generate_content(model, body)
        except RequestError as exc:
            record(api, request, body, 400)
            return _google_error(400, str(exc))
        record(api, request, body, 200)
        stats.completions += 1
        return Response(answer, status_code=200, media_type=MediaType.JSON)

    @post("/{version:str}/models/{model_action:str}", status_code=200)
    async def gemini_generate(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
        return await generate("gemini", request, request.path_params["model_action"], key)

    @post(
        "/{version:str}/projects/{project:str}/locations/{location:str}"
        "/publishers/google/models/{model_action:str}",
        status_code=200,
    )
    async def vertex_generate(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        credential = request.headers.get("authorization")
        return await generate("vertex", request, request.path_params["model_action"], credential)

    @post("/token", status_code=200)
    async def token(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        form = await request.form()
        status, answer = issue_token(dict(form))
        return Response(answer, status_code=status, media_type=MediaType.JSON)

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

    app = Litestar(
        route_handlers=[
            chat_completions,
            messages,
            gemini_generate,
            vertex_generate,
            token,
            list_models,
            healthz,
        ],
        debug=False,
    )
    app.state["completion_stats"] = stats
    return app


def stats_of(app: Litestar) -> CompletionStats:
    """Return the :class:`CompletionStats` of an app built by :func:`create_app`."""
    stats: CompletionStats = app.state["completion_stats"]
    return stats
