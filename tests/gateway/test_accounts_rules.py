"""The accounts decider, given/when/then: pure, no I/O."""

from __future__ import annotations

import pytest

from contracts.errors import CommandError, ErrorCode
from services.gateway.accounts.domain import (
    AccountOpened,
    AccountRole,
    ChangePassword,
    NoAccount,
    OpenAccount,
    PasswordChanged,
    accounts,
)

OPEN = OpenAccount(
    login="1001",
    display_name="Ann",
    role=AccountRole.USER,
    password_hash="h1",
    must_change_password=True,
    by="admin",
)


def test_an_account_opens_once_with_the_role_and_hash_given() -> None:
    assert accounts.decide(OPEN, NoAccount()) == [
        AccountOpened(
            login="1001",
            display_name="Ann",
            role=AccountRole.USER,
            password_hash="h1",
            must_change_password=True,
            by="admin",
        )
    ]


def test_opening_an_account_that_exists_is_a_conflict() -> None:
    state = accounts.fold(accounts.decide(OPEN, NoAccount()))
    with pytest.raises(CommandError) as refused:
        accounts.decide(OPEN, state)
    assert refused.value.code is ErrorCode.CONFLICT
    assert refused.value.field == "login"


def test_a_password_change_replaces_the_hash_and_clears_the_must_change_flag() -> None:
    state = accounts.fold(accounts.decide(OPEN, NoAccount()))
    change = ChangePassword(login="1001", password_hash="h2", must_change_password=False, by="1001")
    events = accounts.decide(change, state)
    assert events == [
        PasswordChanged(login="1001", password_hash="h2", must_change_password=False, by="1001")
    ]
    after = accounts.fold(events, state)
    assert (after.password_hash, after.must_change_password) == ("h2", False)  # type: ignore[union-attr]


def test_no_password_changes_for_an_account_that_does_not_exist() -> None:
    change = ChangePassword(login="4999", password_hash="h", must_change_password=False, by="x")
    with pytest.raises(CommandError) as refused:
        accounts.decide(change, NoAccount())
    assert refused.value.code is ErrorCode.NOT_FOUND
