"""Failed sign-ins slow down, then lock, per account and per address.

The account key is the login as typed, whether or not such an account exists, so an
unknown login is slowed and locked exactly like a real one: the answer never tells them
apart. A lock is temporary; an administrator's password reset lifts the account's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from runtime.eventstore import EventStore

THROTTLE_SQL = """
CREATE TABLE IF NOT EXISTS {s}.signin_failures (
    key text PRIMARY KEY,
    failures integer NOT NULL,
    first_at timestamptz NOT NULL,
    locked_until timestamptz
);
"""


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_address: int
    window: timedelta
    lock: timedelta
    delay_step: float
    delay_max: float


def keys(login: str, address: str) -> tuple[str, str]:
    return f"account:{login}", f"address:{address}"


class SignInThrottle:
    def __init__(self, store: EventStore, limits: Limits) -> None:
        self.pool = store.pool
        self.s = store.s
        self.limits = limits

    async def standing(self, login: str, address: str, now: datetime) -> tuple[float, float]:
        """(seconds locked for, or 0; seconds to delay the answer by)."""
        rows = await self.pool.fetch(
            f"SELECT failures, first_at, locked_until FROM {self.s}.signin_failures "
            "WHERE key = ANY($1::text[])",
            list(keys(login, address)),
        )
        locked, failures = 0.0, 0
        for row in rows:
            if row["locked_until"] is not None and row["locked_until"] > now:
                locked = max(locked, (row["locked_until"] - now).total_seconds())
            if now - row["first_at"] < self.limits.window:
                failures = max(failures, row["failures"])
        delay = min(self.limits.delay_max, self.limits.delay_step * failures)
        return locked, delay

    async def failed(self, login: str, address: str, now: datetime) -> None:
        account, by_address = keys(login, address)
        for key, limit in (
            (account, self.limits.per_account),
            (by_address, self.limits.per_address),
        ):
            await self.pool.execute(
                f"INSERT INTO {self.s}.signin_failures AS f (key, failures, first_at) "
                "VALUES ($1, 1, $2) ON CONFLICT (key) DO UPDATE SET "
                "failures = CASE WHEN f.first_at <= $2 - $3::interval THEN 1 "
                "ELSE f.failures + 1 END, "
                "first_at = CASE WHEN f.first_at <= $2 - $3::interval THEN $2 ELSE f.first_at END",
                key,
                now,
                self.limits.window,
            )
            await self.pool.execute(
                f"UPDATE {self.s}.signin_failures SET locked_until = $3, failures = 0, "
                "first_at = $2 WHERE key = $1 AND failures >= $4",
                key,
                now,
                now + self.limits.lock,
                limit,
            )

    async def succeeded(self, login: str) -> None:
        await self.clear(login)

    async def clear(self, login: str) -> None:
        await self.pool.execute(
            f"DELETE FROM {self.s}.signin_failures WHERE key = $1", keys(login, "")[0]
        )
