"""The embedded PostgreSQL of `./voco up` and of the test fixtures, locked.

- Every connection needs a password (scram-sha-256): `initdb --auth-local/--auth-host
  --pwfile`, and a pg_hba.conf with no `trust` line, written at every start. It listens
  on 127.0.0.1 only; its socket is inside the cluster folder, which only its owner reads.
- Roles (launcher/credentials.py `roles_sql`): the superuser (provisioning only), the
  owner role that owns every schema and table and runs the migrations, and one role per
  service that may use only its own schema (grants in runtime/schema.py).
- A cluster from before passwords (trust, one `voco` superuser owning everything) is
  upgraded in place: the superuser gets its password in single-user mode (no moment
  with trust and a listening socket), pg_hba.conf is rewritten, the roles are created
  and the schemas handed to the owner role; the data stays. `notices` says so.
- initdb and postgres refuse to run as root: as root they run as `nobody`, and the
  cluster lives outside the data dir (which is 0700, root's), in
  /var/lib/voco/<checkout id>/cluster (VOCO_PG_HOME moves /var/lib/voco): root-owned
  0711 folders down to a 0700 folder owned by nobody, reachable from any checkout,
  /root/x or a `mktemp -d` included, with nothing for the user to chmod.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from launcher.credentials import PG_ROLES, new_password, roles_sql
from launcher.processes import LaunchError, free_port, private_log, stop_process
from runtime.permissions import SUPERUSER

T = TypeVar("T")

HBA = """# Written by Voco at every start: a password (scram-sha-256) for every connection.
local   all   all                 scram-sha-256
host    all   all   127.0.0.1/32  scram-sha-256
host    all   all   ::1/128       scram-sha-256
"""


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


def root_cluster_home(data_dir: Path) -> Path:
    """Where root's cluster for `data_dir` lives (one per checkout's data dir)."""
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(os.environ.get("VOCO_PG_HOME", "/var/lib/voco")) / digest


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run `work` to the end on a loop of its own, whether or not the caller has one."""
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            results.append(asyncio.run(work))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


@dataclass
class PostgresServer:
    data_dir: Path  # its log; its cluster too unless root runs it (see the docstring)
    port: int = 0  # 0: a free port
    durable: bool = True
    passwords: dict[str, str] = field(default_factory=dict)  # role -> password; empty: new
    cluster_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    notices: list[str] = field(default_factory=list)
    _run_as: dict[str, object] = field(default_factory=dict)

    def dsn(self, database: str = "voco", role: str = SUPERUSER) -> str:
        return f"postgresql://{role}:{self.passwords[role]}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        for role in PG_ROLES:
            self.passwords.setdefault(role, new_password())
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster = self._place_cluster()
        if not (cluster / "PG_VERSION").exists():
            self._initdb(bin_dir, cluster)
        else:
            hba = cluster / "pg_hba.conf"
            if any(
                line.split()[-1:] == ["trust"]
                for line in hba.read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")
            ):
                self.notices.append(
                    f"PostgreSQL at {cluster} trusted every local connection (a data dir "
                    "from before passwords): upgrading it in place, data kept: passwords set, "
                    "a role per service and an owner role created, pg_hba.conf rewritten to "
                    "scram-sha-256"
                )
            # The data dir's credentials are the source of truth for the superuser too.
            self._single_user(bin_dir, cluster, self._superuser_password_sql())
        (cluster / "pg_hba.conf").write_text(HBA)
        if self.port == 0:
            self.port = free_port()
        self._start_postgres(bin_dir, cluster, timeout)
        run_async(self._provision())
        return self

    def _place_cluster(self) -> Path:
        legacy = self.data_dir / "cluster"
        if os.geteuid() != 0:
            self.cluster_dir = self.cluster_dir or legacy
            self.cluster_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self.cluster_dir
        nobody = pwd.getpwnam("nobody")
        self._run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        if self.cluster_dir is None:
            os.chown(self.data_dir, 0, 0)  # an earlier version gave it to nobody
            self.data_dir.chmod(0o700)
            home = root_cluster_home(self.data_dir)
            for folder in (home.parent, home):
                folder.mkdir(exist_ok=True)
                os.chown(folder, 0, 0)
                folder.chmod(0o711)  # nobody may pass through, not list
            self.cluster_dir = home / "cluster"
            if (legacy / "PG_VERSION").exists() and not (self.cluster_dir / "PG_VERSION").exists():
                shutil.rmtree(self.cluster_dir, ignore_errors=True)
                shutil.move(legacy, self.cluster_dir)
                self.notices.append(
                    f"moved the PostgreSQL cluster from {legacy} to {self.cluster_dir}, where "
                    "the postgres process (user nobody) reaches it while the data dir is 0700"
                )
            (self.data_dir / "cluster-location").write_text(f"{self.cluster_dir}\n")
        else:
            for parent in self.cluster_dir.parents:
                if parent.stat().st_mode & 0o001 == 0:
                    raise LaunchError(f"{parent} is not searchable by nobody; chmod o+x it")
        self.cluster_dir.mkdir(exist_ok=True)
        for path in [self.cluster_dir, *self.cluster_dir.rglob("*")]:
            os.lchown(path, nobody.pw_uid, nobody.pw_gid)
        self.cluster_dir.chmod(0o700)
        return self.cluster_dir

    def _initdb(self, bin_dir: Path, cluster: Path) -> None:
        for stale in cluster.iterdir():  # what an interrupted initdb left
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        fd, name = tempfile.mkstemp(prefix="voco-pw-")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(self.passwords[SUPERUSER] + "\n")
            if self._run_as:
                os.chown(name, int(str(self._run_as["user"])), int(str(self._run_as["group"])))
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(cluster),
                    "-U",
                    SUPERUSER,
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={name}",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                    *([] if self.durable else ["--no-sync"]),
                ]
            )
        finally:
            os.unlink(name)

    def _superuser_password_sql(self) -> str:
        password = self.passwords[SUPERUSER].replace("'", "''")
        return f"ALTER ROLE \"{SUPERUSER}\" WITH PASSWORD '{password}';\n"

    def _single_user(self, bin_dir: Path, cluster: Path, sql: str) -> None:
        self._run(
            [
                str(bin_dir / "postgres"),
                "--single",
                "-D",
                str(cluster),
                "-c",
                "password_encryption=scram-sha-256",
                "postgres",
            ],
            stdin=sql,
        )

    def _start_postgres(self, bin_dir: Path, cluster: Path, timeout: float) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(cluster),
            "password_encryption": "scram-sha-256",
            "max_connections": "300",
            "shared_buffers": "256MB",
        }
        if not self.durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [str(bin_dir / "postgres"), "-D", str(cluster)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        with private_log(self.data_dir / "postgres.log") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=log,
                start_new_session=True,
                **self._run_as,  # type: ignore[call-overload]
            )
        self._wait_ready(bin_dir, timeout)

    def _run(self, argv: list[str], stdin: str | None = None) -> None:
        result = subprocess.run(
            argv,
            capture_output=True,
            input=stdin.encode() if stdin is not None else None,
            **self._run_as,  # type: ignore[call-overload]
        )
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

    async def _provision(self, database: str = "voco") -> None:
        """The database, the roles with the data dir's passwords, the schemas' owner."""
        admin = await asyncpg.connect(self.dsn("postgres"))
        try:
            if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
                await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(self.dsn(database))
        try:
            await conn.execute(roles_sql(self.passwords, database))
        finally:
            await conn.close()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGINT)  # "fast" shutdown: clean, no recovery
            self.process = None
