"""Default presence profiles and the rules a profile must pass before it is saved."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from contracts.presence import (
    MOBILE,
    Destination,
    DestinationKind,
    Forwarding,
    Profile,
    Ringing,
    RingStrategy,
    Status,
    VoicemailSettings,
)

MIN_RING_TIMEOUT = 5
MAX_RING_TIMEOUT = 120
_PHONE = re.compile(r"^\+?[0-9]{3,20}$")
_EXTENSION = re.compile(r"^[0-9]{2,10}$")


@dataclass(frozen=True)
class Directory:
    """Which extensions, ring groups and IVRs exist, as far as a command refers to them."""

    extensions: frozenset[str] = frozenset()
    ring_groups: frozenset[str] = frozenset()
    ivrs: frozenset[str] = frozenset()


NO_DIRECTORY = Directory()


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass
class Problems:
    found: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.found.append(Problem(where, message))


def default_profiles(mobile_number: str | None) -> list[Profile]:
    """The profiles every new user starts with (after the seed's examples); all editable."""
    voicemail = Destination(kind=DestinationKind.VOICEMAIL)
    available = Profile(
        id="available",
        name="Available",
        shows=Status.AVAILABLE,
        forwarding=Forwarding(busy=voicemail, no_answer=voicemail, unavailable=voicemail),
        ringing=Ringing(strategy=RingStrategy.SIMULTANEOUS, timeout=30),
    )
    away_greeting = Destination(kind=DestinationKind.VOICEMAIL, greeting="away")
    dnd = Profile(
        id="dnd",
        name="Do Not Disturb",
        shows=Status.DO_NOT_DISTURB,
        direct_to_voicemail=True,
    )
    busy_greeting = Destination(kind=DestinationKind.VOICEMAIL, greeting="busy")
    meeting = Profile(
        id="meeting",
        name="In a Meeting",
        shows=Status.IN_MEETING,
        forwarding=Forwarding(busy=busy_greeting, no_answer=busy_greeting),
        ringing=Ringing(timeout=20),
        voicemail=VoicemailSettings(greeting="busy"),
    )
    if mobile_number is None:
        # Without a mobile number there is nowhere to forward to: voicemail with the away
        # greeting until the user adds a number to these profiles.
        away = Profile(
            id="away",
            name="Away",
            shows=Status.AWAY,
            forwarding=Forwarding(no_answer=away_greeting, unavailable=away_greeting),
            voicemail=VoicemailSettings(greeting="away"),
        )
        trip = Profile(
            id="business-trip",
            name="Business Trip",
            shows=Status.AWAY,
            direct_to_voicemail=True,
            voicemail=VoicemailSettings(greeting="away"),
        )
    else:
        away = Profile(
            id="away",
            name="Away",
            shows=Status.AWAY,
            mobile_number=mobile_number,
            forwarding=Forwarding(no_answer=away_greeting, unavailable=away_greeting),
            ringing=Ringing(include_mobile=True, timeout=45),
            voicemail=VoicemailSettings(greeting="away"),
        )
        trip = Profile(
            id="business-trip",
            name="Business Trip",
            shows=Status.AWAY,
            mobile_number=mobile_number,
            forwarding=Forwarding(
                always=Destination(kind=DestinationKind.EXTERNAL, target=mobile_number)
            ),
            ringing=Ringing(timeout=45),
            voicemail=VoicemailSettings(enabled=False),
        )
    return [available, away, dnd, meeting, trip]


def referenced_names(profile: Profile) -> set[str]:
    """Every extension, ring group or IVR id the profile names: what the shell looks up."""
    rules = profile.forwarding
    return {
        d.target
        for d in (rules.always, rules.busy, rules.no_answer, rules.unavailable)
        if d is not None and d.target is not None
    } | set(profile.breakthrough.extensions)


def problems_with(
    profile: Profile, *, extension: str, devices: set[str], directory: Directory
) -> list[Problem]:
    """Everything wrong with a profile, each with the field and how to fix it."""
    problems = Problems()
    _check_ringing(profile, devices, problems)
    if profile.direct_to_voicemail and not profile.voicemail.enabled:
        problems.add(
            "profile.direct_to_voicemail",
            "direct_to_voicemail needs voicemail enabled (voicemail.enabled = true)",
        )
    for rule in ("always", "busy", "no_answer", "unavailable"):
        destination = getattr(profile.forwarding, rule)
        if destination is not None:
            _check_destination(
                f"profile.forwarding.{rule}", destination, profile, extension, directory, problems
            )
    return problems.found


def _check_ringing(profile: Profile, devices: set[str], problems: Problems) -> None:
    ringing = profile.ringing
    if not MIN_RING_TIMEOUT <= ringing.timeout <= MAX_RING_TIMEOUT:
        problems.add(
            "profile.ringing.timeout",
            f"ring_timeout must be between {MIN_RING_TIMEOUT} and {MAX_RING_TIMEOUT} seconds "
            f"(got {ringing.timeout})",
        )
    if ringing.strategy is RingStrategy.SEQUENTIAL and not ringing.devices:
        problems.add(
            "profile.ringing.devices",
            "a sequential ring strategy needs its devices in priority order in "
            "ringing.devices (e.g. the desk phone for 10 s, then 'mobile'), but none are listed",
        )
    seen: set[str] = set()
    for step in ringing.devices:
        if step.device in seen:
            problems.add("profile.ringing.devices", f"device {step.device!r} is listed twice")
        seen.add(step.device)
        if step.device == MOBILE:
            continue
        if step.device not in devices:
            known = ", ".join(sorted(devices)) or "none reported yet"
            problems.add(
                "profile.ringing.devices",
                f"device {step.device!r} is not a device of this extension (known: {known}), "
                "devices appear when the PBX reports them",
            )
    wants_mobile = ringing.include_mobile or MOBILE in seen
    if wants_mobile and profile.mobile_number is None:
        problems.add(
            "profile.mobile_number",
            "the ring strategy includes the mobile leg but the profile has no mobile_number: "
            "add one or take the mobile out of the strategy",
        )


def _check_destination(
    where: str,
    destination: Destination,
    profile: Profile,
    extension: str,
    directory: Directory,
    problems: Problems,
) -> None:
    target = destination.target
    kind = destination.kind
    if kind is DestinationKind.VOICEMAIL:
        if target is None and not profile.voicemail.enabled:
            problems.add(
                where,
                f"{where} sends calls to voicemail but voicemail is off in this profile: "
                "enable voicemail or pick another destination",
            )
        elif target is not None and target not in directory.extensions:
            problems.add(where, f"{where}: mailbox {target} does not exist")
        return
    if not target:
        problems.add(where, f"{where}: a {kind.value} destination needs a target")
        return
    if kind is DestinationKind.EXTERNAL:
        if not _PHONE.match(target):
            problems.add(
                where,
                f"{where}: external number {target!r} is malformed: use 3-20 digits with an "
                "optional leading +, e.g. +4915112345678",
            )
    elif kind is DestinationKind.EXTENSION:
        if target == extension:
            problems.add(where, f"{where}: an extension cannot forward to itself")
        elif not _EXTENSION.match(target) or target not in directory.extensions:
            problems.add(
                where,
                f"{where}: extension {target} does not exist: provision it first "
                f'(./voco user add {target} "Name") or pick another destination',
            )
    elif kind is DestinationKind.RING_GROUP:
        if target not in directory.ring_groups:
            problems.add(where, f"{where}: ring group {target!r} does not exist")
    elif kind is DestinationKind.IVR and target not in directory.ivrs:
        problems.add(where, f"{where}: IVR {target!r} does not exist")
