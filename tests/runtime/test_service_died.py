"""A service whose background loop dies stops, so its supervisor starts it afresh, instead
of answering and beating its heart without doing its work."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.clock import SystemClock
from runtime.service import ServiceRuntime


async def test_a_background_task_that_dies_marks_the_service_died() -> None:
    absent: Any = None
    service = ServiceRuntime("t", absent, absent, absent, absent, absent, absent, SystemClock())

    async def loop_that_fails() -> None:
        raise RuntimeError("the database went away")

    service.spawn(loop_that_fails(), "worker-fails")
    await asyncio.wait(service._tasks)
    assert isinstance(service._tasks[0].exception(), RuntimeError)
    assert service.died.is_set()


async def test_a_background_task_that_ends_normally_does_not() -> None:
    absent: Any = None
    service = ServiceRuntime("t", absent, absent, absent, absent, absent, absent, SystemClock())

    async def loop_that_ends() -> None:
        return None

    service.spawn(loop_that_ends(), "worker-ends")
    await asyncio.wait(service._tasks)
    assert not service.died.is_set()
