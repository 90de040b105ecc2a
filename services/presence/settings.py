"""Queries that read back what was configured: a user's automation and presence routing,
ring groups, IVRs and the feature-code map, folded from their own streams (the read
model keeps only what validation and the timers need)."""

from __future__ import annotations

from contracts.presence import (
    AutomationView,
    FeatureCodesView,
    GetAutomation,
    GetFeatureCodes,
    GetPresenceRouting,
    IvrInfo,
    IvrList,
    IvrSaved,
    ListIvrs,
    ListRingGroups,
    PresenceRoutingView,
    RingGroupInfo,
    RingGroupList,
    RingGroupSaved,
)
from runtime.eventstore import EventStore
from services.presence.commands import PresenceCommands
from services.presence.domain.directory import (
    FEATURE_CODES_STREAM,
    feature_codes_decider,
    ivr_stream,
    ring_group_stream,
)
from services.presence.domain.state import User
from services.presence.domain.user import not_provisioned, user_decider, user_stream
from services.presence.read_model import IVR, RING_GROUP


class SettingsQueries:
    def __init__(self, store: EventStore, commands: PresenceCommands) -> None:
        self.store = store
        self.commands = commands

    async def _user(self, extension: str) -> User:
        state = await self.commands.current(user_stream(extension), user_decider())
        if not isinstance(state, User):
            raise not_provisioned(extension)
        return state

    async def automation(self, query: GetAutomation) -> AutomationView:
        automation = (await self._user(query.extension)).automation
        return AutomationView(
            extension=query.extension,
            enabled=automation.enabled,
            idle_after_seconds=automation.idle_after_seconds,
            idle_status=automation.idle_status,
        )

    async def presence_routing(self, query: GetPresenceRouting) -> PresenceRoutingView:
        routing = (await self._user(query.extension)).routing
        return PresenceRoutingView(
            extension=query.extension,
            enabled=routing.enabled,
            profiles_by_status=dict(routing.profiles_by_status),
        )

    async def _last_saved(self, kind: str) -> list[object]:
        """The last event of every ring group's (or IVR's) stream, by id."""
        async with self.store.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT id FROM {self.store.s}.directory WHERE kind = $1 ORDER BY id", kind
            )
            name = ring_group_stream if kind == RING_GROUP else ivr_stream
            streams = await self.store.load_many(conn, [name(r["id"]) for r in rows])
        return [events[-1].payload() for events in streams.values() if events]

    async def ring_groups(self, query: ListRingGroups) -> RingGroupList:
        saved = [e for e in await self._last_saved(RING_GROUP) if isinstance(e, RingGroupSaved)]
        return RingGroupList(
            ring_groups=[
                RingGroupInfo(
                    group_id=e.group_id,
                    name=e.name,
                    members=list(e.members),
                    strategy=e.strategy,
                    timeout=e.timeout,
                )
                for e in sorted(saved, key=lambda e: e.group_id)
            ]
        )

    async def ivrs(self, query: ListIvrs) -> IvrList:
        saved = [e for e in await self._last_saved(IVR) if isinstance(e, IvrSaved)]
        return IvrList(
            ivrs=[
                IvrInfo(ivr_id=e.ivr_id, name=e.name) for e in sorted(saved, key=lambda e: e.ivr_id)
            ]
        )

    async def feature_codes(self, query: GetFeatureCodes) -> FeatureCodesView:
        state = await self.commands.current(FEATURE_CODES_STREAM, feature_codes_decider)
        return FeatureCodesView(codes=dict(state.codes))
