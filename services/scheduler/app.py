"""Wiring of the scheduler service: runners, projection, presence feed, timer driver."""

from __future__ import annotations

from contracts.presence import PRESENCE_STREAM, PRESENCE_SUBJECTS
from contracts.scheduler import (
    SCHEDULER_STREAM,
    SCHEDULER_SUBJECTS,
    GetCompanySchedule,
    GetSchedule,
    SaveCompanySchedule,
)
from runtime.access import GuardedRoutes
from runtime.clock import Clock
from runtime.config import Connections, env_float, env_int
from runtime.consumer import CheckpointedConsumer
from runtime.decider import CommandRunner
from runtime.service import ServiceRuntime, open_runtime
from services.scheduler.access import ACCESS
from services.scheduler.domain.decider import company_decider, user_decider
from services.scheduler.driver import Driver, DriverSettings
from services.scheduler.handlers import USER_COMMANDS, Handlers
from services.scheduler.presence_feed import presence_feed
from services.scheduler.tables import EXTRA_SQL, outgoing, projection

NAME = "scheduler"


def settings_from_env() -> DriverSettings:
    return DriverSettings(
        batch=env_int("VOCO_SCHEDULER_BATCH", 20_000),
        concurrency=env_int("VOCO_SCHEDULER_CONCURRENCY", 500),
        poll_seconds=env_float("VOCO_SCHEDULER_POLL_SECONDS", 1.0),
        presence_timeout=env_float("VOCO_SCHEDULER_PRESENCE_TIMEOUT", 5.0),
        retry_seconds=env_float("VOCO_SCHEDULER_RETRY_SECONDS", 10.0),
        prepare_seconds=env_float("VOCO_SCHEDULER_PREPARE_SECONDS", 10.0),
        announce_seconds=env_float("VOCO_SCHEDULER_ANNOUNCE_SECONDS", 60.0),
    )


async def build(
    connections: Connections, clock: Clock | None = None, settings: DriverSettings | None = None
) -> ServiceRuntime:
    rt = await open_runtime(
        NAME,
        "scheduler",
        connections,
        clock=clock,
        extra_sql=EXTRA_SQL,
        streams={SCHEDULER_STREAM: SCHEDULER_SUBJECTS},
        consumed_streams={PRESENCE_STREAM: PRESENCE_SUBJECTS},
        pool_size=env_int("VOCO_SCHEDULER_POOL_SIZE", 10),
    )
    project = [projection(rt.store)]
    driver = Driver(rt.store, rt.nc, rt.clock, rt.relay, settings or settings_from_env())

    # The store hands committed outbox rows to the relay; the driver re-plans.
    users = CommandRunner(
        rt.store, user_decider, outgoing=outgoing, projections=project, on_commit=driver.wake
    )
    company = CommandRunner(
        rt.store, company_decider, outgoing=outgoing, projections=project, on_commit=driver.wake
    )
    handlers = Handlers(rt.store, rt.clock, users, company)
    # Every command and query is checked against ACCESS before its handler reads anything.
    routes = GuardedRoutes(rt.commands, ACCESS)
    for command in USER_COMMANDS:
        routes.route(command, handlers.user_command)
    routes.route(SaveCompanySchedule, handlers.save_company)
    routes.route(GetSchedule, handlers.get_schedule)
    routes.route(GetCompanySchedule, handlers.get_company_schedule)
    rt.consumers.append(
        CheckpointedConsumer(
            rt.store,
            rt.js,
            name="scheduler-presence",
            stream=PRESENCE_STREAM,
            subjects=PRESENCE_SUBJECTS,
            apply=presence_feed(rt.store),
            after_commit=driver.wake,  # it writes read-model rows only: no outbox rows
        )
    )
    rt.workers.append(driver)
    return rt
