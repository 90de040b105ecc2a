"""Wiring of the routing service: consumers, the call runner, timers, queries."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import asyncpg
from nats.js.api import StorageType
from pydantic import ValidationError

from contracts import pbx
from contracts.base import UnknownMessageType
from contracts.errors import NotFound
from contracts.presence import PRESENCE_STREAM, PRESENCE_SUBJECTS, Profile
from contracts.routing import (
    ROUTING_STREAM,
    ROUTING_SUBJECTS,
    CheckProfile,
    ExplainCall,
    Explanation,
    ListCalls,
    ProfileCheck,
    WhatIf,
)
from contracts.visibility import VISIBILITY_STREAM, VISIBILITY_SUBJECTS
from runtime.access import GuardedRoutes, authorize_party, principal_of
from runtime.bus import explain_validation
from runtime.clock import Clock
from runtime.config import Connections, env_float, env_int
from runtime.consumer import CheckpointedConsumer, Delivery, Rejected
from runtime.decider import CommandRunner, Job, StateCache
from runtime.eventstore import Checkpoint, Conn
from runtime.partitions import PartitionScheme
from runtime.service import ServiceRuntime, ensure_stream, open_runtime, stream_config
from services.routing.access import ACCESS
from services.routing.calls import CALLS_SQL, CallQueries
from services.routing.directory_store import READ_MODEL_SQL, DirectoryStore, extension_view
from services.routing.domain.call import (
    CallCommand,
    EndCall,
    FireTimer,
    HangUp,
    LegReport,
    OfferCall,
    ReportLeg,
    call_decider,
)
from services.routing.domain.directory import Directory
from services.routing.domain.loops import check_profile
from services.routing.domain.state import CallState, Ended
from services.routing.explain import call_parties, explain, what_if
from services.routing.favourites import FAVOURITE_SUBJECTS, FAVOURITES_SQL, FavouritesStore
from services.routing.metrics import count_outcomes, decision_duration, timed_decision
from services.routing.outgoing import outgoing
from services.routing.repeats import (
    HELD_CALLS_PROJECTION,
    HELD_CALLS_SQL,
    last_held_back,
    may_repeat,
)
from services.routing.timers import (
    TIMER_PROJECTION,
    TIMERS_SQL,
    TimerWheel,
    reschedule_stored,
    stored_timers,
)

log = logging.getLogger(__name__)
SCHEMA = "routing"
TABLES_SQL = READ_MODEL_SQL + TIMERS_SQL + HELD_CALLS_SQL + FAVOURITES_SQL + CALLS_SQL
"""Every table of routing's schema beside the event store's (the bench seeds them too)."""
MEMORY = StorageType.MEMORY
CALLS_CONSUMER = "routing-calls"
PBX_PARTITIONS = PartitionScheme(pbx.PARTITIONED_SUBJECTS, pbx.PARTITION_KEY)


async def _nothing_to_do() -> None:
    pass


class Routing:
    """The service's shell: turns PBX events and timers into call commands."""

    def __init__(self, runtime: ServiceRuntime, schema: str) -> None:
        self.runtime = runtime
        self.clock = runtime.clock
        self.directory = DirectoryStore(runtime.store.s)
        self.favourites = FavouritesStore(runtime.store.s, self.directory.directory)
        self.runner = CommandRunner[CallCommand, CallState](
            runtime.store,
            call_decider,
            outgoing=outgoing,
            projections=[TIMER_PROJECTION, HELD_CALLS_PROJECTION],
            # Live calls only: an ended call sees no more commands (a stray one reads it).
            cache=StateCache(
                env_int("VOCO_ROUTING_CACHE_SIZE", 20_000),
                keep=lambda state: not isinstance(state, Ended),
            ),
            starts_stream=lambda command: isinstance(command, OfferCall),
        )
        self.timers = TimerWheel(
            self.clock,
            self.fire_timer,
            overdue=lambda before: stored_timers(runtime.pool, runtime.store.s, before),
            reschedule=lambda timers: reschedule_stored(runtime.pool, runtime.store.s, timers),
            sweep_seconds=env_float("VOCO_ROUTING_TIMER_SWEEP_SECONDS", 5.0),
        )

    async def handle(self, call_id: str, command: CallCommand) -> None:
        decided = await self.runner.handle(f"call:{call_id}", command, at=command.at)
        self.timers.arm_from(decided.events)
        count_outcomes(decided.events)

    async def offer(self, offered: pbx.CallOffered) -> dict[str, str]:
        """A call offered by request: decided and stored before the answer, so the answer
        tells the PBX the call is in routing's hands (its commands follow on the node's
        command subject). A repeated offer of a known call decides nothing."""
        with timed_decision("offer"):
            held = await self.recall(self.runtime.pool, offered.callee, offered.caller)
            await self.handle(offered.call_id, self.command_for(offered, held))
        return {"call_id": offered.call_id}

    async def recall(
        self, db: Conn | asyncpg.Pool, callee: str, caller: str, directory: Directory | None = None
    ) -> datetime | None:
        """When routing last held back a call from `caller` to `callee`, if the callee's
        profile has the urgent-repeat rule (else no look-up: most calls need none). Read
        from Postgres, so a call another replica held back, or one before a restart,
        counts."""
        view = (directory or self.directory.directory).extension(callee)
        if view is not None:
            view = view.at(self.clock.now())  # the profile the call will be decided by
        if view is None or not may_repeat(view.profile, caller):
            return None
        return await last_held_back(db, self.runtime.store.s, callee, caller)

    async def fire_timer(self, call_id: str, timer_id: str, due: datetime) -> None:
        at = max(due, self.clock.now())
        await self.handle(
            call_id, FireTimer(at=at, directory=self.directory.directory, timer_id=timer_id)
        )

    async def apply_pbx_events(
        self, conn: Conn, deliveries: Sequence[Delivery], checkpoint: Checkpoint
    ) -> Callable[[], Awaitable[None]]:
        """A batch of call events: every call decided, and all their events, outbox rows,
        timers and the consumer's checkpoint written in one statement; PBX commands leave
        and timers arm once it has committed."""
        started = time.perf_counter()
        jobs = []
        for delivery in deliveries:
            event = self.call_event(delivery)
            if isinstance(event, pbx.LegRinging):
                continue  # for observers; routing's decisions do not depend on it
            held = None
            if isinstance(event, pbx.CallOffered):
                held = await self.recall(conn, event.callee, event.caller)
            command = self.command_for(event, held)
            jobs.append(
                Job(f"call:{event.call_id}", command, at=command.at, trace=delivery.headers)
            )
        if not jobs:
            # Only LegRinging (two per call): nothing to decide, so no statement. The
            # checkpoint moves with the next batch that writes; until then a redelivery of
            # these decides nothing again.
            return _nothing_to_do
        batch = await self.runner.decide_batch(conn, jobs, checkpoint=checkpoint)

        async def committed() -> None:
            await batch.committed()
            self.timers.arm_from(batch.events)
            decision_duration.record(time.perf_counter() - started, {"path": "events"})
            count_outcomes(batch.events)

        return committed

    @staticmethod
    def call_event(delivery: Delivery) -> pbx.CallEvent:
        try:
            message = pbx.decode(delivery.data)
        except ValidationError as error:
            raise Rejected(f"invalid PBX message: {explain_validation(error)[0]}") from None
        except (ValueError, UnknownMessageType) as error:
            raise Rejected(f"invalid PBX message: {error}") from None
        if not isinstance(message, pbx.CallEvent):
            raise Rejected(f"{message.type_name} is not a call event; send it on its own subject")
        return message

    def command_for(
        self, event: pbx.CallEvent, last_held_back: datetime | None = None
    ) -> CallCommand:
        # Decisions are timed by routing's clock, not the PBX's: timers stay consistent.
        common = {"at": self.clock.now(), "directory": self.directory.directory}
        match event:
            case pbx.CallOffered():
                seed = zlib.crc32(event.call_id.encode())
                return OfferCall(
                    **common,
                    call_id=event.call_id,
                    node=event.node,
                    caller=event.caller,
                    callee=event.callee,
                    seed=seed,
                    last_held_back=last_held_back,
                )
            case pbx.LegAnswered():
                return ReportLeg(**common, leg_id=event.leg_id, report=LegReport.ANSWERED)
            case pbx.LegFailed():
                return ReportLeg(
                    **common, leg_id=event.leg_id, report=LegReport.FAILED, reason=event.reason
                )
            case pbx.CallerHungUp():
                return HangUp(**common)
        return EndCall(**common)

    async def explain_call(self, query: ExplainCall) -> Explanation:
        envelopes = await self.runtime.store.load(f"call:{query.call_id}")
        # A user who took no part in the call is refused alike whether it exists or not.
        parties = call_parties([e.payload() for e in envelopes])
        authorize_party(principal_of(query), parties, f"call {query.call_id}")
        if not envelopes:
            raise NotFound(f"no call {query.call_id} is known to routing", field="call_id")
        return explain(query.call_id, envelopes)

    async def proposing(self, extension: str, profile: Profile | None) -> Directory:
        """The directory with `profile` as `extension`'s active one (as if activated now),
        its breakthrough profile resolved among the user's other profiles."""
        directory = self.directory.directory
        if profile is None:
            return directory
        row = await self.runtime.pool.fetchrow(
            f"SELECT * FROM {self.runtime.store.s}.extensions WHERE extension = $1", extension
        )
        if row is None:
            return directory.with_profile(extension, profile)
        return directory.with_view(extension_view(row, active=profile))

    async def check_profile(self, query: CheckProfile) -> ProfileCheck:
        directory = await self.proposing(query.extension, query.profile)
        return ProfileCheck(
            extension=query.extension,
            profile_id=query.profile.id,
            loops=check_profile(directory, query.extension, query.profile),
        )

    async def what_if(self, query: WhatIf) -> Explanation:
        directory = await self.proposing(query.callee, query.profile)
        held = await self.recall(self.runtime.pool, query.callee, query.caller, directory)
        return what_if(
            directory,
            caller=query.caller,
            callee=query.callee,
            at=query.at or self.clock.now(),
            seed=query.seed,
            last_held_back=held,
        )


