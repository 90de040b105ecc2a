"""One fault row: the workload runs, the fault strikes, the platform recovers, and the
figures are taken from the outside (tests/faults/README.md has the matrix)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from tests.faults.platform import Platform
from tests.faults.workload import Figures, Workload

Fault = Callable[[Workload], Awaitable[float]]
"""Strikes (the workload at hand), and returns the monotonic moment from which recovery
is counted."""


async def run_row(
    platform: Platform,
    row: str,
    fault: Fault,
    *,
    probe: str = "presence",
    before: float = 2.0,
    after: float = 3.0,
) -> Figures:
    """`probe`: the service whose answers count as "commands work again"."""
    workload = Workload(
        platform.endpoints()["VOCO_NATS_URL"], row, pbx_url=platform.principal_url("pbxsim")
    )
    try:
        await workload.prepare()
        workload.start()
        await asyncio.sleep(before)
        since = await fault(workload)
        recovered = await workload.probe(probe)
        recovery = time.monotonic() - since
        await asyncio.sleep(after)
        await workload.stop()
        figures = await workload.check()
        figures.recovery_seconds = round(recovery, 2)
    finally:
        await workload.close()
    del recovered
    report(row, figures)
    return figures


def report(row: str, figures: Any) -> None:
    """`figures`: a dataclass with `details` (the workload's Figures, the edge's)."""
    line = {"row": row, **asdict(figures), "details": figures.details[:20]}
    print(json.dumps(line))
    target = os.environ.get("VOCO_FAULTS_REPORT")
    if target:
        with open(target, "a") as out:
            out.write(json.dumps(line) + "\n")


def assert_nothing_lost(figures: Figures) -> None:
    assert figures.acknowledged > 0
    assert figures.lost == 0, figures.details
    assert figures.twice == 0, figures.details
    assert figures.calls > 0
    assert figures.calls_not_final == 0, figures.details
    assert figures.views_wrong == 0, figures.details
    assert figures.boundary_fired, "the timed status did not revert"
    assert figures.unclear_errors == [], figures.unclear_errors


async def in_thread(work: Callable[[], object]) -> None:
    await asyncio.to_thread(work)
