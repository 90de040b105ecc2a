"""Scheduler benchmark: many boundaries in one minute, and start-up with many schedules.

    python -m bench.scheduler [--users 10000] [--schedules 100000] [--presence responder|real]

1. same minute: N users in several time zones whose weekly rules all start at the same
   instant B. Each gets a SaveSchedule over NATS. A clock shifted from real time (the
   driver's injectable clock) is moved to just before B; the receiving end counts every
   ActivateProfile and its lag from B, in a process of its own. `responder` answers
   each SwitchUsers on NATS (isolates the scheduler); `real` runs the presence service
   in its own process and counts the ProfileActivated events made by the scheduler as
   they reach a JetStream consumer.
2. start-up: M schedules in Postgres (rows written in bulk, as the projection writes
   them); `python -m services.scheduler` is started and timed until its timers are
   loaded and it answers a GetSchedule; RSS from /proc. An empty start is the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from bench.harness import Latency, create_database, rss_mb, servers, service_env
from bench.principals import ADMIN, as_user
from contracts.errors import CommandError, ErrorCode, Reply
from contracts.presence import GetPresence, ProvisionUser, SwitchResults, SwitchUsers
from contracts.scheduler import GetSchedule, SaveSchedule, ScheduleSpec, Weekday, WeeklyRule
from runtime.bus import command_subject, flush_all, request
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

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def sleep_until(self, moment: datetime) -> None:
        await asyncio.sleep(max(0.0, (moment - self.now()).total_seconds()))


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
    if mode == "real":
        # Its own process, as deployed (and with run_service's collector settings).
        presence = subprocess.Popen(
            [sys.executable, "-m", "services.presence"],
            env=service_env(connections.nats_url, connections.database_url),
        )
        await until_answering(connections.nats_url)
    else:
        receiver = Receiver(connections.nats_url, "responder", users)
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
            [
                request(nc, "presence", ProvisionUser(extension=x, display_name=x, **ADMIN))
                for x in names
            ],
            64,
        )
        await until(
            lambda: scheduler.pool.fetchval(
                "SELECT count(DISTINCT extension) >= $1 FROM scheduler.profiles", users
            )
        )
        receiver = Receiver(connections.nats_url, "watcher", users)
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
                        extension=x,
                        schedule=spec_starting_at(boundary, ZONES[n % len(ZONES)]),
                        **as_user(x),
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
    print(f"clock moved to {prepare_seconds + 2} s before the boundary", file=sys.stderr)
    driver.wake()
    arrivals = await receiver.arrivals(timeout=prepare_seconds + 180)
    # Arrivals are on the real clock; the boundary is on the driver's (real + offset).
    shift = clock.offset.total_seconds() - boundary.timestamp()
    lags = [at + shift for at in arrivals.values()]
    result = {
        "mode": mode,
        "users": users,
        "zones": len(ZONES),
        "switches_received": len(arrivals),
        "lag_from_boundary": Latency.of(lags).as_dict(),
        "lag_min_ms": round(min(lags) * 1000, 1) if lags else None,
        "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
        "save_schedule": {
            **Latency.of(latencies).as_dict(),
            "per_second": round(users / save_seconds),
        },
        "setup_seconds": round(provisioned, 1),
    }
    await nc.close()
    await scheduler.stop()
    if mode == "real":
        presence.terminate()
        presence.wait(15)
    return result


async def until_answering(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        for _ in range(300):
            try:
                await request(nc, "presence", GetPresence(extension="100", **ADMIN), timeout=1)
            except CommandError as error:
                if error.code != ErrorCode.UNAVAILABLE:
                    return  # answered (no such user)
            await asyncio.sleep(0.1)
        raise RuntimeError("the presence service did not start")
    finally:
        await nc.close()


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
        await request(
            nc,
            "scheduler",
            GetSchedule(extension=extension(0), **as_user(extension(0))),
            timeout=30,
        )
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


class Receiver:
    """The receiving end, in its own process so that the scheduler's work in this one
    cannot delay when arrivals are noted (`python -m bench.scheduler --receive ...`)."""

    def __init__(self, nats_url: str, kind: str, users: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.scheduler", "--receive", kind, nats_url, str(users)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()  # ready

    async def arrivals(self, timeout: float) -> dict[str, float]:
        """{extension: when its first switch arrived (epoch seconds)}, once every user's
        has or `timeout` passed."""
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                loop.run_in_executor(None, self.process.stdout.readline), timeout
            )
        out, _ = await loop.run_in_executor(None, self.process.communicate, "")
        return dict(json.loads(out.splitlines()[-1]))


async def receive(kind: str, url: str, users: int) -> None:
    """`responder`: a stand-in presence that answers every SwitchUsers at once (isolates the
    scheduler). `watcher`: a JetStream consumer of the ProfileActivated events the
    scheduler caused. Prints "done" once every user's switch arrived, and the arrivals
    when stdin closes."""
    nc = await nats.connect(url, pending_size=256 * 1024 * 1024)
    seen: list[tuple[float, bytes]] = []
    extensions: set[str] = set()
    done = asyncio.Event()

    def note(extension: str) -> None:
        extensions.add(extension)
        if len(extensions) >= users:
            done.set()

    async def answer(msg: Msg) -> None:
        seen.append((time.time(), msg.data))
        switches = json.loads(msg.data)["switches"]
        result = SwitchResults(refused=[None] * len(switches)).model_dump()
        await msg.respond(Reply(ok=True, result=result).model_dump_json().encode())
        for switch in switches:
            note(switch["extension"])

    async def event(msg: Msg) -> None:
        seen.append((time.time(), msg.data))
        await msg.ack()
        body = json.loads(msg.data)
        if body["meta"].get("channel") == "scheduler":
            note(body["data"]["extension"])

    if kind == "responder":
        await nc.subscribe(
            command_subject("presence", SwitchUsers),
            queue="presence",
            cb=answer,
            pending_msgs_limit=-1,
            pending_bytes_limit=-1,
        )
    else:
        await nc.jetstream().subscribe(
            "voco.evt.presence.*.ProfileActivated",
            cb=event,
            manual_ack=True,
            deliver_policy=DeliverPolicy.NEW,
            pending_msgs_limit=-1,
        )
    await flush_all(nc)
    print("ready", flush=True)
    await done.wait()
    print("done", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await nc.close()
    first: dict[str, float] = {}
    for at, data in seen:
        body = json.loads(data)
        if kind == "responder":
            for switch in body["switches"]:
                first.setdefault(switch["extension"], at)
        elif body["meta"].get("channel") == "scheduler":
            first.setdefault(body["data"]["extension"], at)
    print(json.dumps(first), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--receive"]:
        uvloop.run(receive(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--presence", choices=["responder", "real"], default="responder")
    # uvloop, as run_service uses for every service process
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
