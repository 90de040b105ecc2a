"""Sessions: opaque random tokens, only their SHA-256 stored, idle and absolute expiry.

A session's public `id` (random too, not the token) names it in the user's list of
signed-in clients, in revocation, and to presence as the client session it counts.
A session that ends (sign-out, revocation, expiry, password reset) is kept with its
reason; `presence_open` says presence still counts it, until the SignOut got through.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runtime.eventstore import EventStore

SESSIONS_SQL = """
CREATE TABLE IF NOT EXISTS {s}.sessions (
    id text PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    csrf_token text NOT NULL,
    login text NOT NULL,
    role text NOT NULL,
    kind text NOT NULL,
    user_agent text NOT NULL,
    address text NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    ended_at timestamptz,
    ended_reason text,
    presence_open boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS sessions_open_by_login ON {s}.sessions (login) WHERE ended_at IS NULL;
CREATE INDEX IF NOT EXISTS sessions_presence_open ON {s}.sessions (login) WHERE presence_open;
"""

TOUCH_EVERY = timedelta(seconds=60)
"""last_seen is written at most this often per session (not a write per request)."""


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Session:
    id: str
    login: str
    role: str
    kind: str
    csrf_token: str
    user_agent: str
    address: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    must_change_password: bool = False  # the account's, read with the session

    @classmethod
    def of(cls, row: Any) -> Session:
        present = set(row.keys())
        return cls(**{name: row[name] for name in cls.__dataclass_fields__ if name in present})


class SessionStore:
    def __init__(self, store: EventStore, *, idle: timedelta, absolute: timedelta) -> None:
        self.pool = store.pool
        self.s = store.s
        self.idle = idle
        self.absolute = absolute

    async def open(
        self, login: str, role: str, kind: str, user_agent: str, address: str, now: datetime
    ) -> tuple[str, Session]:
        """A new session and its token (shown once: only its digest is kept)."""
        token = secrets.token_urlsafe(32)
        row = await self.pool.fetchrow(
            f"INSERT INTO {self.s}.sessions (id, token_hash, csrf_token, login, role, kind, "
            "user_agent, address, created_at, last_seen_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING *",
            secrets.token_urlsafe(12),
            token_digest(token),
            secrets.token_urlsafe(24),
            login,
            role,
            kind,
            user_agent[:256],
            address[:64],
            now,
            now + self.absolute,
        )
        return token, Session.of(row)

    async def mark_in_presence(self, session_id: str) -> None:
        await self.pool.execute(
            f"UPDATE {self.s}.sessions SET presence_open = true WHERE id = $1 AND ended_at IS NULL",
            session_id,
        )

    async def current(self, token: str, now: datetime) -> tuple[Session | None, Session | None]:
        """The open session of `token`, or the session that just expired (ended here)."""
        # One round trip per request: the session and its account's must-change flag.
        row = await self.pool.fetchrow(
            f"SELECT s.*, coalesce(a.must_change_password, false) AS must_change_password "
            f"FROM {self.s}.sessions s "
            f"LEFT JOIN {self.s}.accounts a ON a.login = s.login "
            "WHERE s.token_hash = $1 AND s.ended_at IS NULL",
            token_digest(token),
        )
        if row is None:
            return None, None
        session = Session.of(row)
        if self.expired(session, now):
            await self.end(session.id, "expired", now)
            return None, session
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self.touch(session.id, now)
        return session, None

    def expired(self, session: Session, now: datetime) -> bool:
        return now >= session.expires_at or now - session.last_seen_at >= self.idle

    async def touch(self, session_id: str, now: datetime) -> None:
        await self.pool.execute(
            f"UPDATE {self.s}.sessions SET last_seen_at = GREATEST(last_seen_at, $2) "
            "WHERE id = $1 AND ended_at IS NULL",
            session_id,
            now,
        )

    async def end(self, session_id: str, reason: str, now: datetime) -> bool:
        ended = await self.pool.fetchval(
            f"UPDATE {self.s}.sessions SET ended_at = $2, ended_reason = $3 "
            "WHERE id = $1 AND ended_at IS NULL RETURNING id",
            session_id,
            now,
            reason,
        )
        return ended is not None

    async def end_all(
        self, login: str, reason: str, now: datetime, keep: str | None = None
    ) -> list[str]:
        rows = await self.pool.fetch(
            f"UPDATE {self.s}.sessions SET ended_at = $2, ended_reason = $3 "
            "WHERE login = $1 AND ended_at IS NULL AND id IS DISTINCT FROM $4 RETURNING id",
            login,
            now,
            reason,
            keep,
        )
        return [r["id"] for r in rows]

    async def of_login(self, login: str) -> list[Session]:
        rows = await self.pool.fetch(
            f"SELECT * FROM {self.s}.sessions WHERE login = $1 AND ended_at IS NULL "
            "ORDER BY created_at",
            login,
        )
        return [Session.of(r) for r in rows]

    async def expire_due(self, now: datetime) -> list[str]:
        """End every session past its idle or absolute expiry; their ids."""
        rows = await self.pool.fetch(
            f"UPDATE {self.s}.sessions SET ended_at = $1, ended_reason = 'expired' "
            "WHERE ended_at IS NULL AND (expires_at <= $1 OR last_seen_at <= $2) RETURNING id",
            now,
            now - self.idle,
        )
        return [r["id"] for r in rows]

    async def ended_in_presence(self, limit: int = 500) -> list[tuple[str, str]]:
        """Ended sessions presence still counts: (session id, login), to sign out."""
        rows = await self.pool.fetch(
            f"SELECT id, login FROM {self.s}.sessions WHERE presence_open "
            "AND ended_at IS NOT NULL LIMIT $1",
            limit,
        )
        return [(r["id"], r["login"]) for r in rows]

    async def signed_out(self, session_id: str) -> None:
        await self.pool.execute(
            f"UPDATE {self.s}.sessions SET presence_open = false WHERE id = $1", session_id
        )


async def still_open(sessions: SessionStore, session_id: str, now: datetime) -> Session | None:
    """The session if it is still open (touching it), None once it ended or expired; an
    expiry found here ends it."""
    row = await sessions.pool.fetchrow(
        f"SELECT * FROM {sessions.s}.sessions WHERE id = $1 AND ended_at IS NULL", session_id
    )
    if row is None:
        return None
    session = Session.of(row)
    if sessions.expired(session, now):
        await sessions.end(session.id, "expired", now)
        return None
    await sessions.touch(session.id, now)
    return session
