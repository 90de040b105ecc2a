"""The PBX side of the routing figures, in its own process: open-loop call load.

    python -m bench.routing_load PBXSIM_URL PRESENCE_URL OPERATOR_URL

Each URL is that principal's own (its NATS user and password), so the load runs with
production's permissions: provisions ten extensions as `presence` (events on
VOCO_PRESENCE), waits as `operator` until the routing service knows them, then offers
calls as `pbxsim` on its node; warms up, prints "ready". Then, for each line "RATE SECONDS"
on stdin, offers calls at that fixed rate and prints one JSON line of results; "RATE
SECONDS publish" offers them on JetStream instead of by request.

Open loop: call n is due at start + n / rate whether or not earlier calls were answered,
and its latency runs from that due time (not from when the publish happened), so a
stalled generator or a slow routing service shows up in the figures instead of hiding
(no coordinated omission). A call with no first command within the settle time counts
as a miss; any miss beyond 1 % makes p99 infinite.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

import uvloop

from bench.harness import percentile
from bench.routing import EXTENSIONS, NODE, prepare
from runtime.bus import connect
from runtime.clock import SystemClock
from runtime.service import quiet_collector
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.pbxsim.simulator import PbxSimulator, SimCall


async def offer_at_rate(sim: PbxSimulator, rate: float, seconds: float) -> dict[str, object]:
    total = max(1, int(rate * seconds))
    targets = itertools.cycle(EXTENSIONS)
    due: list[float] = []
    offers: list[asyncio.Task[SimCall]] = []
    start = time.perf_counter()
    for n in range(total):
        at = start + n / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        due.append(at)
        offers.append(asyncio.create_task(sim.offer("2000", next(targets))))
    calls = list(await asyncio.gather(*offers))
    sent_in = time.perf_counter() - start
    deadline = time.perf_counter() + 5.0
    while time.perf_counter() < deadline and any(c.first_command is None for c in calls):  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # polling many calls: there is no one event to await
    latencies = [
        (c.first_command - at) * 1000 for c, at in zip(calls, due, strict=True) if c.first_command
    ]
    missed = total - len(latencies)
    p99 = percentile(latencies, 99) if missed <= total / 100 else float("inf")
    return {
        "rate": rate,
        "offered": total,
        "achieved_rate": round(total / sent_in, 1),
        "missed": missed,
        "p50_ms": round(percentile(latencies, 50), 3) if latencies else None,
        "p99_ms": round(p99, 3) if p99 != float("inf") else None,
        "max_ms": round(max(latencies), 3) if latencies else None,
        "latencies_ms": [round(x, 3) for x in latencies[:: max(1, len(latencies) // 2000)]],
    }


async def main(pbxsim_url: str, presence_url: str, operator_url: str) -> None:
    await prepare(presence_url, operator_url)
    nc = await connect(pbxsim_url, "bench-pbxsim")
    behaviours = {f"{ext}-desk": Behaviour(action=Action.ANSWER) for ext in EXTENSIONS}
    scenario = Scenario(node=NODE, behaviours=behaviours, talk_seconds=0.5)
    sim = PbxSimulator(nc, SystemClock(), scenario)
    await sim.start()
    await offer_at_rate(sim, 20, 1.5)  # warm up routing's caches and connections
    quiet_collector()  # this process's collections would show as routing latency
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        rate, seconds, *how = line.split()
        sim.offer_by_request = how != ["publish"]
        print(json.dumps(await offer_at_rate(sim, float(rate), float(seconds))), flush=True)
    await sim.stop()
    await nc.close()


if __name__ == "__main__":
    uvloop.run(main(*sys.argv[1:4]))
