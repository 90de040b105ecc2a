"""End to end: SIPp phones, Kamailio, the adapter, routing and presence (all real)."""

from __future__ import annotations

import pytest

from tests.kamailio.conftest import Pbx, eventually

pytestmark = pytest.mark.integration


async def devices_of(pbx: Pbx, extension: str) -> dict[str, str]:
    return dict((await pbx.presence_of(extension)).get("devices", {}))


async def test_two_extensions_register_and_a_call_rings_and_is_answered(pbx: Pbx) -> None:
    await pbx.provision("1001", "1002")
    desk = await pbx.register("1001-desk")
    await pbx.register("1002-desk")
    await eventually(lambda: registered(pbx, "1001", "1001-desk"))
    phone = await pbx.phones.phone("answer", port=desk)
    caller = await pbx.phones.call("1002-desk", "1001")
    called = await caller.wait()
    assert called.ok, called.output[-3000:]
    assert (await phone.wait()).ok
    assert pbx.adapter is not None and pbx.adapter.fork_latencies_ms


async def registered(pbx: Pbx, extension: str, device: str) -> bool:
    devices = await devices_of(pbx, extension)
    return devices.get(device) == "registered"
