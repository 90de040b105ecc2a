"""The argparse front of `./voco`; each subcommand sends one command to the presence service."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from cli import breakthrough, render
from cli.endpoints import nats_url
from cli.parser import build_parser
from cli.times import parse_until
from contracts.asyncapi import contract_models, load_all_contracts
from contracts.base import Acting, Command, Role, UnknownMessageType, registry
from contracts.envelope import Envelope
from contracts.errors import CommandError
from contracts.presence import (
    ActivateProfile,
    Channel,
    ConfigureAutomation,
    ConfigureFeatureCodes,
    ConfigurePresenceRouting,
    DeleteProfile,
    GetHistory,
    GetPresence,
    IdleStatus,
    ListProfiles,
    Profile,
    ProvisionUser,
    ReportDevice,
    SaveIvr,
    SaveProfile,
    SaveRingGroup,
    SetStatus,
    SignIn,
    SignOut,
    Status,
)
from contracts.routing import ExplainCall
from contracts.visibility import GetContacts, MarkFavourite, UnmarkFavourite
from runtime.access import SERVICES, Rule
from runtime.bus import explain_validation, refused_credentials, request
from runtime.config import redact_url, url_user
from runtime.permissions import inbox_prefix
from runtime.telemetry import setup_tracing
from services.presence.access import ACCESS as PRESENCE_ACCESS
from services.routing.access import ACCESS as ROUTING_ACCESS
from services.scheduler.access import ACCESS as SCHEDULER_ACCESS
from services.visibility.access import ACCESS as VISIBILITY_ACCESS

OPERATOR = "operator"
ACCESS: dict[type[Acting], Rule] = {
    **PRESENCE_ACCESS,
    **ROUTING_ACCESS,
    **SCHEDULER_ACCESS,
    **VISIBILITY_ACCESS,
}
STATUS_ALIASES = {
    "dnd": Status.DO_NOT_DISTURB,
    "brb": Status.BE_RIGHT_BACK,
    "meeting": Status.IN_MEETING,
}


class UsageError(Exception):
    """Bad input on the command line; the message says what to type instead."""


def parse_status(text: str) -> Status:
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    if key in STATUS_ALIASES:
        return STATUS_ALIASES[key]
    try:
        return Status(key)
    except ValueError:
        names = ", ".join([s.value for s in Status] + list(STATUS_ALIASES))
        raise UsageError(f"unknown status {text!r}; one of: {names}") from None


def principal(args: argparse.Namespace, command: type[Acting]) -> dict[str, Any]:
    """The operator (an administrator, or a service where only services may), or --as."""
    if args.as_user:
        return {"actor": str(args.as_user), "role": Role.USER}
    role = Role.SERVICE if ACCESS.get(command) == SERVICES else Role.ADMIN
    return {"actor": OPERATOR, "role": role}


def as_issued(args: argparse.Namespace, command: Command) -> Command:
    """The command with the CLI's principal stamped on it (the only place it is set)."""
    if not isinstance(command, Acting):
        return command
    return command.model_copy(update=principal(args, type(command)))


def by(args: argparse.Namespace) -> dict[str, Any]:
    return {"channel": Channel(args.channel)}


def load_profile(args: argparse.Namespace) -> Profile:
    try:
        return Profile.model_validate_json(Path(args.file).read_text())
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror}") from None


