"""Thin handlers: look up what the decider needs and run it; answer queries.

Commands change one owner's stream (`visibility:<owner>`); for AddContact and
RemoveContact the owner is the contact being added or removed. Queries read the
owner's folded state or the compact tables, so any replica answers them; none writes.
"""

from __future__ import annotations

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
from services.visibility.domain.decide import Checked, stream_of, subject_of
from services.visibility.domain.state import OwnerVisibility
from services.visibility.tables import Tables


class Handlers:
    def __init__(
        self,
        store: EventStore,
        runner: CommandRunner[Checked, OwnerVisibility],
        tables: Tables,
        clock: Clock,
    ) -> None:
        self.store = store
        self.runner = runner
        self.tables = tables
        self.clock = clock

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
        # Only the event store changes here; the fan-out leader (fanout.py) learns of it
        # from the committed events and tells the watchers, in order with presence.
        decided = await self.runner.handle(
            stream_of(owner),
            Checked(command=command, known=known),
            at=command.at or self.clock.now(),
            meta=meta,
        )
        if isinstance(command, WatcherCommand):
            # The same empty answer whether the contact landed allowed, blocked or pending.
            return {}
        return counts(decided.state)

    # ---- queries -------------------------------------------------------------------

    # Every query was authorized on arrival (app.py routes them through the access table).

    async def contacts(self, query: GetContacts) -> dict[str, Any]:
        async with self.store.pool.acquire() as conn:
            contacts = await self.tables.contacts_with_presence(conn, query.watcher)
            favourites = await self.tables.favourites(conn, query.watcher)
        return {"contacts": [c.model_dump(mode="json") for c in contacts], "favourites": favourites}

    async def view(self, query: GetView) -> dict[str, Any]:
        async with self.store.pool.acquire() as conn:
            presence = await self.tables.visible_presence(conn, query.watcher, query.extension)
        return presence.model_dump(mode="json")

    async def _owner_state(self, query: Acting) -> tuple[str, OwnerVisibility]:
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
