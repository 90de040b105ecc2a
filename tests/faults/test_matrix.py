"""The rest of the fault matrix (`./voco test -m faults`): each remaining service killed,
a service and nats-server paused, the whole platform restarted on its data, and two
replicas of every service with one killed mid-burst."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.faults.platform import SERVICES, Platform
from tests.faults.rows import assert_nothing_lost, run_row
from tests.faults.workload import Workload

pytestmark = [pytest.mark.integration, pytest.mark.faults]


@pytest.mark.parametrize(
    ("row", "service"), [("F2", "routing"), ("F3", "visibility"), ("F4", "scheduler")]
)
async def test_a_killed_service_is_restarted_and_loses_nothing(
    platform: Platform, row: str, service: str
) -> None:
    async def kill(_: Workload) -> float:
        old = platform.kill_service(service)
        since = time.monotonic()
        await asyncio.to_thread(platform.wait_restarted, service, old)
        return since

    assert_nothing_lost(await run_row(platform, row, kill, probe=service))


async def test_f7_a_service_paused_for_10_s_loses_nothing(platform: Platform) -> None:
    async def pause(_: Workload) -> float:
        pid = platform.pid("presence")
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(10)
        finally:
            os.kill(pid, signal.SIGCONT)
        return time.monotonic()

    assert_nothing_lost(await run_row(platform, "F7", pause))


async def test_f8_nats_paused_for_5_s_loses_nothing(platform: Platform) -> None:
    async def pause(_: Workload) -> float:
        pid = platform.server("nats").pid
        os.kill(pid, signal.SIGSTOP)
        try:
            await asyncio.sleep(5)
        finally:
            os.kill(pid, signal.SIGCONT)
        return time.monotonic()

    assert_nothing_lost(await run_row(platform, "F8", pause))


async def test_f9_the_whole_platform_stopped_and_started_on_its_data(platform: Platform) -> None:
    async def restart(_: Workload) -> float:
        code = await asyncio.to_thread(platform.stop)
        assert code == 0, platform.output()[-2000:]
        since = time.monotonic()
        await asyncio.to_thread(platform.start)
        return since

    assert_nothing_lost(await run_row(platform, "F9", restart))


async def test_f12_two_replicas_of_each_service_one_killed_mid_burst(platform: Platform) -> None:
    for service in SERVICES:
        if service != "pbxsim":
            platform.start_replica(service)
    await asyncio.sleep(3)  # the replicas are up and in their queue groups

    async def kill_each(_: Workload) -> float:
        since = time.monotonic()
        for service in ("presence", "routing", "visibility", "scheduler"):
            platform.kill_service(service)  # the supervised one; possibly the leader
            await asyncio.sleep(0.5)
        return since

    assert_nothing_lost(await run_row(platform, "F12", kill_each))
