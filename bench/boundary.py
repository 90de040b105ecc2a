"""Boundaries announced ahead: 10,000 users switching in one minute, calls at the moment.

    python -m bench.boundary [--users 10000] [--calls 1000] [--lead 60]

Presence, routing and the scheduler each run in their own process, as deployed, on the
real clock (announcements and moments are real time). N users are provisioned, then each
gets a weekly schedule (8 time zones) whose rule starts at the same instant B, the next
whole minute at least `lead` + the saving time away. The scheduler announces the switches
`lead` seconds ahead (VOCO_SCHEDULER_ANNOUNCE_SECONDS); presence stores them and applies
them at B.

Measured:
- calls: right after B (from B + 0.1 s), `--calls` calls are offered to distinct users by
  request (`voco.pbx.offer`, as a PBX does); routing's `HopEntered` names the profile each
  was decided by: the share decided by the new profile (goal 100 %), and when each offer
  was made after B.
- watchers: every scheduler-made `PresenceChanged` as it reaches a JetStream consumer in a
  process of its own (what visibility's fan-out consumes): its lag from B, p50 and p99
  (goal p99 <= 500 ms), and the ratio of p99 to the floors (NATS round trip + Postgres
  commit, p50) of the same run.
- presence's CPU seconds from B until every switch was seen (/proc), the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import nats
import uvloop
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.floors import nats_round_trip, pg_commit
from bench.harness import Latency, create_database, servers, service_env
from bench.principals import ADMIN, as_user
from bench.scheduler import ZONES, _bounded, extension, spec_starting_at, until, until_answering
from contracts import pbx
from contracts.presence import ProvisionUser
from contracts.scheduler import SaveSchedule
from runtime.bus import flush_all, request

OLD, NEW = "available", "away"  # the profile before B, and the one the rules start at B


def start(module: str, nats_url: str, dsn: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module], env={**service_env(nats_url, dsn), **env}
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    with open("/proc/loadavg") as found:
        return " ".join(found.read().split()[:3])


def next_minute(after: datetime) -> datetime:
    return after.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


async def count(dsn: str, sql: str, *args: Any) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def boundary_minute(
    nats_url: str, dsn: str, users: int, calls: int, lead: float
) -> dict[str, Any]:
    presence = start("services.presence", nats_url, dsn, VOCO_PRESENCE_CACHE_SIZE=str(users))
    await until_answering(nats_url)
    routing = start("services.routing", nats_url, dsn)
    scheduler = start(
        "services.scheduler",
        nats_url,
        dsn,
        VOCO_SCHEDULER_ANNOUNCE_SECONDS=str(lead),
        VOCO_SCHEDULER_POLL_SECONDS="0.2",
    )
    nc = await nats.connect(nats_url, pending_size=256 * 1024 * 1024)
    try:
        names = [extension(n) for n in range(users)]
        setup = time.perf_counter()
        await _bounded(
            [
                request(
                    nc,
                    "presence",
                    ProvisionUser(extension=x, display_name=x, **ADMIN),
                    timeout=60,
                )
                for x in names
            ],
            48,
        )
        await until(
            lambda: count(
                dsn, "SELECT count(DISTINCT extension) >= $1 FROM scheduler.profiles", users
            )
        )
        await until(lambda: count(dsn, "SELECT count(*) >= $1 FROM routing.extensions", users))
        provisioned = time.perf_counter() - setup
        # Saving took 76-600/s here: B is the first whole minute after the saves and the lead.
        moment = next_minute(datetime.now(UTC) + timedelta(seconds=lead + users / 40 + 10))
        saves = time.perf_counter()
        await _bounded(
            [
                request(
                    nc,
                    "scheduler",
                    SaveSchedule(
                        extension=x,
                        schedule=spec_starting_at(moment, ZONES[n % len(ZONES)]),
                        **as_user(x),
                    ),
                    timeout=60,
                )
                for n, x in enumerate(names)
            ],
            64,
        )
        save_seconds = time.perf_counter() - saves
        print(f"boundary at {moment.isoformat()}", file=sys.stderr, flush=True)
        watcher = Watcher(nats_url, users)
        decided: dict[str, str] = {}

        async def hop(msg: Msg) -> None:
            body = json.loads(msg.data)
            if body["data"].get("hop") == 0 and body["data"].get("profile"):
                decided[body["stream"].removeprefix("call:")] = body["data"]["profile"]["id"]

        await nc.subscribe("voco.evt.routing.*.HopEntered", cb=hop, pending_msgs_limit=-1)
        await flush_all(nc)
        announced_by = await announcements(dsn, users, moment)
        await sleep_until(moment - timedelta(seconds=1))
        cpu_before = cpu_seconds(presence.pid)
        await sleep_until(moment + timedelta(milliseconds=100))
        offers = await offer_calls(nc, names, calls, moment)
        arrivals = await watcher.arrivals(timeout=60)
        cpu_used = cpu_seconds(presence.pid) - cpu_before
        load = loadavg()
        await until(lambda: _done(decided, offers), timeout=20, interval=0.1)
        lags = [at - moment.timestamp() for at in arrivals.values()]
        applied = await applied_after(dsn, moment)
        by_new = sum(1 for call_id in offers if decided.get(call_id) == NEW)
        return {
            "users": users,
            "zones": len(ZONES),
            "lead_s": lead,
            "setup_s": round(provisioned, 1),
            "save_schedule_per_s": round(users / save_seconds),
            "announced_before_moment_s": announced_by,
            "calls": {
                "offered": len(offers),
                "decided": sum(1 for call_id in offers if call_id in decided),
                "by_new_profile": by_new,
                "by_new_profile_pct": round(100 * by_new / max(1, len(offers)), 2),
                "offered_after_moment_ms": Latency.of(list(offers.values())).as_dict(),
            },
            "watchers": {
                "presence_changed_seen": len(arrivals),
                "lag_from_moment": Latency.of(lags).as_dict(),
                "lag_min_ms": round(min(lags) * 1000, 1) if lags else None,
                "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
            },
            "presence_applied_after_moment_ms": applied,
            "presence_cpu_s_after_moment": round(cpu_used, 2),
            "loadavg_after_moment": load,
        }
    finally:
        await nc.close()
        for process in (scheduler, routing, presence):
            process.terminate()
        for process in (scheduler, routing, presence):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


def _done(decided: dict[str, str], offers: dict[str, float]) -> Any:
    async def check() -> bool:
        return all(call_id in decided for call_id in offers)

    return check()


async def applied_after(dsn: str, moment: datetime) -> dict[str, float]:
    """When presence's timer decided the switches (the events' time), after the moment."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT min(at) AS first, max(at) AS last FROM presence.events "
            "WHERE type = 'ProfileActivated' AND meta->>'channel' = 'scheduler' AND at >= $1",
            moment - timedelta(minutes=1),
        )
    finally:
        await conn.close()
    if row is None or row["first"] is None:
        return {}
    return {
        "first": round((row["first"] - moment).total_seconds() * 1000, 1),
        "last": round((row["last"] - moment).total_seconds() * 1000, 1),
    }


