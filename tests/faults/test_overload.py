"""Overload (`./voco test -m faults`): 2,000 status changes as fast as clients send them,
and calls at twice the rate the bench sustains (175 calls/s in bench/results/REPORT.md):
nothing acknowledged lost, what is refused is refused quickly with a clear error, and
memory stays bounded (RSS before and after, reported)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest

from contracts.base import Role
from contracts.presence import GetHistory, SetStatus, Status
from tests.faults.platform import Platform, rss_kib
from tests.faults.rows import report
from tests.faults.workload import Figures, Workload

pytestmark = [pytest.mark.integration, pytest.mark.faults]
SUSTAINED_CALLS_PER_SECOND = 175


async def test_o1_2000_status_changes_at_once(platform: Platform) -> None:
    workload = Workload(
        platform.endpoints()["VOCO_NATS_URL"],
        "O1",
        users=40,
        watchers=1,
        pbx_url=platform.principal_url("pbxsim"),
    )
    await workload.prepare()
    pid = platform.pid("presence")
    before = rss_kib(pid)
    slow_errors: list[float] = []

    async def change(user: str, n: int) -> str | None:
        note = f"O1-{user}-{n}-{uuid.uuid4().hex[:6]}"
        sent = time.monotonic()
        try:
            await workload.send(
                "presence",
                SetStatus(
                    extension=user, status=Status.AWAY, note=note, actor=user, role=Role.USER
                ),
                timeout=10,
            )
        except Exception as error:
            workload.errors.saw(error)
            slow_errors.append(time.monotonic() - sent)
            return None
        return note

    started = time.monotonic()
    notes = await asyncio.gather(*(change(u, n) for n in range(50) for u in workload.users))
    took = time.monotonic() - started
    acked = [n for n in notes if n is not None]
    after = rss_kib(pid)
    figures = Figures(acknowledged=len(acked))
    seen: Counter[str] = Counter()
    for user in workload.users:
        history = await workload.send_patiently(
            "presence", GetHistory(extension=user, limit=1000, actor="faults", role=Role.ADMIN)
        )
        seen.update(
            e["summary"].split("note '", 1)[1].split("'", 1)[0]
            for e in history["entries"]
            if "note 'O1-" in e["summary"]
        )
    figures.lost = sum(1 for n in acked if seen[n] == 0)
    figures.twice = sum(1 for c in seen.values() if c > 1)
    figures.clear_errors = dict(workload.errors.clear)
    figures.unclear_errors = workload.errors.unclear
    figures.details = [
        f"2000 sent in {took:.1f} s ({2000 / took:.0f}/s), {len(acked)} acknowledged",
        f"slowest refusal {max(slow_errors, default=0):.2f} s",
        f"presence RSS {before // 1024} MB before, {after // 1024} MB after",
    ]
    await workload.close()
    report("O1", figures)
    assert figures.lost == 0
    assert figures.twice == 0
    assert figures.unclear_errors == []
    assert max(slow_errors, default=0) < 5.0  # refused, not left to time out
    assert after < before + 200 * 1024


async def test_o2_calls_at_twice_the_sustained_rate(platform: Platform) -> None:
    workload = Workload(
        platform.endpoints()["VOCO_NATS_URL"],
        "O2",
        users=12,
        watchers=1,
        pbx_url=platform.principal_url("pbxsim"),
    )
    await workload.prepare()
    assert workload.sim is not None
    pid = platform.pid("routing")
    before = rss_kib(pid)
    rate, seconds = 2 * SUSTAINED_CALLS_PER_SECOND, 4
    latencies: list[float] = []

    async def offer(n: int, due: float) -> None:
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        assert workload.sim is not None
        try:
            call = await workload.sim.offer("+4930999", workload.users[n % len(workload.users)])
        except Exception as error:
            workload.errors.saw(error)
            return
        latencies.append(time.monotonic() - due)
        if call.outcome and call.outcome.startswith("refused"):
            workload.refused_offers += 1
        else:
            workload.calls.append(call.call_id)

    start = time.monotonic() + 0.5
    await asyncio.gather(*(offer(n, start + n / rate) for n in range(rate * seconds)))
    figures = await workload.check(settle=90)
    after = rss_kib(pid)
    latencies.sort()
    figures.details = [
        f"{rate * seconds} offered at {rate}/s; offer answered p50 "
        f"{latencies[len(latencies) // 2] * 1000:.0f} ms, p99 "
        f"{latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms (a 2 s timeout falls back "
        "to JetStream, as contracts/PBX.md says)",
        f"routing RSS {before // 1024} MB before, {after // 1024} MB after",
        *figures.details[:5],
    ]
    await workload.close()
    report("O2", figures)
    assert figures.calls_not_final == 0
    assert figures.unclear_errors == []
    assert after < before + 300 * 1024
