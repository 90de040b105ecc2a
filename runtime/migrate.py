"""`python -m runtime.migrate SERVICE`: a service's schema made or brought up to date,
then exit. Kubernetes runs it as each Deployment's initContainer, connected as the role
that owns the schemas (VOCO_DATABASE_OWNER_URL), so the service itself can run as a role
that may not change them.

It runs the service's own set-up (`services.<SERVICE>.app.build`: the event store's
tables, the service's tables, its JetStream streams) and closes without serving: the
same statements the service runs at start, so there is one schema definition.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys

from runtime.config import Connections, env_str
from runtime.logs import setup_logging
from runtime.service import stream_replicas

SERVICES_WITH_A_SCHEMA = ("presence", "routing", "scheduler", "visibility", "gateway")


async def migrate(service: str, connections: Connections) -> None:
    app = importlib.import_module(f"services.{service}.app")
    runtime = await app.build(connections)
    await runtime.nc.drain()
    await runtime.pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.migrate", description=__doc__)
    parser.add_argument("service", choices=SERVICES_WITH_A_SCHEMA)
    args = parser.parse_args(argv)
    owner_url = os.environ.get("VOCO_DATABASE_OWNER_URL", "")
    if not owner_url:
        print(
            "VOCO_DATABASE_OWNER_URL is not set: give the URL of the role that owns the "
            "schemas, e.g. postgresql://voco_owner:<password>@postgres:5432/voco",
            file=sys.stderr,
        )
        return 2
    setup_logging(f"{args.service}-migrate", env_str("VOCO_LOG_LEVEL", "info"))
    stream_replicas()  # bad configuration stops here, not half-way
    nats_url = env_str("VOCO_NATS_URL", "nats://127.0.0.1:4222")
    asyncio.run(migrate(args.service, Connections(nats_url=nats_url, database_url=owner_url)))
    print(f"{args.service}: schema up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
