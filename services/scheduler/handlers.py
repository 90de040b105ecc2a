"""Command handlers: stamp the time, check profiles against the read model, run the decider."""

from __future__ import annotations

from typing import Any

from contracts.base import Issued
from contracts.envelope import Metadata
from contracts.errors import CommandError
from contracts.scheduler import (
    COMPANY,
    AddOverride,
    CancelOverride,
    CancelTimedStatus,
    CompanyScheduleView,
    GetCompanySchedule,
    GetSchedule,
    PlanView,
    RemoveSchedule,
    SaveCompanySchedule,
    SaveSchedule,
    SetTimedStatus,
)
from runtime.clock import Clock
from runtime.decider import CommandRunner
from runtime.eventstore import EventStore
from services.scheduler.domain.decider import (
    CompanySchedule,
    UserCommand,
    UserSchedule,
)
from services.scheduler.domain.timeline import effective, next_boundary, target_at
from services.scheduler.domain.validation import check_profiles, check_spec, referenced_profiles
from services.scheduler.tables import known_profiles, read_company, read_user, stream_of


def principal(command: Issued, **extra: str) -> Metadata:
    """Who acted and in which role, recorded on the events (the access table allowed it)."""
    return Metadata.model_validate({"actor": command.actor, "role": command.role.value, **extra})


class Handlers:
    def __init__(
        self,
        store: EventStore,
        clock: Clock,
        users: CommandRunner[UserCommand, UserSchedule],
        company: CommandRunner[SaveCompanySchedule, CompanySchedule],
    ) -> None:
        self.store = store
        self.clock = clock
        self.users = users
        self.company = company

    async def user_command(self, command: UserCommand) -> dict[str, Any]:
        stamped = command.model_copy(update={"at": command.at or self.clock.now()})
        await self._check_profiles(stamped)
        assert stamped.at is not None
        decided = await self.users.handle(
            stream_of(stamped.extension),
            stamped,
            at=stamped.at,
            meta=principal(stamped, channel="scheduler"),
        )
        return {"events": [e.type for e in decided.events], "version": decided.version}

    async def save_company(self, command: SaveCompanySchedule) -> dict[str, Any]:
        stamped = command.model_copy(update={"at": command.at or self.clock.now()})
        assert stamped.at is not None
        decided = await self.company.handle(
            stream_of(COMPANY), stamped, at=stamped.at, meta=principal(stamped)
        )
        return {"events": [e.type for e in decided.events], "version": decided.version}

    async def _check_profiles(self, command: UserCommand) -> None:
        async with self.store.pool.acquire() as conn:
            match command:
                case SaveSchedule(schedule=spec):
                    check_spec(spec)  # a bad time zone says so before any profile question
                    company = await read_company(self.store, conn)
                    if spec.inherit_company and company is None:
                        raise CommandError(
                            "inherit_company is set but there is no company schedule yet; "
                            "save one with SaveCompanySchedule first",
                            field="schedule.inherit_company",
                        )
                    wanted = referenced_profiles(spec, company)
                case AddOverride(override=o):
                    wanted = {o.profile_id}
                case _:
                    return
            known = await known_profiles(self.store, conn, command.extension)
        check_profiles(command.extension, wanted, known)

    async def get_schedule(self, query: GetSchedule) -> PlanView:
        at = query.at or self.clock.now()
        async with self.store.pool.acquire() as conn:
            user = await read_user(self.store, conn, query.extension)
            company = await read_company(self.store, conn)
        eff = effective(query.extension, user.spec, user.overrides, user.timed, company)
        target = target_at(eff, at)
        return PlanView(
            extension=query.extension,
            at=at,
            profile_id=target.profile_id,
            status=target.status,
            note=target.note,
            source=target.source,
            next_boundary=next_boundary(eff, at),
            schedule=user.spec,
            overrides=list(user.overrides),
            timed_statuses=list(user.timed),
        )

    async def get_company_schedule(self, query: GetCompanySchedule) -> CompanyScheduleView:
        async with self.store.pool.acquire() as conn:
            return CompanyScheduleView(schedule=await read_company(self.store, conn))


USER_COMMANDS: tuple[type[UserCommand], ...] = (
    SaveSchedule,
    RemoveSchedule,
    AddOverride,
    CancelOverride,
    SetTimedStatus,
    CancelTimedStatus,
)
