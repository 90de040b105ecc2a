"""Wiring: the presence service's commands, queries, PBX consumer and automation timer."""

from __future__ import annotations

from dataclasses import dataclass, fields

from contracts import pbx
from contracts.presence import (
    PRESENCE_STREAM,
    PRESENCE_SUBJECTS,
    ConfigureFeatureCodes,
    GetAutomation,
    GetFeatureCodes,
    GetHistory,
    GetPresence,
    GetPresenceRouting,
    ListIvrs,
    ListProfiles,
    ListRingGroups,
    SaveIvr,
    SaveRingGroup,
    SwitchUsers,
)
from runtime.access import GuardedRoutes
from runtime.clock import Clock
from runtime.config import Connections, env_float, env_int
from runtime.decider import StateCache
from runtime.partitions import PartitionScheme
from runtime.service import ServiceRuntime, open_runtime, stream_config
from services.presence.access import ACCESS
from services.presence.announcements import AnnouncedSwitches, wake_on_announcement
from services.presence.automation import Sweeper
from services.presence.commands import PresenceCommands
from services.presence.domain.user import USER_COMMANDS
from services.presence.pbx_events import CONSUMER, SUBJECTS, PbxEvents
from services.presence.queries import Queries
from services.presence.read_model import TABLES_SQL, ReadModel
from services.presence.settings import SettingsQueries

NAME = "presence"
SCHEMA = "presence"


@dataclass
class PresenceRuntime(ServiceRuntime):
    """The shared runtime; tests reach the automation timer and commands through it."""

    sweeper: Sweeper | None = None
    presence: PresenceCommands | None = None
    announced: AnnouncedSwitches | None = None


async def build(
    connections: Connections, clock: Clock | None = None, *, sweep_seconds: float | None = None
) -> ServiceRuntime:
    base = await open_runtime(
        NAME,
        SCHEMA,
        connections,
        clock=clock,
        extra_sql=TABLES_SQL,
        streams={PRESENCE_STREAM: PRESENCE_SUBJECTS},
        batched_streams=[PRESENCE_STREAM],  # SwitchUsers commits thousands of events
        pool_size=env_int("VOCO_PRESENCE_POOL_SIZE", 10),
        partitioned=True,
    )
    read_model = ReadModel(base.store.s)
    commands = PresenceCommands(
        base.store,
        read_model,
        base.clock,
        cache=StateCache(env_int("VOCO_PRESENCE_CACHE_SIZE", 10_000)),
    )
    queries = Queries(base.store)
    interval = sweep_seconds or env_float("VOCO_PRESENCE_SWEEP_SECONDS", 1.0)
    service = PresenceRuntime(
        **{f.name: getattr(base, f.name) for f in fields(base)},
        sweeper=Sweeper(commands, queries, base.clock, interval),
        presence=commands,
        announced=AnnouncedSwitches(base.store, commands, base.clock, interval),
    )
    assert service.sweeper is not None
    assert service.announced is not None
    service.workers.append(service.sweeper)
    service.workers.append(service.announced)
    timer = service.announced
    commands.on_commit = lambda: wake_on_announcement(read_model, timer)

    # Every command and query is checked against ACCESS before its handler reads anything.
    routes = GuardedRoutes(service.commands, ACCESS)
    for command in USER_COMMANDS:
        routes.route(command, commands.user_view)
    routes.route(SwitchUsers, commands.switch_users)
    routes.route(SaveRingGroup, commands.save_ring_group)
    routes.route(SaveIvr, commands.save_ivr)
    routes.route(ConfigureFeatureCodes, commands.configure_feature_codes)
    routes.route(GetPresence, queries.presence)
    routes.route(GetHistory, queries.history)
    routes.route(ListProfiles, queries.profiles)
    settings = SettingsQueries(base.store, commands)
    routes.route(GetAutomation, settings.automation)
    routes.route(GetPresenceRouting, settings.presence_routing)
    routes.route(ListRingGroups, settings.ring_groups)
    routes.route(ListIvrs, settings.ivrs)
    routes.route(GetFeatureCodes, settings.feature_codes)
    # Each replica applies the device and feature-code events of its share of the users.
    await service.consume_partitioned(
        CONSUMER,
        stream_config(pbx.PBX_STREAM, pbx.PBX_SUBJECTS),
        PartitionScheme(pbx.PARTITIONED_SUBJECTS, pbx.PARTITION_KEY),
        SUBJECTS,
        PbxEvents(commands).apply,
    )
    return service
