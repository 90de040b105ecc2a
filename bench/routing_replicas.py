"""Routing scale-out: the call rate with one and with two routing replicas, same run.

    python -m bench.routing_replicas [--quick]      (also `./voco bench --only replicas`)

For one replica, then two (each its own process, sharing the VOCO_PBX partitions,
runtime/leases.py), in a fresh database each: the same open-loop call load as the
routing section (bench/routing_load.py, the full conversation per call), offered by
request and offered on JetStream (every call event then goes through the partitions).
For each: p50/p99 at 200 calls/s, the highest rate routing sustains (a search like the
routing section's: doubling from 100 calls/s, then bisecting) and the highest of the rates
tried with p99 < 10 ms, each replica's CPU share and the load average. The floors (NATS round
trip, PostgreSQL commit) are measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from typing import Any

import nats
import uvloop
from nats.js.errors import NotFoundError

from bench import floors
from bench.cpu import cpu_seconds
from bench.harness import Servers, delete_streams, servers, service
from bench.routing_section import Load
from contracts.pbx import PBX_STREAM
from runtime.partitions import MAX_PARTITIONS
from services.routing.app import CALLS_CONSUMER


def _sustained(step: dict[str, Any]) -> bool:
    """Routing kept up: at most 1 % of the calls without a first command in time (the
    load process gives no p99 past that) and the calls offered at the rate asked."""
    return step["p99_ms"] is not None and step["achieved_rate"] >= 0.95 * step["rate"]


def _fast(step: dict[str, Any]) -> bool:
    return _sustained(step) and step["p99_ms"] < 10


def _brief(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if k != "latencies_ms"}


async def drain(nats_url: str, seconds: float = 60.0) -> float:
    """Wait until routing's call partitions have nothing pending (a missed step leaves a
    backlog that would count against the next one); the seconds it took."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            pending = 0
            for partition in range(MAX_PARTITIONS):
                try:
                    info = await js.consumer_info(PBX_STREAM, f"{CALLS_CONSUMER}-p{partition}")
                except NotFoundError:
                    continue
                pending += info.num_pending + info.num_ack_pending
            if not pending:
                break
            await asyncio.sleep(0.25)
    finally:
        await nc.close()
    return round(time.perf_counter() - started, 1)


async def highest_rate(
    load: Load, nats_url: str, step_seconds: float, steps: int, publish: bool
) -> Any:
    """Highest rate routing sustains: double from 100 while it does, then bisect; and the
    highest of the rates tried that had p99 < 10 ms."""
    met: float | None = None
    missed: float | None = None
    rate, tried = 100.0, []
    for _ in range(steps):
        step = await load.run(rate, step_seconds, publish=publish)
        step = _brief(step)
        tried.append(step)
        if _sustained(step):
            met = rate
        else:
            missed = rate
            await asyncio.sleep(1.5)
        step["drained_in_s"] = await drain(nats_url)
        if missed is None:
            rate *= 2
        elif met is None:
            rate /= 2
        elif missed - met <= max(10.0, met * 0.1):
            break
        else:
            rate = round((met + missed) / 2)
        if not 10 <= rate <= 3200:
            break
    fast = [step["rate"] for step in tried if _fast(step)]
    return met, max(fast, default=None), tried


async def with_replicas(s: Servers, count: int, quick: bool) -> dict[str, Any]:
    """As production runs (bench/routing_section.py): each replica as the `routing`
    principal on its own role and migrated schema, the load as `pbxsim`."""
    await delete_streams(s.nats_url)
    dsn = await s.database_of(f"bench_replicas_{count}", "routing")
    seconds, step_seconds, steps = (3.0, 1.5, 4) if quick else (8.0, 4.0, 6)
    async with AsyncExitStack() as stack:
        processes: list[subprocess.Popen[bytes]] = [
            await stack.enter_async_context(
                service(s, dsn, "routing", nats_url=s.nats_url_of("routing"))
            )
            for _ in range(count)
        ]
        load = Load(s)
        try:
            await load.ready()
            await asyncio.sleep(3)  # each replica has taken its share of the partitions
            result: dict[str, Any] = {"replicas": count}
            for how, publish in (("offers_requested", False), ("offers_published", True)):
                cpu = [cpu_seconds(p.pid) for p in processes]
                fixed = await load.run(200, seconds, publish=publish)
                shares = [
                    round((cpu_seconds(p.pid) - c) / seconds, 2)
                    for p, c in zip(processes, cpu, strict=True)
                ]
                await drain(s.nats_url)
                sustained, fast, tried = await highest_rate(
                    load, s.nats_url, step_seconds, steps, publish
                )
                result[how] = {
                    "at_200": {**_brief(fixed), "routing_cpu_share": shares},
                    "max_rate_sustained": sustained,
                    "max_rate_p99_under_10ms": fast,
                    "search": tried,
                    "loadavg": os.getloadavg()[0],
                }
                await drain(s.nats_url)
        finally:
            load.close()
    return result


async def replicas(s: Servers, quick: bool) -> dict[str, Any]:
    one = await with_replicas(s, 1, quick)
    two = await with_replicas(s, 2, quick)
    ratio: dict[str, float | None] = {}
    for how in ("offers_requested", "offers_published"):
        a, b = one[how]["max_rate_sustained"], two[how]["max_rate_sustained"]
        ratio[how] = round(b / a, 2) if a and b else None
    return {"one": one, "two": two, "two_over_one_max_rate_sustained": ratio}


async def main(quick: bool) -> None:
    with servers() as s:
        results: dict[str, Any] = {
            "floors": await floors.measure(s.nats_url, s.database_url, quick=quick)
        }
        results["replicas"] = await replicas(s, quick)
    results["cpus"] = os.cpu_count()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.routing_replicas", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    uvloop.run(main(parser.parse_args().quick))
    sys.exit(0)
