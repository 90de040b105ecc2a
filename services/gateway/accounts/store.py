"""Accounts on the project's event store and decider runner, with a table to look them up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts.base import Event
from contracts.envelope import Envelope, Metadata
from runtime.decider import CommandRunner
from runtime.eventstore import Conn, EventStore
from services.gateway.accounts.domain import (
    AccountCommand,
    AccountOpened,
    AccountState,
    PasswordChanged,
    account_stream,
    accounts,
)

ACCOUNTS_SQL = """
CREATE TABLE IF NOT EXISTS {s}.accounts (
    login text PRIMARY KEY,
    display_name text NOT NULL,
    role text NOT NULL,
    password_hash text NOT NULL,
    must_change_password boolean NOT NULL,
    created_at timestamptz NOT NULL,
    password_changed_at timestamptz NOT NULL
);
"""


class AccountStore:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.s = store.s
        self.runner: CommandRunner[AccountCommand, AccountState] = CommandRunner(
            store,
            accounts,
            outgoing=lambda _: [],  # accounts never leave the edge
            projections=[self.project],
        )

    async def project(self, conn: Conn, envelopes: Sequence[Envelope]) -> None:
        s = self.s
        for envelope in envelopes:
            event: Event = envelope.payload()  # type: ignore[assignment]
            if isinstance(event, AccountOpened):
                await conn.execute(
                    f"INSERT INTO {s}.accounts VALUES ($1, $2, $3, $4, $5, $6, $6)",
                    event.login,
                    event.display_name,
                    event.role.value,
                    event.password_hash,
                    event.must_change_password,
                    envelope.at,
                )
            elif isinstance(event, PasswordChanged):
                await conn.execute(
                    f"UPDATE {s}.accounts SET password_hash = $2, must_change_password = $3, "
                    "password_changed_at = $4 WHERE login = $1",
                    event.login,
                    event.password_hash,
                    event.must_change_password,
                    envelope.at,
                )

    async def handle(self, command: AccountCommand, at: datetime, actor: str) -> None:
        await self.runner.handle(
            account_stream(command.login), command, at=at, meta=Metadata(actor=actor)
        )

    async def find(self, login: str) -> dict[str, Any] | None:
        row = await self.store.pool.fetchrow(
            f"SELECT * FROM {self.s}.accounts WHERE login = $1", login
        )
        return dict(row) if row is not None else None

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.store.pool.fetch(
            f"SELECT login, display_name, role, must_change_password, created_at, "
            f"password_changed_at FROM {self.s}.accounts ORDER BY login"
        )
        return [dict(r) for r in rows]
