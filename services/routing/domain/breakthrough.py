"""Breakthrough: who rings through a profile that would not ring, and by which profile.

Checked when a call reaches an extension whose active profile would not ring (accept
calls off, directly to voicemail, forward always) and whose breakthrough section lets
anyone through. Pure: the directory, the time and routing's memory of the caller's
last held-back call come in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from contracts.presence import Profile
from contracts.routing import BreakthroughRule, CallBrokeThrough, CallHeldBack, HoldRule
from services.routing.domain.directory import DEFAULT_PROFILE, Directory, ExtensionView

ANONYMOUS_CALLERS = frozenset({"", "anonymous", "withheld", "unknown", "private", "restricted"})
"""What PBXs present for a caller without a caller id: such a call never breaks through."""

AVAILABLE = "available"


def is_anonymous(caller: str) -> bool:
    return caller.strip().lower() in ANONYMOUS_CALLERS


def routed_by(
    active: Profile, profiles: Mapping[str, Profile], previous: str | None
) -> tuple[Profile, str]:
    """The profile a breakthrough caller is routed by, and why that one.

    The one the section names; else the profile active before the quiet one, if it rings;
    else 'available', if it rings; else the default (ring every device 30 s, voicemail).
    """
    wanted = active.breakthrough.profile
    if wanted is not None and wanted != active.id and wanted in profiles:
        return profiles[wanted], "the breakthrough profile it names"
    gone = f"its breakthrough profile {wanted!r} does not exist; " if wanted else ""
    before = profiles.get(previous or "")
    if before is not None and before.id != active.id and before.rings():
        return before, f"{gone}the profile active before it"
    available = profiles.get(AVAILABLE)
    if available is not None and available.id != active.id and available.rings():
        return available, f"{gone}'{AVAILABLE}', as no ringing profile was active before it"
    return DEFAULT_PROFILE, f"{gone}the default (ring every device), no other profile rings"


def screen(
    view: ExtensionView,
    *,
    caller: str,
    at: datetime,
    directory: Directory,
    last_held_back: datetime | None,
    dialled: bool,
) -> CallBrokeThrough | CallHeldBack:
    """Whether `caller` breaks through `view`'s quiet active profile.

    `last_held_back`: when this caller's last call to this extension was held back, as
    routing remembers it; `dialled`: the extension is the one dialled (hop 0), where a
    held-back call counts for an urgent repeat (forwarded calls neither count nor use it).
    """
    quiet = view.profile
    if not dialled:
        last_held_back = None
    remember = dialled and quiet.breakthrough.urgent_repeat is not None
    whose = f"{view.extension}'s breakthrough list of profile '{quiet.name}'"
    held = {"extension": view.extension, "caller": caller, "quiet_profile": quiet.id}
    if is_anonymous(caller):
        return CallHeldBack(
            **held,
            rule=HoldRule.ANONYMOUS,
            why=f"the caller is anonymous (no caller id), and anonymous callers never break "
            f"through profile '{quiet.name}'",
        )
    match = _listed(view, caller, directory)
    if match is None:
        match = _urgent_repeat(quiet, caller, at, last_held_back)
    if match is not None:
        rule, matched, because = match
        target = view.breakthrough_to or DEFAULT_PROFILE
        return CallBrokeThrough(
            **held,
            rule=rule,
            matched=matched,
            profile=target,
            why=f"{because.format(whose=whose)}; routed by profile '{target.name}' "
            f"({target.id}): {view.breakthrough_via or 'the default'}",
        )
    return CallHeldBack(
        **held,
        rule=HoldRule.NOT_LISTED,
        remembered=remember,
        why=f"{caller} is not on {whose}" + _repeat_note(quiet, at, last_held_back, remember),
    )


Match = tuple[BreakthroughRule, str, str]


def _listed(view: ExtensionView, caller: str, directory: Directory) -> Match | None:
    section = view.profile.breakthrough
    if caller in section.extensions:
        return BreakthroughRule.EXTENSION, caller, f"{caller} is on {{whose}}"
    if caller in section.numbers:
        return BreakthroughRule.NUMBER, caller, f"{caller} is on {{whose}} (numbers)"
    prefix = next((p for p in section.prefixes if caller.startswith(p)), None)
    if prefix is not None:
        return (
            BreakthroughRule.PREFIX,
            prefix,
            f"{caller} starts with {prefix}, on {{whose}} (prefixes)",
        )
    if section.favourites and directory.is_favourite(view.extension, caller):
        return (
            BreakthroughRule.FAVOURITE,
            caller,
            f"{caller} is one of {view.extension}'s favourite contacts, and {{whose}} "
            "lets favourites through",
        )
    return None


def _urgent_repeat(
    quiet: Profile, caller: str, at: datetime, last_held_back: datetime | None
) -> Match | None:
    repeat = quiet.breakthrough.urgent_repeat
    if repeat is None or last_held_back is None:
        return None
    ago = at - last_held_back
    if ago.total_seconds() < 0 or ago.total_seconds() > repeat.minutes * 60:
        return None
    return (
        BreakthroughRule.URGENT_REPEAT,
        caller,
        f"second call from {caller} within {repeat.minutes} minutes (the first was held back "
        f"{_duration(ago.total_seconds())} ago): urgent repeat, which {{whose}} lets through "
        "once",
    )


def _repeat_note(
    quiet: Profile, at: datetime, last_held_back: datetime | None, remember: bool
) -> str:
    repeat = quiet.breakthrough.urgent_repeat
    if repeat is None:
        return ""
    note = ""
    if last_held_back is not None:
        ago = _duration(max(0.0, (at - last_held_back).total_seconds()))
        note = f"; its last held-back call, {ago} ago, is outside the {repeat.minutes}-minute "
        note += "urgent-repeat window"
    if remember:
        note += f"; calling again within {repeat.minutes} minutes rings through (urgent repeat)"
    return note


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
