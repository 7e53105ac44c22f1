"""Placeholder page at ``/`` until the Studio UI is built and served here."""

from __future__ import annotations

from litestar import MediaType, get

__all__ = ["PLACEHOLDER_HTML", "index"]

PLACEHOLDER_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>llmctl Studio</title></head>
<body>
<h1>llmctl Studio</h1>
<p>The Studio UI is not built yet. The gateway's API is up:</p>
<ul>
<li><a href="/schema">API documentation (OpenAPI)</a></li>
<li><a href="/api/v1/health">Health</a></li>
</ul>
</body>
</html>
"""


@get("/", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False)
def index() -> str:
    """The placeholder page."""
    return PLACEHOLDER_HTML
