"""Demo data: extensions 1001-1005 with devices, ring group `sales` and IVR `main`;
1001's Do Not Disturb lets 1002, +4930123... and urgent repeats through.

Loaded through the service's own commands, so it is validated like any input.
Idempotent: loading it again changes nothing (each command is a no-op when the
state already matches). `python -m services.presence.demo` loads it against
VOCO_NATS_URL; `load_demo(nc)` does the same from the launcher.
"""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client as NatsClient

from contracts.base import Command, Role
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    MOBILE,
    Breakthrough,
    Channel,
    Destination,
    DestinationKind,
    DeviceState,
    Forwarding,
    Profile,
    ProvisionUser,
    ReportDevice,
    Ringing,
    RingStep,
    RingStrategy,
    SaveIvr,
    SaveProfile,
    SaveRingGroup,
    Status,
    UrgentRepeat,
    VoicemailSettings,
)
from runtime.bus import connect, request
from runtime.config import Connections

USERS = [
    ("1001", "Ann Archer", "+4915110001001"),
    ("1002", "Ben Baker", "+4915110001002"),
    ("1003", "Cleo Carter", None),
    ("1004", "Dev Dalton", None),
    ("1005", "Eve Ellis", "+4915110001005"),
]
# The demo loader is the operator's tool: it provisions as an administrator, and
# reports the demo devices as the PBX path does (a service).
ACTOR = {"actor": "demo", "role": Role.ADMIN, "channel": Channel.ADMIN}
PBX = {"actor": "pbx", "role": Role.SERVICE, "channel": Channel.PBX}


def demo_commands() -> list[Command]:
    commands: list[Command] = []
    for extension, name, mobile in USERS:
        commands.append(
            ProvisionUser(extension=extension, display_name=name, mobile_number=mobile, **ACTOR)
        )
        for device in ("desk", "softphone"):
            commands.append(
                ReportDevice(
                    extension=extension,
                    device_id=f"{extension}-{device}",
                    state=DeviceState.REGISTERED,
                    **PBX,
                )
            )
    commands.append(
        SaveRingGroup(group_id="sales", name="Sales", members=["1001", "1002", "1003"], **ACTOR)
    )
    commands.append(SaveIvr(ivr_id="main", name="Main menu", **ACTOR))
    busy_to_sales = Profile(
        id="meeting",
        name="In a Meeting",
        shows=Status.IN_MEETING,
        forwarding=Forwarding(
            busy=Destination(kind=DestinationKind.RING_GROUP, target="sales"),
            no_answer=Destination(kind=DestinationKind.VOICEMAIL, greeting="busy"),
        ),
        ringing=Ringing(timeout=20),
        voicemail=VoicemailSettings(greeting="busy"),
    )
    desk_then_mobile = Profile(
        id="desk-first",
        name="Desk then mobile",
        mobile_number="+4915110001001",
        ringing=Ringing(
            strategy=RingStrategy.SEQUENTIAL,
            devices=[RingStep(device="1001-desk", seconds=10), RingStep(device=MOBILE, seconds=20)],
            timeout=30,
        ),
        forwarding=Forwarding(no_answer=Destination(kind=DestinationKind.VOICEMAIL)),
    )
    # Ann's Do Not Disturb still rings for Ben, the +4930123 customer lines and anyone
    # calling twice within 3 minutes, routed by the profile she had active before it.
    dnd_with_breakthrough = Profile(
        id="dnd",
        name="Do Not Disturb",
        shows=Status.DO_NOT_DISTURB,
        direct_to_voicemail=True,
        breakthrough=Breakthrough(
            extensions=["1002"],
            prefixes=["+4930123"],
            favourites=True,
            urgent_repeat=UrgentRepeat(minutes=3),
        ),
    )
    commands += [
        SaveProfile(extension="1001", profile=busy_to_sales, **ACTOR),
        SaveProfile(extension="1001", profile=desk_then_mobile, **ACTOR),
        SaveProfile(extension="1001", profile=dnd_with_breakthrough, **ACTOR),
    ]
    return commands


async def load_demo(nc: NatsClient, *, wait_seconds: float = 30.0) -> int:
    """Send every demo command; waits up to `wait_seconds` for the service to come up."""
    commands = demo_commands()
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            await request(nc, "presence", commands[0])
            break
        except CommandError as error:
            if error.code is not ErrorCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)
    for command in commands[1:]:
        await request(nc, "presence", command)
    return len(commands)


async def _main() -> None:
    nc = await connect(Connections.from_env().nats_url, "voco-demo")
    try:
        count = await load_demo(nc)
    finally:
        await nc.close()
    print(f"demo data loaded ({count} commands): extensions 1001-1005, ring group sales, IVR main")


if __name__ == "__main__":
    try:
        asyncio.run(_main())
    except CommandError as error:
        raise SystemExit(f"demo data not loaded: {error.message}") from None