async def build(
    connections: Connections, clock: Clock | None = None, *, schema: str = SCHEMA
) -> ServiceRuntime:
    runtime = await open_runtime(
        "routing",
        schema,
        connections,
        clock=clock,
        extra_sql=TABLES_SQL,
        consumed_streams={
            PRESENCE_STREAM: PRESENCE_SUBJECTS,
            VISIBILITY_STREAM: VISIBILITY_SUBJECTS,
        },
        pool_size=env_int("VOCO_ROUTING_POOL_SIZE", 10),
        partitioned=True,
    )
    # Commands and call events are kept in Postgres (the outbox republishes them); their
    # streams need no fsync per message: memory storage (contracts/PBX.md, "Failures").
    await ensure_stream(runtime.js, pbx.PBX_COMMAND_STREAM, pbx.PBX_COMMAND_SUBJECTS, MEMORY)
    await ensure_stream(runtime.js, ROUTING_STREAM, ROUTING_SUBJECTS, MEMORY)
    routing = Routing(runtime, schema)
    async with runtime.pool.acquire() as conn:
        await routing.directory.load(conn)
        await routing.favourites.load(conn)
        armed = await routing.timers.load(conn, runtime.store.s)
    log.info("routing directory and timers loaded", extra={"timers": armed})
    runtime.consumers.append(
        CheckpointedConsumer(
            runtime.store,
            runtime.js,
            name="routing-directory",
            stream=PRESENCE_STREAM,
            subjects=PRESENCE_SUBJECTS,
            apply=routing.directory.apply,
            after_commit=routing.directory.publish_pending,
        )
    )
    runtime.consumers.append(
        CheckpointedConsumer(
            runtime.store,
            runtime.js,
            name="routing-favourites",
            stream=VISIBILITY_STREAM,
            subjects=FAVOURITE_SUBJECTS,
            apply=routing.favourites.apply,
            after_commit=routing.favourites.publish_pending,
        )
    )
    # Each replica decides the calls of its share of the partitions (runtime/leases.py).
    await runtime.consume_partitioned(
        CALLS_CONSUMER,
        stream_config(pbx.PBX_STREAM, pbx.PBX_SUBJECTS),
        PBX_PARTITIONS,
        [pbx.STORED_CALL_EVENTS],
        apply_batch=routing.apply_pbx_events,
        after_commit=None,  # the batch hands its outbox rows to the relay itself
    )
    runtime.commands.route(
        pbx.CallOffered, routing.offer, subject=pbx.OFFER_SUBJECT, decode=pbx.decode
    )
    # Queries are checked against ACCESS before their handler reads anything.
    routes = GuardedRoutes(runtime.commands, ACCESS)
    routes.route(ExplainCall, routing.explain_call)
    routes.route(WhatIf, routing.what_if)
    routes.route(CheckProfile, routing.check_profile)
    routes.route(ListCalls, CallQueries(runtime.store).list_calls)
    runtime.workers.append(routing.timers)
    runtime.routing = routing  # type: ignore[attr-defined]  # tests reach the shell
    return runtime