def key_values(pairs: Sequence[str], what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise UsageError(f"{what} {pair!r} must look like key=value")
        found[key.strip()] = value.strip()
    return found


def command_for(args: argparse.Namespace) -> Command:
    match args.action:
        case "user-add":
            return ProvisionUser(
                extension=args.extension,
                display_name=args.name,
                mobile_number=args.mobile,
                **by(args),
            )
        case "status-get":
            return GetPresence(extension=args.extension)
        case "status-set":
            until = parse_until(args.until, datetime.now().astimezone()) if args.until else None
            return SetStatus(
                extension=args.extension,
                status=parse_status(args.status),
                note=args.note,
                note_expires_at=until,
                **by(args),
            )
        case "history":
            return GetHistory(extension=args.extension, limit=args.limit)
        case "profile-list" | "profile-show":
            return ListProfiles(extension=args.extension)
        case "profile-save":
            return SaveProfile(extension=args.extension, profile=load_profile(args), **by(args))
        case "profile-activate":
            return ActivateProfile(extension=args.extension, profile_id=args.profile, **by(args))
        case "profile-delete":
            return DeleteProfile(extension=args.extension, profile_id=args.profile, **by(args))
        case "device":
            return ReportDevice(
                extension=args.extension, device_id=args.device, state=args.state, **by(args)
            )
        case "sign-in":
            return SignIn(extension=args.extension, session_id=args.session, **by(args))
        case "sign-out":
            return SignOut(extension=args.extension, session_id=args.session, **by(args))
        case "automation":
            return ConfigureAutomation(
                extension=args.extension,
                enabled=not args.off,
                idle_after_seconds=args.after,
                idle_status=IdleStatus(args.show),
                **by(args),
            )
        case "routing":
            mapping = {parse_status(s): p for s, p in key_values(args.map, "--map").items()}
            return ConfigurePresenceRouting(
                extension=args.extension,
                enabled=not args.off,
                profiles_by_status=mapping,
                **by(args),
            )
        case "ring-group":
            return SaveRingGroup(
                group_id=args.group,
                name=args.name,
                members=args.members,
                strategy=args.strategy,
                timeout=args.ring_timeout,
                **by(args),
            )
        case "ivr":
            return SaveIvr(ivr_id=args.ivr, name=args.name, **by(args))
        case "feature-codes":
            return ConfigureFeatureCodes(codes=key_values(args.codes, "code"), **by(args))
        case "favourite-add":
            return MarkFavourite(watcher=args.extension, contact=args.contact)
        case "favourite-remove":
            return UnmarkFavourite(watcher=args.extension, contact=args.contact)
        case "favourite-list":
            return GetContacts(watcher=args.extension)
        case "send":
            return any_command(args.type, args.body)
    raise UsageError(f"unknown subcommand {args.action!r}")


def any_command(type_name: str, body: str) -> Command:
    """The command `send` sends; its actor and role come from the CLI, never the body."""
    load_all_contracts()
    try:
        model = registry.model(type_name)
    except UnknownMessageType:
        known = ", ".join(m.type_name for m in contract_models() if issubclass(m, Command))
        raise UsageError(f"no command {type_name!r}; the commands are: {known}") from None
    if not issubclass(model, Command):
        raise UsageError(f"{type_name} is an event, not a command")
    parsed = json.loads(body) if body.strip() else {}
    if isinstance(parsed, dict) and {"actor", "role"} & parsed.keys():
        raise UsageError(
            "actor and role are set by the CLI, not the body: it sends as the operator, "
            "or as a user with --as EXT"
        )
    return model.model_validate_json(body)


def service_of(command: Command) -> str:
    """contracts/<service>.py defines the commands of <service>."""
    return type(command).__module__.rsplit(".", 1)[-1]


async def place_call(nc: NatsClient, args: argparse.Namespace) -> dict[str, Any]:
    subject = f"voco.pbxsim.{args.node}.control"
    body = {"op": "offer", "caller": args.caller, "callee": args.callee}
    try:
        reply = await nc.request(subject, json.dumps(body).encode(), timeout=args.timeout)
    except Exception:
        raise CommandError(f"no PBX simulator answers on {subject}; ./voco up starts one") from None
    offered = json.loads(reply.data)
    if not offered.get("ok"):
        raise CommandError(str(offered.get("error", offered)))
    await asyncio.sleep(args.wait)
    explain = as_issued(args, ExplainCall(call_id=offered["call_id"]))
    return await request(nc, "routing", explain, timeout=args.timeout)


def one_profile(result: dict[str, Any], profile_id: str) -> dict[str, Any]:
    for body in result["profiles"]:
        if body["id"] == profile_id:
            return dict(body)
    existing = ", ".join(body["id"] for body in result["profiles"])
    raise UsageError(f"no profile {profile_id!r}; the profiles are: {existing}")


def show(args: argparse.Namespace, result: dict[str, Any]) -> str:
    if args.json or args.action in ("send", "call"):
        return json.dumps(result, indent=2, sort_keys=True, default=str)
    if args.action == "history":
        return render.history(result)
    if args.action == "profile-list":
        return render.profiles(result)
    if args.action == "profile-show" or args.action.startswith("breakthrough-"):
        shown = (
            result if args.action.startswith("breakthrough-") else one_profile(result, args.profile)
        )
        return json.dumps(shown, indent=2)
    if args.action == "favourite-list":
        return "\n".join(result["favourites"]) or "no favourites"
    if "status" in result and "extension" in result:
        return render.presence(result)
    return json.dumps(result, sort_keys=True, default=str)


async def watch(nc: NatsClient, args: argparse.Namespace) -> int:
    """Print each event about the extension as it arrives, until Ctrl-C or --count events."""
    subject = f"voco.evt.presence.{args.extension}.>"
    sub = await nc.subscribe(subject)
    await nc.flush()  # the server has the subscription before we say we are watching
    print(f"watching {subject} (Ctrl-C to stop)", flush=True)
    seen = 0
    async for msg in sub.messages:
        try:
            envelope = Envelope.from_bytes(msg.data)
            line = msg.data.decode() if args.json else render.event(envelope)
        except (ValueError, ValidationError):
            line = f"{msg.subject}: unreadable event {msg.data[:80]!r}"
        print(line, flush=True)
        seen += 1
        if args.count and seen >= args.count:
            break
    return 0


async def _no_errors(error: Exception) -> None:
    """nats-py logs connection errors with tracebacks by default; the CLI says it once."""


async def connect(url: str) -> NatsClient:
    try:
        return await nats.connect(
            url,
            name="voco-cli",
            inbox_prefix=inbox_prefix(url_user(url) or "operator"),
            connect_timeout=2,
            allow_reconnect=False,
            # nats-py retries the first connect up to this many times per server; 0 would
            # mean forever, so 1 gives one retry and a prompt answer when NATS is not up.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=_no_errors,
        )
    except Exception as error:
        if "authorization violation" in str(error).lower():
            raise CommandError(refused_credentials(url)) from None
        raise CommandError(
            f"cannot reach NATS at {redact_url(url)}: start the platform with ./voco up, "
            "or point VOCO_NATS_URL at a running one"
        ) from None


async def run(argv: Sequence[str]) -> int:
    """The CLI without the process around it: parses, sends, prints; returns the exit code."""
    args = build_parser().parse_args(list(argv))
    setup_tracing("voco-cli")
    try:
        special = args.action in ("watch", "call") or args.action.startswith("breakthrough-")
        command = None if special else as_issued(args, command_for(args))
        nc = await connect(nats_url())
        try:
            if args.action == "watch":
                return await watch(nc, args)
            if args.action.startswith("breakthrough-"):
                result = await breakthrough.edit(
                    nc, args, lambda command: as_issued(args, command), args.timeout
                )
            elif command is None:
                result = await place_call(nc, args)
            else:
                result = await request(nc, service_of(command), command, timeout=args.timeout)
        finally:
            await nc.close()
        output = show(args, result)
    except CommandError as error:
        where = f" ({error.field})" if error.field else ""
        print(f"error: {error.message}{where}", file=sys.stderr)
        return 1
    except ValidationError as error:
        message, _ = explain_validation(error)
        print(f"error: {message}", file=sys.stderr)
        return 1
    except (UsageError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        return 130
