"""Visibility: who may see a user's presence, and the filtered views watchers receive.

Stream `visibility:<extension>` holds one user's visibility as the *watched* user
(the owner): the policy, every watcher's standing (pending, allowed, blocked) and
who has the owner in their contacts. Adding a contact is decided on the stream of the
user being added, so the request and its placement commit together.

Events are published on `voco.evt.visibility.<owner>.<EventType>` (stream
VOCO_VISIBILITY). They are internal: a gateway must never show them to a watcher,
because they tell "blocked" from "offline".

Views: each watcher receives the presence it may see of each contact on the core NATS
subject `voco.view.<watcher>.<watched>` (see `view_subject`). The payload is a
`WatchedPresence`; a watcher who may not see the user receives `WatchedPresence.offline`.

The same views also leave batched for the edge, one message per view and a share of its
watchers (`voco.viewbatch.<watched>`, see `encode_view_batch`): the edge holds the
streams of many watchers and would otherwise take one message per watcher per change.
A batch names exactly the watchers the per-watcher subjects would reach, no one else.

Commands and queries: request/reply on `voco.cmd.visibility.<CommandType>` (wire names
without a prefix, like the presence commands; events carry the `visibility.` prefix). Every one
carries the acting principal (`actor`, `role`), set by the gateway after it
authenticated the caller; a command without an actor is refused.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from contracts.base import Command, Event, Issued, Message, Role, event
from contracts.presence import Extension, Status

VISIBILITY_STREAM = "VOCO_VISIBILITY"
VISIBILITY_SUBJECTS = ["voco.evt.visibility.>"]


def event_subject(owner: str, type_name: str) -> str:
    return f"voco.evt.visibility.{owner}.{type_name.removeprefix('visibility.')}"


def view_subject(watcher: str, watched: str) -> str:
    """Where `watcher` receives the presence of `watched` it may see."""
    return f"voco.view.{watcher}.{watched}"


VIEW_BATCH_SUBJECTS = "voco.viewbatch.>"
VIEW_BATCH_MAX_WATCHERS = 4096
"""Watchers named in one batch (8 bytes each: well under NATS's 1 MiB payload limit)."""


def view_batch_subject(watched: str) -> str:
    """Where the edge receives the views of `watched`, each with the watchers it goes to."""
    return f"voco.viewbatch.{watched}"


def encode_view_batch(watchers: list[str] | tuple[str, ...], view: bytes) -> bytes:
    """`<watcher> <watcher> ...\n<view>`: the edge splits one line, never parses JSON."""
    return " ".join(watchers).encode() + b"\n" + view


def decode_view_batch(data: bytes) -> tuple[list[bytes], bytes]:
    """The watchers (as bytes) and the view, byte for byte as the per-watcher subjects'."""
    head, _, view = data.partition(b"\n")
    return head.split(), view


def channel_for(model: type[Message]) -> tuple[str, str]:
    """Subjects for the AsyncAPI document (see contracts/asyncapi.py)."""
    if issubclass(model, Command):
        return f"voco.cmd.visibility.{model.type_name}", "receive"
    return event_subject("{owner}", model.type_name), "send"


class Policy(StrEnum):
    EVERYONE = "everyone"  # everyone except blocked users
    NOBODY = "nobody"  # nobody except allowed users
    ASK = "ask"  # each request waits for the owner to accept or block it


DEFAULT_POLICY = Policy.EVERYONE


class Standing(StrEnum):
    PENDING = "pending"
    ALLOWED = "allowed"
    BLOCKED = "blocked"


class WatchedPresence(BaseModel):
    """The presence a watcher sees of one user. The same four fields whatever the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extension: str
    status: Status
    note: str | None = None
    note_expires_at: datetime | None = None

    @classmethod
    def offline(cls, extension: str) -> WatchedPresence:
        return cls(extension=extension, status=Status.OFFLINE)


# ---- events (stream visibility:<owner>) ----------------------------------------------


class ByPrincipal(Event):
    """Who caused it; `role` admin means an administrator acted for the owner or watcher."""

    owner: Extension
    actor: str
    role: Role


@event
class PolicyChanged(ByPrincipal):
    type_name = "visibility.PolicyChanged"
    policy: Policy
    previous: Policy


@event
class ContactAdded(ByPrincipal):
    """`watcher` added `owner` to their contacts: a request to see the owner's presence."""

    type_name = "visibility.ContactAdded"
    watcher: Extension


@event
class ContactRemoved(ByPrincipal):
    """`watcher` removed `owner` from their contacts: the watch ends."""

    type_name = "visibility.ContactRemoved"
    watcher: Extension


@event
class ContactFavourited(ByPrincipal):
    """`watcher` marked `owner`, one of their contacts, as a favourite: under a profile
    whose breakthrough section lets favourites through, the owner's calls ring the watcher."""

    type_name = "visibility.ContactFavourited"
    watcher: Extension


@event
class ContactUnfavourited(ByPrincipal):
    """`watcher` no longer has `owner` as a favourite (unmarked, or removed as a contact)."""

    type_name = "visibility.ContactUnfavourited"
    watcher: Extension


@event
class RequestPending(ByPrincipal):
    """The owner is asked whether `watcher` may see them."""

    type_name = "visibility.RequestPending"
    watcher: Extension


@event
class WatcherAllowed(ByPrincipal):
    """`explicit`: the owner decided it (accept, move); otherwise the policy placed it."""

    type_name = "visibility.WatcherAllowed"
    watcher: Extension
    explicit: bool


@event
class WatcherBlocked(ByPrincipal):
    type_name = "visibility.WatcherBlocked"
    watcher: Extension
    explicit: bool


@event
class WatcherForgotten(ByPrincipal):
    """A pending request or a policy-made placement ended with the watch."""

    type_name = "visibility.WatcherForgotten"
    watcher: Extension


# ---- commands (voco.cmd.visibility.<type_name>) -------------------------------------


class Acting(Issued):
    """Every visibility command and query names who acts (`actor`, `role`: contracts/base.py)."""


class OwnerCommand(Acting):
    """Changes the owner's own visibility: only the owner or an administrator."""

    owner: Extension


@event
class SetPolicy(OwnerCommand):
    type_name = "SetPolicy"
    policy: Policy


class AboutWatcher(OwnerCommand):
    """The owner decides about one watcher."""

    watcher: Extension


@event
class AcceptRequest(AboutWatcher):
    type_name = "AcceptRequest"


@event
class BlockRequest(AboutWatcher):
    type_name = "BlockRequest"


@event
class AllowWatcher(AboutWatcher):
    """Put `watcher` on the allowed list: from the blocked list, a pending request, or new."""

    type_name = "AllowWatcher"


@event
class BlockWatcher(AboutWatcher):
    """Put `watcher` on the blocked list: from the allowed list, a pending request, or new."""

    type_name = "BlockWatcher"


class WatcherCommand(Acting):
    """Changes the watcher's own contacts: only the watcher or an administrator."""

    watcher: Extension
    contact: Extension = Field(description="the user to add or remove")


@event
class AddContact(WatcherCommand):
    type_name = "AddContact"


@event
class RemoveContact(WatcherCommand):
    type_name = "RemoveContact"


@event
class MarkFavourite(WatcherCommand):
    """Mark a contact as a favourite (e.g. to let their calls through Do Not Disturb)."""

    type_name = "MarkFavourite"


@event
class UnmarkFavourite(WatcherCommand):
    type_name = "UnmarkFavourite"


# ---- queries (request/reply, no events) ---------------------------------------------


@event
class GetContacts(Acting):
    """The watcher's contacts with the presence the watcher may see of each."""

    type_name = "GetContacts"
    watcher: Extension


@event
class GetView(Acting):
    """The presence `watcher` may see of any `extension`: Offline when it may not."""

    type_name = "GetView"
    watcher: Extension
    extension: Extension


@event
class GetPendingRequests(Acting):
    type_name = "GetPendingRequests"
    owner: Extension


@event
class GetAllowed(Acting):
    type_name = "GetAllowed"
    owner: Extension


@event
class GetBlocked(Acting):
    type_name = "GetBlocked"
    owner: Extension


@event
class WhoCanSeeMe(Acting):
    type_name = "WhoCanSeeMe"
    owner: Extension


@event
class WhoWatchesMe(Acting):
    type_name = "WhoWatchesMe"
    owner: Extension


OWNER_COMMANDS: tuple[type[OwnerCommand], ...] = (
    SetPolicy,
    AcceptRequest,
    BlockRequest,
    AllowWatcher,
    BlockWatcher,
)
WATCHER_COMMANDS: tuple[type[WatcherCommand], ...] = (
    AddContact,
    RemoveContact,
    MarkFavourite,
    UnmarkFavourite,
)
