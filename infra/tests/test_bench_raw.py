"""The raw limits against real JetStream and Postgres."""

from __future__ import annotations

import psycopg

from llmctl_infra.bench.raw import durable_hop_floor
from llmctl_libs.bus import connect_raw


async def test_the_durable_hop_floor_measures_hops_and_leaves_nothing_behind(
    nats_url: str, database_url: str
) -> None:
    figures = await durable_hop_floor(nats_url, database_url, hops=20)
    assert figures["hops"] == 20
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://")
    async with await psycopg.AsyncConnection.connect(conninfo) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench_hop_%'"
        )
        assert await cursor.fetchone() == (0,)
    nc = await connect_raw(nats_url)
    try:
        streams = await nc.jetstream().streams_info()
    finally:
        await nc.close()
    assert not [s for s in streams if s.config.name and s.config.name.startswith("BENCH_HOP_")]
