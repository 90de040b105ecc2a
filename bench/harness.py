"""What every benchmark shares: servers started like `./voco up` does, and statistics."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from launcher.postgres import PostgresServer
from launcher.processes import NatsServer


@dataclass(frozen=True)
class Servers:
    nats_url: str
    database_url: str
    postgres: PostgresServer


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """A durable NATS (sync_interval always) and PostgreSQL, as `./voco up` runs them but
    open for the benchmark's own clients: NATS without users (no per-principal
    permissions) and the PostgreSQL superuser, whose services make their own schemas;
    throwaway servers on loopback in a temp dir, gone when the benchmark ends."""
    # A benchmark stopped with SIGTERM (e.g. by `timeout`) still stops its servers.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="voco-bench-") as name:
        os.chmod(name, 0o755)
        nats = NatsServer(Path(name) / "nats").start()
        postgres = PostgresServer(Path(name) / "postgres").start()
        try:
            yield Servers(nats.url, postgres.dsn(), postgres)
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
