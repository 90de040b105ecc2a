"""The visibility rules: who may change what, and which events a command makes.

`decide` gets a `Checked` command: the wire command plus the facts the shell looked up
and the decider may not fetch itself (which of the named extensions exist).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from contracts.base import Command, Event, Role
from contracts.errors import CommandError, NotFound
from contracts.visibility import (
    AboutWatcher,
    AcceptRequest,
    Acting,
    AddContact,
    AllowWatcher,
    BlockRequest,
    BlockWatcher,
    ContactAdded,
    ContactFavourited,
    ContactRemoved,
    ContactUnfavourited,
    GetContacts,
    GetView,
    MarkFavourite,
    OwnerCommand,
    Policy,
    PolicyChanged,
    RemoveContact,
    RequestPending,
    SetPolicy,
    Standing,
    UnmarkFavourite,
    WatcherAllowed,
    WatcherBlocked,
    WatcherCommand,
    WatcherForgotten,
)
from runtime import access
from runtime.decider import Decider
from services.visibility.access import ACCESS
from services.visibility.domain.state import INITIAL, OwnerVisibility, evolve


class Checked(Command):
    """A command with the directory facts it needs; built by the shell, never on the wire."""

    type_name = "visibility.Checked"
    command: Acting
    known: frozenset[str] = Field(description="which extensions named by the command exist")


def subject_of(command: Acting) -> str:
    """Whose data the command acts on: the only user, besides an admin, allowed to issue it."""
    if isinstance(command, OwnerCommand):
        return command.owner
    if isinstance(command, WatcherCommand | GetContacts | GetView):
        return command.watcher
    owner = getattr(command, "owner", None)
    if not isinstance(owner, str):
        raise TypeError(f"{command.type_name} names no owner or watcher")
    return owner


def authorize(command: Acting) -> str:
    """The acting principal by the visibility table, or Forbidden, whether or not anyone
    exists (runtime/access.py; the service checks it on arrival, the decider again)."""
    return access.authorize(command, ACCESS[type(command)]).actor


def require_known(checked: Checked, *extensions: str) -> None:
    for extension in extensions:
        if extension not in checked.known:
            raise NotFound(
                f"no user has extension {extension}; check the number in the directory",
                field="extension",
            )


@dataclass(frozen=True)
class By:
    """Makes the owner's events, each stamped with who acted and in which role."""

    owner: str
    actor: str
    role: Role

    def allowed(self, watcher: str, *, explicit: bool) -> WatcherAllowed:
        return WatcherAllowed(**self._who(watcher), explicit=explicit)

    def blocked(self, watcher: str, *, explicit: bool) -> WatcherBlocked:
        return WatcherBlocked(**self._who(watcher), explicit=explicit)

    def pending(self, watcher: str) -> RequestPending:
        return RequestPending(**self._who(watcher))

    def forgotten(self, watcher: str) -> WatcherForgotten:
        return WatcherForgotten(**self._who(watcher))

    def contact_added(self, watcher: str) -> ContactAdded:
        return ContactAdded(**self._who(watcher))

    def contact_removed(self, watcher: str) -> ContactRemoved:
        return ContactRemoved(**self._who(watcher))

    def favourited(self, watcher: str) -> ContactFavourited:
        return ContactFavourited(**self._who(watcher))

    def unfavourited(self, watcher: str) -> ContactUnfavourited:
        return ContactUnfavourited(**self._who(watcher))

    def _who(self, watcher: str) -> dict[str, Any]:
        return {"owner": self.owner, "watcher": watcher, "actor": self.actor, "role": self.role}


def decide(checked: Checked, state: OwnerVisibility) -> Sequence[Event]:
    command = checked.command
    actor = authorize(command)
    match command:
        case SetPolicy():
            require_known(checked, command.owner)
            return set_policy(command, state, By(command.owner, actor, command.role))
        case AboutWatcher():
            require_known(checked, command.owner, command.watcher)
            return decide_for_owner(command, state, By(command.owner, actor, command.role))
        case RemoveContact() | MarkFavourite() | UnmarkFavourite():
            # "Not in your contacts" answers for an unknown user too: no existence probe.
            require_known(checked, command.watcher)
            return decide_for_watcher(command, state, By(command.contact, actor, command.role))
        case WatcherCommand():
            require_known(checked, command.watcher, command.contact)
            return decide_for_watcher(command, state, By(command.contact, actor, command.role))
    raise CommandError(f"{command.type_name} is a query, not a change")


