"""How results look on a terminal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.envelope import Envelope
from contracts.presence import Profile, RingStrategy
from services.presence.domain.history import summary


def local(moment: str | datetime | None) -> str:
    if moment is None:
        return ""
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def presence(view: dict[str, Any]) -> str:
    lines = [f"{view['extension']} {view['display_name']}: {view['status']}"]
    if view.get("note"):
        until = f" (until {local(view['note_expires_at'])})" if view.get("note_expires_at") else ""
        lines.append(f"  note:     {view['note']}{until}")
    lines.append(f"  profile:  {view.get('active_profile') or '-'}")
    devices = view.get("devices") or {}
    shown = ", ".join(f"{d} {s}" for d, s in sorted(devices.items())) or "none reported"
    lines.append(f"  devices:  {shown}")
    lines.append(f"  clients:  {view.get('signed_in_sessions', 0)} signed in")
    return "\n".join(lines)


def history(result: dict[str, Any]) -> str:
    rows = [
        f"{local(e['at'])}  {e['actor'] or '-':<12} {e['channel'] or '-':<13} {e['summary']}"
        for e in result["entries"]
    ]
    header = f"{'when':<19}  {'who':<12} {'channel':<13} what"
    return "\n".join([header, *rows])


def profile_line(body: dict[str, Any], active: str | None) -> str:
    profile = Profile.model_validate(body)
    marker = "*" if profile.id == active else " "
    parts = [f"shows {profile.shows}"]
    if not profile.accept_calls:
        parts.append("calls off")
    if profile.direct_to_voicemail:
        parts.append("direct to voicemail")
    rules = profile.forwarding
    for rule in ("always", "busy", "no_answer", "unavailable"):
        destination = getattr(rules, rule)
        if destination is not None:
            target = f" {destination.target}" if destination.target else ""
            parts.append(f"{rule} -> {destination.kind}{target}")
    ringing = profile.ringing
    strategy = ringing.strategy
    if strategy is RingStrategy.SEQUENTIAL:
        steps = " then ".join(f"{s.device} {s.seconds or '-'}s" for s in ringing.devices)
        parts.append(f"ring sequential: {steps}")
    elif not profile.forwarding.always and not profile.direct_to_voicemail:
        parts.append(f"ring {strategy}")
    parts.append(f"timeout {ringing.timeout}s")
    parts.append(
        "voicemail " + (profile.voicemail.greeting if profile.voicemail.enabled else "off")
    )
    if profile.breakthrough.in_use():
        parts.append("breakthrough: " + breakthrough_summary(profile))
    return f"{marker} {profile.id:<15} {profile.name:<17} " + ", ".join(parts)


def breakthrough_summary(profile: Profile) -> str:
    section = profile.breakthrough
    who = [*section.extensions, *section.numbers, *(f"{p}*" for p in section.prefixes)]
    if section.favourites:
        who.append("favourites")
    if section.urgent_repeat is not None:
        who.append(f"repeat within {section.urgent_repeat.minutes} min")
    return " ".join(who) + f" (routed by {section.profile or 'the previous profile'})"


def profiles(result: dict[str, Any]) -> str:
    return "\n".join(profile_line(body, result.get("active")) for body in result["profiles"])


def event(envelope: Envelope) -> str:
    who = envelope.meta.actor or "-"
    via = envelope.meta.channel or "-"
    return (
        f"{local(envelope.at)}  {envelope.type:<26} {summary(envelope.payload())}"
        f"  (by {who} via {via})"
    )
