"""Thin handlers: look up what the decider needs, run it, keep the fan-out index current.

Commands change one owner's stream (`visibility:<owner>`); for AddContact and
RemoveContact the owner is the contact being added or removed. Queries read the
owner's folded state, the edges table and the in-memory index; none writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from contracts.envelope import Metadata
from contracts.visibility import (
    Acting,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    GetView,
    OwnerCommand,
    Policy,
    Standing,
    WatcherCommand,
    WhoCanSeeMe,
    WhoWatchesMe,
)
from runtime.clock import Clock
from runtime.decider import CommandRunner
from runtime.eventstore import EventStore
from services.visibility.domain.decide import Checked, authorize, stream_of, subject_of
from services.visibility.domain.state import OwnerVisibility
from services.visibility.index import FanoutIndex
from services.visibility.tables import Tables
from services.visibility.views import ViewPublisher


class Handlers:
    def __init__(
        self,
        store: EventStore,
        runner: CommandRunner[Checked, OwnerVisibility],
        tables: Tables,
        index: FanoutIndex,
        views: ViewPublisher,
        clock: Clock,
    ) -> None:
        self.store = store
        self.runner = runner
        self.tables = tables
        self.index = index
        self.views = views
        self.clock = clock
        self.owner_locks = KeyedLocks()

    # ---- commands ------------------------------------------------------------------

    async def change(self, command: Acting) -> dict[str, Any]:
        if isinstance(command, OwnerCommand):
            owner, named = command.owner, [command.owner, getattr(command, "watcher", None)]
        elif isinstance(command, WatcherCommand):
            owner, named = command.contact, [command.watcher, command.contact]
        else:  # pragma: no cover - routes only send changes here
            raise TypeError(command.type_name)
        async with self.store.pool.acquire() as conn:
            known = await self.tables.known(conn, [n for n in named if n])
        meta = Metadata.model_validate(
            {"actor": command.actor, "role": command.role.value, "acting_for": subject_of(command)}
        )
        # One change per owner at a time in this process, so the index follows the
        # owner's commits in order (a later commit never gets overtaken by an earlier one).
        async with self.owner_locks.hold(owner):
            decided = await self.runner.handle(
                stream_of(owner),
                Checked(command=command, known=known),
                at=command.at or self.clock.now(),
                meta=meta,
            )
            events = [e.payload() for e in decided.events]
            await self.views.owner_changed(owner, events, decided.state)  # type: ignore[arg-type]
        if isinstance(command, WatcherCommand):
            # The same empty answer whether the contact landed allowed, blocked or pending.
            return {}
        return counts(decided.state)

    # ---- queries -------------------------------------------------------------------

    async def contacts(self, query: GetContacts) -> dict[str, Any]:
        authorize(query)
        async with self.store.pool.acquire() as conn:
            owners = await self.tables.contacts_of(conn, query.watcher)
        return {"contacts": [self._view(query.watcher, owner) for owner in owners]}

    async def view(self, query: GetView) -> dict[str, Any]:
        authorize(query)
        return self._view(query.watcher, query.extension)

    def _view(self, watcher: str, watched: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.index.view_for(watcher, watched))
        return decoded

    async def _owner_state(self, query: Acting) -> tuple[str, OwnerVisibility]:
        authorize(query)
        owner = subject_of(query)
        state, _ = await self.runner.state_of(stream_of(owner))
        return owner, state

    async def pending(self, query: GetPendingRequests) -> dict[str, Any]:
        _, state = await self._owner_state(query)
        return listing(state, Standing.PENDING, "requests")

    async def allowed(self, query: GetAllowed) -> dict[str, Any]:
        _, state = await self._owner_state(query)
        return listing(state, Standing.ALLOWED, "users")

    async def blocked(self, query: GetBlocked) -> dict[str, Any]:
        _, state = await self._owner_state(query)
        return listing(state, Standing.BLOCKED, "users")

    async def who_can_see_me(self, query: WhoCanSeeMe) -> dict[str, Any]:
        _, state = await self._owner_state(query)
        seeing = sorted(w for w in state.contacts_of if state.can_see(w))
        return {
            "policy": state.policy.value,
            "count": len(seeing),
            "users": seeing,
            # Under "everyone", anyone not blocked who adds you will see you too.
            "anyone_who_adds_me": state.policy is Policy.EVERYONE,
        }

    async def who_watches_me(self, query: WhoWatchesMe) -> dict[str, Any]:
        _, state = await self._owner_state(query)
        watchers = [
            {
                "extension": w,
                "can_see": state.can_see(w),
                "standing": (s.value if (s := state.standing_of(w)) else None),
            }
            for w in sorted(state.contacts_of)
        ]
        return {"count": len(watchers), "watchers": watchers}


class KeyedLocks:
    """An asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def listing(state: OwnerVisibility, standing: Standing, key: str) -> dict[str, Any]:
    users = state.with_standing(standing)
    return {"count": len(users), key: users}


def counts(state: OwnerVisibility) -> dict[str, Any]:
    return {
        "policy": state.policy.value,
        "pending": len(state.with_standing(Standing.PENDING)),
        "allowed": len(state.with_standing(Standing.ALLOWED)),
        "blocked": len(state.with_standing(Standing.BLOCKED)),
    }
