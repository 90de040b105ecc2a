"""Given/when/then for favourite contacts (the breakthrough list's "my favourites")."""

from __future__ import annotations

from contracts.base import Role
from contracts.errors import CommandError, ErrorCode
from contracts.visibility import (
    ContactFavourited,
    ContactRemoved,
    ContactUnfavourited,
    MarkFavourite,
    RemoveContact,
    UnmarkFavourite,
)
from tests.visibility.test_decider import OTHER, OWNER, WATCHER, given_owner, on, when


def test_a_contact_marked_as_favourite_is_recorded_on_the_contacts_stream() -> None:
    result = when(given_owner(), MarkFavourite(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert result == [ContactFavourited(**on(OWNER, WATCHER, WATCHER))]


def test_only_a_contact_can_be_a_favourite_and_unknown_users_answer_the_same() -> None:
    not_a_contact = when(given_owner(), MarkFavourite(watcher=OTHER, contact=OWNER, actor=OTHER))
    unknown = when(
        given_owner(),
        MarkFavourite(watcher=OTHER, contact=OWNER, actor=OTHER),
        known=frozenset({OTHER}),
    )
    assert isinstance(not_a_contact, CommandError)
    assert isinstance(unknown, CommandError)
    assert not_a_contact.code is unknown.code is ErrorCode.NOT_FOUND
    assert not_a_contact.message == unknown.message
    assert not_a_contact.field == "contact"


def test_marking_twice_or_unmarking_a_non_favourite_is_refused() -> None:
    marked = [*given_owner(), ContactFavourited(**on(OWNER, WATCHER, WATCHER))]
    again = when(marked, MarkFavourite(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert isinstance(again, CommandError)
    assert "already" in again.message
    never = when(given_owner(), UnmarkFavourite(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert isinstance(never, CommandError)
    assert never.code is ErrorCode.NOT_FOUND


def test_unmarking_a_favourite() -> None:
    marked = [*given_owner(), ContactFavourited(**on(OWNER, WATCHER, WATCHER))]
    result = when(marked, UnmarkFavourite(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert result == [ContactUnfavourited(**on(OWNER, WATCHER, WATCHER))]


def test_removing_a_favourite_contact_unmarks_it_first() -> None:
    marked = [*given_owner(), ContactFavourited(**on(OWNER, WATCHER, WATCHER))]
    result = when(marked, RemoveContact(watcher=WATCHER, contact=OWNER, actor=WATCHER))
    assert isinstance(result, list)
    assert result[:2] == [
        ContactUnfavourited(**on(OWNER, WATCHER, WATCHER)),
        ContactRemoved(**on(OWNER, WATCHER, WATCHER)),
    ]


def test_only_the_watcher_or_an_admin_marks_their_favourites() -> None:
    stranger = when(given_owner(), MarkFavourite(watcher=WATCHER, contact=OWNER, actor=OTHER))
    assert isinstance(stranger, CommandError)
    assert stranger.code is ErrorCode.FORBIDDEN
    admin = when(
        given_owner(),
        MarkFavourite(watcher=WATCHER, contact=OWNER, actor="admin-7", role=Role.ADMIN),
    )
    assert admin == [ContactFavourited(**on(OWNER, WATCHER, "admin-7", Role.ADMIN))]
