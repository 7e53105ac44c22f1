"""Wire-level conventions shared by every API the demo model speaks.

Deterministic error simulation (so provider unavailability is testable offline):

* a request without a credential, or whose credential starts with ``invalid``, is answered
  401 (authentication error);
* a model id starting with ``unknown`` is answered 404 (model not found) on the Anthropic
  and Gemini/Vertex paths;
* a conversation whose user text contains :data:`INVALID_FIRST_ANSWER_MARKER` and that has no
  assistant turn yet gets a reply that fails any output schema with required properties
  (a non-JSON text, or an empty tool input): the executor's schema repair loop then re-asks.

Deterministic tool calling: a user line ``[demo:call] <tool> <JSON object>`` is a call the
model makes, in its own turn, when the request offers tools; a line ``[demo:also] <tool>
<JSON object>`` adds a call to the turn of the line before it (parallel calls). Each turn
asks for the calls of the next turn not yet answered by tool results; once all are answered
the model gives its final answer, and a text answer then ends with
``Tool results: <the results as JSON>``.

Credentials are never kept: recorded headers carry :func:`credential_fingerprint` instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ALSO_CALL_MARKER",
    "CREDENTIAL_HEADERS",
    "INVALID_FIRST_ANSWER_MARKER",
    "INVALID_TEXT_ANSWER",
    "TOOL_CALL_MARKER",
    "RequestError",
    "credential_fingerprint",
    "is_rejected_credential",
    "is_unknown_model",
    "pending_tool_calls",
    "recorded_headers",
    "wants_invalid_answer",
    "with_tool_results",
]

INVALID_FIRST_ANSWER_MARKER = "[demo:invalid-first-answer]"
INVALID_TEXT_ANSWER = "This first answer is deliberately not JSON."
TOOL_CALL_MARKER = "[demo:call]"
ALSO_CALL_MARKER = "[demo:also]"
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})


def credential_fingerprint(credential: str) -> str:
    """What the stats record for a credential: ``sha256:<first 16 hex digits>``.

    A ``Bearer`` prefix is dropped first, so tests compare against the raw key or token.
    """
    raw = credential.removeprefix("Bearer ").strip()
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:16]


def recorded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Request headers as the stats keep them: lower-case names, credentials fingerprinted."""
    return {
        name.lower(): credential_fingerprint(value) if name.lower() in CREDENTIAL_HEADERS else value
        for name, value in headers.items()
    }


def is_rejected_credential(credential: str | None) -> bool:
    """Whether the demo model answers 401 for this credential (missing or ``invalid...``)."""
    if not credential:
        return True
    return credential.removeprefix("Bearer ").strip().startswith("invalid")


def is_unknown_model(model: str) -> bool:
    """Whether the demo model answers 404 for this model id (``unknown...``)."""
    return model.startswith("unknown")


def wants_invalid_answer(user_texts: list[str], has_assistant_turn: bool) -> bool:
    """Whether this request gets the deliberately invalid first answer."""
    return not has_assistant_turn and any(INVALID_FIRST_ANSWER_MARKER in t for t in user_texts)


def tokens(text: str) -> int:
    """A crude, deterministic token count (whitespace-separated words)."""
    return len(text.split())


def text_of(content: Any) -> str:
    """The text of a message content: a string or a list of ``{text}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping)
        ).strip()
    return ""


class RequestError(ValueError):
    """The request body is not valid for the API it was sent to (answered 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _directed_turns(user_texts: list[str]) -> list[list[tuple[str, dict[str, Any]]]]:
    turns: list[list[tuple[str, dict[str, Any]]]] = []
    for text in user_texts:
        for line in text.splitlines():
            line = line.strip()
            marker = next(
                (m for m in (TOOL_CALL_MARKER, ALSO_CALL_MARKER) if line.startswith(m)), None
            )
            if marker is None:
                continue
            name, _, raw = line.removeprefix(marker).strip().partition(" ")
            try:
                arguments = json.loads(raw or "{}")
            except ValueError as exc:
                raise RequestError(f"{marker} {name}: arguments: {exc}", "messages") from exc
            if not name or not isinstance(arguments, dict):
                raise RequestError(f"{marker} needs a tool name and a JSON object", "messages")
            if marker == TOOL_CALL_MARKER or not turns:
                turns.append([])
            turns[-1].append((name, arguments))
    return turns


def pending_tool_calls(
    user_texts: list[str], offers_tools: bool, answered: int
) -> list[tuple[str, dict[str, Any]]]:
    """The directed calls to ask for now: the rest of the turn the ``answered`` results
    reached (none without tools on offer, or when every call is answered).

    Raises:
        RequestError: a directive is malformed.
    """
    if not offers_tools:
        return []
    for turn in _directed_turns(user_texts):
        if answered < len(turn):
            return turn[answered:]
        answered -= len(turn)
    return []


def with_tool_results(answer: str, results: list[Any]) -> str:
    """A text answer followed by the tool results it saw (unchanged without any)."""
    if not results:
        return answer
    decoded = [_json_or_text(r) for r in results]
    return f"{answer}\nTool results: {json.dumps(decoded, sort_keys=True, default=str)}"


def _json_or_text(result: Any) -> Any:
    if isinstance(result, str):
        try:
            return json.loads(result)
        except ValueError:
            return result
    return result
