"""What every benchmark shares: servers started like `./voco up` does, and statistics."""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from launcher.processes import NatsServer, PostgresServer


@dataclass(frozen=True)
class Servers:
    nats_url: str
    database_url: str
    postgres: PostgresServer


@contextlib.contextmanager
def servers() -> Iterator[Servers]:
    """A durable NATS (sync_interval always) and PostgreSQL, as `./voco up` runs them."""
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
