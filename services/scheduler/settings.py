"""How the scheduler's timer driver batches and paces its work (VOCO_SCHEDULER_* in the
README). Apart from the driver so that `applying`, which the driver calls, can read them
without importing the driver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DriverSettings:
    batch: int = 20_000
    concurrency: int = 500
    poll_seconds: float = 1.0
    presence_timeout: float = 5.0
    retry_seconds: float = 10.0
    prepare_seconds: float = 10.0  # decide switches this long before their boundary
    announce_seconds: float = 60.0  # announce them to presence this long before (0: never)
