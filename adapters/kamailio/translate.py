"""Pure translations between the PBX contract and the Kamailio config's evapi messages.

No I/O: the adapter (adapter.py) feeds in what Kamailio said and what routing commanded,
with the time passed in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from adapters.kamailio.config import KamailioConfig, extension_of
from contracts import pbx

NUMBER = re.compile(r"^\+?[0-9*#]{1,32}$")
TARGET = re.compile(r"^[A-Za-z0-9_+*#-]{1,64}$")
REJECT_CODES = {
    pbx.RejectReason.BUSY: (486, "Busy Here"),
    pbx.RejectReason.NOT_FOUND: (404, "Not Found"),
    pbx.RejectReason.UNAVAILABLE: (480, "Temporarily Unavailable"),
    pbx.RejectReason.NO_ANSWER: (480, "Temporarily Unavailable"),
    pbx.RejectReason.FORWARD_FAILED: (482, "Loop Detected"),
}


def classify(code: int, rang: bool) -> pbx.LegFailure | None:
    """One branch's own final reply as the leg's failure (contracts/PBX.md): None for a
    487, a branch cancelled by an answer elsewhere, the caller or routing's step end."""
    if code == 487:
        return None
    if code in (486, 600):
        return pbx.LegFailure.BUSY
    if code == 603:
        return pbx.LegFailure.DECLINED
    if code in (408, 480) and rang:  # rang, then the fork timer (or the phone) gave up
        return pbx.LegFailure.NO_ANSWER
    return pbx.LegFailure.UNREACHABLE  # 404, 5xx, or no reply at all (local 408)


def ring(config: KamailioConfig, command: pbx.RingTargets) -> tuple[dict[str, Any], list[str]]:
    """The evapi `ring` op, and the legs that cannot be rung at all (no device, no number)."""
    targets: list[dict[str, str]] = []
    impossible: list[str] = []
    for leg in command.legs:
        if leg.device_id:
            targets.append({"leg": leg.leg_id, "dev": leg.device_id})
        elif leg.number and NUMBER.match(leg.number):
            uri = config.gateway_uri.format(number=leg.number)
            targets.append({"leg": leg.leg_id, "uri": uri})
        else:
            impossible.append(leg.leg_id)
    op = {
        "op": "ring",
        "call": command.call_id,
        "cmd": command.command_id,
        "timeout": command.timeout_seconds,
        "targets": targets,
    }
    return op, impossible


def route(config: KamailioConfig, command: pbx.Forward | pbx.SendToVoicemail) -> dict[str, Any]:
    """Forward or voicemail as the evapi `route` op (a URI from configuration), or a reject
    where the command names what this PBX cannot reach."""
    base = {"call": command.call_id, "cmd": command.command_id}
    if isinstance(command, pbx.SendToVoicemail):
        if not TARGET.match(command.mailbox):
            return reject_op(command, pbx.RejectReason.UNAVAILABLE)
        uri = config.voicemail_uri.format(mailbox=command.mailbox)
        greeting = command.greeting if TARGET.match(command.greeting) else "default"
        return {"op": "route", **base, "uri": uri, "hdr": f"X-Voco-Greeting: {greeting}"}
    if command.kind is pbx.ForwardKind.EXTERNAL and NUMBER.match(command.target):
        return {"op": "route", **base, "uri": config.gateway_uri.format(number=command.target)}
    if command.kind is pbx.ForwardKind.IVR and TARGET.match(command.target):
        return {"op": "route", **base, "uri": config.ivr_uri.format(target=command.target)}
    return reject_op(command, pbx.RejectReason.FORWARD_FAILED)


def reject_op(command: pbx.PbxCommand, reason: pbx.RejectReason) -> dict[str, Any]:
    code, text = REJECT_CODES[reason]
    return {
        "op": "reject",
        "call": command.call_id,
        "cmd": command.command_id,
        "code": code,
        "reason": text,
    }


def offered(event: dict[str, Any], node: str, at: datetime) -> pbx.CallOffered:
    return pbx.CallOffered(
        call_id=str(event["call"]),
        node=node,
        caller=extension_of(str(event["from"])),
        callee=str(event["to"]),
        at=at,
    )


def device_count(dump: dict[str, Any]) -> dict[str, int]:
    """Kamailio's `ul.dump` (full: `brief` names the AoRs without their contacts, which
    read as none, so every resync reported every phone unregistered) as device ->
    registered contacts."""
    counts: dict[str, int] = {}
    for domain in dump.get("result", {}).get("Domains", []):
        for record in domain.get("Domain", {}).get("AoRs", []) or []:
            info = record.get("Info", {})
            aor = str(info.get("AoR", "")).removeprefix("sip:").split("@")[0]
            counts[aor] = len(info.get("Contacts", []) or [])
    return counts
