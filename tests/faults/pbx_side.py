"""The PBX adapter's row (F14): calls placed through the supervised simulator process
(node sim1, the demo's devices of 1001-1005) by its live control subject, as an operator
does, while the row's workload runs; then that process is killed.

The simulator's calls live in its memory, as a PBX's SIP state lives on its node: a kill
loses them. What must hold is routing's side (every call reaches a final outcome: its
ring timer ends a ring step whose PBX is gone) and the resync: the restarted process
reports its devices again, so presence has them registered."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from contracts.presence import (
    ActivateProfile,
    DeviceState,
    GetPresence,
    Profile,
    ProvisionUser,
    ReportDevice,
    Ringing,
    SaveProfile,
)
from contracts.routing import ExplainCall
from services.pbxsim.scenario import DEMO_EXTENSIONS
from tests.faults.workload import ADMIN, PBX, Workload

NODE = "sim1"
CONTROL = f"voco.pbxsim.{NODE}.control"
DEVICES = {ext: [f"{ext}-desk", f"{ext}-softphone"] for ext in DEMO_EXTENSIONS}
ANSWERING = ("1001-desk", "1002-softphone")  # answer after half a second; the rest ring


class SimulatorCalls:
    """Calls through the simulator process, and what its devices look like in presence."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.calls: list[str] = []
        self.answered: list[str] = []
        self.refused = 0

    async def control(self, body: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
        assert self.workload.nc is not None
        reply = await self.workload.nc.request(CONTROL, json.dumps(body).encode(), timeout)
        answer: dict[str, Any] = json.loads(reply.data)
        return answer

    async def prepare(self) -> None:
        ringing = Profile(id="quick", name="Quick ring", ringing=Ringing(timeout=5))
        for ext, devices in DEVICES.items():
            send = self.workload.send_patiently
            await send("presence", ProvisionUser(extension=ext, display_name=f"Sim {ext}", **ADMIN))
            await send("presence", SaveProfile(extension=ext, profile=ringing, **ADMIN))
            await send("presence", ActivateProfile(extension=ext, profile_id="quick", **ADMIN))
            for device in devices:
                # The simulator registered them when it started, before these users
                # existed; this is its report again (it refreshes every 30 s).
                await self.report(ext, device, DeviceState.REGISTERED)
        await self.behave_quickly()

    async def behave_quickly(self) -> None:
        """Half the calls answered after 0.5 s, the rest ringing into the 5 s timeout
        (the demo's busy and declining phones ring here)."""
        for devices in DEVICES.values():
            for device in devices:
                action = "answer" if device in ANSWERING else "ring"
                answer = await self.control(
                    {"op": "behave", "target": device, "action": action, "after": 0.5}
                )
                assert answer["ok"], answer

    async def report(self, ext: str, device: str, state: DeviceState) -> None:
        await self.workload.send_patiently(
            "presence", ReportDevice(extension=ext, device_id=device, state=state, **PBX)
        )

    async def offer_for(self, seconds: float, every: float = 0.3) -> None:
        """Calls to 1001-1005 in turn; an offer the dead simulator cannot take fails with
        NATS's "no responders" (counted, as a clear refusal)."""
        n = 0
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            callee = DEMO_EXTENSIONS[n % len(DEMO_EXTENSIONS)]
            n += 1
            try:
                answer = await self.control({"op": "offer", "caller": "+4930777", "callee": callee})
                self.calls.append(answer["call_id"])
            except Exception as error:  # no responders, or a timeout while it restarts
                self.refused += 1
                self.workload.errors.clear[f"pbx control: {type(error).__name__}"] += 1
            await asyncio.sleep(every)

    async def forget_devices(self) -> None:
        """While the simulator is down, presence is told its phones are gone (as their
        registrations would lapse): only the restarted simulator's resync can bring
        them back."""
        for ext, devices in DEVICES.items():
            for device in devices:
                await self.report(ext, device, DeviceState.UNREGISTERED)

    async def devices_back(self) -> list[str]:
        """Devices presence does not have registered (empty: the resync brought all back)."""
        missing = []
        for ext, devices in DEVICES.items():
            presence = await self.workload.send_patiently(
                "presence", GetPresence(extension=ext, actor="faults", role=ADMIN["role"])
            )
            for device in devices:
                state = presence["devices"].get(device)
                if state != DeviceState.REGISTERED.value:
                    missing.append(f"{device}: {state}")
        return missing

    async def answered_never_ended(self, calls: list[str]) -> list[str]:
        """Calls routing has answered and never finished: the PBX that held them died
        and did not report their end (contracts/PBX.md, "The PBX dies mid-call")."""
        found = []
        for call_id in calls:
            explained = await self.workload.send_patiently(
                "routing", ExplainCall(call_id=call_id, actor="faults", role=ADMIN["role"])
            )
            events = [step["event"] for step in explained["steps"]]
            if "CallAnswered" in events and "CallFinished" not in events:
                found.append(call_id)
        return found
