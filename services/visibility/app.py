"""Wiring: event store and runner, the fan-out index, the presence consumer, the routes."""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from contracts.base import Event
from contracts.envelope import Envelope
from contracts.presence import (
    PRESENCE_STREAM,
    PRESENCE_SUBJECTS,
    PresenceChanged,
    UserProvisioned,
)
from contracts.presence import event_subject as presence_subject
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
    WatchedPresence,
    WhoCanSeeMe,
    WhoWatchesMe,
    event_subject,
)
from runtime.clock import Clock
from runtime.config import Connections, env_int
from runtime.consumer import Delivery, Rejected
from runtime.decider import CommandRunner
from runtime.eventstore import Conn, Outgoing
from runtime.service import ServiceRuntime, open_runtime
from services.visibility.domain.decide import visibility
from services.visibility.handlers import Handlers
from services.visibility.index import FanoutIndex
from services.visibility.tables import SCHEMA, TABLES_SQL, Tables
from services.visibility.views import ViewPublisher

log = logging.getLogger(__name__)

CONSUMER = "visibility-presence"
CONSUMED = [
    presence_subject("*", PresenceChanged.type_name),
    presence_subject("*", UserProvisioned.type_name),
]


def outgoing(envelopes: list[Envelope]) -> list[Outgoing]:
    return [
        Outgoing(
            subject=event_subject(e.data["owner"], e.type), payload=e.to_bytes(), msg_id=str(e.id)
        )
        for e in envelopes
    ]


async def ensure_presence_stream(js: JetStreamContext) -> None:
    """Create the presence stream if the presence service has not yet; never reconfigure it."""
    try:
        await js.stream_info(PRESENCE_STREAM)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=PRESENCE_STREAM,
                subjects=PRESENCE_SUBJECTS,
                storage=StorageType.FILE,
                duplicate_window=120.0,
            )
        )


async def build(
    connections: Connections, clock: Clock | None = None, *, pool_size: int | None = None
) -> ServiceRuntime:
    rt = await open_runtime(
        "visibility",
        SCHEMA,
        connections,
        clock=clock,
        extra_sql=TABLES_SQL,
        streams={VISIBILITY_STREAM: VISIBILITY_SUBJECTS},
        pool_size=pool_size or env_int("VOCO_VISIBILITY_POOL_SIZE", 10),
    )
    await ensure_presence_stream(rt.js)
    tables = Tables(rt.store.s)
    index = FanoutIndex()
    async with rt.pool.acquire() as conn:
        report = await index.load(conn, rt.store.s)
    log.info(
        "fan-out index loaded",
        extra={"edges": report.edges, "users": report.users_with_presence, "s": report.seconds},
    )
    views = ViewPublisher(rt.nc, index)
    runner = CommandRunner(
        rt.store,
        visibility,
        outgoing=outgoing,  # type: ignore[arg-type]
        projections=[tables.project],
        on_commit=rt.relay.wake,
    )
    handlers = Handlers(rt.store, runner, tables, index, views, rt.clock)
    for command in (*OWNER_COMMANDS, *WATCHER_COMMANDS):
        rt.commands.route(command, handlers.change)
    rt.commands.route(GetContacts, handlers.contacts)
    rt.commands.route(GetView, handlers.view)
    rt.commands.route(GetPendingRequests, handlers.pending)
    rt.commands.route(GetAllowed, handlers.allowed)
    rt.commands.route(GetBlocked, handlers.blocked)
    rt.commands.route(WhoCanSeeMe, handlers.who_can_see_me)
    rt.commands.route(WhoWatchesMe, handlers.who_watches_me)

    async def apply(conn: Conn, delivery: Delivery) -> None:
        try:
            event: Event = Envelope.from_bytes(delivery.data).payload()  # type: ignore[assignment]
        except Exception as error:
            raise Rejected(f"not a presence event envelope: {error}") from error
        match event:
            case UserProvisioned(extension=extension, display_name=name):
                await tables.add_user(conn, extension, name)
            case PresenceChanged():
                presence = WatchedPresence(
                    extension=event.extension,
                    status=event.status,
                    note=event.note,
                    note_expires_at=event.note_expires_at,
                )
                # Views go out before the checkpoint commits (and before the row is
                # written, to save a round trip): a redelivery after a failed commit is
                # recognised by its sequence in the index, so nobody sees a change twice.
                await views.presence_changed(presence, delivery.sequence)
                await tables.save_presence(
                    conn,
                    event.extension,
                    event.status.value,
                    event.note,
                    event.note_expires_at,
                    delivery.sequence,
                )

    rt.consume(CONSUMER, PRESENCE_STREAM, CONSUMED, apply)
    return rt
