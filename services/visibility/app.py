"""Wiring: event store and runner, the routes, and the fan-out leader."""

from __future__ import annotations

from dataclasses import dataclass, fields

from contracts.envelope import Envelope
from contracts.presence import PRESENCE_STREAM, PRESENCE_SUBJECTS
from contracts.visibility import (
    OWNER_COMMANDS,
    VISIBILITY_STREAM,
    VISIBILITY_SUBJECTS,
    WATCHER_COMMANDS,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    GetView,
    WhoCanSeeMe,
    WhoWatchesMe,
    event_subject,
)
from runtime.access import GuardedRoutes
from runtime.clock import Clock
from runtime.config import Connections, env_int
from runtime.decider import CommandRunner
from runtime.eventstore import Outgoing
from runtime.service import ServiceRuntime, open_runtime
from services.visibility.access import ACCESS
from services.visibility.domain.decide import visibility
from services.visibility.fanout import FanoutLeader
from services.visibility.handlers import Handlers
from services.visibility.index import FanoutIndex
from services.visibility.tables import SCHEMA, TABLES_SQL, Tables
from services.visibility.views import ViewPublisher


@dataclass
class VisibilityRuntime(ServiceRuntime):
    """The shared runtime; tests reach the fan-out leader through it."""

    fanout: FanoutLeader | None = None


def outgoing(envelopes: list[Envelope]) -> list[Outgoing]:
    return [
        Outgoing(
            subject=event_subject(e.data["owner"], e.type), payload=e.to_bytes(), msg_id=str(e.id)
        )
        for e in envelopes
    ]


async def build(
    connections: Connections, clock: Clock | None = None, *, pool_size: int | None = None
) -> VisibilityRuntime:
    base = await open_runtime(
        "visibility",
        SCHEMA,
        connections,
        clock=clock,
        extra_sql=TABLES_SQL,
        streams={VISIBILITY_STREAM: VISIBILITY_SUBJECTS},
        consumed_streams={PRESENCE_STREAM: PRESENCE_SUBJECTS},
        pool_size=pool_size or env_int("VOCO_VISIBILITY_POOL_SIZE", 10),
    )
    tables = Tables(base.store.s)
    views = ViewPublisher(base.nc, FanoutIndex())
    service = VisibilityRuntime(
        **{f.name: getattr(base, f.name) for f in fields(base)},
        fanout=FanoutLeader(
            base.store, base.nc, base.js, views, tables, after_commit=base.relay.wake
        ),
    )
    assert service.fanout is not None
    service.workers.append(service.fanout)
    runner = CommandRunner(
        service.store,
        visibility,
        outgoing=outgoing,  # type: ignore[arg-type]
        projections=[tables.project],
    )
    handlers = Handlers(service.store, runner, tables, service.clock)
    # Every command and query is checked against ACCESS before its handler reads anything.
    routes = GuardedRoutes(service.commands, ACCESS)
    for command in (*OWNER_COMMANDS, *WATCHER_COMMANDS):
        routes.route(command, handlers.change)
    routes.route(GetContacts, handlers.contacts)
    routes.route(GetView, handlers.view)
    routes.route(GetPendingRequests, handlers.pending)
    routes.route(GetAllowed, handlers.allowed)
    routes.route(GetBlocked, handlers.blocked)
    routes.route(WhoCanSeeMe, handlers.who_can_see_me)
    routes.route(WhoWatchesMe, handlers.who_watches_me)
    return service
