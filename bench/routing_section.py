"""`./voco bench`'s routing section: the call path as production runs it, its latency at
200 calls/s, CPU per call per process, the highest rate with p99 < 10 ms, and the same
with one core taken by a spinning process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import cpu
from bench.harness import Servers, delete_streams, service

# routing ---------------------------------------------------------------------


class Load:
    """The open-loop PBX load process (bench/routing_load.py), as the pbxsim principal
    (provisioning as presence, readiness as the operator)."""

    def __init__(self, s: Servers) -> None:
        urls = [s.nats_url_of(p) for p in ("pbxsim", "presence", "operator")]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.routing_load", *urls],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def ready(self) -> None:
        assert self.process.stdout is not None
        line = await asyncio.to_thread(self.process.stdout.readline)
        if line.strip() != "ready":
            raise RuntimeError("the routing load process failed to start; see its output")

    async def run(self, rate: float, seconds: float, *, publish: bool = False) -> dict[str, Any]:
        """Calls at `rate` for `seconds`, offered by request (or on JetStream: `publish`)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{rate} {seconds}{' publish' if publish else ''}\n")
        self.process.stdin.flush()
        result: dict[str, Any] = json.loads(await asyncio.to_thread(self.process.stdout.readline))
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)


def _meets(step: dict[str, Any]) -> bool:
    return step["p99_ms"] is not None and step["p99_ms"] < 10


async def _highest_rate(
    load: Load, fixed: dict[str, Any], step_seconds: float, max_steps: int
) -> tuple[float | None, list[dict[str, Any]]]:
    """Highest rate with p99 < 10 ms: halve from 200 until one meets it (or double while
    200 does), then bisect between the last met and first missed rate."""
    steps = []
    met, missed = (200.0, None) if _meets(fixed) else (None, 200.0)
    rate = 400.0 if met else 100.0
    for _ in range(max_steps):
        if rate < 2 or rate > 3200:
            break
        step = await load.run(rate, step_seconds)
        steps.append({k: v for k, v in step.items() if k != "latencies_ms"})
        if _meets(step):
            met = rate
        else:
            missed = rate
            await asyncio.sleep(1)
        if missed is None:
            rate = rate * 2
        elif met is None:
            rate = rate / 2
        else:
            if missed - met <= max(5.0, met * 0.15):
                break
            rate = round((met + missed) / 2, 1)
    return met, steps


async def _cpu_per_call(
    s: Servers, load: Load, routing_pid: int, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """200 calls/s for `seconds`, and each process's CPU ms per call over the window: the
    offers plus 1 s for the last calls to end (talk 0.5 s), so each call is the whole
    conversation. Also the same processes' CPU ms per second idle, just before."""
    postmaster = s.postgres.process.pid if s.postgres.process else 0

    def groups() -> dict[str, list[int]]:
        return {
            "routing": [routing_pid],
            "nats-server": [s.nats_pid],
            "postgres": [postmaster, *cpu.children(postmaster)],
            "load generator (apart)": [load.process.pid],
        }

    await asyncio.sleep(1.5)  # the warm-up's calls end
    idle_before = cpu.snapshot(groups())
    await asyncio.sleep(2)
    before = cpu.snapshot(groups())
    fixed = await load.run(200, seconds)
    await asyncio.sleep(1)
    after = cpu.snapshot(groups())
    per_call = cpu.ms_per_call(before, after, fixed["offered"])
    load_ms = per_call.pop("load generator (apart)")
    per_call["sum"] = round(per_call["sum"] - load_ms, 3)
    per_call["load generator (apart)"] = load_ms
    idle = cpu.ms_per_call(idle_before, before, 2)  # "per call" of 2: ms per second
    idle.pop("sum")
    return fixed, {"ms_per_call": per_call, "idle_ms_per_s": idle, "calls": fixed["offered"]}


@contextmanager
def busy_core() -> Iterator[subprocess.Popen[bytes]]:
    """A process spinning on the CPU for as long as the block runs: one core taken."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield spinner
    finally:
        spinner.kill()
        spinner.wait()


async def routing(s: Servers, quick: bool) -> dict[str, Any]:
    """As production runs: routing as the `routing` principal on its own role and
    migrated schema, the load as `pbxsim` (Servers.database_of, Load)."""
    await delete_streams(s.nats_url)
    dsn = await s.database_of("bench_routing", "routing")
    seconds, step_seconds = (3.0, 1.5) if quick else (10.0, 4.0)
    max_steps = 3 if quick else 7
    async with service(s, dsn, "routing", nats_url=s.nats_url_of("routing")) as process:
        load = Load(s)
        try:
            await load.ready()
            fixed, usage = await _cpu_per_call(s, load, process.pid, seconds)
            fixed["routing_cpu_share"] = round(
                usage["ms_per_call"]["routing"] * fixed["offered"] / 1000 / seconds, 2
            )
            await asyncio.sleep(2)  # let a backlog drain before the search
            met, steps = await _highest_rate(load, fixed, step_seconds, max_steps)
            # A PBX that cannot make requests publishes its offers on JetStream.
            await asyncio.sleep(2)
            published = await load.run(200, seconds, publish=True)
            # Not on a knife's edge: the same with one core taken by a spinning process.
            await asyncio.sleep(2)
            with busy_core():
                busy_fixed = await load.run(200, seconds)
                await asyncio.sleep(1)
                busy_met, busy_steps = await _highest_rate(
                    load, busy_fixed, step_seconds, max_steps
                )
        finally:
            load.close()
    strip = ("latencies_ms",)
    return {
        "fixed_rate": fixed,
        "cpu": usage,
        "search": steps,
        "max_rate_p99_under_10ms": met,
        "offers_published": {k: v for k, v in published.items() if k not in strip},
        "one_core_busy": {
            "fixed_rate": {k: v for k, v in busy_fixed.items() if k not in strip},
            "search": busy_steps,
            "max_rate_p99_under_10ms": busy_met,
        },
        "credentials": "routing as its NATS user and PostgreSQL role, the load as pbxsim",
    }
