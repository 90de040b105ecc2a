"""Presence: "set status" to "PresenceChanged received by a subscriber".

The presence service runs as its own process (`python -m services.presence`),
as `./voco up` runs it; the client sends SetStatus requests one after another
and a core NATS subscriber on another connection stamps each PresenceChanged.
Floors (bare NATS round trip, bare Postgres commit) are measured in the same run.
Also measured: what a span costs on the hot path with no exporter configured.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import nats
from nats.aio.msg import Msg

from bench import floors
from bench.harness import Latency, servers, service_env
from bench.principals import ADMIN, as_user
from contracts.envelope import Envelope
from contracts.presence import ProvisionUser, SetStatus, Status
from runtime.bus import flush_all, request
from runtime.telemetry import inject_headers, setup_tracing, span_from_headers, tracer


async def set_status_to_event(nats_url: str, count: int) -> dict[str, Any]:
    nc = await nats.connect(nats_url)
    watcher = await nats.connect(nats_url)
    arrived: dict[str, float] = {}
    waiting: dict[str, asyncio.Future[None]] = {}

    async def on_event(msg: Msg) -> None:
        note = Envelope.from_bytes(msg.data).data["note"]
        arrived[note] = time.perf_counter()
        future = waiting.pop(note, None)
        if future is not None:
            future.set_result(None)

    await watcher.subscribe("voco.evt.presence.1001.PresenceChanged", cb=on_event)
    await flush_all(watcher)
    for _ in range(100):
        try:
            await request(
                nc, "presence", ProvisionUser(extension="1001", display_name="Bench", **ADMIN)
            )
            break
        except Exception:
            await asyncio.sleep(0.1)
    end_to_end, replies = [], []
    statuses = [Status.AWAY, Status.AVAILABLE]
    for n in range(count + 50):
        note = f"n{n}"
        delivered = waiting[note] = asyncio.get_running_loop().create_future()
        start = time.perf_counter()
        await request(
            nc,
            "presence",
            SetStatus(extension="1001", status=statuses[n % 2], note=note, **as_user("1001")),
        )
        replied = time.perf_counter()
        await asyncio.wait_for(delivered, 5)
        if n >= 50:  # warm-up
            replies.append(replied - start)
            end_to_end.append(arrived[note] - start)
    await nc.close()
    await watcher.close()
    return {
        "set_status_to_presence_changed": Latency.of(end_to_end).as_dict(),
        "set_status_reply": Latency.of(replies).as_dict(),
    }


def span_overhead_us(count: int = 20_000) -> float:
    """Microseconds per hot-path hop: extract context, one span, inject context."""
    setup_tracing("bench")
    trace = tracer("bench")
    headers = inject_headers()
    start = time.perf_counter()
    for _ in range(count):
        with span_from_headers(trace, "hop", headers):
            inject_headers()
    return (time.perf_counter() - start) / count * 1e6


async def run(quick: bool = False) -> dict[str, Any]:
    count = 200 if quick else 1000
    with servers() as s:
        env = service_env(s.nats_url, s.database_url)
        service = subprocess.Popen([sys.executable, "-m", "services.presence"], env=env)
        try:
            floor = await floors.measure(s.nats_url, s.database_url, quick=quick)
            figures = await set_status_to_event(s.nats_url, count)
        finally:
            service.terminate()
            service.wait(15)
    e2e = figures["set_status_to_presence_changed"]
    bare = floor["nats_round_trip"]["p50_ms"] + floor["pg_commit"]["p50_ms"]
    return {
        "floors": floor,
        **figures,
        "ratio_p50_to_rtt_plus_commit": round(e2e["p50_ms"] / bare, 2),
        "span_overhead_us_no_exporter": round(span_overhead_us(), 1),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(quick="--quick" in sys.argv)), indent=2))
