"""Routing: CallOffered -> first PBX command, at a sustained call rate, beside the floors.

    python -m bench.routing [--rate 200] [--seconds 10] [--quick]

Starts a durable NATS and PostgreSQL locked as `./voco up` locks them (a user per
principal, scram roles, the schema migrated by the owner role) in a temp dir, the
routing service as its own process as the `routing` principal, and the PBX simulator
here as `pbxsim` (the read model fed as `presence`, the readiness asked as
`operator`). Ten extensions with a desk phone that answers at once and a softphone
that rings, so each call is the full
conversation (offer, ring both, answer, cancel the other, end): five PBX events and
five routing commits per call. The floors (bare nats-py request/reply round trip,
bare asyncpg commit) are measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from bench.cpu import cpu_seconds
from bench.floors import nats_round_trip, pg_commit
from bench.harness import Servers, servers, service_env
from bench.principals import as_user
from contracts.envelope import Envelope
from contracts.presence import DeviceState, DeviceStateChanged, UserProvisioned, event_subject
from contracts.routing import WhatIf
from runtime.bus import connect, request
from runtime.clock import SystemClock
from runtime.permissions import DEFAULT_PBX_NODES
from runtime.service import ensure_stream, quiet_collector
from services.pbxsim.load import run_load
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.pbxsim.simulator import PbxSimulator

EXTENSIONS = [str(1001 + n) for n in range(10)]
NODE = DEFAULT_PBX_NODES["pbxsim"][0]  # a node the pbxsim principal may hear commands for


async def provision(nc: NatsClient) -> None:
    """Feed routing's read model as presence would: presence events on VOCO_PRESENCE."""
    js = nc.jetstream()
    await ensure_stream(js, "VOCO_PRESENCE", ["voco.evt.presence.>"])
    version = 0
    for ext in EXTENSIONS:
        events = [
            UserProvisioned(extension=ext, display_name=f"Bench {ext}"),
            DeviceStateChanged(extension=ext, device_id=f"{ext}-desk", state=DeviceState.IDLE),
            DeviceStateChanged(extension=ext, device_id=f"{ext}-softphone", state=DeviceState.IDLE),
        ]
        for event in events:
            version += 1
            envelope = Envelope.wrap(
                event, id=uuid4(), stream=f"user:{ext}", version=version, at=datetime.now(UTC)
            )
            await js.publish(event_subject(ext, event.type_name), envelope.to_bytes())


async def wait_until_routing_knows(nc: NatsClient) -> None:
    for _ in range(200):
        try:
            plan = await request(
                nc, "routing", WhatIf(callee=EXTENSIONS[-1], **as_user(EXTENSIONS[-1])), timeout=1
            )
            if any(step["event"] == "RingStepStarted" for step in plan["steps"]):
                return
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("routing did not learn the bench extensions in 20 s; see its log")


async def prepare(presence_url: str, operator_url: str) -> None:
    """Routing's read model fed as the presence principal would, then asked as the
    operator until it knows the extensions."""
    as_presence = await connect(presence_url, "bench-presence")
    try:
        await provision(as_presence)
    finally:
        await as_presence.close()
    as_operator = await connect(operator_url, "bench-operator")
    try:
        await wait_until_routing_knows(as_operator)
    finally:
        await as_operator.close()


async def run(
    s: Servers,
    rate: float,
    seconds: float,
    quick: bool,
    publish_offers: bool = False,
) -> dict[str, object]:
    database_url = await s.database_of("bench_routing", "routing")
    env = service_env(s.nats_url_of("routing"), database_url)
    profile = os.environ.get("BENCH_PROFILE")  # a path: run routing under cProfile
    wrap = ["-m", "cProfile", "-o", profile] if profile else []
    routing = subprocess.Popen([sys.executable, *wrap, "-m", "services.routing"], env=env)
    await prepare(s.nats_url_of("presence"), s.nats_url_of("operator"))
    nc = await connect(s.nats_url_of("pbxsim"), "bench-pbxsim")
    try:
        behaviours = {f"{ext}-desk": Behaviour(action=Action.ANSWER) for ext in EXTENSIONS}
        sim = PbxSimulator(
            nc,
            SystemClock(),
            Scenario(node=NODE, behaviours=behaviours, talk_seconds=1.0),
            offer_by_request=not publish_offers,
        )
        await sim.start()
        await run_load(sim, rate=min(rate, 50), seconds=2, callees=EXTENSIONS)  # warm up
        # The load generator's own collections paused it for 30 ms (gc callbacks), which
        # showed as routing latency: it is tuned as the services are.
        quiet_collector()
        cpu_before = cpu_seconds(routing.pid)
        report = await run_load(sim, rate=rate, seconds=seconds, callees=EXTENSIONS)
        routing_cpu = (cpu_seconds(routing.pid) - cpu_before) / report.seconds
        await sim.stop()
    finally:
        await nc.close()
        routing.terminate()
        routing.wait(20)
    n = 500 if quick else 2000
    floor_nats = await nats_round_trip(s.nats_url, n)
    floor_pg = await pg_commit(s.database_url, n)
    floor = floor_nats.p50 + floor_pg.p50
    return {
        "rate_offered_per_s": round(report.rate, 1),
        "calls": report.offered,
        "outcomes": report.outcomes,
        "first_command_ms": {
            "count": len(report.latencies_ms),
            "p50_ms": round(report.p(0.5), 3),
            "p99_ms": round(report.p(0.99), 3),
            "max_ms": round(max(report.latencies_ms, default=float("nan")), 3),
        },
        "routing_cpu_share": round(routing_cpu, 2),
        "floor_nats_round_trip": floor_nats.as_dict(),
        "floor_pg_commit": floor_pg.as_dict(),
        "floor_sum_p50_ms": round(floor, 3),
        "p50_over_floor": round(report.p(0.5) / floor, 2),
        "goal": "p50 within 3x of the floor sum, p99 under 10 ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="fewer floor samples")
    parser.add_argument(
        "--no-fsync",
        action="store_true",
        help="diagnostic: NATS and PostgreSQL without fsync per write (not how ./voco up runs)",
    )
    parser.add_argument(
        "--publish-offers",
        action="store_true",
        help="offer calls on JetStream instead of by request (a PBX that cannot request)",
    )
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()  # the simulator here is the load generator: keep it cheap
    except ImportError:  # pragma: no cover
        pass
    with servers(durable=not args.no_fsync) as s:
        work = run(s, args.rate, args.seconds, args.quick, args.publish_offers)
        result = asyncio.run(work)
    result["fsync"] = not args.no_fsync
    result["offers"] = "published on JetStream" if args.publish_offers else "by request"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
