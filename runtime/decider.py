"""The decider and the one runner for it: load, fold, decide, append, retry on conflict.

A decider is pure: `decide(command, state) -> events` and `evolve(state, event) -> state`,
no I/O, clock or ids inside. Time arrives on the command; event ids come from `ids`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from contracts.base import Command, Event, Message
from contracts.envelope import Envelope, Metadata
from contracts.errors import CommandError, ErrorCode
from runtime.eventstore import EventStore, InlineProjection, Outgoing, VersionConflict
from runtime.telemetry import tracer

C = TypeVar("C", bound=Command)
S = TypeVar("S")

log = logging.getLogger(__name__)
_tracer = tracer(__name__)


@dataclass(frozen=True)
class Decider(Generic[C, S]):
    initial_state: S
    decide: Callable[[C, S], Sequence[Event]]
    evolve: Callable[[S, Event], S]

    def fold(self, events: Sequence[Message], state: S | None = None) -> S:
        current = self.initial_state if state is None else state
        for event in events:
            assert isinstance(event, Event)
            current = self.evolve(current, event)
        return current


class StateCache:
    """The last folded state of each stream, so a command reads only the events after it.

    Without it every command loads and folds the stream's whole history (a few
    milliseconds per hundred events). Events are immutable and a stream's versions
    have no gaps, so a cached (state, version) plus the events after `version` is
    always the current state, even with other replicas appending. States must be
    immutable (evolve returns new ones), so sharing them is safe. Bounded, least
    recently used out first.
    """

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


@dataclass(frozen=True)
class Decided(Generic[S]):
    state: S
    version: int
    events: list[Envelope]


class CommandRunner(Generic[C, S]):
    def __init__(
        self,
        store: EventStore,
        decider: Decider[C, S],
        *,
        outgoing: Callable[[Sequence[Envelope]], Sequence[Outgoing]],
        projections: Sequence[InlineProjection] = (),
        ids: Callable[[], UUID] = uuid4,
        on_commit: Callable[[], None] | None = None,
        max_attempts: int = 10,
        cache: StateCache | None = None,
    ) -> None:
        self.store = store
        self.decider = decider
        self.outgoing = outgoing
        self.projections = projections
        self.ids = ids
        self.on_commit = on_commit
        self.max_attempts = max_attempts
        self.cache = cache

    async def state_of(self, stream: str, *, fresh: bool = False) -> tuple[S, int]:
        """The stream's state and version.

        A cached state is used without reading the store: if another writer appended
        meanwhile, the append at the cached version conflicts and `handle` reads again
        with `fresh=True`, so a stale cache costs a retry, never a wrong decision.
        """
        cached = self.cache.get(stream) if self.cache is not None else None
        if cached is not None and not fresh:
            return cached
        state, version = cached if cached is not None else (self.decider.initial_state, 0)
        newer = await self.store.load(stream, after_version=version)
        if newer:
            state = self.decider.fold([e.payload() for e in newer], state)
            version = newer[-1].version
        if self.cache is not None:
            self.cache.put(stream, state, version)
        return state, version

    async def handle(
        self, stream: str, command: C, *, at: datetime, meta: Metadata | None = None
    ) -> Decided[S]:
        with _tracer.start_as_current_span(
            f"decide {command.type_name}", attributes={"voco.stream": stream}
        ):
            for attempt in range(1, self.max_attempts + 1):
                state, version = await self.state_of(stream, fresh=attempt > 1)
                events = list(self.decider.decide(command, state))
                if not events:
                    return Decided(state, version, [])
                try:
                    appended = await self.store.append(
                        stream,
                        version,
                        events,
                        ids=(self.ids() for _ in events),
                        at=at,
                        meta=meta or Metadata(),
                        outgoing=self.outgoing,
                        projections=self.projections,
                    )
                except VersionConflict:
                    log.info(
                        "version conflict, deciding again",
                        extra={"stream": stream, "attempt": attempt},
                    )
                    # Jitter so writers that collided do not collide again in lockstep.
                    await asyncio.sleep(random.uniform(0, 0.002 * attempt))
                    continue
                if self.on_commit is not None:
                    self.on_commit()
                decided = Decided(self.decider.fold(events, state), version + len(events), appended)
                if self.cache is not None:
                    self.cache.put(stream, decided.state, decided.version)
                return decided
        raise CommandError(
            f"{stream} changed {self.max_attempts} times while deciding; try again",
            code=ErrorCode.CONFLICT,
        )
