"""The decider and the one runner for it: load, fold, decide, append, retry on conflict.

A decider is pure: `decide(command, state) -> events` and `evolve(state, event) -> state`,
no I/O, clock or ids inside. Time arrives on the command; event ids come from `ids`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
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
    ) -> None:
        self.store = store
        self.decider = decider
        self.outgoing = outgoing
        self.projections = projections
        self.ids = ids
        self.on_commit = on_commit
        self.max_attempts = max_attempts

    async def state_of(self, stream: str) -> tuple[S, int]:
        envelopes = await self.store.load(stream)
        state = self.decider.fold([e.payload() for e in envelopes])
        return state, len(envelopes)

    async def handle(
        self, stream: str, command: C, *, at: datetime, meta: Metadata | None = None
    ) -> Decided[S]:
        with _tracer.start_as_current_span(
            f"decide {command.type_name}", attributes={"voco.stream": stream}
        ):
            for attempt in range(1, self.max_attempts + 1):
                state, version = await self.state_of(stream)
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
                return Decided(self.decider.fold(events, state), version + len(events), appended)
        raise CommandError(
            f"{stream} changed {self.max_attempts} times while deciding; try again",
            code=ErrorCode.CONFLICT,
        )
