"""The raw limits the runtime is compared to: JetStream publish+ack, Postgres commits, and
the floor of a node hop built from the same pieces with no runtime around them."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass

import psycopg
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from llmctl_libs.bus import connect_raw
from llmctl_libs.store.driver_pool import libpq_url

from .relay import percentile

__all__ = ["durable_hop_floor", "jetstream_publish_rate", "postgres_commit_rate"]


async def jetstream_publish_rate(
    nats_url: str, *, messages: int = 3000, concurrency: int = 1
) -> float:
    """Messages/s for JetStream publishes each awaited for its ack (file storage)."""
    nc = await connect_raw(nats_url)
    js = nc.jetstream()
    name = f"BENCH_RAW_{concurrency}"
    await js.add_stream(
        StreamConfig(name=name, subjects=[f"bench.raw.{concurrency}"], storage=StorageType.FILE)
    )
    payload = b"x" * 512
    per_worker = messages // concurrency

    async def worker(offset: int) -> None:
        for i in range(per_worker):
            await js.publish(
                f"bench.raw.{concurrency}", payload, headers={"Nats-Msg-Id": f"{offset}-{i}"}
            )

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await js.delete_stream(name)
        await nc.close()
    return per_worker * concurrency / elapsed


async def postgres_commit_rate(
    database_url: str, *, commits: int = 1500, concurrency: int = 1
) -> float:
    """Commits/s of single-row INSERT transactions."""
    conninfo = libpq_url(database_url)
    table = f"bench_raw_{concurrency}"
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
        await admin.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id bigserial primary key, body text)"
        )
    per_worker = commits // concurrency

    async def worker() -> None:
        async with await psycopg.AsyncConnection.connect(conninfo) as conn:
            for _ in range(per_worker):
                await conn.execute(f"INSERT INTO {table} (body) VALUES (%s)", ("x" * 256,))
                await conn.commit()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
            await admin.execute(f"DROP TABLE IF EXISTS {table}")
    return per_worker * concurrency / elapsed


@dataclass
class _HopSide:
    """One side of the raw hop: its own Postgres and NATS connections, like a service."""

    conn: psycopg.AsyncConnection[tuple[object, ...]]
    js: JetStreamContext
    table: str
    reply_subject: str

    async def handle(self, msg: Msg) -> None:
        """Record the message durably (one autocommit insert: one fsync'd commit), publish
        the next message and wait for its ack, then acknowledge this one."""
        await self.conn.execute(
            f"INSERT INTO {self.table} (message_id, body) VALUES (%s, %s)",
            (uuid.uuid4().hex, msg.data),
        )
        await self.js.publish(
            self.reply_subject, msg.data, headers={"Nats-Msg-Id": uuid.uuid4().hex}
        )
        await msg.ack()


async def durable_hop_floor(
    nats_url: str, database_url: str, *, hops: int = 300
) -> dict[str, float]:
    """p50/p99 of the smallest hop the runtime's design allows, without the runtime.

    A node hop needs two durable steps, each committed before its message goes out: the
    orchestrator's (activate, dispatch) and the router's (decide). Here two sides play them
    with nothing else: each writes one row in one autocommit statement (one fsync'd commit,
    like the runtime's minimum of one transaction per step), publishes one 512-byte message
    to a JetStream file stream and waits for the ack, and acknowledges the message it got,
    through two push consumers. The gap between consecutive arrivals at one side is one hop.
    """
    conninfo = libpq_url(database_url)
    suffix = uuid.uuid4().hex[:8]
    stream, subject = f"BENCH_HOP_{suffix}", f"bench.hop.{suffix}"
    tables = [f"bench_hop_{suffix}_a", f"bench_hop_{suffix}_b"]
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
        for table in tables:
            await admin.execute(f"CREATE TABLE {table} (message_id text PRIMARY KEY, body bytea)")
    clients = [await connect_raw(nats_url) for _ in range(2)]
    conns = [await psycopg.AsyncConnection.connect(conninfo, autocommit=True) for _ in range(2)]
    await (
        clients[0]
        .jetstream()
        .add_stream(StreamConfig(name=stream, subjects=[f"{subject}.>"], storage=StorageType.FILE))
    )
    arrivals: list[float] = []
    done = asyncio.Event()
    sides = [
        _HopSide(conns[i], clients[i].jetstream(), tables[i], f"{subject}.{'ba'[i]}")
        for i in range(2)
    ]

    async def side_a(msg: Msg) -> None:
        arrivals.append(time.perf_counter())
        if len(arrivals) > hops:
            await msg.ack()
            done.set()
            return
        await sides[0].handle(msg)

    try:
        await sides[0].js.subscribe(f"{subject}.a", cb=side_a, manual_ack=True)
        await sides[1].js.subscribe(f"{subject}.b", cb=sides[1].handle, manual_ack=True)
        await sides[1].js.publish(f"{subject}.a", b"x" * 512, headers={"Nats-Msg-Id": "first"})
        await asyncio.wait_for(done.wait(), timeout=max(60.0, hops * 0.2))
    finally:
        await clients[0].jetstream().delete_stream(stream)
        for client in clients:
            await client.close()
        for conn in conns:
            await conn.close()
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as admin:
            for table in tables:
                await admin.execute(f"DROP TABLE IF EXISTS {table}")
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return {"hops": len(gaps), "p50_ms": percentile(gaps, 0.5), "p99_ms": percentile(gaps, 0.99)}
