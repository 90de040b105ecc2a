"""`./voco up` keeps its services running: a service that exits is started again after a
backoff, the others keep serving, and only crashes past a limit stop everything.

The policy (`RestartPolicy`) is pure arithmetic on a service's crashes, tested without
processes; `Supervisor` applies it to child processes, polled from the launcher's wait
loop, and writes what runs to a state file that `./voco ps` reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launcher.processes import stop_process
from runtime.private_file import write_private


@dataclass(frozen=True)
class RestartPolicy:
    """Exponential backoff, capped, reset by a run that lasted; a limit on crashes in a row.

    A crash is an exit of a run shorter than `stable_after`: a service that crashes at
    start-up (bad configuration, a dependency down) is retried `give_up_after` times with
    growing pauses, then the launcher stops and says so, instead of spinning."""

    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 60.0
    give_up_after: int = 5

    def crashes_in_a_row(self, before: int, uptime: float) -> int:
        """After a run of `uptime` seconds ended, with `before` crashes in a row before it."""
        return 1 if uptime >= self.stable_after else before + 1

    def delay(self, crashes_in_a_row: int) -> float | None:
        """Seconds to wait before the next start; None: give up."""
        if crashes_in_a_row > self.give_up_after:
            return None
        return float(min(self.max_delay, self.first_delay * 2 ** (crashes_in_a_row - 1)))


@dataclass
class Child:
    """One supervised service: how to start it, and how its runs went."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log: Path
    heartbeat: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    started_monotonic: float = 0.0
    started_wall: float = 0.0
    restarts: int = 0
    crashes_in_a_row: int = 0
    restart_at: float | None = None  # monotonic time of the next start while waiting
    last_exit: int | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class GiveUp(Exception):
    """A service crashed more often in a row than the policy allows."""


@dataclass
class Supervisor:
    state_file: Path
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    say: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    children: list[Child] = field(default_factory=list)

    def start(self, child: Child) -> Child:
        self.children.append(child)
        self._spawn(child)
        self.write_state()
        return child

    def _spawn(self, child: Child) -> None:
        env = dict(child.env)
        if child.heartbeat is not None:
            child.heartbeat.unlink(missing_ok=True)  # fresh only once this run beats
            env["VOCO_HEARTBEAT_FILE"] = str(child.heartbeat)
        with open(child.log, "ab") as log:
            child.process = subprocess.Popen(
                list(child.argv), env=env, stdout=log, stderr=log, start_new_session=True
            )
        child.started_monotonic = self.clock()
        child.started_wall = time.time()
        child.restart_at = None

    def poll(self) -> None:
        """Notice exits and start what is due; raises GiveUp past the policy's limit."""
        now = self.clock()
        changed = False
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                changed = True
                self._exited(child, now)
            if child.restart_at is not None and now >= child.restart_at:
                changed = True
                child.restarts += 1
                self._spawn(child)
                assert child.process is not None
                self.say(
                    f"{child.name} restarted (restart {child.restarts}), pid {child.process.pid}"
                )
        if changed:
            self.write_state()

    def _exited(self, child: Child, now: float) -> None:
        assert child.process is not None
        uptime = now - child.started_monotonic
        child.last_exit = child.process.returncode
        child.process = None
        child.crashes_in_a_row = self.policy.crashes_in_a_row(child.crashes_in_a_row, uptime)
        delay = self.policy.delay(child.crashes_in_a_row)
        how = describe_exit(child.last_exit)
        if delay is None:
            self.write_state()
            raise GiveUp(
                f"{child.name} crashed {child.crashes_in_a_row} times in a row, each within "
                f"{self.policy.stable_after:.0f} s of starting (the last {how}); giving up: "
                f"see {child.log}"
            )
        child.restart_at = now + delay
        self.say(
            f"{child.name} {how} after {uptime:.1f} s; restarting in {delay:.1f} s "
            f"(crash {child.crashes_in_a_row} of {self.policy.give_up_after} allowed in a row; "
            f"log {child.log})"
        )

    def stop_all(self, timeout: float = 15.0) -> None:
        """SIGTERM every service (last started first), then wait for all of them together."""
        for child in self.children:
            child.restart_at = None
        running = [c.process for c in reversed(self.children) if c.process is not None]
        for process in running:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in running:
            stop_process(process, timeout=max(0.1, deadline - time.monotonic()))
        for child in self.children:
            child.process = None
        self.state_file.unlink(missing_ok=True)

    def write_state(self) -> None:
        """What runs, for `./voco ps`: 0600 (it names the data paths), replaced atomically."""
        state = {
            "supervisor_pid": os.getpid(),
            "services": [
                {
                    "name": c.name,
                    "pid": c.process.pid if c.process is not None else None,
                    "started": c.started_wall if c.process is not None else None,
                    "restarts": c.restarts,
                    "crashes_in_a_row": c.crashes_in_a_row,
                    "last_exit": c.last_exit,
                    "restart_in": (
                        max(0.0, c.restart_at - self.clock()) if c.restart_at is not None else None
                    ),
                    "heartbeat": str(c.heartbeat) if c.heartbeat is not None else None,
                    "log": str(c.log),
                }
                for c in self.children
            ],
        }
        write_private(self.state_file, json.dumps(state, indent=1))


def describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped"
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with status {returncode}"
