"""Scheduler benchmark: many boundaries in one minute, and start-up with many schedules.

    python -m bench.scheduler [--users 10000] [--schedules 100000] [--presence responder|real]

1. same minute: N users in several time zones whose weekly rules all start at the same
   instant B. Each gets a SaveSchedule over NATS. A clock shifted from real time (the
   driver's injectable clock) is moved to just before B; the receiving end counts every
   ActivateProfile and its lag from B. `responder` acks each command on NATS (isolates
   the scheduler); `real` runs the presence service in-process and counts the
   ProfileActivated events made by the scheduler as they reach a JetStream consumer.
2. start-up: M schedules in Postgres (rows written in bulk, as the projection writes
   them); `python -m services.scheduler` is started and timed until its timers are
   loaded and it answers a GetSchedule; RSS from /proc. An empty start is the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import nats
import uvloop
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.floors import nats_round_trip, pg_commit
from bench.harness import Latency, create_database, rss_mb, servers
from contracts.errors import Reply
from contracts.presence import ProvisionUser
from contracts.scheduler import GetSchedule, SaveSchedule, ScheduleSpec, Weekday, WeeklyRule
from runtime.bus import request
from runtime.config import Connections
from services.scheduler.domain.decider import UserSchedule
from services.scheduler.domain.timeline import effective, next_boundary
from services.scheduler.driver import Driver, DriverSettings
from services.scheduler.tables import EXTRA_SQL, dump_user

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Europe/London",
]


class ShiftedClock:
    """Real time plus an offset the benchmark moves (a wall-clock jump for the driver)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def spec_starting_at(boundary: datetime, zone: str) -> ScheduleSpec:
    local = boundary.astimezone(ZoneInfo(zone))
    start = f"{local.hour:02d}:{local.minute:02d}"
    end = "24:00" if local.hour == 23 else f"{local.hour + 1:02d}:{local.minute:02d}"
    return ScheduleSpec(
        time_zone=zone,
        rules=[WeeklyRule(days=list(Weekday), start=start, end=end, profile_id="away")],
        default_profile="available",
    )


def extension(n: int) -> str:
    return f"{100000 + n}"


