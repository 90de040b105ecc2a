"""Forward loops found before a profile is saved: the planner's chain rules, applied to
every path a call could take rather than to the one the devices allow now.

A real call follows one path: the Busy rule only when the devices are busy, and so on.
A proposed profile is checked against all of them: at each extension every rule that
could apply under its active profile (and under its breakthrough profile, since the
caller is not known), so a Busy forward that loops is found while every device is idle.
The rules for a chain are the planner's (`follow`): an extension or ring group reached
twice is a loop; more than MAX_HOPS forwards is too long. Pure: the directory comes in.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from contracts.presence import DestinationKind, Profile
from contracts.routing import ForwardLoop, HopKind, LoopKind
from services.routing.domain.directory import Directory, ExtensionView
from services.routing.domain.planner import MAX_HOPS, RULE_NAMES

RULES = ("always", "busy", "no_answer", "unavailable")
NAMES = {**RULE_NAMES, "always": "Always"}
FOLLOWED = {
    DestinationKind.EXTENSION: HopKind.EXTENSION,
    DestinationKind.RING_GROUP: HopKind.RING_GROUP,
}


@dataclass(frozen=True)
class Link:
    """One forward: `source`'s `rule` sends the call to `target`."""

    source: str
    rule: str
    kind: HopKind
    target: str

    def says(self) -> str:
        where = f"ring group {self.target}" if self.kind is HopKind.RING_GROUP else self.target
        return f"{self.source}'s {NAMES[self.rule]} rule forwards to {where}"


def rules_that_may_apply(profile: Profile) -> list[str]:
    """The forwarding rules a call may take under `profile`, whatever the devices' state
    (DESIGN.md's order: accept calls off takes Busy, voicemail first takes none, Always
    shadows the rest)."""
    forwarding = profile.forwarding
    if not profile.accept_calls:
        candidates: tuple[str, ...] = ("busy",)
    elif profile.direct_to_voicemail:
        candidates = ()
    elif forwarding.always is not None:
        candidates = ("always",)
    else:
        candidates = ("busy", "no_answer", "unavailable")
    return [rule for rule in candidates if getattr(forwarding, rule) is not None]


def profiles_at(view: ExtensionView) -> list[Profile]:
    """The profiles a forwarded call may be routed by at `view`: its active one, and the
    breakthrough profile when the caller might be on its list."""
    return [view.profile, *([view.breakthrough_to] if view.breakthrough_to else [])]


def forward_of(profile: Profile, rule: str, source: str) -> Link | None:
    destination = getattr(profile.forwarding, rule)
    if destination is None or not destination.target or destination.kind not in FOLLOWED:
        return None  # voicemail, an external number, an IVR: the chain ends there
    return Link(source, rule, FOLLOWED[destination.kind], destination.target)


def chains(
    directory: Directory, links: tuple[Link, ...]
) -> Iterator[tuple[LoopKind, tuple[Link, ...]]]:
    """Every loop or over-long chain that `links` (a path from the first callee) can end in."""
    first = links[0].source
    last = links[-1]
    reached = [(HopKind.EXTENSION, first), *((link.kind, link.target) for link in links[:-1])]
    if (last.kind, last.target) in reached:
        yield LoopKind.LOOP, links
        return
    if len(reached) > MAX_HOPS:
        yield LoopKind.TOO_LONG, links
        return
    if last.kind is HopKind.RING_GROUP:
        return  # a ring group has no rules of its own: it ends at a voicemail
    view = directory.extension(last.target)
    if view is None:
        return  # an extension that does not exist ends the chain (presence refuses it)
    for profile in profiles_at(view):
        for rule in rules_that_may_apply(profile):
            link = forward_of(profile, rule, last.target)
            if link is not None:
                yield from chains(directory, (*links, link))


def first_chain(
    directory: Directory, profile: Profile, rule: str, extension: str
) -> tuple[LoopKind, tuple[Link, ...]] | None:
    link = forward_of(profile, rule, extension)
    if link is None:
        return None
    return next(chains(directory, (link,)), None)


def check_profile(directory: Directory, extension: str, profile: Profile) -> list[ForwardLoop]:
    """The loops `profile` would make as `extension`'s active profile: one per forwarding
    rule it sets, and one for its breakthrough profile. `directory` has the profile in
    place (so its breakthrough profile is resolved as a call would resolve it)."""
    found: list[ForwardLoop] = []
    for rule in RULES:
        chain = first_chain(directory, profile, rule, extension)
        if chain is not None:
            found.append(finding(f"forwarding.{rule}", rule, *chain, profile))
    view = directory.extension(extension)
    through = view.breakthrough_to if view is not None and view.profile == profile else None
    if through is not None:
        for rule in rules_that_may_apply(through):
            chain = first_chain(directory, through, rule, extension)
            if chain is not None:
                found.append(
                    finding("breakthrough.profile", "breakthrough", *chain, profile, through)
                )
                break
    return found


def finding(
    field: str,
    rule: str,
    kind: LoopKind,
    links: tuple[Link, ...],
    profile: Profile,
    through: Profile | None = None,
) -> ForwardLoop:
    first = links[0].source
    chain = [first, *(link.target for link in links)]
    path = " → ".join(chain)
    steps = ", then ".join(link.says() for link in links)
    if kind is LoopKind.LOOP:
        what = f"a loop ({path})"
    else:
        what = f"more than {MAX_HOPS} forwards ({path})"
    ends = (
        f"{first}'s voicemail"
        if profile.voicemail.enabled
        else "a rejected call (voicemail is off)"
    )
    lead = (
        f"a caller who breaks through is routed by profile '{through.name}' ({through.id}): "
        if through is not None
        else ""
    )
    return ForwardLoop(
        field=field,
        rule=rule,
        kind=kind,
        chain=chain,
        message=f"{lead}{steps}: {what}; a call caught in it ends at {ends}",
    )
