"""What every benchmark shares: servers started like `./voco up` does, and statistics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from launcher.credentials import Credentials, nats_authorization, new_password, roles_sql
from launcher.migrate import migrate_services
from launcher.postgres import PostgresServer
from launcher.processes import NatsServer
from runtime.permissions import OWNER_ROLE

BENCH_USER = "voco_bench"
"""The bench's own NATS user (publish and subscribe anything), as the tests' voco_test:
for the floors and for the sections that do not yet run as their principals."""


@dataclass(frozen=True)
class Servers:
    nats_url: str  # as BENCH_USER
    database_url: str  # as the cluster's superuser
    postgres: PostgresServer
    credentials: Credentials | None = None  # every principal's passwords (locked servers)
    nats_address: str = ""  # host:port
    nats_pid: int = 0

    def nats_url_of(self, principal: str) -> str:
        """The URL `./voco up` hands `principal`: its own user and password."""
        assert self.credentials is not None, "servers started without users"
        return self.credentials.nats_url(principal, self.nats_address)

    async def database_of(self, name: str, service: str) -> str:
        """A fresh database `name` provisioned and migrated as `./voco up` does (roles,
        schemas owned by the owner role, `service`'s tables by launcher.migrate); returns
        the URL of `service`'s own role on it (scram-sha-256, no superuser)."""
        import asyncpg

        await create_database(self.postgres.dsn("postgres"), name)
        conn = await asyncpg.connect(self.postgres.dsn(name))
        try:
            await conn.execute(roles_sql(self.postgres.passwords, name))
        finally:
            await conn.close()
        await migrate_services(self.postgres.dsn(name, OWNER_ROLE), [service])
        return self.postgres.dsn(name, service)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def servers(durable: bool = True) -> Iterator[Servers]:
    """A durable NATS (sync_interval always) and PostgreSQL, locked as `./voco up` locks
    them: a NATS user per principal with the permissions of runtime/permissions.py and no
    anonymous access, PostgreSQL with scram-sha-256 and a role per service
    (`Servers.database_of`). Besides, the bench's own NATS user (BENCH_USER, every right)
    and the superuser, for the floors and the sections not yet run as their principals.
    bcrypt cost 4 as in the tests: nats-server checks it on connect only, so it changes
    connect time, not a message's cost. Throwaway servers on loopback in a temp dir.
    `durable=False`: a diagnostic without fsync per write (not how `./voco up` runs)."""
    # A benchmark stopped with SIGTERM (e.g. by `timeout`) still stops its servers.
    signal.signal(signal.SIGTERM, _interrupt)
    credentials = Credentials.generate(cost=4)
    bench_password = new_password()
    bench_user = (
        BENCH_USER,
        bcrypt.hashpw(bench_password.encode(), bcrypt.gensalt(4)).decode(),
        '{publish: ">", subscribe: ">"}',
    )
    with tempfile.TemporaryDirectory(prefix="voco-bench-") as name:
        os.chmod(name, 0o755)
        nats = NatsServer(
            Path(name) / "nats",
            sync_always=durable,
            authorization=nats_authorization(credentials.nats_hashes, [bench_user]),
        ).start()
        postgres = PostgresServer(
            Path(name) / "postgres", durable=durable, passwords=dict(credentials.postgres)
        ).start()
        address = nats.url.removeprefix("nats://")
        assert nats.process is not None
        try:
            yield Servers(
                f"nats://{BENCH_USER}:{bench_password}@{address}",
                postgres.dsn(),
                postgres,
                credentials,
                address,
                nats.process.pid,
            )
        finally:
            nats.stop()
            postgres.stop()


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Latency:
    """Latencies in milliseconds."""

    count: int
    p50: float
    p99: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        return cls(
            len(ms),
            percentile(ms, 50),
            percentile(ms, 99),
            statistics.fmean(ms) if ms else float("nan"),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50_ms": round(self.p50, 3),
            "p99_ms": round(self.p99, 3),
            "mean_ms": round(self.mean, 3),
        }


async def create_database(admin_dsn: str, name: str) -> None:
    """A fresh, empty database (dropped first if a previous section left one)."""
    import asyncpg

    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def delete_streams(nats_url: str) -> None:
    """Every JetStream stream gone: one section's events never reach the next's services."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            if info.config.name:
                await js.delete_stream(info.config.name)
    finally:
        await nc.close()


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return round(kb / 1024, 1)


def service_env(nats_url: str, database_url: str) -> dict[str, str]:
    """The environment `./voco up` gives a service process, quiet logs."""
    return {
        **os.environ,
        "VOCO_NATS_URL": nats_url,
        "VOCO_DATABASE_URL": database_url,
        "VOCO_LOG_LEVEL": "warning",
    }


@contextlib.asynccontextmanager
async def service(
    s: Servers, dsn: str, name: str, nats_url: str | None = None
) -> AsyncIterator[subprocess.Popen[bytes]]:
    """`nats_url`: the principal's own; default the bench's user (every right)."""
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"], env=service_env(nats_url or s.nats_url, dsn)
    )
    try:
        yield process
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 20)
