"""The offline demo model: an OpenAI-compatible chat completions server with canned replies."""

from llmctl_infra.demo_llm._app import BeforeCompletion, CompletionStats, create_app, stats_of
from llmctl_infra.demo_llm._completion import DEMO_MODEL, build_completion
from llmctl_infra.demo_llm._schema import example_for_schema

__all__ = [
    "DEMO_MODEL",
    "BeforeCompletion",
    "CompletionStats",
    "build_completion",
    "create_app",
    "example_for_schema",
    "stats_of",
]
