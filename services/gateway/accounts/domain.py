"""Accounts, the one aggregate the edge owns: who may sign in, with which role and password.

Stream `account:<login>`. A user's login is their extension; an administrator's is an
extension or a name (`admin`). The password hash (argon2id) is computed by the shell
and arrives on the command, so `decide` stays pure. The events stay inside the edge's
schema: nothing publishes them (a hash never leaves the edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from contracts.base import Command, Event, event
from contracts.errors import CommandError, ErrorCode, NotFound
from runtime.decider import Decider

Login = Annotated[
    str,
    Field(
        pattern=r"^([0-9]{2,10}|[a-z][a-z0-9_-]{0,31})$",
        description="an extension (digits), or an administrator's name",
    ),
]
EXTENSION_PATTERN = r"^[0-9]{2,10}$"


class AccountRole(StrEnum):
    USER = "user"
    ADMIN = "admin"


def account_stream(login: str) -> str:
    return f"account:{login}"


# ---- events -------------------------------------------------------------------------


@event
class AccountOpened(Event):
    type_name = "gateway.AccountOpened"
    login: Login
    display_name: str
    role: AccountRole
    password_hash: str
    must_change_password: bool
    by: str


@event
class PasswordChanged(Event):
    """`by` the account itself (a change) or an administrator (a reset)."""

    type_name = "gateway.PasswordChanged"
    login: Login
    password_hash: str
    must_change_password: bool
    by: str


# ---- commands -----------------------------------------------------------------------


@event
class OpenAccount(Command):
    type_name = "gateway.OpenAccount"
    login: Login
    display_name: str = Field(min_length=1, max_length=128)
    role: AccountRole
    password_hash: str
    must_change_password: bool
    by: str


@event
class ChangePassword(Command):
    type_name = "gateway.ChangePassword"
    login: Login
    password_hash: str
    must_change_password: bool
    by: str


AccountCommand = OpenAccount | ChangePassword


# ---- state --------------------------------------------------------------------------


@dataclass(frozen=True)
class NoAccount:
    pass


@dataclass(frozen=True)
class Account:
    login: str
    display_name: str
    role: AccountRole
    password_hash: str
    must_change_password: bool


AccountState = NoAccount | Account


def decide(command: AccountCommand, state: AccountState) -> list[Event]:
    match command, state:
        case OpenAccount(), Account():
            raise CommandError(
                f"an account {command.login} exists already; reset its password instead",
                field="login",
                code=ErrorCode.CONFLICT,
            )
        case OpenAccount(), NoAccount():
            return [
                AccountOpened(
                    login=command.login,
                    display_name=command.display_name,
                    role=command.role,
                    password_hash=command.password_hash,
                    must_change_password=command.must_change_password,
                    by=command.by,
                )
            ]
        case ChangePassword(), NoAccount():
            raise NotFound(f"no account {command.login}", field="login")
        case ChangePassword(), Account():
            return [
                PasswordChanged(
                    login=command.login,
                    password_hash=command.password_hash,
                    must_change_password=command.must_change_password,
                    by=command.by,
                )
            ]
    raise AssertionError(f"unhandled {command!r}")  # pragma: no cover


def evolve(state: AccountState, event: Event) -> AccountState:
    match event, state:
        case AccountOpened(), _:
            return Account(
                login=event.login,
                display_name=event.display_name,
                role=event.role,
                password_hash=event.password_hash,
                must_change_password=event.must_change_password,
            )
        case PasswordChanged(), Account():
            return Account(
                login=state.login,
                display_name=state.display_name,
                role=state.role,
                password_hash=event.password_hash,
                must_change_password=event.must_change_password,
            )
    return state


accounts: Decider[AccountCommand, AccountState] = Decider(
    initial_state=NoAccount(), decide=decide, evolve=evolve
)
