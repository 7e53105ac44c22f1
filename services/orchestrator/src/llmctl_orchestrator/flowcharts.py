"""Flowchart definitions: versioned storage and a cache of indexed graphs."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

import msgspec
import sqlalchemy as sa

from llmctl_contracts import ErrorBody, ErrorCode, FieldError, MessageType, encode, subjects
from llmctl_contracts.events import FlowchartCreated
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.rpc import CreateFlowchart, FlowchartRecord, GetById
from llmctl_libs.ids import new_id
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store import NewEvent
from llmctl_libs.store.outbox import OutboxMessage

from .engine import FlowchartGraph
from .tables import flowchart_versions, flowcharts
from .validation import clamp_fan_in, validate_flowchart

__all__ = ["FlowchartRepository", "not_found"]

GRAPH_CACHE_SIZE = 256
"""Flowchart versions whose indexed graph the orchestrator keeps in memory."""


def not_found(what: str, ident: str) -> RpcError:
    """The ``not_found`` error for one entity."""
    return RpcError(
        ErrorBody(
            code=ErrorCode.NOT_FOUND,
            message=f"{what} {ident!r} not found",
            details=[FieldError(field="id", reason=f"no {what} with this id")],
        )
    )


class FlowchartRepository:
    """Stores flowchart versions (immutable once written) and caches their graphs."""

    def __init__(self, persistence: Persistence) -> None:
        self._db = persistence.database
        self._store = persistence.event_store
        self._outbox = persistence.outbox
        self._relay = persistence.relay
        self._graphs: OrderedDict[tuple[str, int], FlowchartGraph] = OrderedDict()

    async def create(self, request: CreateFlowchart) -> FlowchartRecord:
        """Validate and store a new flowchart at version 1."""
        definition, warnings = clamp_fan_in(request.definition)
        errors = validate_flowchart(definition)
        if errors:
            raise RpcError(
                ErrorBody(
                    code=ErrorCode.VALIDATION_FAILED,
                    message=f"flowchart is invalid: {errors[0].field}: {errors[0].reason}",
                    details=errors,
                    request_id=request.request_id,
                )
            )
        flowchart_id = new_id()
        created_at = datetime.now(UTC)
        envelope = make_envelope(
            MessageType.FLOWCHART_CREATED,
            FlowchartCreated(flowchart_id=flowchart_id, version=1, name=definition.name),
            trace=Trace(
                correlation_id=request.request_id or flowchart_id, request_id=request.request_id
            ),
            idempotency_key=f"flowchart:{flowchart_id}:version:1",
        )
        body = encode(envelope)
        async with self._db.transaction() as conn:
            await conn.execute(
                sa.insert(flowcharts).values(
                    id=flowchart_id,
                    name=definition.name,
                    latest_version=1,
                    created_at=created_at,
                )
            )
            await conn.execute(
                sa.insert(flowchart_versions).values(
                    flowchart_id=flowchart_id,
                    version=1,
                    definition=encode(definition),
                    created_at=created_at,
                )
            )
            await self._store.append(
                conn,
                f"flowchart:{flowchart_id}",
                0,
                [NewEvent(envelope.event_id, envelope.type, 1, body, envelope.idempotency_key)],
            )
            pending = await self._outbox.add(
                conn,
                [
                    OutboxMessage(
                        subject=subjects.flowchart_event(flowchart_id, "created"),
                        msg_id=envelope.idempotency_key,
                        body=body,
                    )
                ],
            )
        self._relay.enqueue(pending)
        return FlowchartRecord(
            id=flowchart_id,
            version=1,
            name=definition.name,
            definition=definition,
            created_at=created_at.isoformat(),
            warnings=warnings,
        )

    async def get(self, request: GetById) -> FlowchartRecord:
        """The latest version of one flowchart."""
        async with self._db.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        flowcharts.c.id,
                        flowcharts.c.name,
                        flowchart_versions.c.version,
                        flowchart_versions.c.definition,
                        flowchart_versions.c.created_at,
                    )
                    .join(
                        flowchart_versions,
                        sa.and_(
                            flowchart_versions.c.flowchart_id == flowcharts.c.id,
                            flowchart_versions.c.version == flowcharts.c.latest_version,
                        ),
                    )
                    .where(flowcharts.c.id == request.id)
                )
            ).first()
        if row is None:
            raise not_found("flowchart", request.id)
        return FlowchartRecord(
            id=row.id,
            version=row.version,
            name=row.name,
            definition=msgspec.json.decode(row.definition, type=FlowchartDefinition),
            created_at=row.created_at.isoformat(),
        )

    async def graph(self, flowchart_id: str, version: int) -> FlowchartGraph:
        """The indexed graph of one pinned version (cached, least recently used dropped first;
        versions are immutable)."""
        key = (flowchart_id, version)
        cached = self._graphs.get(key)
        if cached is not None:
            self._graphs.move_to_end(key)
            return cached
        async with self._db.engine.connect() as conn:
            raw = (
                await conn.execute(
                    sa.select(flowchart_versions.c.definition).where(
                        flowchart_versions.c.flowchart_id == flowchart_id,
                        flowchart_versions.c.version == version,
                    )
                )
            ).scalar_one()
        graph = FlowchartGraph.build(msgspec.json.decode(raw, type=FlowchartDefinition))
        self._graphs[key] = graph
        if len(self._graphs) > GRAPH_CACHE_SIZE:
            self._graphs.popitem(last=False)  # least recently used
        return graph
