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
from contracts.base import Role
from contracts.errors import CommandError, ErrorCode
from contracts.presence import ActivateProfile, Channel, ReportDevice
from runtime.consumer import Delivery
from runtime.eventstore import Conn
from services.presence.commands import PresenceCommands

log = logging.getLogger(__name__)

CONSUMER = "presence-pbx"
SUBJECTS = [pbx.STORED_DEVICE_EVENTS, pbx.STORED_FEATURE_CODES]  # each in its partitions
_RETRYABLE = {ErrorCode.CONFLICT, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL}


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
                        role=Role.SERVICE,
                        channel=Channel.PBX,
                        at=message.at,
                    )
                )
            elif isinstance(message, pbx.FeatureCodeDialled):
                await self.feature_code(message)
            else:
                raise CommandError(f"{message.type_name} is not for the presence service")
        except CommandError as error:
            if error.code in _RETRYABLE:
                raise  # the consumer's fallback retries it, and dead-letters it if it fails again
            await self.dead_letter(conn, delivery, error.message)
        except (ValueError, LookupError, ValidationError) as error:
            # LookupError: an unknown message type or a version with no upcaster.
            await self.dead_letter(conn, delivery, str(error))

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
                # The PBX vouches that the extension dialled it: the user acted, through
                # the PBX path, which the bus lets only the adapters publish on.
                actor=message.extension,
                role=Role.SERVICE,
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