async def same_minute(
    connections: Connections, users: int, mode: str, prepare_seconds: float = 10.0
) -> dict[str, Any]:
    from services.scheduler.app import build as build_scheduler

    boundary = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    clock = ShiftedClock(boundary - timedelta(minutes=30) - datetime.now(UTC))
    received: dict[str, float] = {}
    listener = await nats.connect(connections.nats_url, pending_size=256 * 1024 * 1024)
    presence = None
    if mode == "real":
        from services.presence.app import build as build_presence

        presence = await build_presence(connections, clock)  # type: ignore[arg-type]
        await presence.start()
    else:
        responder = subprocess.Popen(
            [sys.executable, "-m", "bench.scheduler", "--responder", connections.nats_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert responder.stdout is not None
        responder.stdout.readline()
    scheduler = await build_scheduler(
        connections, clock, DriverSettings(poll_seconds=0.2, prepare_seconds=prepare_seconds)
    )  # type: ignore[arg-type]
    await scheduler.start()
    driver = scheduler.workers[0]
    assert isinstance(driver, Driver)
    nc = await nats.connect(connections.nats_url)
    names = [extension(n) for n in range(users)]
    setup_started = time.perf_counter()
    if mode == "real":
        await _bounded(
            [request(nc, "presence", ProvisionUser(extension=x, display_name=x)) for x in names], 64
        )
        await until(
            lambda: scheduler.pool.fetchval(
                "SELECT count(DISTINCT extension) >= $1 FROM scheduler.profiles", users
            )
        )
        received.clear()
        js = listener.jetstream()

        async def seen(msg: Msg) -> None:
            body = json.loads(msg.data)
            if body["type"] == "ProfileActivated" and body["meta"].get("channel") == "scheduler":
                received.setdefault(
                    body["data"]["extension"], (clock.now() - boundary).total_seconds()
                )
            await msg.ack()

        await js.subscribe(
            "voco.evt.presence.*.ProfileActivated",
            cb=seen,
            manual_ack=True,
            deliver_policy=DeliverPolicy.NEW,
            pending_msgs_limit=-1,
        )
    else:
        await scheduler.pool.copy_records_to_table(
            "profiles",
            schema_name="scheduler",
            records=[(x, p, p) for x in names for p in ("available", "away")],
        )
    provisioned = time.perf_counter() - setup_started
    started = time.perf_counter()
    latencies = await _bounded(
        [
            _timed(
                request(
                    nc,
                    "scheduler",
                    SaveSchedule(
                        extension=x, schedule=spec_starting_at(boundary, ZONES[n % len(ZONES)])
                    ),
                )
            )
            for n, x in enumerate(names)
        ],
        64,
    )
    save_seconds = time.perf_counter() - started
    await until(
        lambda: scheduler.pool.fetchval(
            "SELECT count(*) >= $2 FROM scheduler.timers WHERE due_at = $1", boundary, users
        )
    )
    await asyncio.sleep(1.0)  # the driver has refreshed every timer
    # 2 s before the prepare window (10 s by default): the driver decides the switches in
    # that window, as it would while the real clock runs up to B.
    clock.offset = boundary - timedelta(seconds=prepare_seconds + 2) - datetime.now(UTC)
    driver.wake()
    if mode == "real":
        await until(lambda: _true(len(received) >= users), timeout=180, interval=0.05)
    else:
        await asyncio.sleep(
            prepare_seconds + 5
        )  # past B, and the responder has answered all it will
        out, _ = responder.communicate("")
        shift = clock.offset.total_seconds() - boundary.timestamp()
        received.update({ext: at + shift for ext, at in json.loads(out).items()})
    lags = list(received.values())
    result = {
        "mode": mode,
        "users": users,
        "zones": len(ZONES),
        "switches_received": len(received),
        "lag_from_boundary": Latency.of(lags).as_dict(),
        "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
        "save_schedule": {
            **Latency.of(latencies).as_dict(),
            "per_second": round(users / save_seconds),
        },
        "setup_seconds": round(provisioned, 1),
    }
    await nc.close()
    await scheduler.stop()
    if presence is not None:
        await presence.stop()
    await listener.close()
    return result


async def _true(value: bool) -> bool:
    return value


async def until(check: Any, timeout: float = 300, interval: float = 0.2) -> None:
    """Poll `check()` (awaitable bool) until true, or give up after `timeout` seconds."""
    deadline = time.perf_counter() + timeout
    while True:
        if await check() or time.perf_counter() > deadline:
            return
        await asyncio.sleep(interval)


async def _timed(work: Any) -> float:
    start = time.perf_counter()
    await work
    return time.perf_counter() - start


async def _bounded(works: list[Any], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def one(work: Any) -> Any:
        async with slots:
            return await work

    return await asyncio.gather(*(one(w) for w in works))


async def fill(dsn: str, schedules: int) -> None:
    """Write schedules and timers in bulk, in the projection's own format."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS scheduler")
        await conn.execute(EXTRA_SQL.format(s='"scheduler"'))
        now = datetime.now(UTC)
        boundary = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
        templates = []
        for zone in ZONES:
            spec = spec_starting_at(boundary, zone)
            due = next_boundary(effective("x", spec, (), (), None), now)
            templates.append((json.dumps(dump_user(UserSchedule(spec=spec))), due))
        await conn.copy_records_to_table(
            "schedules",
            schema_name="scheduler",
            records=[
                (extension(n), templates[n % len(templates)][0], False) for n in range(schedules)
            ],
            columns=["key", "state", "inherits"],
        )
        await conn.copy_records_to_table(
            "timers",
            schema_name="scheduler",
            records=[
                (extension(n), templates[n % len(templates)][1], False) for n in range(schedules)
            ],
            columns=["extension", "due_at", "dirty"],
        )
    finally:
        await conn.close()


async def start_up(nats_url: str, dsn: str) -> dict[str, Any]:
    env = {**os.environ, "VOCO_NATS_URL": nats_url, "VOCO_DATABASE_URL": dsn}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "services.scheduler"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    try:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, process.stderr.readline)
            if not line:
                raise RuntimeError("the scheduler exited during start-up")
            if "timers loaded" in line:
                break
        loaded = time.perf_counter() - started
        nc = await nats.connect(nats_url)
        await request(nc, "scheduler", GetSchedule(extension=extension(0)), timeout=30)
        answering = time.perf_counter() - started
        await nc.close()
        return {
            "timers_loaded_s": round(loaded, 2),
            "answering_s": round(answering, 2),
            "rss_mb": rss_mb(process.pid),
        }
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, process.communicate)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with servers() as s:
        results: dict[str, Any] = {
            "floor_nats_round_trip": (await nats_round_trip(s.nats_url)).as_dict(),
            "floor_pg_commit": (await pg_commit(s.database_url)).as_dict(),
        }
        await create_database(s.postgres.dsn("postgres"), "minute")
        results["same_minute"] = await same_minute(
            Connections(s.nats_url, s.postgres.dsn("minute")), args.users, args.presence
        )
        for name, count in (("empty", 0), ("large", args.schedules)):
            await create_database(s.postgres.dsn("postgres"), name)
            started = time.perf_counter()
            await fill(s.postgres.dsn(name), count)
            fill_seconds = time.perf_counter() - started
            results[f"start_up_{count}"] = {
                **await start_up(s.nats_url, s.postgres.dsn(name)),
                "bulk_fill_s": round(fill_seconds, 1),
            }
        return results


async def respond(url: str) -> None:
    """A stand-in presence in its own process: acks each command, notes when it came."""
    nc = await nats.connect(url, pending_size=256 * 1024 * 1024)
    seen: list[tuple[float, bytes]] = []
    ok = Reply(ok=True, result={}).model_dump_json().encode()

    async def ack(msg: Msg) -> None:
        seen.append((time.time(), msg.data))  # decoded later: keep the receiving end cheap
        await msg.respond(ok)

    await nc.subscribe(
        "voco.cmd.presence.>",
        queue="presence",
        cb=ack,
        pending_msgs_limit=-1,
        pending_bytes_limit=-1,
    )
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await nc.close()
    first: dict[str, float] = {}
    for at, data in seen:
        first.setdefault(json.loads(data)["extension"], at)
    print(json.dumps(first), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--responder"]:
        uvloop.run(respond(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--presence", choices=["responder", "real"], default="responder")
    # uvloop, as run_service uses for every service process
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
