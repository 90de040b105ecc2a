"""`./voco ps`: what `./voco up` runs: each service's pid, uptime, restarts and health.

It reads the supervisor's state file (VOCO_DATA_DIR/supervisor.json) and judges health by
each service's heartbeat file, which a service touches every 5 s while its event loop
runs and NATS is connected.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.paths import data_dir

HEARTBEAT_FRESH = 15.0  # three beats: one late beat under load is not "unhealthy"


def health(
    service: dict[str, Any],
    now: float,
    alive: Callable[[int], bool],
    heartbeat_age: Callable[[str], float | None],
) -> str:
    """One service's health from its state entry; `heartbeat_age` is None for no file."""
    pid = service.get("pid")
    if pid is None:
        restart_in = service.get("restart_in")
        if restart_in is not None:
            return f"restarting (in {restart_in:.1f} s at the last check)"
        return "stopped"
    if not alive(pid):
        return "exited (the supervisor restarts it)"
    if service.get("heartbeat") is None:
        return "running (no heartbeat)"
    age = heartbeat_age(service["heartbeat"])
    uptime = now - float(service.get("started") or now)
    if age is None:
        return "starting" if uptime < HEARTBEAT_FRESH else f"no heartbeat after {uptime:.0f} s"
    if age > HEARTBEAT_FRESH:
        return f"unhealthy: last heartbeat {age:.0f} s ago"
    return "healthy"


def uptime_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def table(
    state: dict[str, Any],
    now: float,
    alive: Callable[[int], bool],
    heartbeat_age: Callable[[str], float | None],
) -> list[str]:
    lines = [f"{'SERVICE':<12} {'PID':>8} {'UPTIME':>8} {'RESTARTS':>8}  HEALTH"]
    for service in state["services"]:
        pid = service.get("pid")
        started = service.get("started")
        uptime = uptime_text(now - started) if pid is not None and started else "-"
        lines.append(
            f"{service['name']:<12} {pid if pid is not None else '-':>8} {uptime:>8} "
            f"{service['restarts']:>8}  {health(service, now, alive, heartbeat_age)}"
        )
    return lines


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def file_age(path: str) -> float | None:
    try:
        return time.time() - Path(path).stat().st_mtime
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./voco ps", description=__doc__)
    parser.add_argument("--json", action="store_true", help="the state file as it is")
    args = parser.parse_args(argv)
    state_file = data_dir() / "supervisor.json"
    try:
        state = json.loads(state_file.read_text())
    except FileNotFoundError:
        print(f"./voco up is not running here (no {state_file})", file=sys.stderr)
        return 1
    except PermissionError:
        print(
            f"{state_file} is readable only by the user running ./voco up (mode 0600): "
            "run ./voco ps as that user",
            file=sys.stderr,
        )
        return 1
    if not process_alive(int(state["supervisor_pid"])):
        print(
            f"./voco up (pid {state['supervisor_pid']}) is not running; {state_file} is "
            "left from a run that did not stop cleanly",
            file=sys.stderr,
        )
        return 1
    if args.json:
        print(json.dumps(state, indent=1))
        return 0
    print("\n".join(table(state, time.time(), process_alive, file_age)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
