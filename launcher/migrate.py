"""`python -m launcher.migrate [service ...]`: create or update the services' schemas.

Runs as the owner role (VOCO_DATABASE_OWNER_URL), never as a service's role: each
schema's tables are created or updated and the service's own role (the principal of
the same name) is granted their use, the event log append-only (runtime/schema.py).
`./voco up` runs it before it starts the services; on Kubernetes it is each
Deployment's init step, with VOCO_DATABASE_OWNER_URL from the service's Secret
(python -m launcher.credentials k8s). With no service named, every one is migrated.

A service that keeps data adds its schema's SQL to MIGRATIONS (the SQL it passes to
`open_runtime` as `extra_sql`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

import asyncpg

from runtime.config import redact_url
from runtime.schema import migrate
from services.gateway.edge import TABLES_SQL as GATEWAY_SQL
from services.presence.read_model import TABLES_SQL as PRESENCE_SQL
from services.routing.app import TABLES_SQL as ROUTING_SQL
from services.scheduler.tables import EXTRA_SQL as SCHEDULER_SQL
from services.visibility.tables import TABLES_SQL as VISIBILITY_SQL

MIGRATIONS: dict[str, tuple[str, str]] = {
    # service (its role): (schema, its own tables' SQL)
    "presence": ("presence", PRESENCE_SQL),
    "routing": ("routing", ROUTING_SQL),
    "scheduler": ("scheduler", SCHEDULER_SQL),
    "visibility": ("visibility", VISIBILITY_SQL),
    "gateway": ("gateway", GATEWAY_SQL),  # accounts and sessions
}


async def migrate_services(owner_url: str, services: Sequence[str] = ()) -> list[str]:
    """Migrate the named services (all when none); returns their names."""
    names = list(services) or list(MIGRATIONS)
    unknown = [n for n in names if n not in MIGRATIONS]
    if unknown:
        raise SystemExit(
            f"no migrations for {', '.join(unknown)}; the services with a schema are "
            f"{', '.join(MIGRATIONS)}"
        )
    for name in names:
        schema, sql = MIGRATIONS[name]
        try:
            await migrate(owner_url, schema, sql, role=name)
        except asyncpg.InvalidAuthorizationSpecificationError as error:
            raise SystemExit(
                f"PostgreSQL at {redact_url(owner_url)} refused the owner role ({error}): "
                "set VOCO_DATABASE_OWNER_URL to the owner role's URL with its password"
            ) from None
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m launcher.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="*", help=f"of {', '.join(MIGRATIONS)} (default all)")
    args = parser.parse_args(argv)
    owner_url = os.environ.get("VOCO_DATABASE_OWNER_URL", "")
    if not owner_url:
        raise SystemExit(
            "VOCO_DATABASE_OWNER_URL is not set: give the owner role's URL, "
            "postgresql://voco_owner:<password>@host:port/voco"
        )
    done = asyncio.run(migrate_services(owner_url, args.services))
    print(f"migrated {', '.join(done)} on {redact_url(owner_url)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
