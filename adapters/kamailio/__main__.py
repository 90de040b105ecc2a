"""`python -m adapters.kamailio`: the Kamailio adapter (principal `kamailio` on NATS).

Connects to NATS (VOCO_NATS_URL, which carries its credentials) and to Kamailio's evapi,
serves the feature-code confirmation, and runs until SIGTERM. README.md documents it.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import uvloop

from adapters.kamailio.adapter import KamailioAdapter
from adapters.kamailio.config import KamailioConfig, Secrets
from adapters.kamailio.confirm import serve
from runtime.bus import connect
from runtime.clock import SystemClock
from runtime.config import env_str
from runtime.logs import setup_logging
from runtime.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger("kamailio-adapter")


async def main() -> int:
    config = KamailioConfig.from_env()
    secrets = Secrets.load(config)
    nc = await connect(env_str("VOCO_NATS_URL", "nats://127.0.0.1:4222"), name="voco-kamailio")
    transport, _ = await serve(config.confirm_port)
    adapter = KamailioAdapter(nc, SystemClock(), config, secrets.evapi)
    await adapter.start()
    log.info("kamailio adapter started", extra={"node": config.node, "sip": config.sip_address})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await adapter.stop()
    transport.close()
    await nc.drain()
    shutdown_tracing()
    return 0


if __name__ == "__main__":
    setup_logging("kamailio-adapter", env_str("VOCO_LOG_LEVEL", "info"))
    setup_tracing("kamailio-adapter")
    uvloop.install()  # as run_service does: a shorter path for every offer and command
    raise SystemExit(asyncio.run(main()))
