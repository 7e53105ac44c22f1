"""Flowchart definitions: versioned storage (create, save a new version, delete) and a cache of
indexed graphs.

Every change is an event in the flowchart's stream, published through the outbox both on the
flowchart's own subject and as a configuration event (``llmctl.evt.config.flowchart.<id>.<action>``)
that the gateway relays to websocket clients. Create, update and delete are idempotent by the
client's ``Idempotency-Key``: the key is claimed in the same transaction as the change.

Deletion is soft: the flowchart disappears from reads and no new run can start from it, but its
versions stay, so runs that pinned one carry on (and can still be controlled and rewound).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from llmctl_contracts import ErrorBody, ErrorCode, FieldError, MessageType, encode, subjects
from llmctl_contracts.events import FlowchartCreated, FlowchartDeleted, FlowchartUpdated
from llmctl_contracts.flowchart import FlowchartDefinition
from llmctl_contracts.rpc import (
    CreateFlowchart,
    DeleteFlowchart,
    FlowchartRecord,
    FlowchartSummary,
    FlowchartValidation,
    GetById,
    UpdateFlowchart,
    ValidateFlowchart,
)
from llmctl_libs.ids import new_id
from llmctl_libs.messages import Trace, make_envelope
from llmctl_libs.rpc import RpcError
from llmctl_libs.service import Persistence
from llmctl_libs.store import NewEvent
from llmctl_libs.store.idempotency import NOT_SEEN, IdempotentRequests, request_fingerprint
from llmctl_libs.store.outbox import OutboxMessage, PendingMessage

from .engine import FlowchartGraph
from .tables import flowchart_versions, flowcharts, idempotency
from .validation import clamp_fan_in, sync_decision_conditions, validate_flowchart

__all__ = ["CONFIG_ENTITY", "FlowchartRepository", "live_latest_version", "not_found"]

GRAPH_CACHE_SIZE = 256
"""Flowchart versions whose indexed graph the orchestrator keeps in memory."""

CONFIG_ENTITY = "flowchart"
"""Entity name of flowchart changes on the configuration event subjects."""


def not_found(what: str, ident: str) -> RpcError:
    """The ``not_found`` error for one entity."""
    return RpcError(
        ErrorBody.for_field(
            ErrorCode.NOT_FOUND,
            "id",
            f"no {what} with this id",
            message=f"{what} {ident!r} not found",
        )
    )


def _invalid(errors: list[FieldError], request_id: str | None) -> RpcError:
    return RpcError(
        ErrorBody(
            code=ErrorCode.VALIDATION_FAILED,
            message=f"flowchart is invalid: {errors[0].field}: {errors[0].reason}",
            details=errors,
            request_id=request_id,
        )
    )


def _checked(
    definition: FlowchartDefinition,
) -> tuple[FlowchartDefinition, list[FieldError], list[FieldError]]:
    """The definition as it would be saved, its warnings and its errors."""
    clamped, clamp_warnings = clamp_fan_in(definition)
    adjusted, sync_warnings = sync_decision_conditions(clamped)
    return adjusted, clamp_warnings + sync_warnings, validate_flowchart(adjusted)


async def live_latest_version(conn: AsyncConnection, flowchart_id: str) -> int:
    """The latest version of a flowchart that is not deleted.

    Raises:
        RpcError: ``not_found`` naming ``id`` when there is none (or it was deleted).
    """
    version = (
        await conn.execute(
            sa.select(flowcharts.c.latest_version).where(
                flowcharts.c.id == flowchart_id, flowcharts.c.deleted_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    if version is None:
        raise not_found("flowchart", flowchart_id)
    return int(version)


class FlowchartRepository:
    """Stores flowchart versions (immutable once written) and caches their graphs."""

    def __init__(self, persistence: Persistence) -> None:
        self._db = persistence.database
        self._store = persistence.event_store
        self._outbox = persistence.outbox
        self._relay = persistence.relay
        self._requests = IdempotentRequests(idempotency)
        self._graphs: OrderedDict[tuple[str, int], FlowchartGraph] = OrderedDict()

    async def validate(self, request: ValidateFlowchart) -> FlowchartValidation:
        """What saving ``request.definition`` would say, without saving anything."""
        adjusted, warnings, errors = _checked(request.definition)
        return FlowchartValidation(
            valid=not errors, errors=errors, warnings=warnings, definition=adjusted
        )

    async def create(self, request: CreateFlowchart) -> FlowchartRecord:
        """Validate and store a new flowchart at version 1."""
        definition, warnings, errors = _checked(request.definition)
        if errors:
            raise _invalid(errors, request.request_id)
        flowchart_id = new_id()
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            replayed = await self._claim(conn, "flowchart.create", request)
            if replayed is not NOT_SEEN:
                return msgspec.convert(replayed, FlowchartRecord)
            await conn.execute(
                sa.insert(flowcharts).values(
                    id=flowchart_id,
                    name=definition.name,
                    latest_version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            await self._insert_version(conn, flowchart_id, 1, definition, now)
            pending = await self._record(
                conn,
                flowchart_id,
                0,
                MessageType.FLOWCHART_CREATED,
                FlowchartCreated(flowchart_id=flowchart_id, version=1, name=definition.name),
                request.request_id,
            )
            record = FlowchartRecord(
                id=flowchart_id,
                version=1,
                name=definition.name,
                definition=definition,
                created_at=now.isoformat(),
                warnings=warnings,
            )
            await self._finish(conn, "flowchart.create", request, record)
        self._relay.enqueue(pending)
        return record

    async def update(self, request: UpdateFlowchart) -> FlowchartRecord:
        """Validate ``request.definition`` and save it as the flowchart's next version."""
        definition, warnings, errors = _checked(request.definition)
        if errors:
            raise _invalid(errors, request.request_id)
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            replayed = await self._claim(conn, "flowchart.update", request)
            if replayed is not NOT_SEEN:
                return msgspec.convert(replayed, FlowchartRecord)
            latest = await self._lock_live(conn, request.id)
            version = latest + 1
            await conn.execute(
                sa.update(flowcharts)
                .where(flowcharts.c.id == request.id)
                .values(name=definition.name, latest_version=version, updated_at=now)
            )
            await self._insert_version(conn, request.id, version, definition, now)
            pending = await self._record(
                conn,
                request.id,
                latest,
                MessageType.FLOWCHART_UPDATED,
                FlowchartUpdated(flowchart_id=request.id, version=version, name=definition.name),
                request.request_id,
            )
            record = FlowchartRecord(
                id=request.id,
                version=version,
                name=definition.name,
                definition=definition,
                created_at=now.isoformat(),
                warnings=warnings,
            )
            await self._finish(conn, "flowchart.update", request, record)
        self._relay.enqueue(pending)
        return record

    async def delete(self, request: DeleteFlowchart) -> FlowchartSummary:
        """Delete a flowchart: gone from reads and new runs; its versions stay for old runs."""
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            replayed = await self._claim(conn, "flowchart.delete", request)
            if replayed is not NOT_SEEN:
                return msgspec.convert(replayed, FlowchartSummary)
            latest = await self._lock_live(conn, request.id)
            row = (
                await conn.execute(
                    sa.update(flowcharts)
                    .where(flowcharts.c.id == request.id)
                    .values(deleted_at=now, updated_at=now)
                    .returning(flowcharts.c.name, flowcharts.c.created_at)
                )
            ).one()
            pending = await self._record(
                conn,
                request.id,
                latest,
                MessageType.FLOWCHART_DELETED,
                FlowchartDeleted(flowchart_id=request.id, latest_version=latest, name=row.name),
                request.request_id,
            )
            summary = FlowchartSummary(
                id=request.id,
                name=row.name,
                latest_version=latest,
                created_at=row.created_at.isoformat(),
                updated_at=now.isoformat(),
                deleted=True,
            )
            await self._finish(conn, "flowchart.delete", request, summary)
        self._relay.enqueue(pending)
        return summary

    async def get(self, request: GetById, conn: AsyncConnection | None = None) -> FlowchartRecord:
        """The latest version of one flowchart (not found once deleted), read on ``conn`` (a
        caller's transaction) or on a connection of its own."""
        if conn is None:
            async with self._db.autocommit() as own:
                return await self.get(request, own)
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
                .where(flowcharts.c.id == request.id, flowcharts.c.deleted_at.is_(None))
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

    async def latest_graph(
        self, flowchart_id: str, conn: AsyncConnection
    ) -> tuple[int, FlowchartGraph]:
        """The latest version of the flowchart and its graph (not found once deleted): what a
        new run pins. Reads only the version number; the definition comes from the graph
        cache (versions are immutable)."""
        version = await live_latest_version(conn, flowchart_id)
        return version, await self.graph(flowchart_id, version, conn)

    def cached_graph(self, flowchart_id: str, version: int) -> FlowchartGraph | None:
        """The indexed graph of one pinned version if the cache holds it (see :meth:`graph`)."""
        key = (flowchart_id, version)
        cached = self._graphs.get(key)
        if cached is not None:
            self._graphs.move_to_end(key)
        return cached

    async def graph(self, flowchart_id: str, version: int, conn: AsyncConnection) -> FlowchartGraph:
        """The indexed graph of one pinned version (cached, least recently used dropped first;
        versions are immutable and outlive a deleted flowchart). A cache miss reads on
        ``conn``, the caller's: a caller holding a pooled connection never waits for a second."""
        cached = self.cached_graph(flowchart_id, version)
        if cached is not None:
            return cached
        raw = (
            await conn.execute(
                sa.select(flowchart_versions.c.definition).where(
                    flowchart_versions.c.flowchart_id == flowchart_id,
                    flowchart_versions.c.version == version,
                )
            )
        ).scalar_one()
        graph = FlowchartGraph.build(msgspec.json.decode(raw, type=FlowchartDefinition))
        self._graphs[(flowchart_id, version)] = graph
        if len(self._graphs) > GRAPH_CACHE_SIZE:
            self._graphs.popitem(last=False)  # least recently used
        return graph

    async def _claim(
        self,
        conn: AsyncConnection,
        scope: str,
        request: CreateFlowchart | UpdateFlowchart | DeleteFlowchart,
    ) -> Any:
        if not request.idempotency_key:
            return NOT_SEEN
        return await self._requests.begin(
            conn, scope, request.idempotency_key, request_fingerprint(request)
        )

    async def _finish(self, conn: AsyncConnection, scope: str, request: Any, result: Any) -> None:
        if request.idempotency_key:
            await self._requests.finish(conn, scope, request.idempotency_key, result)

    async def _lock_live(self, conn: AsyncConnection, flowchart_id: str) -> int:
        """Lock a flowchart that is not deleted and return its latest version."""
        latest = (
            await conn.execute(
                sa.select(flowcharts.c.latest_version)
                .where(flowcharts.c.id == flowchart_id, flowcharts.c.deleted_at.is_(None))
                .with_for_update()
            )
        ).scalar_one_or_none()
        if latest is None:
            raise not_found("flowchart", flowchart_id)
        return int(latest)

    async def _insert_version(
        self,
        conn: AsyncConnection,
        flowchart_id: str,
        version: int,
        definition: FlowchartDefinition,
        now: datetime,
    ) -> None:
        await conn.execute(
            sa.insert(flowchart_versions).values(
                flowchart_id=flowchart_id,
                version=version,
                definition=encode(definition),
                created_at=now,
            )
        )

    async def _record(
        self,
        conn: AsyncConnection,
        flowchart_id: str,
        stream_version: int,
        type_name: str,
        payload: Any,
        request_id: str | None,
    ) -> list[PendingMessage]:
        """Append one event to the flowchart's stream and queue it on both of its subjects."""
        action = type_name.rpartition(".")[2]
        key = f"flowchart:{flowchart_id}:{action}:{stream_version + 1}"
        envelope = make_envelope(
            type_name,
            payload,
            trace=Trace(correlation_id=request_id or flowchart_id, request_id=request_id),
            idempotency_key=key,
        )
        body = encode(envelope)
        await self._store.append(
            conn,
            f"flowchart:{flowchart_id}",
            stream_version,
            [NewEvent(envelope.event_id, envelope.type, 1, body, key)],
        )
        return await self._outbox.add(
            conn,
            [
                OutboxMessage(
                    subject=subjects.flowchart_event(flowchart_id, action),
                    msg_id=key,
                    body=body,
                ),
                # Same stream (LLMCTL_EVT): its own msg id, or JetStream would drop it as a dup.
                OutboxMessage(
                    subject=subjects.config_event(CONFIG_ENTITY, flowchart_id, action),
                    msg_id=f"config:{key}",
                    body=body,
                ),
            ],
        )
