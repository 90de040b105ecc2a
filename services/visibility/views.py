"""The filtered fan-out: each watcher's view of each contact, on `voco.view.<watcher>.<watched>`.

Views go out with plain core NATS publishes. They are ephemeral and latest-wins: a
watcher that was not listening asks GetContacts/GetView for the current state, so
storing every view in JetStream would cost a stored, acked write per watcher per
change (10,000 for one popular user) and buy nothing. Order per watcher holds
because one connection publishes them all, from one task at a time (the lock), in the
order of the user's stream versions (older or repeated versions are skipped).

Each user also receives their own presence on `voco.view.<user>.<user>`.

Every view also leaves batched for the edge, first: one message on
`voco.viewbatch.<watched>` naming the watchers it goes to (the user themself among them
for their own), so the edge takes one message per change rather than one per watcher
(contracts/visibility.py). A batch names exactly the watchers the per-watcher publishes
reach, so a blocked watcher is never in one that carries a real presence.

A watcher who may not see a user gets `WatchedPresence.offline`, byte for byte what a
really offline user sends, and at the same moments: when the contact is added, when
the owner's decision or policy change takes effect, and never after.
"""

from __future__ import annotations

import asyncio

from nats.aio.client import Client as NatsClient

from contracts.visibility import (
    VIEW_BATCH_MAX_WATCHERS,
    WatchedPresence,
    encode_view_batch,
    view_batch_subject,
    view_subject,
)
from services.visibility.index import FanoutIndex, encode_view


class ViewPublisher:
    def __init__(self, nc: NatsClient, index: FanoutIndex) -> None:
        self.nc = nc
        self.index = index
        # Held while the index changes and its consequences are published, so a change
        # to who-may-see never interleaves with a fan-out half way through its watchers.
        self.lock = asyncio.Lock()

    async def presence_changed(self, presence: WatchedPresence, version: int) -> int:
        """Publish to every allowed watcher; returns how many. A version already published
        (or older) is skipped: the user's stream version only grows."""
        watched = presence.extension
        async with self.lock:
            latest = self.index.latest.get(watched)
            if latest is not None and latest[1] >= version:
                return 0
            payload = encode_view(presence)
            self.index.latest[watched] = (payload, version)
            publish = self.nc.publish
            allowed = tuple(self.index.allowed.get(watched, ()))
            # The user's own view of themselves: the edge streams a user's own changes
            # from the same subjects as their contacts' (a user may always see themselves).
            await self._batches(watched, (watched, *allowed), payload)
            await publish(view_subject(watched, watched), payload)
            for watcher in allowed:
                await publish(f"voco.view.{watcher}.{watched}", payload)
            return len(allowed)

    async def _batches(self, watched: str, watchers: tuple[str, ...], payload: bytes) -> None:
        subject = view_batch_subject(watched)
        for start in range(0, len(watchers), VIEW_BATCH_MAX_WATCHERS):
            share = watchers[start : start + VIEW_BATCH_MAX_WATCHERS]
            await self.nc.publish(subject, encode_view_batch(share, payload))

    async def watcher_changed(
        self, owner: str, watcher: str, *, can_see: bool, watching: bool, announce: bool
    ) -> None:
        """Bring the index in line with one (owner, watcher) pair as committed. A watcher
        whose view changed hears of it; a new contact (`announce`) always gets one view."""
        async with self.lock:
            was = self.index.can_see(owner, watcher)
            if can_see and watching:
                self.index.allow(owner, watcher)
            else:
                self.index.deny(owner, watcher)
            if watching and (announce or can_see != was):
                view = self.index.view_for(watcher, owner)
                await self._batches(owner, (watcher,), view)
                await self.nc.publish(view_subject(watcher, owner), view)
