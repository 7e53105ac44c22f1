"""Wire-level conventions shared by every API the demo model speaks.

Deterministic error simulation (so provider unavailability is testable offline):

* a request without a credential, or whose credential starts with ``invalid``, is answered
  401 (authentication error);
* a model id starting with ``unknown`` is answered 404 (model not found) on the Anthropic
  and Gemini/Vertex paths;
* a conversation whose user text contains :data:`INVALID_FIRST_ANSWER_MARKER` and that has no
  assistant turn yet gets a reply that fails any output schema with required properties
  (a non-JSON text, or an empty tool input): the executor's schema repair loop then re-asks.

Credentials are never kept: recorded headers carry :func:`credential_fingerprint` instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CREDENTIAL_HEADERS",
    "INVALID_FIRST_ANSWER_MARKER",
    "INVALID_TEXT_ANSWER",
    "credential_fingerprint",
    "is_rejected_credential",
    "is_unknown_model",
    "recorded_headers",
    "wants_invalid_answer",
]

INVALID_FIRST_ANSWER_MARKER = "[demo:invalid-first-answer]"
INVALID_TEXT_ANSWER = "This first answer is deliberately not JSON."
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
