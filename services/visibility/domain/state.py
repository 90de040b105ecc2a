"""One owner's visibility, folded from the events of stream `visibility:<owner>`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from contracts.base import Event
from contracts.visibility import (
    DEFAULT_POLICY,
    ContactAdded,
    ContactFavourited,
    ContactRemoved,
    ContactUnfavourited,
    Policy,
    PolicyChanged,
    RequestPending,
    Standing,
    WatcherAllowed,
    WatcherBlocked,
    WatcherForgotten,
)


@dataclass(frozen=True)
class Entry:
    """A watcher's place on the owner's lists; `explicit` when the owner decided it."""

    standing: Standing
    explicit: bool


_NO_ENTRIES: Mapping[str, Entry] = MappingProxyType({})


@dataclass(frozen=True)
class OwnerVisibility:
    """The owner's policy, every watcher's standing, and who has the owner as a contact.

    A contact always has an entry (pending, allowed or blocked). An explicit entry
    outlives the contact, so removing and re-adding a contact cannot escape a block.
    """

    policy: Policy = DEFAULT_POLICY
    entries: Mapping[str, Entry] = field(default_factory=lambda: _NO_ENTRIES)
    contacts_of: frozenset[str] = frozenset()
    favourite_of: frozenset[str] = frozenset()
    """Watchers who marked the owner as a favourite contact (a subset of `contacts_of`)."""

    def standing_of(self, watcher: str) -> Standing | None:
        entry = self.entries.get(watcher)
        return entry.standing if entry else None

    def can_see(self, watcher: str) -> bool:
        return watcher in self.contacts_of and self.standing_of(watcher) is Standing.ALLOWED

    def with_standing(self, standing: Standing) -> list[str]:
        return sorted(w for w, e in self.entries.items() if e.standing is standing)


INITIAL = OwnerVisibility()


def _set_entry(state: OwnerVisibility, watcher: str, entry: Entry | None) -> OwnerVisibility:
    entries = dict(state.entries)
    if entry is None:
        entries.pop(watcher, None)
    else:
        entries[watcher] = entry
    return replace(state, entries=MappingProxyType(entries))


def evolve(state: OwnerVisibility, event: Event) -> OwnerVisibility:
    match event:
        case PolicyChanged(policy=policy):
            return replace(state, policy=policy)
        case ContactAdded(watcher=watcher):
            return replace(state, contacts_of=state.contacts_of | {watcher})
        case ContactRemoved(watcher=watcher):
            return replace(state, contacts_of=state.contacts_of - {watcher})
        case ContactFavourited(watcher=watcher):
            return replace(state, favourite_of=state.favourite_of | {watcher})
        case ContactUnfavourited(watcher=watcher):
            return replace(state, favourite_of=state.favourite_of - {watcher})
        case RequestPending(watcher=watcher):
            return _set_entry(state, watcher, Entry(Standing.PENDING, explicit=False))
        case WatcherAllowed(watcher=watcher, explicit=explicit):
            return _set_entry(state, watcher, Entry(Standing.ALLOWED, explicit))
        case WatcherBlocked(watcher=watcher, explicit=explicit):
            return _set_entry(state, watcher, Entry(Standing.BLOCKED, explicit))
        case WatcherForgotten(watcher=watcher):
            return _set_entry(state, watcher, None)
    return state
