"""F1, F5, F6 in CI (default selection): kill -9 of a service, of nats-server, of PostgreSQL,
under the workload; nothing acknowledged lost, nothing applied twice, every call final,
every watcher's view the truth."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.faults.platform import Platform
from tests.faults.rows import assert_nothing_lost, run_row
from tests.faults.workload import Workload

pytestmark = pytest.mark.integration


async def test_f1_presence_killed_is_restarted_and_loses_nothing(platform: Platform) -> None:
    async def kill(_: Workload) -> float:
        old = platform.kill_service("presence")
        since = time.monotonic()
        await asyncio.to_thread(platform.wait_restarted, "presence", old)
        return since

    assert_nothing_lost(await run_row(platform, "F1", kill))


async def test_f5_nats_killed_and_restarted_on_its_store_loses_nothing(platform: Platform) -> None:
    async def kill(_: Workload) -> float:
        server = await asyncio.to_thread(platform.kill_server, "nats")
        since = time.monotonic()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(platform.restart_server, "nats", server)
        return since

    assert_nothing_lost(await run_row(platform, "F5", kill))


async def test_f6_postgres_killed_and_restarted_loses_nothing(platform: Platform) -> None:
    async def kill(_: Workload) -> float:
        server = await asyncio.to_thread(platform.kill_server, "postgres")
        since = time.monotonic()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(platform.restart_server, "postgres", server)
        return since

    assert_nothing_lost(await run_row(platform, "F6", kill))
