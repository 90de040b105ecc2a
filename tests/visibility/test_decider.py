"""Given/when/then for the visibility decider: one test per rule, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from contracts.base import Event, Role
from contracts.errors import CommandError, ErrorCode
from contracts.visibility import (
    AcceptRequest,
    Acting,
    AddContact,
    AllowWatcher,
    BlockRequest,
    BlockWatcher,
    ContactAdded,
    ContactRemoved,
    Policy,
    PolicyChanged,
    RemoveContact,
    RequestPending,
    SetPolicy,
    Standing,
    WatcherAllowed,
    WatcherBlocked,
    WatcherForgotten,
)
from services.visibility.domain.decide import Checked, visibility

OWNER, BLOCKED, OTHER, PENDING, WATCHER, NEWCOMER = "1001", "1002", "1003", "1004", "1005", "1006"
ADMIN = "admin-7"
KNOWN = frozenset({OWNER, BLOCKED, OTHER, PENDING, WATCHER, NEWCOMER})
by_owner = {"actor": OWNER, "role": Role.USER}


def on(owner: str, watcher: str, actor: str = OWNER, role: Role = Role.USER) -> dict[str, object]:
    return {"owner": owner, "watcher": watcher, "actor": actor, "role": role}


def given_owner(policy: Policy = Policy.EVERYONE) -> list[Event]:
    """OWNER under `policy`, with an explicitly blocked, an allowed and a pending watcher."""
    history: list[Event] = []
    if policy is not Policy.EVERYONE:
        history.append(
            PolicyChanged(owner=OWNER, policy=policy, previous=Policy.EVERYONE, **by_owner)
        )
    history += [
        ContactAdded(**on(OWNER, BLOCKED, BLOCKED)),
        WatcherBlocked(**on(OWNER, BLOCKED), explicit=True),
        ContactAdded(**on(OWNER, WATCHER, WATCHER)),
        WatcherAllowed(**on(OWNER, WATCHER, WATCHER), explicit=False),
        ContactAdded(**on(OWNER, PENDING, PENDING)),
        RequestPending(**on(OWNER, PENDING, PENDING)),
    ]
    return history


def when(
    given: Sequence[Event], command: Acting, known: frozenset[str] = KNOWN
) -> list[Event] | CommandError:
    state = visibility.fold(given)
    try:
        return list(visibility.decide(Checked(command=command, known=known), state))
    except CommandError as error:
        return error


def error_code(result: list[Event] | CommandError) -> ErrorCode | None:
    return result.code if isinstance(result, CommandError) else None


# ---- placement by policy -----------------------------------------------------------


def test_under_everyone_a_new_contact_lands_on_the_allowed_list() -> None:
    result = when([], AddContact(watcher=NEWCOMER, contact=OWNER, actor=NEWCOMER))
    assert result == [
        ContactAdded(**on(OWNER, NEWCOMER, NEWCOMER)),
        WatcherAllowed(**on(OWNER, NEWCOMER, NEWCOMER), explicit=False),
    ]


def test_under_nobody_a_new_contact_lands_on_the_blocked_list() -> None:
    result = when(
        given_owner(Policy.NOBODY), AddContact(watcher=NEWCOMER, contact=OWNER, actor=NEWCOMER)
    )
    assert result == [
        ContactAdded(**on(OWNER, NEWCOMER, NEWCOMER)),
        WatcherBlocked(**on(OWNER, NEWCOMER, NEWCOMER), explicit=False),
    ]


def test_under_ask_a_new_contact_waits_as_a_pending_request() -> None:
    result = when(
        given_owner(Policy.ASK), AddContact(watcher=NEWCOMER, contact=OWNER, actor=NEWCOMER)
    )
    assert result == [
        ContactAdded(**on(OWNER, NEWCOMER, NEWCOMER)),
        RequestPending(**on(OWNER, NEWCOMER, NEWCOMER)),
    ]


def test_pending_requests_are_counted() -> None:
    history = given_owner(Policy.ASK)
    added = when(history, AddContact(watcher=NEWCOMER, contact=OWNER, actor=NEWCOMER))
    assert isinstance(added, list)
    state = visibility.fold(history + added)
    assert state.with_standing(Standing.PENDING) == [PENDING, NEWCOMER]


def test_a_blocked_user_who_removes_and_re_adds_the_contact_stays_blocked() -> None:
    history = given_owner(Policy.EVERYONE)
    removed = when(history, RemoveContact(watcher=BLOCKED, contact=OWNER, actor=BLOCKED))
    assert removed == [ContactRemoved(**on(OWNER, BLOCKED, BLOCKED))]
    assert isinstance(removed, list)
    re_added = when(history + removed, AddContact(watcher=BLOCKED, contact=OWNER, actor=BLOCKED))
    assert re_added == [ContactAdded(**on(OWNER, BLOCKED, BLOCKED))]
    assert isinstance(re_added, list)
    assert not visibility.fold(history + removed + re_added).can_see(BLOCKED)


def test_removing_a_contact_withdraws_its_pending_request_and_ends_the_watch() -> None:
    result = when(
        given_owner(Policy.ASK), RemoveContact(watcher=PENDING, contact=OWNER, actor=PENDING)
    )
    assert result == [
        ContactRemoved(**on(OWNER, PENDING, PENDING)),
        WatcherForgotten(**on(OWNER, PENDING, PENDING)),
    ]


def test_an_allowed_watcher_who_removes_the_contact_no_longer_sees() -> None:
    history = given_owner()
    result = when(history, RemoveContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert isinstance(result, list)
    assert not visibility.fold(history + result).can_see(WATCHER)


# ---- requests and lists ------------------------------------------------------------


def test_accepting_a_pending_request_allows_the_watcher() -> None:
    history = given_owner(Policy.ASK)
    result = when(history, AcceptRequest(owner=OWNER, watcher=PENDING, actor=OWNER))
    assert result == [WatcherAllowed(**on(OWNER, PENDING), explicit=True)]
    assert isinstance(result, list)
    assert visibility.fold(history + result).can_see(PENDING)


def test_blocking_a_pending_request_blocks_the_watcher() -> None:
    result = when(given_owner(Policy.ASK), BlockRequest(owner=OWNER, watcher=PENDING, actor=OWNER))
    assert result == [WatcherBlocked(**on(OWNER, PENDING), explicit=True)]


@pytest.mark.parametrize("command", [AcceptRequest, BlockRequest])
def test_answering_a_request_that_does_not_exist_is_not_found(command: type[AcceptRequest]) -> None:
    result = when(given_owner(), command(owner=OWNER, watcher=WATCHER, actor=OWNER))
    assert isinstance(result, CommandError)
    assert result.code is ErrorCode.NOT_FOUND
    assert "no pending request from 1005" in result.message


def test_a_blocked_watcher_can_be_moved_to_the_allowed_list() -> None:
    history = given_owner()
    result = when(history, AllowWatcher(owner=OWNER, watcher=BLOCKED, actor=OWNER))
    assert result == [WatcherAllowed(**on(OWNER, BLOCKED), explicit=True)]
    assert isinstance(result, list)
    assert visibility.fold(history + result).can_see(BLOCKED)


def test_an_allowed_watcher_can_be_moved_to_the_blocked_list() -> None:
    history = given_owner()
    result = when(history, BlockWatcher(owner=OWNER, watcher=WATCHER, actor=OWNER))
    assert result == [WatcherBlocked(**on(OWNER, WATCHER), explicit=True)]
    assert isinstance(result, list)
    assert not visibility.fold(history + result).can_see(WATCHER)


def test_a_user_who_never_asked_can_be_blocked_in_advance() -> None:
    history = given_owner()
    blocked = when(history, BlockWatcher(owner=OWNER, watcher=NEWCOMER, actor=OWNER))
    assert isinstance(blocked, list)
    added = when(history + blocked, AddContact(watcher=NEWCOMER, contact=OWNER, actor=NEWCOMER))
    assert added == [ContactAdded(**on(OWNER, NEWCOMER, NEWCOMER))]


def test_blocking_someone_already_blocked_is_a_clear_error() -> None:
    result = when(given_owner(), BlockWatcher(owner=OWNER, watcher=BLOCKED, actor=OWNER))
    assert isinstance(result, CommandError)
    assert result.message == "1002 is already on your blocked list"


def test_allowing_someone_already_allowed_by_the_owner_is_a_clear_error() -> None:
    history = given_owner()
    pinned = when(history, AllowWatcher(owner=OWNER, watcher=WATCHER, actor=OWNER))
    assert pinned == [WatcherAllowed(**on(OWNER, WATCHER), explicit=True)]
    assert isinstance(pinned, list)
    again = when(history + pinned, AllowWatcher(owner=OWNER, watcher=WATCHER, actor=OWNER))
    assert isinstance(again, CommandError)
    assert again.message == "1005 is already on your allowed list"


def test_adding_a_contact_twice_is_a_clear_error() -> None:
    result = when(given_owner(), AddContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert isinstance(result, CommandError)
    assert result.message == "1001 is already in your contacts"


def test_removing_a_contact_one_does_not_have_is_not_found() -> None:
    result = when(given_owner(), RemoveContact(watcher=NEWCOMER, contact=OWNER, actor=NEWCOMER))
    assert error_code(result) is ErrorCode.NOT_FOUND


def test_adding_oneself_is_refused() -> None:
    result = when([], AddContact(watcher=OWNER, contact=OWNER, actor=OWNER))
    assert isinstance(result, CommandError)
    assert "yourself" in result.message


@pytest.mark.parametrize(
    "command",
    [
        AddContact(watcher=NEWCOMER, contact="4999", actor=NEWCOMER),
        AllowWatcher(owner=OWNER, watcher="4999", actor=OWNER),
        BlockWatcher(owner=OWNER, watcher="4999", actor=OWNER),
        AcceptRequest(owner=OWNER, watcher="4999", actor=OWNER),
    ],
)
def test_a_command_about_an_unknown_user_is_not_found(command: Acting) -> None:
    result = when(given_owner(), command)
    assert isinstance(result, CommandError)
    assert result.code is ErrorCode.NOT_FOUND
    assert result.message == "no user has extension 4999; check the number in the directory"


# ---- policy changes re-evaluate the watchers the policy placed -------------------------


def test_switching_to_nobody_blocks_policy_placed_and_pending_watchers_only() -> None:
    history = [
        *given_owner(Policy.ASK),
        ContactAdded(**on(OWNER, OTHER, OTHER)),
        WatcherAllowed(**on(OWNER, OTHER), explicit=True),
    ]
    result = when(history, SetPolicy(owner=OWNER, policy=Policy.NOBODY, actor=OWNER))
    assert result == [
        PolicyChanged(owner=OWNER, policy=Policy.NOBODY, previous=Policy.ASK, **by_owner),
        WatcherBlocked(**on(OWNER, PENDING), explicit=False),
        WatcherBlocked(**on(OWNER, WATCHER), explicit=False),
    ]
    assert isinstance(result, list)
    state = visibility.fold(history + result)
    assert state.can_see(OTHER)  # the owner's own decision stands
    assert not state.can_see(WATCHER)


def test_switching_to_everyone_allows_pending_requests_but_keeps_explicit_blocks() -> None:
    result = when(
        given_owner(Policy.ASK), SetPolicy(owner=OWNER, policy=Policy.EVERYONE, actor=OWNER)
    )
    assert result == [
        PolicyChanged(owner=OWNER, policy=Policy.EVERYONE, previous=Policy.ASK, **by_owner),
        WatcherAllowed(**on(OWNER, PENDING), explicit=False),
    ]


def test_switching_to_ask_turns_policy_placed_watchers_into_requests() -> None:
    result = when(
        given_owner(Policy.EVERYONE), SetPolicy(owner=OWNER, policy=Policy.ASK, actor=OWNER)
    )
    assert result == [
        PolicyChanged(owner=OWNER, policy=Policy.ASK, previous=Policy.EVERYONE, **by_owner),
        RequestPending(
            **on(OWNER, WATCHER),
        ),
    ]


def test_setting_the_policy_it_already_has_is_a_clear_error() -> None:
    result = when([], SetPolicy(owner=OWNER, policy=Policy.EVERYONE, actor=OWNER))
    assert isinstance(result, CommandError)
    assert result.message == "your policy is already everyone"
