"""The raw limits the runtime is compared to: JetStream publish+ack and Postgres commits."""

from __future__ import annotations

import asyncio
import time

import psycopg
from nats.js.api import StorageType, StreamConfig

from llmctl_libs.bus import connect_raw

__all__ = ["jetstream_publish_rate", "postgres_commit_rate"]


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
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
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
