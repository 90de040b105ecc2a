"""The sections of `./voco bench`, each returning its figures as plain data.

Every section runs against the one NATS and PostgreSQL the suite started, in a fresh
database and with every JetStream stream deleted first, so no section sees another's
events. Services run as their own processes (`python -m services.<name>`), as `./voco up`
runs them; load comes from other processes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.msg import Msg

from bench import gateway as gateway_bench
from bench import gateway_fanout, routing_section, seed
from bench import scheduler as scheduler_bench
from bench import visibility as visibility_bench
from bench.harness import (
    Latency,
    Servers,
    create_database,
    delete_streams,
    rss_mb,
    service,
)
from bench.principals import ADMIN, as_user
from contracts.base import Command
from contracts.envelope import Envelope
from contracts.presence import GetPresence, ProvisionUser, SetStatus, Status
from contracts.routing import WhatIf
from contracts.scheduler import GetSchedule
from contracts.visibility import GetContacts
from runtime.bus import flush_all, request
from runtime.config import Connections


async def fresh(s: Servers, name: str) -> str:
    """A new database for a section, streams cleared; returns its DSN."""
    await delete_streams(s.nats_url)
    await create_database(s.postgres.dsn("postgres"), name)
    return s.postgres.dsn(name)


routing = routing_section.routing  # its own module: bench/routing_section.py


# --- presence and the watcher's view --------------------------------------------------

OWNER, WATCHER = "1001", "2001"


async def presence(s: Servers, quick: bool) -> dict[str, Any]:
    dsn = await fresh(s, "bench_presence")
    await visibility_bench.seed(dsn, [OWNER, WATCHER], [(OWNER, WATCHER, "allowed")])
    count = 200 if quick else 1000
    async with service(s, dsn, "presence"), service(s, dsn, "visibility"):
        nc = await nats.connect(s.nats_url)
        watcher = await nats.connect(s.nats_url)
        changed: dict[str, float] = {}
        viewed: dict[str, float] = {}
        done: dict[str, asyncio.Event] = {}

        async def on_event(msg: Msg) -> None:
            changed[Envelope.from_bytes(msg.data).data["note"]] = time.perf_counter()

        async def on_view(msg: Msg) -> None:
            note = json.loads(msg.data).get("note") or ""
            viewed[note] = time.perf_counter()
            if note in done:
                done[note].set()

        await watcher.subscribe(f"voco.evt.presence.{OWNER}.PresenceChanged", cb=on_event)
        await watcher.subscribe(f"voco.view.{WATCHER}.{OWNER}", cb=on_view)
        await flush_all(watcher)
        await answering(
            nc, "presence", ProvisionUser(extension=OWNER, display_name="Bench", **ADMIN)
        )
        to_event, to_view = [], []
        statuses = [Status.AWAY, Status.AVAILABLE]
        for n in range(count + 50):
            note = f"n{n}"
            done[note] = asyncio.Event()
            start = time.perf_counter()
            await request(
                nc,
                "presence",
                SetStatus(extension=OWNER, status=statuses[n % 2], note=note, **as_user(OWNER)),
            )
            # The first views wait for visibility to load its index and join the stream.
            await asyncio.wait_for(done[note].wait(), 30 if n == 0 else 5)
            if n >= 50:
                to_event.append(changed[note] - start)
                to_view.append(viewed[note] - start)
        await nc.close()
        await watcher.close()
    return {
        "set_status_to_presence_changed": Latency.of(to_event).as_dict(),
        "set_status_to_watcher_view": Latency.of(to_view).as_dict(),
        "to_view_samples_ms": [round(x * 1000, 3) for x in to_view],
        "to_event_samples_ms": [round(x * 1000, 3) for x in to_event],
    }


async def answering(nc: Any, service_name: str, command: Command, timeout: float = 60) -> float:
    """Seconds until the service answers `command` (any reply, an error included)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            await request(nc, service_name, command, timeout=2)
            break
        except Exception as error:  # no responders yet, or a typed error: both fine
            if "no responders" not in str(error).lower() and "start it" not in str(error):
                break
            await asyncio.sleep(0.05)
    return time.perf_counter() - started


# --- fan-out, scheduler, scale --------------------------------------------------------


