"""The edge: an HTTP status change to the watcher's live stream (server-sent events).

presence, visibility and the gateway run as their own processes, as `./voco up` runs
them. The owner (1001, bearer token) sends `PUT /api/users/1001/status` one at a time;
the watcher (2001, a contact allowed to see 1001) holds `GET /api/stream` open in this
process, and each change is timed from the request's start to its `presence` event on
the stream. The floor: an HTTP request to the same server that does nothing
(`GET /api/health`, same client) plus the NATS round trip and the Postgres commit.

    python -m bench.gateway [--quick]        (also a section of ./voco bench: "edge")
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import nats

from bench import floors, gateway_fanout
from bench import visibility as visibility_bench
from bench.harness import (
    Latency,
    Servers,
    create_database,
    delete_streams,
    servers,
    service_env,
)
from bench.principals import ADMIN
from contracts.presence import ProvisionUser
from runtime.eventstore import EventStore, create_pool
from services.gateway.accounts.domain import AccountRole
from services.gateway.accounts.store import ACCOUNTS_SQL, AccountStore
from services.gateway.demo import ensure_accounts
from services.gateway.edge import SCHEMA
from services.gateway.passwords import Passwords
from services.gateway.sessions import SESSIONS_SQL
from services.gateway.throttle import THROTTLE_SQL

OWNER, WATCHER = "1001", "2001"
PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def accounts(dsn: str) -> None:
    pool = await create_pool(dsn, max_size=2)
    try:
        store = EventStore(pool, SCHEMA)
        await store.setup(ACCOUNTS_SQL + SESSIONS_SQL + THROTTLE_SQL)
        wanted = [(e, e, AccountRole.USER) for e in (OWNER, WATCHER)]
        passwords = {OWNER: PASSWORD, WATCHER: PASSWORD}
        await ensure_accounts(AccountStore(store), wanted, passwords, Passwords())
    finally:
        await pool.close()


async def signed_in(url: str, login: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=url, timeout=30)
    for _ in range(300):  # the edge may still be starting
        try:
            answer = await client.post(
                "/api/session", json={"login": login, "password": PASSWORD, "bearer": True}
            )
            break
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    answer.raise_for_status()
    client.headers["Authorization"] = f"Bearer {answer.json()['token']}"
    return client


async def measure(url: str, nats_url: str, count: int) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    for extension in (OWNER, WATCHER):
        for _ in range(300):
            try:
                await nc.request(
                    "voco.cmd.presence.ProvisionUser",
                    ProvisionUser(extension=extension, display_name=extension, **ADMIN)
                    .model_dump_json()
                    .encode(),
                    timeout=1,
                )
                break
            except Exception:
                await asyncio.sleep(0.1)
    await nc.close()
    owner, watcher = await signed_in(url, OWNER), await signed_in(url, WATCHER)
    seen: dict[str, float] = {}
    arrived: dict[str, asyncio.Event] = {}
    ready = asyncio.Event()

    async def read_stream() -> None:
        async with watcher.stream("GET", "/api/stream") as response:
            async for line in response.aiter_lines():
                if line.startswith("event: ready"):
                    ready.set()
                elif line.startswith("data: {") and '"note"' in line:
                    note = json.loads(line[6:]).get("note") or ""
                    seen[note] = time.perf_counter()
                    if note in arrived:
                        arrived[note].set()

    reader = asyncio.create_task(read_stream())
    await asyncio.wait_for(ready.wait(), 30)
    health, to_stream = [], []
    statuses = ["away", "available"]
    for n in range(count + 50):
        note = f"n{n}"
        arrived[note] = asyncio.Event()
        start = time.perf_counter()
        answer = await owner.put(
            f"/api/users/{OWNER}/status", json={"status": statuses[n % 2], "note": note}
        )
        answer.raise_for_status()
        # The first views wait for visibility to load its index and join the stream.
        await asyncio.wait_for(arrived[note].wait(), 30 if n == 0 else 5)
        started = time.perf_counter()
        (await owner.get("/api/health")).raise_for_status()
        if n >= 50:  # warm-up
            to_stream.append(seen[note] - start)
            health.append(time.perf_counter() - started)
    reader.cancel()
    for client in (owner, watcher):
        await client.aclose()
    return {
        "status_to_stream": Latency.of(to_stream).as_dict(),
        "http_noop": Latency.of(health).as_dict(),
        "status_to_stream_samples_ms": [round(x * 1000, 3) for x in to_stream],
    }


async def edge(s: Servers, quick: bool, dsn: str | None = None) -> dict[str, Any]:
    """A section of ./voco bench (bench/suite.py calls it with a fresh database)."""
    dsn = dsn or s.database_url
    await visibility_bench.seed(dsn, [OWNER, WATCHER], [(OWNER, WATCHER, "allowed")])
    await accounts(dsn)
    port = free_port()
    env = {**service_env(s.nats_url, dsn), "VOCO_HTTP_PORT": str(port)}
    processes = [
        subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env)
        for name in ("presence", "visibility", "gateway")
    ]
    try:
        return await measure(f"http://127.0.0.1:{port}", s.nats_url, 100 if quick else 500)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.to_thread(process.wait, 20)


async def run(quick: bool) -> dict[str, Any]:
    loaded = os.getloadavg()  # the machine is shared: latencies mean little without it
    with servers() as s:
        floor = await floors.measure(s.nats_url, s.database_url, quick=quick)
        figures = await edge(s, quick)
        await delete_streams(s.nats_url)
        await create_database(s.postgres.dsn("postgres"), "bench_edge_fanout")
        fanned = await gateway_fanout.fan_out(s, quick, s.postgres.dsn("bench_edge_fanout"))
    ratios: dict[str, float] = {}
    for q in ("p50", "p99"):
        bare = figures["http_noop"][f"{q}_ms"] + sum(
            floor[k][f"{q}_ms"] for k in ("nats_round_trip", "pg_commit")
        )
        sockets = fanned["socket_floor"]["write_to_last_read"][f"{q}_ms"]
        ratios[f"floor_{q}_ms"] = round(bare, 3)
        ratios[f"ratio_{q}_to_floor"] = round(figures["status_to_stream"][f"{q}_ms"] / bare, 2)
        # One change to N streams: the single change's floor plus N bare socket writes.
        ratios[f"fan_out_floor_{q}_ms"] = round(bare + sockets, 3)
        ratios[f"fan_out_ratio_{q}_to_floor"] = round(
            fanned["change_to_last_watcher"][f"{q}_ms"] / (bare + sockets), 2
        )
    return {
        "floors": floor,
        **{k: v for k, v in figures.items() if not k.endswith("samples_ms")},
        **ratios,
        "fan_out": fanned,
        "load_average": {"at_start": loaded, "at_end": os.getloadavg()},
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(quick="--quick" in sys.argv)), indent=2))
