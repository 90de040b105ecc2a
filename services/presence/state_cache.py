"""The last folded state of each stream, so a command reads only the events after it.

Without it every command loads and folds the user's whole history (a few
milliseconds per hundred events). Events are immutable and a stream's
versions have no gaps (each append expects the version before it), so a cached
(state, version) plus the events after `version` is always the current state,
even with other replicas appending: they only add events the next load reads.
States are frozen dataclasses that evolve never mutates, so sharing them is safe.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any, TypeVar

from contracts.base import Command
from contracts.envelope import Envelope, Metadata
from runtime.decider import CommandRunner, Decided
from runtime.eventstore import EventStore

C = TypeVar("C", bound=Command)
S = TypeVar("S")


class StateCache:
    """A bounded map of stream -> (state, version), least recently used out first."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()

    def get(self, stream: str) -> tuple[Any, int] | None:
        entry = self._entries.get(stream)
        if entry is not None:
            self._entries.move_to_end(stream)
        return entry

    def put(self, stream: str, state: Any, version: int) -> None:
        current = self._entries.get(stream)
        if current is not None and current[1] > version:
            return  # a concurrent command already cached a later state
        self._entries[stream] = (state, version)
        self._entries.move_to_end(stream)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


async def load_after(store: EventStore, stream: str, version: int) -> list[Envelope]:
    async with store.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT id, type, schema_version, version, at, data, meta FROM {store.s}.events "
            "WHERE stream = $1 AND version > $2 ORDER BY version",
            stream,
            version,
        )
    return [
        Envelope(
            id=r["id"],
            type=r["type"],
            v=r["schema_version"],
            stream=stream,
            version=r["version"],
            at=r["at"],
            data=r["data"],
            meta=Metadata.model_validate(r["meta"]),
        )
        for r in rows
    ]


class CachingRunner(CommandRunner[C, S]):
    """The runtime's runner, reading state through a StateCache."""

    cache: StateCache

    def with_cache(self, cache: StateCache) -> CachingRunner[C, S]:
        self.cache = cache
        return self

    async def state_of(self, stream: str) -> tuple[S, int]:
        cached = self.cache.get(stream)
        state, version = cached if cached is not None else (self.decider.initial_state, 0)
        newer = await load_after(self.store, stream, version)
        if newer:
            state = self.decider.fold([e.payload() for e in newer], state)
            version = newer[-1].version
            self.cache.put(stream, state, version)
        return state, version

    async def handle(
        self, stream: str, command: C, *, at: datetime, meta: Metadata | None = None
    ) -> Decided[S]:
        decided = await super().handle(stream, command, at=at, meta=meta)
        if decided.events:
            self.cache.put(stream, decided.state, decided.version)
        return decided
