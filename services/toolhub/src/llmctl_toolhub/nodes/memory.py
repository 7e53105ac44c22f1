"""Memory nodes: ``add`` stores text in a scope (append or replace, then retention);
``retrieve`` searches the scope (or lists its newest memories)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from llmctl_contracts.flowchart import MemoryNode
from llmctl_contracts.special_nodes import MemoryNodeConfig, RetentionMode

from .context_paths import MISSING
from .outcome import NodeInputError, NodeOutcome
from .request import NodeRequest
from .tool_steps import with_retries

__all__ = ["MemoryHandler"]

_PAGE = 200
_SCAN_LIMIT = 10_000
_TEXT_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


def _as_text(value: Any) -> str | None:
    if value is MISSING or value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text.strip() or None


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in ("id", "scope", "content", "tags", "version", "created_at")}


class MemoryHandler:
    """Executes ``memory`` nodes through the ``memory_*`` tools."""

    @property
    def config_type(self) -> type[MemoryNodeConfig]:
        """The typed config of this node kind."""
        return MemoryNodeConfig

    async def run(self, request: NodeRequest[MemoryNodeConfig]) -> NodeOutcome:
        """Add or retrieve memories; the artifact lists the records written or found."""
        node = request.node
        assert isinstance(node, MemoryNode)
        scope = self.scope(request)
        if node.action == "add":
            return await self._add(request, scope)
        return await self._retrieve(request, scope)

    def fallback_fields(self, request: NodeRequest[MemoryNodeConfig]) -> dict[str, Any]:
        """Deterministic output fields kept when the LLM fallback continues the node."""
        node = request.node
        assert isinstance(node, MemoryNode)
        return {"action": node.action, "scope": self.scope(request), "memories": []}

    @staticmethod
    def scope(request: NodeRequest[MemoryNodeConfig]) -> str:
        """The configured scope, else ``flowchart:<id>``."""
        if request.config.scope:
            return request.config.scope
        flowchart = request.flowchart_id
        return f"flowchart:{flowchart}" if flowchart else "default"

    async def _text(self, request: NodeRequest[MemoryNodeConfig]) -> str:
        config = request.config
        text = config.text or _as_text(request.value_at(config.text_source_path))
        if text:
            return text
        if config.mode == "deterministic":
            field = "config.text_source_path" if config.text_source_path else "config.text"
            raise NodeInputError.field(
                field, "nothing to add: set text, or a text_source_path that resolves to a value"
            )
        answer = await request.models.complete_json(
            model=config.model,
            instructions="Write one concise memory worth keeping from the upstream node outputs. "
            + (config.additive_prompt or ""),
            payload=request.upstream_payload(),
            schema_name="memory_text",
            schema=_TEXT_SCHEMA,
        )
        composed = _as_text(answer.get("text"))
        if not composed:
            raise NodeInputError.field("config.mode", "the model composed an empty memory")
        return composed

    async def _add(self, request: NodeRequest[MemoryNodeConfig], scope: str) -> NodeOutcome:
        config = request.config
        text = await self._text(request)
        tools = request.tools
        replaced: list[str] = []
        if config.store_mode == "replace":
            for old in await self._scope_records(request, scope):
                await tools("memory_delete", {"id": old["id"], "expected_version": old["version"]})
                replaced.append(old["id"])

        async def create() -> dict[str, Any]:
            return await tools(
                "memory_create", {"content": text, "scope": scope, "tags": config.tags}
            )

        created = await with_retries(create, config)
        request.last_state = {"scope": scope, "written": [_brief(created)]}
        pruned = await self._retain(request, scope, keep=created["id"])
        artifact = {
            "scope": scope,
            "written": [_brief(created)],
            "replaced_ids": replaced,
            "pruned_ids": pruned,
        }
        output = {
            "action": "add",
            "scope": scope,
            "store_mode": config.store_mode,
            "memory_id": created["id"],
            "memories": [_brief(created)],
            "artifact": artifact,
        }
        return NodeOutcome(output=output)

    async def _retrieve(self, request: NodeRequest[MemoryNodeConfig], scope: str) -> NodeOutcome:
        config = request.config
        query = config.query or _as_text(request.value_at(config.query_source_path))
        tag = config.tags[0] if config.tags else None
        arguments: dict[str, Any] = {"scope": scope, "limit": config.limit}
        if tag is not None:
            arguments["tag"] = tag
        if query:
            page = await request.tools("memory_search", {**arguments, "query": query[:2_000]})
        else:
            page = await request.tools("memory_list", arguments)
        found = [_brief(r) for r in page["items"]]
        artifact = {"scope": scope, "query": query, "retrieved_ids": [r["id"] for r in found]}
        request.last_state = artifact
        output = {
            "action": "retrieve",
            "scope": scope,
            "query": query,
            "memories": found,
            "artifact": artifact,
        }
        return NodeOutcome(output=output)

    @staticmethod
    async def _scope_records(
        request: NodeRequest[MemoryNodeConfig], scope: str
    ) -> list[dict[str, Any]]:
        """Every memory of ``scope``, newest first (at most ``_SCAN_LIMIT``)."""
        records: list[dict[str, Any]] = []
        while len(records) < _SCAN_LIMIT:
            page = await request.tools(
                "memory_list", {"scope": scope, "limit": _PAGE, "offset": len(records)}
            )
            records.extend(page["items"])
            if len(page["items"]) < _PAGE:
                break
        return records

    async def _retain(
        self, request: NodeRequest[MemoryNodeConfig], scope: str, keep: str
    ) -> list[str]:
        """Apply the retention policy to ``scope``; the memory just written always stays."""
        config = request.config
        mode = config.retention_mode
        if mode is RetentionMode.FOREVER:
            return []
        records = await self._scope_records(request, scope)
        cutoff = datetime.now(UTC) - timedelta(seconds=config.retention_ttl_seconds)
        doomed = []
        for position, record in enumerate(records):
            if record["id"] == keep:
                continue
            too_many = mode in (RetentionMode.MAX_COUNT, RetentionMode.TTL_MAX_COUNT) and (
                position >= config.retention_max_count
            )
            too_old = mode in (RetentionMode.TTL, RetentionMode.TTL_MAX_COUNT) and (
                datetime.fromisoformat(record["created_at"]) < cutoff
            )
            if too_many or too_old:
                doomed.append(record)
        for record in doomed:
            await request.tools(
                "memory_delete", {"id": record["id"], "expected_version": record["version"]}
            )
        return [r["id"] for r in doomed]