async def announcements(dsn: str, users: int, moment: datetime) -> float | None:
    """Seconds before the moment by which presence held every announced switch."""
    while datetime.now(UTC) < moment:
        held = await count(
            dsn,
            "SELECT count(*) FROM presence.announced_switches WHERE takes_effect_at = $1",
            moment,
        )
        if held >= users:
            return round((moment - datetime.now(UTC)).total_seconds(), 1)
        await asyncio.sleep(0.5)
    return None


async def offer_calls(nc: Any, names: list[str], calls: int, moment: datetime) -> dict[str, float]:
    """Offer calls to `calls` distinct users spread over all of them; call id -> seconds
    after the moment the offer left."""
    step = max(1, len(names) // max(1, calls))
    callees = names[::step][:calls]
    offered: dict[str, float] = {}

    async def one(n: int, callee: str) -> None:
        call_id = f"boundary-{n}"
        event = pbx.CallOffered(
            call_id=call_id, node="bench", caller="2000", callee=callee, at=datetime.now(UTC)
        )
        offered[call_id] = time.time() - moment.timestamp()
        await nc.request(pbx.OFFER_SUBJECT, pbx.encode(event), timeout=10)

    await _bounded([one(n, callee) for n, callee in enumerate(callees)], 64)
    return offered


class Watcher:
    """The watching end in its own process (`python -m bench.boundary --watch URL N`)."""

    def __init__(self, nats_url: str, users: int) -> None:
        self.out = Path(tempfile.mkdtemp(prefix="voco-boundary-")) / "arrivals.json"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.boundary",
                "--watch",
                nats_url,
                str(users),
                str(self.out),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.process.stdout.readline()  # ready

    async def arrivals(self, timeout: float) -> dict[str, float]:
        assert self.process.stdout is not None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                loop.run_in_executor(None, self.process.stdout.readline), timeout
            )
        await loop.run_in_executor(None, self.process.communicate, "")
        return read(self.out)


def read(path: Path) -> dict[str, float]:
    return dict(json.loads(path.read_text()))


async def watch(url: str, users: int, out: str) -> None:
    """Note when each user's scheduler-made PresenceChanged arrives (epoch seconds)."""
    nc = await nats.connect(url, pending_size=256 * 1024 * 1024)
    seen: list[tuple[float, bytes]] = []
    extensions: set[str] = set()
    done = asyncio.Event()

    async def event(msg: Msg) -> None:
        seen.append((time.time(), msg.data))
        await msg.ack()
        body = json.loads(msg.data)
        if body["data"].get("channel") == "scheduler":
            extensions.add(body["data"]["extension"])
            if len(extensions) >= users:
                done.set()

    await nc.jetstream().subscribe(
        "voco.evt.presence.*.PresenceChanged",
        cb=event,
        manual_ack=True,
        deliver_policy=DeliverPolicy.NEW,
        pending_msgs_limit=-1,
    )
    await flush_all(nc)
    print("ready", flush=True)

    async def say_done() -> None:
        await done.wait()
        print("done", flush=True)

    announcing = asyncio.create_task(say_done())
    # Until the bench closes stdin: when all arrived, or when it gave up waiting.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    announcing.cancel()
    await nc.close()
    first: dict[str, float] = {}
    for at, data in seen:
        body = json.loads(data)
        if body["data"].get("channel") == "scheduler":
            first.setdefault(body["data"]["extension"], at)
    save(out, first)


def save(out: str, arrivals: dict[str, float]) -> None:
    Path(out).write_text(json.dumps(arrivals))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with servers() as s:
        floors = {
            "floor_nats_round_trip": (await nats_round_trip(s.nats_url)).as_dict(),
            "floor_pg_commit": (await pg_commit(s.database_url)).as_dict(),
        }
        await create_database(s.postgres.dsn("postgres"), "boundary")
        result = await boundary_minute(
            s.nats_url, s.postgres.dsn("boundary"), args.users, args.calls, args.lead
        )
        floor = floors["floor_nats_round_trip"]["p50_ms"] + floors["floor_pg_commit"]["p50_ms"]
        p99 = result["watchers"]["lag_from_moment"]["p99_ms"]
        result["watchers"]["p99_to_floors"] = None if math.isnan(p99) else round(p99 / floor, 1)
        return {**floors, "boundary_minute": result}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--watch"]:
        uvloop.run(watch(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--lead", type=float, default=60.0, help="announcement lead, seconds")
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
