"""What the PBX reports: device states and dialled feature codes, from JetStream VOCO_PBX.

The effect of a message is a command on the user's stream, appended in its own
transaction; the checkpoint commits afterwards. A redelivery after a crash in
between runs the same command again, which the decider turns into nothing
(same device state, profile already active), so each message takes effect once.
A message that can never apply (garbage, unknown extension, unconfigured code)
is dead-lettered here with its reason instead of raising, so the rest of its
batch is not applied a second time by the consumer's one-by-one fallback.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from contracts import pbx
from contracts.base import UnknownMessageType
from contracts.errors import CommandError
from contracts.presence import ActivateProfile, Channel, ReportDevice
from runtime.consumer import Delivery
from runtime.eventstore import Conn
from services.presence.commands import PresenceCommands

log = logging.getLogger(__name__)

CONSUMER = "presence-pbx"
SUBJECTS = ["voco.pbx.evt.device.>", "voco.pbx.evt.feature.>"]


class PbxEvents:
    def __init__(self, commands: PresenceCommands) -> None:
        self.commands = commands

    async def apply(self, conn: Conn, delivery: Delivery) -> None:
        try:
            message = pbx.decode(delivery.data)
            if isinstance(message, pbx.DeviceReported):
                await self.commands.user(
                    ReportDevice(
                        extension=message.extension,
                        device_id=message.device_id,
                        state=message.state,
                        actor="pbx",
                        channel=Channel.PBX,
                        at=message.at,
                    )
                )
            elif isinstance(message, pbx.FeatureCodeDialled):
                await self.feature_code(message)
            else:
                raise CommandError(f"{message.type_name} is not for the presence service")
        except (ValueError, ValidationError, UnknownMessageType, CommandError) as error:
            reason = error.message if isinstance(error, CommandError) else str(error)
            await self.dead_letter(conn, delivery, reason)

    async def feature_code(self, message: pbx.FeatureCodeDialled) -> None:
        codes = await self.commands.feature_codes()
        profile_id = codes.get(message.code)
        if profile_id is None:
            known = ", ".join(f"{c} {p}" for c, p in sorted(codes.items()))
            raise CommandError(f"feature code {message.code} is not configured (known: {known})")
        extra = {"device": message.device_id} if message.device_id else None
        await self.commands.user(
            ActivateProfile(
                extension=message.extension,
                profile_id=profile_id,
                actor=message.extension,
                channel=Channel.FEATURE_CODE,
                at=message.at,
            ),
            extra_meta=extra,
        )

    async def dead_letter(self, conn: Conn, delivery: Delivery, reason: str) -> None:
        log.warning(
            "PBX message not applied",
            extra={"subject": delivery.subject, "sequence": delivery.sequence, "reason": reason},
        )
        await conn.execute(
            f"INSERT INTO {self.commands.store.s}.dead_letters "
            "(consumer, subject, sequence, payload, reason) VALUES ($1, $2, $3, $4, $5)",
            CONSUMER,
            delivery.subject,
            delivery.sequence,
            delivery.data,
            reason,
        )
