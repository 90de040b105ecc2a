"""The decider and the one runner for it: load, fold, decide, append, retry on conflict.

A decider is pure: `decide(command, state) -> events` and `evolve(state, event) -> state`,
no I/O, clock or ids inside. Time arrives on the command; event ids come from `ids`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from contracts.base import Command, Event, Message
from contracts.envelope import Envelope, Metadata
from contracts.errors import CommandError, ErrorCode
from runtime.eventstore import (
    Checkpoint,
    Conn,
    EventStore,
    InlineProjection,
    Outgoing,
    Queued,
    SqlProjection,
    VersionConflict,
    with_headers,
    wrap,
)
from runtime.telemetry import inject_headers, span_from_headers, tracer

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

    def __init__(self, size: int = 10_000, keep: Callable[[Any], bool] | None = None) -> None:
        """`keep`: whether a state is worth keeping (e.g. not a finished call's, which will
        see no more commands): one that is not is dropped instead of cached."""
        self.size = size
        self.keep = keep
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
        if self.keep is not None and not self.keep(state):
            self._entries.pop(stream, None)
            return
        self._entries[stream] = (state, version)
        self._entries.move_to_end(stream)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, stream: str) -> None:
        self._entries.pop(stream, None)


@dataclass(frozen=True)
class Decided(Generic[S]):
    state: S
    version: int
    events: list[Envelope]
    refused: CommandError | None = None
    """Why the command was refused (only in a batch decided with `collect_refusals`)."""


@dataclass(frozen=True)
class Job(Generic[C]):
    """A command for one stream, decided as part of a batch (`CommandRunner.decide_batch`)."""

    stream: str
    command: C
    at: datetime
    meta: Metadata | None = None
    trace: Mapping[str, str] | None = None
    """The trace context it arrived with (message headers): its span continues that trace."""


@dataclass
class BatchDecided(Generic[S]):
    """A batch written by `decide_batch`; call `committed()` once the write has committed."""

    decided: list[Decided[S]]
    queued: list[Queued]
    states: dict[str, tuple[S, int]]
    runner: CommandRunner[Any, S]
    events: list[Envelope] = field(default_factory=list)

    async def committed(self) -> None:
        if self.runner.cache is not None:
            for stream, (state, version) in self.states.items():
                self.runner.cache.put(stream, state, version)
        await self.runner.store.committed(self.queued)
        if self.runner.on_commit is not None:
            self.runner.on_commit()


class CommandRunner(Generic[C, S]):
    def __init__(
        self,
        store: EventStore,
        decider: Decider[C, S],
        *,
        outgoing: Callable[[Sequence[Envelope]], Sequence[Outgoing]],
        projections: Sequence[InlineProjection | SqlProjection] = (),
        ids: Callable[[], UUID] = uuid4,
        on_commit: Callable[[], None] | None = None,
        max_attempts: int = 10,
        cache: StateCache | None = None,
        starts_stream: Callable[[C], bool] | None = None,
    ) -> None:
        """`starts_stream`: commands that begin their stream (e.g. a call offered). Such a
        command's stream is taken to be empty without reading it when it is not cached;
        if it was not, the write conflicts and the stream is read next time."""
        self.store = store
        self.decider = decider
        self.outgoing = outgoing
        self.projections = projections
        self.ids = ids
        self.on_commit = on_commit
        self.max_attempts = max_attempts
        self.cache = cache
        self.starts_stream = starts_stream
        self._read_next_time: set[str] = set()  # streams a batch conflicted on

    def _taken_as_new(self, stream: str, command: C) -> bool:
        """Whether to decide `command` on an empty stream without reading it: it starts
        its stream, the stream is not cached and did not just conflict. A wrong guess is a
        version conflict, and the stream is read on the next attempt."""
        return (
            self.starts_stream is not None
            and self.starts_stream(command)
            and stream not in self._read_next_time
            and (self.cache is None or self.cache.get(stream) is None)
        )

    async def state_of(self, stream: str, *, fresh: bool = False) -> tuple[S, int]:
        """The stream's state and version.

        A cached state is used without reading the store: if another writer appended
        meanwhile, the append at the cached version conflicts and `handle` reads again
        with `fresh=True`, so a stale cache costs a retry, never a wrong decision.
        """
        cached = self.cache.get(stream) if self.cache is not None else None
        if cached is not None and not fresh:
            return cached
        start = cached if cached is not None else (self.decider.initial_state, 0)
        newer = await self.store.load(stream, after_version=start[1])
        self._read_next_time.discard(stream)
        state, version = self._folded(start, newer)
        if self.cache is not None:
            self.cache.put(stream, state, version)
        return state, version

    def _folded(self, start: tuple[S, int], newer: Sequence[Envelope]) -> tuple[S, int]:
        """A (state, version) moved past the stored events that follow it."""
        if not newer:
            return start
        return self.decider.fold([e.payload() for e in newer], start[0]), newer[-1].version

    async def decide_batch(
        self,
        conn: Conn,
        jobs: Sequence[Job[C]],
        *,
        checkpoint: Checkpoint | None = None,
        collect_refusals: bool = False,
    ) -> BatchDecided[S]:
        """Decide every job and write all their events in one statement on `conn`, with a
        consumer's checkpoint if given (inline projections need the caller's transaction).

        A stream's jobs are decided in order, each on the state the previous one left.
        Nothing is retried here: on VersionConflict nothing of the write is stored and the
        batch's streams are read from the store the next time they are decided, so the
        caller applies the jobs again (e.g. one by one). Call `committed()` on the result
        once the write has committed (after the caller's transaction, if it holds one).

        A job its decider refuses (CommandError) fails the whole batch, unless
        `collect_refusals`: then it decides nothing and its `Decided.refused` says why,
        so one bad command among many from a client does not hold up the rest.
        """
        states: dict[str, tuple[S, int]] = {}
        missing: dict[str, None] = {}  # ordered set
        for job in jobs:
            if job.stream in states or job.stream in missing:
                continue
            cached = self.cache.get(job.stream) if self.cache is not None else None
            if job.stream in self._read_next_time:
                missing[job.stream] = None
            elif cached is not None:
                states[job.stream] = cached
            elif self._taken_as_new(job.stream, job.command):
                states[job.stream] = (self.decider.initial_state, 0)
            else:
                missing[job.stream] = None
        if missing:
            loaded = await self.store.load_many(conn, list(missing))
            self._read_next_time.difference_update(missing)
            for stream in missing:
                states[stream] = self._folded(
                    (self.decider.initial_state, 0), loaded.get(stream, [])
                )
        decided: list[Decided[S]] = []
        envelopes: list[Envelope] = []
        messages: list[Outgoing] = []
        partitions: list[int] = []
        for job in jobs:
            state, version = states[job.stream]
            try:
                events, appended, outgoing = self._decide_job(job, state, version)
            except CommandError as error:
                if not collect_refusals:
                    raise
                decided.append(Decided(state, version, [], refused=error))
                continue
            state = self.decider.fold(events, state)
            states[job.stream] = (state, version + len(appended))
            decided.append(Decided(state, version + len(appended), appended))
            envelopes += appended
            messages += outgoing
            partitions += [self.store.partition_of(job.stream)] * len(outgoing)
        if not envelopes and checkpoint is None:
            return BatchDecided(decided, [], states, self)
        try:
            queued = await self.store.write(
                conn,
                envelopes,
                messages,
                self.projections,
                checkpoint=checkpoint,
                partitions=partitions,
            )
        except VersionConflict:
            for stream in states:
                if self.cache is not None:
                    self.cache.drop(stream)
                self._read_next_time.add(stream)
            raise
        return BatchDecided(decided, queued, states, self, envelopes)

    def _decide_job(
        self, job: Job[C], state: S, version: int
    ) -> tuple[list[Event], list[Envelope], list[Outgoing]]:
        """A job's events, as envelopes, and the messages they leave as.

        A job that arrived with its own trace context gets its own span, and its messages
        carry that trace; otherwise they join the trace of the batch (the current span).
        """
        if job.trace is None:
            return self._events_of(job, state, version)
        with span_from_headers(
            _tracer,
            f"decide {job.command.type_name}",
            job.trace,
            attributes={"voco.stream": job.stream},
        ):
            events, appended, outgoing = self._events_of(job, state, version)
            trace = inject_headers() if appended else {}
        return events, appended, [with_headers(m, trace) for m in outgoing]

    def _events_of(
        self, job: Job[C], state: S, version: int
    ) -> tuple[list[Event], list[Envelope], list[Outgoing]]:
        events = list(self.decider.decide(job.command, state))
        appended = wrap(
            job.stream,
            version,
            events,
            ids=(self.ids() for _ in events),
            at=job.at,
            meta=job.meta or Metadata(),
        )
        return events, appended, list(self.outgoing(appended))

    async def handle(
        self, stream: str, command: C, *, at: datetime, meta: Metadata | None = None
    ) -> Decided[S]:
        with _tracer.start_as_current_span(
            f"decide {command.type_name}", attributes={"voco.stream": stream}
        ):
            for attempt in range(1, self.max_attempts + 1):
                # A state not read from the store just now (the cache's, or a stream taken
                # to be new) may be stale: another replica may have appended since. A stale
                # state that leads to events is caught by the append's version conflict;
                # one that leads to a refusal or to nothing must be read again first, or a
                # command the current state allows would be refused (seen with two
                # presence replicas: ActivateProfile refused just after SaveProfile).
                unread = attempt == 1 and (
                    self._taken_as_new(stream, command)
                    or (self.cache is not None and self.cache.get(stream) is not None)
                )
                if attempt == 1 and self._taken_as_new(stream, command):
                    state, version = self.decider.initial_state, 0
                else:
                    state, version = await self.state_of(stream, fresh=attempt > 1)
                try:
                    events = list(self.decider.decide(command, state))
                except CommandError:
                    if unread:
                        continue
                    raise
                if not events:
                    if unread:
                        continue
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
