"""`python -m services.pbxsim`: the PBX simulator as a process.

    python -m services.pbxsim                      # demo: devices of 1001-1005, a call now and then
    python -m services.pbxsim --scenario s.json    # a scenario's devices, behaviours and calls
    python -m services.pbxsim --load 200 --seconds 10 --callee 1001 --callee 1002

Live control (request/reply, JSON) on `voco.pbxsim.<node>.control`:
{"op": "offer", "caller": "2000", "callee": "1001"}, {"op": "behave", "target":
"1001-desk", "action": "answer", "after": 2}, {"op": "hangup", "call_id": "..."},
{"op": "calls"}. See services/pbxsim/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import signal
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg

from runtime.bus import connect
from runtime.clock import SystemClock
from runtime.config import env_float, env_str
from runtime.heartbeat import beat
from runtime.logs import setup_logging
from runtime.service import quiet_collector
from runtime.telemetry import setup_tracing, shutdown_tracing
from services.pbxsim.held import HeldCalls
from services.pbxsim.load import run_load
from services.pbxsim.scenario import DEMO_EXTENSIONS, Behaviour, PlannedCall, Scenario, demo
from services.pbxsim.simulator import PbxSimulator, SimCall

log = logging.getLogger("pbxsim")
ROOT = Path(__file__).resolve().parents[2]


def held_calls(node: str) -> HeldCalls:
    """Where this node's answered calls are kept across a kill (in the data dir)."""
    data_dir = Path(env_str("VOCO_DATA_DIR", str(ROOT / ".voco-data")))
    data_dir.mkdir(parents=True, exist_ok=True)
    return HeldCalls(data_dir / f"pbxsim-{node}-calls.json")


async def control(sim: PbxSimulator, msg: Msg) -> None:
    try:
        body: dict[str, Any] = json.loads(msg.data)
        match body.get("op"):
            case "offer":
                call = await sim.offer(str(body.get("caller", "2000")), str(body["callee"]))
                answer: dict[str, Any] = {"ok": True, "call_id": call.call_id}
            case "behave":
                target = str(body.pop("target"))
                body.pop("op")
                sim.behave(target, Behaviour.model_validate(body))
                answer = {"ok": True}
            case "hangup":
                await sim.hang_up(str(body["call_id"]))
                answer = {"ok": True}
            case "calls":
                answer = {
                    "ok": True,
                    "calls": [
                        {
                            "call_id": c.call_id,
                            "callee": c.callee,
                            "commands": c.kinds(),
                            "outcome": c.outcome,
                        }
                        for c in sim.calls.values()
                    ],
                }
            case other:
                answer = {
                    "ok": False,
                    "error": f"unknown op {other!r}: use offer, behave, hangup or calls",
                }
    except (ValueError, KeyError) as error:
        answer = {"ok": False, "error": f"bad control message: {error}"}
    if msg.reply:
        await sim.nc.publish(msg.reply, json.dumps(answer).encode())


async def main(args: argparse.Namespace) -> int:
    # As the pbxsim principal: its events, offers, its nodes' commands and control only.
    nc = await connect(env_str("VOCO_NATS_URL", "nats://127.0.0.1:4222"), "voco-pbxsim")
    scenario = Scenario.from_file(args.scenario) if args.scenario else demo()
    sim = PbxSimulator(
        nc,
        SystemClock(),
        scenario,
        enforce_timers=True,
        offer_by_request=not args.publish_offers,
        held=held_calls(scenario.node),
    )
    await sim.start()

    async def on_control(msg: Msg) -> None:
        await control(sim, msg)

    await nc.subscribe(f"voco.pbxsim.{sim.node}.control", cb=on_control)
    log.info("pbx simulator started", extra={"node": sim.node, "devices": scenario.devices})
    if args.load:
        quiet_collector()  # its collections would show as routing latency
        report = await run_load(
            sim, rate=args.load, seconds=args.seconds, callees=args.callee or DEMO_EXTENSIONS
        )
        print("\n".join(report.lines()))
        await sim.stop()
        await nc.drain()
        return 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    heartbeat = env_str("VOCO_HEARTBEAT_FILE", "")
    beating = [asyncio.create_task(beat(Path(heartbeat), nc))] if heartbeat else []
    planned_calls = [asyncio.create_task(offer_later(sim, p)) for p in scenario.calls]
    interval = env_float("VOCO_PBXSIM_DEMO_INTERVAL", 20.0)
    demo_calls = not args.scenario and env_str("VOCO_DEMO", "1") != "0" and interval > 0
    refresh = env_float("VOCO_PBXSIM_REGISTER_SECONDS", 30.0)
    callees = itertools.cycle(DEMO_EXTENSIONS)
    next_call = loop.time() + interval
    outcomes: set[asyncio.Task[None]] = set()
    next_register = loop.time() + refresh
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), min(refresh, interval) if demo_calls else refresh)
        if loop.time() >= next_register:
            # Registrations are refreshed, as SIP phones do: a presence service that started
            # after the simulator (or lost a report) learns the devices within `refresh`.
            next_register = loop.time() + refresh
            await sim.register_all()
        if demo_calls and not stop.is_set() and loop.time() >= next_call:
            next_call = loop.time() + interval
            call = await sim.offer("2000", next(callees))
            log.info("demo call offered", extra={"call_id": call.call_id, "callee": call.callee})
            outcomes.add(asyncio.create_task(log_outcome(call)))
    for task in [*beating, *planned_calls, *outcomes]:
        task.cancel()
    await sim.stop()
    await nc.drain()
    return 0


async def offer_later(sim: PbxSimulator, planned: PlannedCall) -> None:
    await asyncio.sleep(planned.at)
    await log_outcome(await sim.offer(planned.caller, planned.callee))


async def log_outcome(call: SimCall) -> None:
    await call.settled.wait()
    log.info(
        "call settled",
        extra={
            "call_id": call.call_id,
            "callee": call.callee,
            "commands": call.kinds(),
            "outcome": call.outcome,
            "first_command_ms": call.latency_ms,
        },
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.pbxsim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--scenario", type=Path, help="a scenario JSON file (default: the demo)")
    parser.add_argument("--load", type=float, default=0.0, help="calls per second; report and exit")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long --load runs")
    parser.add_argument("--callee", action="append", help="extensions --load calls (repeatable)")
    parser.add_argument(
        "--publish-offers",
        action="store_true",
        help="offer calls on JetStream only, as a PBX that cannot make requests",
    )
    return parser.parse_args()


def run() -> int:
    setup_logging("pbxsim", env_str("VOCO_LOG_LEVEL", "info"))
    setup_tracing("pbxsim")
    try:
        return asyncio.run(main(parse()))
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    raise SystemExit(run())