def set_policy(command: SetPolicy, state: OwnerVisibility, by: By) -> list[Event]:
    if command.policy is state.policy:
        raise CommandError(f"your policy is already {command.policy.value}", field="policy")
    events: list[Event] = [
        PolicyChanged(
            owner=by.owner,
            actor=by.actor,
            role=by.role,
            policy=command.policy,
            previous=state.policy,
        )
    ]
    # Re-evaluate every placement the policy made; the owner's own decisions stay.
    for watcher, entry in sorted(state.entries.items()):
        if not entry.explicit:
            events.extend(place(by, watcher, command.policy, entry.standing))
    return events


def place(by: By, watcher: str, policy: Policy, current: Standing | None) -> list[Event]:
    """Where the policy puts a watcher nobody decided about; no event if it is there already."""
    target = {
        Policy.EVERYONE: Standing.ALLOWED,
        Policy.NOBODY: Standing.BLOCKED,
        Policy.ASK: Standing.PENDING,
    }[policy]
    if target is current:
        return []
    if target is Standing.ALLOWED:
        return [by.allowed(watcher, explicit=False)]
    if target is Standing.BLOCKED:
        return [by.blocked(watcher, explicit=False)]
    return [by.pending(watcher)]


def decide_for_owner(command: AboutWatcher, state: OwnerVisibility, by: By) -> list[Event]:
    watcher = command.watcher
    if watcher == command.owner:
        raise CommandError("you always see your own presence; name another user", field="watcher")
    entry = state.entries.get(watcher)
    match command:
        case AcceptRequest() | BlockRequest():
            if entry is None or entry.standing is not Standing.PENDING:
                raise NotFound(
                    f"there is no pending request from {watcher}; "
                    "list them with GetPendingRequests",
                    field="watcher",
                )
            if isinstance(command, AcceptRequest):
                return [by.allowed(watcher, explicit=True)]
            return [by.blocked(watcher, explicit=True)]
        case AllowWatcher():
            if entry is not None and entry.standing is Standing.ALLOWED and entry.explicit:
                raise CommandError(f"{watcher} is already on your allowed list", field="watcher")
            return [by.allowed(watcher, explicit=True)]
        case BlockWatcher():
            if entry is not None and entry.standing is Standing.BLOCKED and entry.explicit:
                raise CommandError(f"{watcher} is already on your blocked list", field="watcher")
            return [by.blocked(watcher, explicit=True)]
    raise CommandError(f"{command.type_name} is not handled by the visibility service")


def decide_for_watcher(command: WatcherCommand, state: OwnerVisibility, by: By) -> list[Event]:
    owner, watcher = command.contact, command.watcher
    match command:
        case AddContact():
            if watcher == owner:
                raise CommandError("you cannot add yourself as a contact", field="contact")
            if watcher in state.contacts_of:
                raise CommandError(f"{owner} is already in your contacts", field="contact")
            added: list[Event] = [by.contact_added(watcher)]
            if watcher in state.entries:  # the owner decided before: that stands
                return added
            return added + place(by, watcher, state.policy, None)
        case RemoveContact():
            if watcher not in state.contacts_of:
                raise NotFound(f"{owner} is not in your contacts", field="contact")
            removed: list[Event] = []
            if watcher in state.favourite_of:  # a favourite is one of your contacts
                removed.append(by.unfavourited(watcher))
            removed.append(by.contact_removed(watcher))
            entry = state.entries.get(watcher)
            if entry is not None and not entry.explicit:
                removed.append(by.forgotten(watcher))
            return removed
        case MarkFavourite() | UnmarkFavourite():
            return decide_favourite(command, state, by)
    raise CommandError(f"{command.type_name} is not handled by the visibility service")


def decide_favourite(command: WatcherCommand, state: OwnerVisibility, by: By) -> list[Event]:
    """A favourite is a contact of yours marked as such; only your contacts can be one."""
    owner, watcher = command.contact, command.watcher
    if watcher not in state.contacts_of:
        raise NotFound(
            f"{owner} is not in your contacts; add them first (AddContact)", field="contact"
        )
    if isinstance(command, MarkFavourite):
        if watcher in state.favourite_of:
            raise CommandError(f"{owner} is already one of your favourites", field="contact")
        return [by.favourited(watcher)]
    if watcher not in state.favourite_of:
        raise NotFound(f"{owner} is not one of your favourites", field="contact")
    return [by.unfavourited(watcher)]


visibility = Decider[Checked, OwnerVisibility](initial_state=INITIAL, decide=decide, evolve=evolve)


def stream_of(owner: str) -> str:
    return f"visibility:{owner}"
