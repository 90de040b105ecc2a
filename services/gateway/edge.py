"""The edge's resources in one place, and how a request becomes a service's command."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from nats.aio.client import Client as NatsClient

from contracts.base import Command
from contracts.presence import SignIn, SignOut
from runtime.bus import connect, request
from runtime.clock import Clock, SystemClock
from runtime.config import Connections
from runtime.eventstore import EventStore
from runtime.schema import open_pool, prepare
from services.gateway.accounts.domain import EXTENSION_PATTERN, AccountRole
from services.gateway.accounts.store import ACCOUNTS_SQL, AccountStore
from services.gateway.config import GatewayConfig
from services.gateway.identity import Principal, stamped
from services.gateway.live import LiveHub
from services.gateway.passwords import Passwords
from services.gateway.sessions import SESSIONS_SQL, SessionStore, still_open
from services.gateway.throttle import THROTTLE_SQL, Limits, SignInThrottle

log = logging.getLogger(__name__)

SCHEMA = "gateway"
TABLES_SQL = ACCOUNTS_SQL + SESSIONS_SQL + THROTTLE_SQL
"""The edge's own tables (launcher/migrate.py creates them as the owner role)."""


@dataclass
class Edge:
    config: GatewayConfig
    clock: Clock
    nc: NatsClient
    pool: asyncpg.Pool
    accounts: AccountStore
    sessions: SessionStore
    throttle: SignInThrottle
    passwords: Passwords
    live: LiveHub

    async def ask(self, service: str, query: Command, who: Principal) -> dict[str, Any]:
        """A query, with the caller's identity stamped on."""
        return await request(
            self.nc, service, stamped(query, who), timeout=self.config.request_timeout_seconds
        )

    async def tell(
        self, service: str, command: Command, who: Principal, *, about: str | None = None
    ) -> dict[str, Any]:
        """A command, stamped; once accepted, the streams of the user it was `about` (its
        extension, by default) hear that something of theirs changed."""
        result = await self.ask(service, command, who)
        target = about or getattr(command, "extension", None)
        if isinstance(target, str):
            self.live.changed(target, command.type_name)
        return result

    async def presence_sign_in(self, login: str, session_id: str) -> None:
        """Presence counts the session as a signed-in client (extensions only)."""
        if not _is_extension(login):
            return
        try:
            await request(
                self.nc,
                "presence",
                stamped(SignIn(extension=login, session_id=session_id), _as_client(login)),
                timeout=self.config.request_timeout_seconds,
            )
        except Exception as error:  # sign-in works without presence; automation catches up
            log.warning("presence SignIn failed", extra={"login": login, "error": str(error)})
            return
        await self.sessions.mark_in_presence(session_id)

    async def presence_sign_out(self, login: str, session_id: str) -> bool:
        """Tell presence a session ended; False leaves it for the sweeper to retry."""
        if not _is_extension(login):
            return True
        try:
            await request(
                self.nc,
                "presence",
                stamped(SignOut(extension=login, session_id=session_id), _as_client(login)),
                timeout=self.config.request_timeout_seconds,
            )
        except Exception as error:
            log.warning(
                "presence SignOut failed; the sweeper retries",
                extra={"login": login, "session": session_id, "error": str(error)},
            )
            return False
        await self.sessions.signed_out(session_id)
        return True

    async def ended(self, login: str, session_ids: list[str]) -> None:
        """Sessions just ended: their streams close, presence stops counting them."""
        for session_id in session_ids:
            self.live.session_ended(login, session_id)
            await self.presence_sign_out(login, session_id)

    async def session_still_open(self, session_id: str) -> bool:
        """An open stream's periodic check (which also keeps the session from idling)."""
        return await still_open(self.sessions, session_id, self.clock.now()) is not None

    async def close(self) -> None:
        await self.live.close()
        if not self.nc.is_closed:
            await self.nc.drain()
        await self.pool.close()


def _as_client(login: str) -> Principal:
    """A session's own sign-in and sign-out: the user, through a client (an
    administrator's session included: it is their own client that comes and goes)."""
    return Principal(
        login=login,
        role=AccountRole.USER,
        session_id="",
        kind="",
        csrf_token="",
        must_change_password=False,
    )


def _is_extension(login: str) -> bool:
    return re.fullmatch(EXTENSION_PATTERN, login) is not None


async def open_edge(
    connections: Connections, config: GatewayConfig, clock: Clock | None = None
) -> Edge:
    nc = await connect(connections.nats_url, name="voco-gateway")
    pool = await open_pool(connections.database_url, max_size=config.pool_size)
    store = EventStore(pool, SCHEMA)
    await prepare(store, TABLES_SQL)
    limits = Limits(
        per_account=config.signin_account_limit,
        per_address=config.signin_address_limit,
        window=timedelta(seconds=config.signin_window_seconds),
        lock=timedelta(seconds=config.signin_lock_seconds),
        delay_step=config.signin_delay_step_seconds,
        delay_max=config.signin_delay_max_seconds,
    )
    live = LiveHub(nc, buffer=config.stream_buffer, linger=config.stream_linger_seconds)
    await live.start()
    return Edge(
        config=config,
        clock=clock or SystemClock(),
        nc=nc,
        pool=pool,
        accounts=AccountStore(store),
        sessions=SessionStore(
            store,
            idle=timedelta(seconds=config.session_idle_seconds),
            absolute=timedelta(seconds=config.session_max_seconds),
        ),
        throttle=SignInThrottle(store, limits),
        passwords=Passwords(),
        live=live,
    )
