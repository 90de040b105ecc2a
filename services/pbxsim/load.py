"""Load mode: N calls per second for a while, then a report of outcomes and latencies.

Latency is CallOffered sent -> the first PBX command for that call received,
on this process's monotonic clock (perf_counter), so it covers NATS both ways,
routing's decision, its Postgres commit and the outbox relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from services.pbxsim.simulator import PbxSimulator, SimCall


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class LoadReport:
    offered: int
    seconds: float
    outcomes: dict[str, int]
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.offered / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)

    def lines(self) -> list[str]:
        answered = len(self.latencies_ms)
        lines = [
            f"offered {self.offered} calls in {self.seconds:.1f} s ({self.rate:.0f}/s); "
            f"{answered} got a first command, {self.offered - answered} did not",
            "CallOffered -> first PBX command: "
            f"p50 {self.p(0.5):.2f} ms, p90 {self.p(0.9):.2f} ms, p99 {self.p(0.99):.2f} ms, "
            f"max {max(self.latencies_ms, default=float('nan')):.2f} ms",
        ]
        lines += [f"  {count:6d}  {outcome}" for outcome, count in sorted(self.outcomes.items())]
        return lines


async def run_load(
    sim: PbxSimulator,
    *,
    rate: float,
    seconds: float,
    callees: Sequence[str],
    caller: str = "2000",
    settle_seconds: float = 10.0,
) -> LoadReport:
    total = int(rate * seconds)
    calls: list[SimCall] = []
    offers: list[asyncio.Task[SimCall]] = []
    targets = itertools.cycle(callees)
    start = time.perf_counter()
    for n in range(total):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        offers.append(asyncio.create_task(sim.offer(caller, next(targets))))
    calls = list(await asyncio.gather(*offers))
    elapsed = time.perf_counter() - start
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.settled.wait() for c in calls)), settle_seconds)
    outcomes = Counter((c.outcome or "no outcome yet").split(":")[0] for c in calls)
    latencies = [c.latency_ms for c in calls if c.latency_ms is not None]
    return LoadReport(total, elapsed, dict(outcomes), latencies)
