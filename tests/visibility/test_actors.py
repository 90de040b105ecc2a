"""Every command for every actor: owner, another user, a blocked user, an admin, anonymous."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts.base import Role
from contracts.errors import CommandError, ErrorCode, Forbidden
from contracts.visibility import (
    AcceptRequest,
    Acting,
    AddContact,
    AllowWatcher,
    BlockRequest,
    BlockWatcher,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    GetView,
    Policy,
    RemoveContact,
    SetPolicy,
    WhoCanSeeMe,
    WhoWatchesMe,
)
from services.visibility.domain.decide import authorize
from tests.visibility.test_decider import (
    ADMIN,
    BLOCKED,
    NEWCOMER,
    OTHER,
    OWNER,
    PENDING,
    WATCHER,
    given_owner,
    when,
)

Principal = tuple[str | None, Role]
# Each command acts on one user's data: OWNER's lists, or a watcher's own contacts.
# "blocked" is a user that OWNER has blocked.
MakeCommand = Callable[[Principal], Acting]


def _p(principal: Principal) -> dict[str, object]:
    return {"actor": principal[0], "role": principal[1]}


COMMANDS: dict[str, tuple[str, MakeCommand]] = {
    "SetPolicy": (OWNER, lambda p: SetPolicy(owner=OWNER, policy=Policy.NOBODY, **_p(p))),
    "AcceptRequest": (OWNER, lambda p: AcceptRequest(owner=OWNER, watcher=PENDING, **_p(p))),
    "BlockRequest": (OWNER, lambda p: BlockRequest(owner=OWNER, watcher=PENDING, **_p(p))),
    "AllowWatcher": (OWNER, lambda p: AllowWatcher(owner=OWNER, watcher=BLOCKED, **_p(p))),
    "BlockWatcher": (OWNER, lambda p: BlockWatcher(owner=OWNER, watcher=WATCHER, **_p(p))),
    "AddContact": (NEWCOMER, lambda p: AddContact(watcher=NEWCOMER, contact=OWNER, **_p(p))),
    "RemoveContact": (WATCHER, lambda p: RemoveContact(watcher=WATCHER, contact=OWNER, **_p(p))),
}


def actors(subject: str) -> dict[str, Principal]:
    return {
        "owner": (subject, Role.USER),
        "other user": (OTHER, Role.USER),
        "blocked user": (BLOCKED, Role.USER),
        "administrator": (ADMIN, Role.ADMIN),
        "service": ("some-service", Role.SERVICE),
        "anonymous": (None, Role.USER),
    }


CASES = [
    (name, actor)
    for name in COMMANDS
    for actor in ("owner", "other user", "blocked user", "administrator", "service", "anonymous")
]


@pytest.mark.parametrize(("command_name", "actor"), CASES)
def test_every_command_for_every_actor(command_name: str, actor: str) -> None:
    subject, make = COMMANDS[command_name]
    principal = actors(subject)[actor]
    result = when(given_owner(Policy.ASK), make(principal))
    if actor in ("owner", "administrator", "service"):
        assert isinstance(result, list), result
        assert result, "an accepted command makes at least one event"
        # Who acted, and in which role, is recorded on every event.
        assert {(e.actor, e.role) for e in result} == {principal}  # type: ignore[attr-defined]
    else:
        assert isinstance(result, CommandError)
        assert result.code is ErrorCode.FORBIDDEN
        if actor == "anonymous":
            assert result.message.startswith("anonymous commands are refused")
        else:
            assert result.message.startswith(f"{principal[0]} may not act for {subject}")


def test_a_blocked_user_on_the_owner_lists_is_refused_even_when_the_owner_is_unknown() -> None:
    # Authorization comes first, so a refused caller learns nothing about who exists.
    command = BlockWatcher(owner=OWNER, watcher=WATCHER, actor=BLOCKED)
    result = when(given_owner(), command, known=frozenset())
    assert isinstance(result, Forbidden)


def test_an_administrator_acting_for_an_unknown_user_gets_not_found() -> None:
    command = SetPolicy(owner="4999", policy=Policy.ASK, actor=ADMIN, role=Role.ADMIN)
    result = when([], command)
    assert isinstance(result, CommandError)
    assert result.code is ErrorCode.NOT_FOUND


def test_a_blank_actor_counts_as_anonymous() -> None:
    result = when(given_owner(), SetPolicy(owner=OWNER, policy=Policy.ASK, actor="  "))
    assert isinstance(result, Forbidden)


QUERIES: dict[str, tuple[str, MakeCommand]] = {
    "GetContacts": (WATCHER, lambda p: GetContacts(watcher=WATCHER, **_p(p))),
    "GetView": (WATCHER, lambda p: GetView(watcher=WATCHER, extension=OWNER, **_p(p))),
    "GetPendingRequests": (OWNER, lambda p: GetPendingRequests(owner=OWNER, **_p(p))),
    "GetAllowed": (OWNER, lambda p: GetAllowed(owner=OWNER, **_p(p))),
    "GetBlocked": (OWNER, lambda p: GetBlocked(owner=OWNER, **_p(p))),
    "WhoCanSeeMe": (OWNER, lambda p: WhoCanSeeMe(owner=OWNER, **_p(p))),
    "WhoWatchesMe": (OWNER, lambda p: WhoWatchesMe(owner=OWNER, **_p(p))),
}


@pytest.mark.parametrize(
    ("query_name", "actor"),
    [
        (q, a)
        for q in QUERIES
        for a in ("owner", "other user", "administrator", "service", "anonymous")
    ],
)
def test_every_query_for_every_actor(query_name: str, actor: str) -> None:
    subject, make = QUERIES[query_name]
    principal = actors(subject)[actor]
    if actor in ("owner", "administrator", "service"):
        assert authorize(make(principal)) == principal[0]
    else:
        with pytest.raises(Forbidden):
            authorize(make(principal))
