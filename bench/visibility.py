"""Visibility benchmarks, each beside the floor measured in the same run.

1. One presence change to 10,000 watchers: views/s received by a subscriber in another
   process, as a share of bare nats-py pub/sub (also subscriber in another process).
2. A change to 100 watchers: from the JetStream publish of PresenceChanged (as the
   presence service's outbox relay does it, ack awaited, fsync always) to the view
   reaching the last watcher (subscriber in another process), p50/p99; changes 5 ms
   apart. The same for 10,000 watchers.
3. 100,000 users with 1,000,000 contact edges: start-up (build + start, index loaded
   from the compact tables) and memory, in a fresh process.

Run: `python -m bench.visibility [--quick]` (durable NATS and PostgreSQL, as `./voco up`).
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from typing import Any
from uuid import uuid4

import nats
from nats.aio.client import Client as NatsClient

from bench.floors import jetstream_publish, nats_round_trip, pg_commit, pubsub_rate
from bench.harness import Latency, create_database, delete_streams, rss_mb, servers
from contracts.envelope import Envelope
from contracts.presence import Channel, PresenceChanged, Status, event_subject
from runtime.bus import flush_all
from runtime.config import Connections
from runtime.eventstore import EventStore, create_pool
from services.visibility.tables import SCHEMA, TABLES_SQL

POPULAR, TEAM = "1000", "1001"
STATUSES = [Status.AVAILABLE, Status.BUSY, Status.AWAY, Status.IN_MEETING]


async def seed(dsn: str, users: list[str], edges: list[tuple[str, str, str]]) -> None:
    """Fill the compact tables directly: start-up reads only these."""
    pool = await create_pool(dsn)
    try:
        await EventStore(pool, SCHEMA).setup(TABLES_SQL)
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "users", schema_name=SCHEMA, records=[(u, f"User {u}") for u in users]
            )
            await conn.copy_records_to_table(
                "edges",
                schema_name=SCHEMA,
                columns=["owner", "watcher", "contact", "standing", "explicit"],
                records=[(o, w, True, s, False) for o, w, s in edges],
            )
            await conn.copy_records_to_table(
                "presence",
                schema_name=SCHEMA,
                records=[(u, "available", None, None, 0) for u in users],
            )
    finally:
        await pool.close()


VERSIONS: dict[str, int] = {}


async def change(nc: NatsClient, extension: str, status: Status, note: str) -> None:
    """Publish a PresenceChanged as the presence service's outbox relay does."""
    version = VERSIONS[extension] = VERSIONS.get(extension, 0) + 1
    event = PresenceChanged(
        extension=extension, status=status, note=note, channel=Channel.CLIENT, actor="bench"
    )
    envelope = Envelope.wrap(
        event, id=uuid4(), stream=f"user:{extension}", version=version, at=_now()
    )
    await nc.jetstream().publish(event_subject(extension, event.type_name), envelope.to_bytes())


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def subscriber(module: str, *args: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.readline()  # "ready"
    return process


def counter(url: str, expected: int) -> subprocess.Popen[bytes]:
    """bench.count on every view subject, ended by bench.visibility.end or EXPECTED views."""
    return subscriber("bench.count", url, "voco.view.>", "bench.visibility.end", str(expected))


async def fanout_rate(nc: NatsClient, url: str, changes: int, watchers: int) -> float:
    process = counter(url, changes * watchers)
    assert process.stdout is not None
    for n in range(changes):
        await change(nc, POPULAR, STATUSES[n % len(STATUSES)], f"rate {n}")
    line = await asyncio.to_thread(process.stdout.readline)
    process.wait()
    seen, elapsed = line.split()
    assert int(seen) == changes * watchers, (seen, changes * watchers)
    return int(seen) / float(elapsed)


async def raw_view_rate(url: str, changes: int, watchers: list[str]) -> float:
    """The floor for the same messages: bare publishes of a view-sized payload on the
    same per-watcher subjects, no service in between."""
    process = counter(url, changes * len(watchers))
    assert process.stdout is not None
    payload = b'{"extension":"1000","status":"busy","note":"rate 10","note_expires_at":null}'
    nc = await nats.connect(url)
    try:
        for _ in range(changes):
            for watcher in watchers:
                await nc.publish(f"voco.view.{watcher}.{POPULAR}", payload)
        await flush_all(nc)
        line = await asyncio.to_thread(process.stdout.readline)
    finally:
        await nc.close()
        process.wait()
    seen, elapsed = line.split()
    return int(seen) / float(elapsed)


async def change_to_last(
    nc: NatsClient, url: str, owner: str, watchers: int, rounds: int
) -> tuple[Latency, Latency]:
    """(from the publish of each change, from its JetStream ack) to the last watcher."""
    process = subscriber("bench.visibility_subscriber", url, owner, str(watchers))
    finished: dict[str, asyncio.Future[float]] = {}

    async def on_round(msg: Any) -> None:
        note, at = msg.data.decode().rsplit(" ", 1)
        finished[note].set_result(float(at))

    sub = await nc.subscribe("bench.visibility.round", cb=on_round)
    await flush_all(nc)
    samples, after_ack = [], []
    try:
        for n in range(rounds + 10):
            note = f"round {n}"
            done = finished[note] = asyncio.get_running_loop().create_future()
            started = time.perf_counter()
            await change(nc, owner, STATUSES[n % len(STATUSES)], note)
            acked = time.perf_counter()
            arrived = await asyncio.wait_for(done, 10)
            if n >= 10:  # the first rounds warm up the consumer and connections
                samples.append(arrived - started)
                after_ack.append(arrived - acked)
            # Changes spaced out, so each sample is one change's latency rather than
            # time spent queued behind the previous change's commit.
            await asyncio.sleep(0.005)
    finally:
        await sub.unsubscribe()
        await nc.publish("bench.visibility.end", b"")
        await flush_all(nc)
        process.wait()
    return Latency.of(samples), Latency.of(after_ack)


async def fanout(
    url: str, admin_dsn: str, dsn: str, quick: bool, pubsub_floor: float | None = None
) -> dict[str, Any]:
    from services.visibility.app import build

    await create_database(admin_dsn, "bench_fanout")
    popular = [str(20_000 + n) for n in range(10_000)]
    team = [str(40_000 + n) for n in range(100)]
    await seed(
        dsn,
        [POPULAR, TEAM, *popular, *team],
        [(POPULAR, w, "allowed") for w in popular] + [(TEAM, w, "allowed") for w in team],
    )
    service = await build(Connections(url, dsn))
    await service.start()
    assert service.fanout is not None
    await service.fanout.leading.wait()
    nc = await nats.connect(url)
    try:
        rate = await fanout_rate(nc, url, 5 if quick else 20, len(popular))
        floor = pubsub_floor or await pubsub_rate(url, 50_000 if quick else 200_000)
        same_messages = await raw_view_rate(url, 5 if quick else 20, popular)
        popular_change = await change_to_last(nc, url, POPULAR, len(popular), 5 if quick else 20)
        team_change = await change_to_last(nc, url, TEAM, len(team), 100 if quick else 1000)
    finally:
        await nc.close()
        await service.stop()
    return {
        "fanout_10k_views_per_s": round(rate),
        "pubsub_floor_msgs_per_s": round(floor),
        "fanout_share_of_floor": round(rate / floor, 3),
        "raw_same_views_floor_msgs_per_s": round(same_messages),
        "fanout_share_of_same_views_floor": round(rate / same_messages, 3),
        "change_to_last_of_10000": popular_change[0].as_dict(),
        "change_to_last_of_100": team_change[0].as_dict(),
        # The service's own part: from JetStream's ack of PresenceChanged to the last view.
        "ack_to_last_of_100": team_change[1].as_dict(),
    }


def rss_now_and_peak() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB."""
    import resource

    return rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def startup(url: str, dsn: str) -> dict[str, Any]:
    """In a fresh process: how long build + start take, and the memory they leave."""
    from services.visibility.app import build

    before, _ = rss_now_and_peak()
    started = time.perf_counter()
    service = await build(Connections(url, dsn))
    await service.start()
    assert service.fanout is not None
    await service.fanout.leading.wait()  # the index is loaded: the fan-out can serve
    seconds = time.perf_counter() - started
    current, peak = rss_now_and_peak()
    await service.stop()
    return {
        "startup_s": round(seconds, 2),
        "rss_mb": round(current),
        "peak_rss_mb": round(peak),
        "rss_before_build_mb": round(before),
    }


async def scale(url: str, admin_dsn: str, dsn: str, users: int, per_user: int) -> dict[str, Any]:
    await create_database(admin_dsn, "bench_scale")
    names = [str(100_000 + n) for n in range(users)]
    rng = random.Random(5)
    standings = ["allowed"] * 8 + ["blocked", "pending"]
    edges = [
        (owner, watcher, rng.choice(standings))
        for watcher in names
        for owner in rng.sample(names, per_user)
        if owner != watcher
    ]
    await seed(dsn, names, edges)
    await delete_streams(url)  # nothing left over from the fan-out
    out = subprocess.run(
        [sys.executable, "-m", "bench.visibility", "startup", url, dsn],
        check=True,
        capture_output=True,
    ).stdout
    return {"users": users, "edges": len(edges), **json.loads(out.splitlines()[-1])}


async def run(quick: bool) -> dict[str, Any]:
    with servers() as s:
        admin = s.postgres.dsn("postgres")
        floors = {
            "nats_round_trip": (
                await nats_round_trip(s.nats_url, 500 if quick else 2000)
            ).as_dict(),
            "pg_commit": (await pg_commit(s.database_url, 500 if quick else 2000)).as_dict(),
            "jetstream_publish": (
                await jetstream_publish(s.nats_url, 500 if quick else 2000)
            ).as_dict(),
        }
        results = await fanout(s.nats_url, admin, s.postgres.dsn("bench_fanout"), quick)
        sized = await scale(
            s.nats_url,
            admin,
            s.postgres.dsn("bench_scale"),
            10_000 if quick else 100_000,
            10,
        )
        return {"floors": floors, **results, "scale": sized}


if __name__ == "__main__":
    import uvloop

    uvloop.install()  # as run_service does for every service process
    if sys.argv[1:2] == ["startup"]:
        print(json.dumps(asyncio.run(startup(sys.argv[2], sys.argv[3]))))
    else:
        print(json.dumps(asyncio.run(run("--quick" in sys.argv)), indent=2))