async def fanout(s: Servers, quick: bool, pubsub_floor: float) -> dict[str, Any]:
    dsn = await fresh(s, "bench_fanout")
    admin = s.postgres.dsn("postgres")
    await asyncio.sleep(0)
    return await visibility_bench.fanout(s.nats_url, admin, dsn, quick, pubsub_floor)


async def scheduler(s: Servers, quick: bool) -> dict[str, Any]:
    """The scheduler alone (a stand-in presence answers), then end to end through the
    real presence service (the switches' events reaching a JetStream consumer)."""
    users, prepare = (1000, 2.0) if quick else (10_000, 10.0)
    out = {}
    for mode, name in (("responder", "alone"), ("real", "through_presence")):
        dsn = await fresh(s, f"bench_minute_{name}")
        out[name] = await scheduler_bench.same_minute(
            Connections(s.nats_url, dsn), users, mode, prepare_seconds=prepare
        )
    return out


PROBES: dict[str, Command] = {
    "presence": GetPresence(extension=seed.extension(0), **ADMIN),
    "routing": WhatIf(callee=seed.extension(0), **ADMIN),
    "scheduler": GetSchedule(extension="100000", **ADMIN),
    "visibility": GetContacts(watcher="100000", **as_user("100000")),
}


def seeded_answer(name: str, reply: dict[str, Any]) -> str:
    """What the probe's answer shows of the seeded user; raises if it shows none."""
    probed = seed.extension(0)
    if name == "presence":
        if reply.get("display_name") != f"User {probed}" or len(reply.get("devices", {})) != 2:
            raise RuntimeError(f"presence answered {reply} for seeded user {probed}")
        return f"GetPresence {probed}: {reply['status']}, profile {reply['active_profile']}, " + (
            ", ".join(f"{device} {state}" for device, state in sorted(reply["devices"].items()))
        )
    steps = [step["event"] for step in reply.get("steps", [])]
    if "RingStepStarted" not in steps:
        raise RuntimeError(f"routing planned no ringing for seeded user {probed}: {reply}")
    return f"WhatIf {probed}: {' -> '.join(steps)}; {reply['outcome']}"


async def start_up(
    s: Servers, dsn: str, name: str, check: Callable[[str, dict[str, Any]], str] | None = None
) -> dict[str, Any]:
    """A service process from exec to answering its first request, and its RSS then;
    with `check`, the probe's answer must show the seeded data (else the run stops)."""
    nc = await nats.connect(s.nats_url)
    try:
        async with service(s, dsn, name) as process:
            seconds = await answering(nc, name, PROBES[name])
            await asyncio.sleep(0.5)  # background loads that finish just after
            figures: dict[str, Any] = {
                "startup_s": round(seconds, 2),
                "rss_mb": rss_mb(process.pid),
            }
            if check is not None:
                figures["probe"] = check(name, await request(nc, name, PROBES[name]))
            return figures
    finally:
        await nc.close()


SEEDERS = {"presence": seed.presence, "routing": seed.routing}


async def scale(s: Servers, quick: bool) -> dict[str, Any]:
    users = 10_000 if quick else 100_000
    await delete_streams(s.nats_url)
    admin = s.postgres.dsn("postgres")
    out: dict[str, Any] = {
        "visibility": await visibility_bench.scale(
            s.nats_url, admin, s.postgres.dsn("bench_scale"), users, 10
        )
    }
    dsn = await fresh(s, "bench_schedules")
    await scheduler_bench.fill(dsn, users)
    out["scheduler"] = {"schedules": users, **await start_up(s, dsn, "scheduler")}
    for name, seeder in SEEDERS.items():
        # The floor: the same service on an empty store.
        empty = await start_up(s, await fresh(s, f"bench_empty_{name}"), name)
        dsn = await fresh(s, f"bench_seeded_{name}")
        seconds = await seeder(dsn, seed.extensions(users))
        out[name] = {
            "seeded": True,
            "users": users,
            "seed_s": round(seconds, 1),
            **await start_up(s, dsn, name, seeded_answer),
            "empty": empty,
        }
    return out


# --- the edge: HTTP status change to the watcher's live stream -------------------------


async def edge(s: Servers, quick: bool) -> dict[str, Any]:
    figures = await gateway_bench.edge(s, quick, await fresh(s, "bench_edge"))
    fanned = await gateway_fanout.fan_out(s, quick, await fresh(s, "bench_edge_fanout"))
    return {**figures, "fan_out": fanned}
