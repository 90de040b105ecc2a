"""The whole platform as `./voco up` runs it, for the fault rows: the launcher and its
supervisor in a temp data dir on free ports, and the faults an operator's world deals it.

Nothing here builds a connection URL: clients read the launcher's `endpoints.env`, and a
second replica of a service is started with the environment its supervised process was
given (/proc/<pid>/environ), so whatever credentials the launcher hands out, the harness
carries along. The embedded servers are found by the data dir in their command line and
restarted with the very argv (and user) they ran with, on the same store and port, as a
Kubernetes StatefulSet or systemd would restart them.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.credentials import load_or_create
from launcher.postgres import postgres_bin_dir, root_cluster_home
from launcher.processes import free_port
from tests.faults.workload import ROWS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("presence", "visibility", "scheduler", "routing", "pbxsim")


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if found := check():
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout} s")
        time.sleep(every)


@dataclass
class ServerProcess:
    """An embedded server as it ran: enough to start it again the same way."""

    pid: int
    argv: list[str]
    uid: int
    gid: int


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode() for part in raw.split(b"\0") if part]


def _ids(pid: int) -> tuple[int, int]:
    uid = gid = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
        elif line.startswith("Gid:"):
            gid = int(line.split()[1])
    return uid, gid


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Platform:
    data_dir: Path
    nats_port: int = field(default_factory=free_port)
    pg_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)  # the edge's (never its 8080 default)
    launcher: subprocess.Popen[bytes] | None = None
    restarted_servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    replicas: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # ---- the launcher --------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {**os.environ, "VOCO_DATA_DIR": str(self.data_dir), "PYTHONPATH": str(ROOT)}
        for name in ("VOCO_NATS_URL", "VOCO_DATABASE_URL"):
            env.pop(name, None)
        env["VOCO_NATS_PORT"] = str(self.nats_port)
        env["VOCO_PG_PORT"] = str(self.pg_port)
        env["VOCO_HTTP_PORT"] = str(self.http_port)
        # Each row's workload is a PBX node of its own (f<row>); pbxsim's NATS user hears
        # only the nodes named here (runtime/permissions.py).
        env["VOCO_PBXSIM_NODES"] = ",".join(["sim1", *(f"f{row}" for row in ROWS)])
        return env

    def principal_url(self, principal: str) -> str:
        """A principal's NATS URL, from the credentials the launcher made in the data dir
        (a workload plays the PBX as `pbxsim`, as the simulator does)."""
        credentials, _ = load_or_create(self.data_dir / "secrets")
        operator = self.endpoints()["VOCO_NATS_URL"]
        return credentials.nats_url(principal, operator.rsplit("@", 1)[1])

    def start(self, timeout: float = 120.0) -> Platform:
        out = (self.data_dir / "up.out").open("ab")
        self.launcher = subprocess.Popen(
            [sys.executable, "-m", "launcher", "--no-demo"],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        out.close()
        wait_for(self._running, timeout, f"./voco up started (see {self.data_dir / 'up.out'})")
        for name in SERVICES:
            wait_for(functools.partial(self.heartbeat_fresh, name), 60, f"{name} healthy")
        return self

    def _running(self) -> bool:
        assert self.launcher is not None
        if self.launcher.poll() is not None:
            raise AssertionError(
                f"./voco up exited with {self.launcher.returncode}: {self.output()[-2000:]}"
            )
        return (self.data_dir / "endpoints.env").exists() and "running;" in self.output()

    def output(self) -> str:
        path = self.data_dir / "up.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C to the launcher (it stops the services, then its servers), then any server
        this harness restarted itself."""
        code = 0
        for replica in self.replicas:
            if replica.poll() is None:
                replica.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            replica.wait(30)
        self.replicas.clear()
        if self.launcher is not None and self.launcher.poll() is None:
            self.launcher.send_signal(signal.SIGINT)
            code = self.launcher.wait(timeout)
        self.launcher = None
        for process in self.restarted_servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # postgres: fast shutdown; nats: exits
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.restarted_servers.clear()
        return code

    def endpoints(self) -> dict[str, str]:
        """What the launcher wrote for clients (the CLI reads the same file)."""
        text = wait_for(
            lambda: (p := self.data_dir / "endpoints.env").exists() and p.read_text(),
            30,
            "endpoints.env",
        )
        pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
        return {key: value for key, value in pairs}

    # ---- the supervised services ---------------------------------------------------

    def state(self) -> dict[str, dict[str, Any]]:
        try:
            raw = json.loads((self.data_dir / "supervisor.json").read_text())
        except (OSError, ValueError):
            return {}
        return {s["name"]: s for s in raw["services"]}

    def pid(self, service: str) -> int:
        pid = wait_for(lambda: self.state().get(service, {}).get("pid"), 30, f"{service} pid")
        return int(pid)

    def heartbeat_fresh(self, service: str, since: float = 0.0) -> bool:
        entry = self.state().get(service)
        if not entry or entry.get("pid") is None or not entry.get("heartbeat"):
            return False
        try:
            return os.stat(entry["heartbeat"]).st_mtime > since
        except OSError:
            return False

    def kill_service(self, service: str) -> int:
        """SIGKILL the supervised process; returns the pid killed."""
        pid = self.pid(service)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, service: str, old_pid: int, timeout: float = 30.0) -> int:
        def restarted() -> int | None:
            pid = self.state().get(service, {}).get("pid")
            return pid if pid not in (None, old_pid) else None

        return int(wait_for(restarted, timeout, f"{service} restarted by the supervisor"))

    def start_replica(self, service: str) -> subprocess.Popen[bytes]:
        """A second process of `service`, started exactly as the supervisor started the
        first (argv, environment with its credentials, working directory)."""
        pid = self.pid(service)
        argv = _cmdline(pid)
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        env = dict(item.decode().split("=", 1) for item in raw.split(b"\0") if b"=" in item)
        env.pop("VOCO_HEARTBEAT_FILE", None)
        with (self.data_dir / "logs" / f"{service}-replica.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=log,
                cwd=os.readlink(f"/proc/{pid}/cwd"),
                start_new_session=True,
            )
        self.replicas.append(process)
        return process

    # ---- the embedded servers ------------------------------------------------------

    def server(self, which: str) -> ServerProcess:
        """`nats` or `postgres`: the running server of this data dir."""
        marker = str(self.data_dir / which)
        if which == "postgres" and os.geteuid() == 0:
            # root's cluster lives apart from the data dir (launcher/postgres.py)
            marker = str(root_cluster_home(self.data_dir.resolve() / "postgres"))
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            argv = _cmdline(int(entry.name))
            if not argv or not any(marker in part for part in argv):
                continue
            binary = Path(argv[0]).name
            if (which == "nats" and binary == "nats-server") or (
                which == "postgres" and binary == "postgres"
            ):
                uid, gid = _ids(int(entry.name))
                return ServerProcess(int(entry.name), argv, uid, gid)
        raise AssertionError(f"no {which} server running for {self.data_dir}")

    def kill_server(self, which: str) -> ServerProcess:
        server = self.server(which)
        os.kill(server.pid, signal.SIGKILL)
        wait_for(lambda: not _alive(server.pid), 10, f"{which} gone")
        return server

    def restart_server(self, which: str, server: ServerProcess, timeout: float = 30.0) -> None:
        """Start the server again with the argv and user it had: the same store, the same
        port. Postgres may refuse while its killed backends still hold shared memory, so
        this retries until it is ready."""
        deadline = time.monotonic() + timeout
        if which == "postgres":
            self._remove_stale_lock(server)
        log_path = self.data_dir / which / f"{which}-restarted.log"
        while True:
            with log_path.open("ab") as log:
                process = subprocess.Popen(
                    server.argv,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    user=server.uid,
                    group=server.gid,
                    extra_groups=[] if server.uid != os.getuid() else None,
                )
            if self._server_ready(which, process, deadline):
                self.restarted_servers.append(process)
                return
            if time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-1500:]
                raise AssertionError(f"{which} did not start again: {tail}")
            time.sleep(0.3)

    def _remove_stale_lock(self, server: ServerProcess) -> None:
        """The killed postmaster stays a zombie until the launcher (its parent) reaps it,
        and postgres takes a live pid in postmaster.pid for another postmaster: a lock
        whose pid is dead (or a zombie) is stale, as postgres's own message says."""
        data = Path(server.argv[server.argv.index("-D") + 1])
        for lock in [data / "postmaster.pid", *data.glob(".s.PGSQL.*.lock")]:
            try:
                recorded = int(lock.read_text().split("\n", 1)[0])
            except (OSError, ValueError):
                continue
            if not _alive(recorded):
                lock.unlink()

    def _server_ready(self, which: str, process: subprocess.Popen[bytes], deadline: float) -> bool:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if which == "nats":
                import socket

                with socket.socket() as sock:
                    sock.settimeout(0.5)
                    if sock.connect_ex(("127.0.0.1", self.nats_port)) == 0:
                        return True
            else:
                ready = subprocess.run(
                    [
                        str(postgres_bin_dir() / "pg_isready"),
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.pg_port),
                    ],
                    check=False,
                )
                if ready.returncode == 0:
                    return True
            time.sleep(0.05)
        return False

    def pause(self, pid: int, seconds: float) -> None:
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
