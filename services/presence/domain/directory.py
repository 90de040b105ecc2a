"""Ring groups, IVRs and the feature-code map: small deciders beside the user's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from contracts.base import Command, Event
from contracts.errors import CommandError
from contracts.presence import (
    ConfigureFeatureCodes,
    FeatureCodesConfigured,
    IvrSaved,
    RingGroupSaved,
    SaveIvr,
    SaveRingGroup,
)
from runtime.decider import Decider
from services.presence.domain.profiles import (
    MAX_RING_TIMEOUT,
    MIN_RING_TIMEOUT,
    NO_DIRECTORY,
    Directory,
)

FEATURE_CODES_STREAM = "feature-codes"
DEFAULT_FEATURE_CODES: Mapping[str, str] = MappingProxyType(
    {"*71": "available", "*72": "away", "*73": "dnd", "*74": "business-trip"}
)


def ring_group_stream(group_id: str) -> str:
    return f"ring-group:{group_id}"


def ivr_stream(ivr_id: str) -> str:
    return f"ivr:{ivr_id}"


@dataclass(frozen=True)
class NoEntry:
    """A ring group or IVR nobody has saved yet."""


@dataclass(frozen=True)
class Saved:
    """The last saved version of a ring group or IVR."""

    event: Event


EntryState = NoEntry | Saved


def evolve_entry(state: EntryState, event: Event) -> EntryState:
    return Saved(event)


def decide_ring_group(
    command: SaveRingGroup, state: EntryState, directory: Directory
) -> list[Event]:
    if not MIN_RING_TIMEOUT <= command.timeout <= MAX_RING_TIMEOUT:
        raise CommandError(
            f"ring_timeout must be between {MIN_RING_TIMEOUT} and {MAX_RING_TIMEOUT} seconds "
            f"(got {command.timeout})",
            field="timeout",
        )
    unknown = [m for m in command.members if m not in directory.extensions]
    if unknown:
        raise CommandError(
            f"ring group {command.group_id!r}: extension(s) {', '.join(unknown)} do not exist; "
            "provision them first",
            field="members",
        )
    if len(set(command.members)) != len(command.members):
        raise CommandError("a ring group lists each member once", field="members")
    saved = RingGroupSaved(
        group_id=command.group_id,
        name=command.name,
        members=command.members,
        strategy=command.strategy,
        timeout=command.timeout,
    )
    return [] if state == Saved(saved) else [saved]


def decide_ivr(command: SaveIvr, state: EntryState) -> list[Event]:
    saved = IvrSaved(ivr_id=command.ivr_id, name=command.name)
    return [] if state == Saved(saved) else [saved]


def ring_group_decider(directory: Directory = NO_DIRECTORY) -> Decider[Command, EntryState]:
    def decide(command: Command, state: EntryState) -> Sequence[Event]:
        assert isinstance(command, SaveRingGroup)
        return decide_ring_group(command, state, directory)

    return Decider(initial_state=NoEntry(), decide=decide, evolve=evolve_entry)


def _decide_ivr(command: Command, state: EntryState) -> Sequence[Event]:
    assert isinstance(command, SaveIvr)
    return decide_ivr(command, state)


ivr_decider = Decider[Command, EntryState](
    initial_state=NoEntry(), decide=_decide_ivr, evolve=evolve_entry
)


@dataclass(frozen=True)
class FeatureCodes:
    """Feature code to the profile id it activates; the defaults until someone configures."""

    codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FEATURE_CODES))


def decide_feature_codes(command: Command, state: FeatureCodes) -> Sequence[Event]:
    assert isinstance(command, ConfigureFeatureCodes)
    if dict(command.codes) == dict(state.codes):
        return []
    return [FeatureCodesConfigured(codes=command.codes)]


def evolve_feature_codes(state: FeatureCodes, event: Event) -> FeatureCodes:
    assert isinstance(event, FeatureCodesConfigured)
    return FeatureCodes(dict(event.codes))


feature_codes_decider = Decider[Command, FeatureCodes](
    initial_state=FeatureCodes(), decide=decide_feature_codes, evolve=evolve_feature_codes
)
