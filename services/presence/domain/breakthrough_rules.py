"""The rules a profile's breakthrough section must pass before the profile is saved."""

from __future__ import annotations

from collections.abc import Mapping

from contracts.presence import DestinationKind, Profile
from services.presence.domain.profiles import Directory, Problem, Problems


def breakthrough_problems(
    profile: Profile, *, extension: str, profiles: Mapping[str, Profile], directory: Directory
) -> list[Problem]:
    """What is wrong with `profile`'s breakthrough section, or with a quiet profile that
    names `profile` as its breakthrough profile, once `profile` is saved among `profiles`."""
    problems = Problems()
    section = profile.breakthrough
    where = "profile.breakthrough"
    for n, listed in enumerate(section.extensions):
        if listed == extension:
            problems.add(
                f"{where}.extensions[{n}]",
                f"{where}.extensions[{n}]: {listed} is this user's own extension",
            )
        elif listed not in directory.extensions:
            problems.add(
                f"{where}.extensions[{n}]",
                f"{where}.extensions[{n}]: no user has extension {listed}",
            )
    for name in ("extensions", "numbers", "prefixes"):
        entries: list[str] = getattr(section, name)
        for n, entry in enumerate(entries):
            if entry in entries[:n]:
                problems.add(
                    f"{where}.{name}[{n}]", f"{where}.{name}[{n}]: {entry} is listed twice"
                )
    after = {**profiles, profile.id: profile}
    target = section.profile
    if target is not None:
        if target == profile.id:
            problems.add(
                f"{where}.profile",
                f"{where}.profile: a profile cannot be its own breakthrough profile (a loop: "
                "the caller would be held back again); name a profile that rings",
            )
        elif target not in after:
            problems.add(
                f"{where}.profile",
                f"{where}.profile: profile {target!r} does not exist; the profiles: "
                + ", ".join(sorted(after)),
            )
    for quiet in after.values():
        chosen = after.get(quiet.breakthrough.profile or "")
        if chosen is None or chosen.id == quiet.id or not quiet.breakthrough.in_use():
            continue
        reason = holds_back_again(chosen, extension)
        if reason is not None and profile.id in (quiet.id, chosen.id):
            field = f"{where}.profile" if profile.id == quiet.id else "profile"
            problems.add(
                field,
                f"{field}: a loop: profile {chosen.id!r}, the breakthrough profile of "
                f"{quiet.id!r}, {reason}; a caller who breaks through would be held back "
                "again: let it ring, forward it elsewhere or pick another breakthrough profile",
            )
    return problems.found


def holds_back_again(profile: Profile, extension: str) -> str | None:
    """Why a breakthrough caller routed by `profile` would land back where they were held:
    it forwards always into the user's own extension (and so its quiet profile), or it
    does not offer the call either. Forward always elsewhere (a mobile, an assistant) is
    a breakthrough that works."""
    always = profile.forwarding.always
    if always is not None and (always.kind, always.target) == (
        DestinationKind.EXTENSION,
        extension,
    ):
        return f"forwards always back to {extension}"
    if not profile.accept_calls:
        return "does not accept calls either"
    if profile.direct_to_voicemail:
        return "sends calls directly to voicemail too"
    return None


def breakthrough_users_of(profile_id: str, profiles: Mapping[str, Profile]) -> list[str]:
    """The profiles that name `profile_id` as their breakthrough profile."""
    return sorted(
        p.id
        for p in profiles.values()
        if p.breakthrough.profile == profile_id and p.id != profile_id
    )
