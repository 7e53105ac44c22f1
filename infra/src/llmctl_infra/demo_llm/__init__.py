"""The offline demo model: OpenAI, Anthropic and Gemini/Vertex wire formats with canned replies."""

from llmctl_infra.demo_llm._app import (
    BeforeCompletion,
    CompletionStats,
    RecordedCall,
    create_app,
    stats_of,
)
from llmctl_infra.demo_llm._completion import DEMO_MODEL, build_completion
from llmctl_infra.demo_llm._schema import example_for_schema
from llmctl_infra.demo_llm._token import service_account_token
from llmctl_infra.demo_llm._wire import (
    ALSO_CALL_MARKER,
    INVALID_FIRST_ANSWER_MARKER,
    TOOL_CALL_MARKER,
    credential_fingerprint,
)

__all__ = [
    "ALSO_CALL_MARKER",
    "DEMO_MODEL",
    "INVALID_FIRST_ANSWER_MARKER",
    "TOOL_CALL_MARKER",
    "BeforeCompletion",
    "CompletionStats",
    "RecordedCall",
    "build_completion",
    "create_app",
    "credential_fingerprint",
    "example_for_schema",
    "service_account_token",
    "stats_of",
]
