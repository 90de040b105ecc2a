"""Floors: what our building blocks do bare, measured in the same run as Voco's figures.

- nats_round_trip: nats-py request/reply to a responder in another process, 200 B
- pg_commit: one asyncpg INSERT per durable commit
- pubsub_rate: nats-py publish to a subscriber in another process, 200 B
- jetstream_publish: one JetStream publish, ack awaited (file store, sync always)
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import nats

from bench import cpu
from bench.harness import Latency
from runtime.bus import flush_all

PAYLOAD = b"x" * 200


async def nats_round_trip(url: str, count: int = 2000) -> Latency:
    responder = subprocess.Popen(
        [sys.executable, "-m", "bench.echo", url, "floor.echo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert responder.stdout is not None
    responder.stdout.readline()
    nc = await nats.connect(url)
    try:
        for _ in range(100):
            await nc.request("floor.echo", PAYLOAD, timeout=5)
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            await nc.request("floor.echo", PAYLOAD, timeout=5)
            samples.append(time.perf_counter() - start)
        return Latency.of(samples)
    finally:
        await nc.close()
        responder.communicate(b"")


async def pg_commit(
    dsn: str, count: int = 2000, done: Callable[[], object] | None = None
) -> Latency:
    """`done`: called after the commits, before the connection closes (its backend's CPU
    is read from /proc while it lives)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS floor_commit (id bigserial, body text)")
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            await conn.execute("INSERT INTO floor_commit (body) VALUES ($1)", "x" * 200)
            samples.append(time.perf_counter() - start)
        if done is not None:
            done()
        await conn.execute("DROP TABLE floor_commit")
        return Latency.of(samples)
    finally:
        await conn.close()


async def jetstream_publish(url: str, count: int = 2000) -> Latency:
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        await js.add_stream(name="FLOOR", subjects=["floor.js"])
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            await js.publish("floor.js", PAYLOAD)
            samples.append(time.perf_counter() - start)
        await js.delete_stream("FLOOR")
        return Latency.of(samples)
    finally:
        await nc.close()


async def pubsub_rate(url: str, count: int = 200_000) -> float:
    """Messages per second received by a subscriber in another process from one publisher."""
    counter = subprocess.Popen(
        [sys.executable, "-m", "bench.count", url, "floor.pubsub", "floor.pubsub.end"],
        stdout=subprocess.PIPE,
    )
    assert counter.stdout is not None
    counter.stdout.readline()
    nc = await nats.connect(url, pending_size=64 * 1024 * 1024)
    try:
        for _ in range(count):
            await nc.publish("floor.pubsub", PAYLOAD)
        await flush_all(nc)
        await nc.publish("floor.pubsub.end", b"")
        await flush_all(nc)
        seen, elapsed = counter.stdout.readline().split()
        return int(seen) / float(elapsed)
    finally:
        await nc.close()
        counter.wait()


async def measure(
    nats_url: str,
    database_url: str,
    quick: bool = False,
    nats_pid: int = 0,
    postgres_pid: int = 0,
) -> dict[str, Any]:
    """The floors; with the servers' pids, also the CPU one round trip and one commit cost
    (the floors of CPU per call): the client's (this process), nats-server's per round
    trip, PostgreSQL's (every backend) per commit, from /proc."""
    n = 500 if quick else 2000
    groups = {
        "client": [os.getpid()],
        "nats-server": [nats_pid] if nats_pid else [],
        "postgres": [postgres_pid, *cpu.children(postgres_pid)] if postgres_pid else [],
    }
    before = cpu.snapshot(groups)
    rtt = await nats_round_trip(nats_url, n)
    between = cpu.snapshot(groups)
    taken: dict[str, dict[int, float]] = {}

    def after_commits() -> None:
        # The floor's backend is new (it counts from zero) and gone once it closes.
        groups["postgres"] = [postgres_pid, *cpu.children(postgres_pid)] if postgres_pid else []
        taken.update(cpu.snapshot(groups))

    commit = await pg_commit(database_url, n, after_commits)
    after = taken
    per_rtt = cpu.ms_per_call(before, between, rtt.count + 100)  # the warm-up's too
    per_commit = cpu.ms_per_call(between, after, commit.count)
    return {
        "nats_round_trip": rtt.as_dict(),
        "pg_commit": commit.as_dict(),
        "jetstream_publish": (await jetstream_publish(nats_url, n)).as_dict(),
        "pubsub_msgs_per_s": round(await pubsub_rate(nats_url, 50_000 if quick else 200_000)),
        "cpu_ms": {
            "client_per_round_trip": per_rtt["client"],
            "client_per_commit": per_commit["client"],
            "nats_server_per_round_trip": per_rtt["nats-server"],
            "postgres_per_commit": per_commit["postgres"],
        },
    }


if __name__ == "__main__":
    from bench.harness import servers

    with servers() as s:
        print(asyncio.run(measure(s.nats_url, s.database_url, quick="--quick" in sys.argv)))
