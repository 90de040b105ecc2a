"""A user's schedule: weekly rules, holidays, overrides, timed statuses (owner or admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from contracts.scheduler import (
    AddOverride,
    CancelOverride,
    CancelTimedStatus,
    GetSchedule,
    Override,
    PlanView,
    RemoveSchedule,
    SaveSchedule,
    ScheduleSpec,
    SetTimedStatus,
    TimedStatus,
)
from services.gateway.auth import EdgeDep, Ext, Owner
from services.gateway.bodies import body_of
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import Result, result

router = APIRouter(prefix="/api/users/{ext}", tags=["schedule"], responses=ERROR_RESPONSES)

ScheduleBody = body_of(ScheduleSpec, "ScheduleBody")
OverrideBody = body_of(Override, "OverrideBody", without={"override_id"})
TimedStatusBody = body_of(TimedStatus, "TimedStatusBody", without={"timed_id"})
ItemId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


@router.get("/schedule", response_model=PlanView, summary="What holds now, and what is next")
async def schedule(
    ext: Ext,
    who: Owner,
    edge: EdgeDep,
    at: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> PlanView:
    answer = await edge.ask("scheduler", GetSchedule(extension=ext, at=at), who)
    return PlanView.model_validate(answer)


@router.put("/schedule", response_model=Result, summary="Save my weekly rules and holidays")
async def save_schedule(ext: Ext, body: ScheduleBody, who: Owner, edge: EdgeDep) -> Result:
    spec = ScheduleSpec.model_validate(body.model_dump())
    return result(await edge.tell("scheduler", SaveSchedule(extension=ext, schedule=spec), who))


@router.delete("/schedule", response_model=Result, summary="Remove my schedule")
async def remove_schedule(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.tell("scheduler", RemoveSchedule(extension=ext), who))


@router.put("/schedule/overrides/{override_id}", response_model=Result, summary="Add a one-off")
async def add_override(
    ext: Ext, override_id: ItemId, body: OverrideBody, who: Owner, edge: EdgeDep
) -> Result:
    override = Override(override_id=override_id, **body.model_dump())
    command = AddOverride(extension=ext, override=override)
    return result(await edge.tell("scheduler", command, who))


@router.delete(
    "/schedule/overrides/{override_id}", response_model=Result, summary="Cancel a one-off"
)
async def cancel_override(ext: Ext, override_id: ItemId, who: Owner, edge: EdgeDep) -> Result:
    command = CancelOverride(extension=ext, override_id=override_id)
    return result(await edge.tell("scheduler", command, who))


@router.put("/timed-statuses/{timed_id}", response_model=Result, summary="A status for a while")
async def set_timed(
    ext: Ext, timed_id: ItemId, body: TimedStatusBody, who: Owner, edge: EdgeDep
) -> Result:
    timed = TimedStatus(timed_id=timed_id, **body.model_dump())
    command = SetTimedStatus(extension=ext, timed_status=timed)
    return result(await edge.tell("scheduler", command, who))


@router.delete("/timed-statuses/{timed_id}", response_model=Result, summary="Cancel it")
async def cancel_timed(ext: Ext, timed_id: ItemId, who: Owner, edge: EdgeDep) -> Result:
    command = CancelTimedStatus(extension=ext, timed_id=timed_id)
    return result(await edge.tell("scheduler", command, who))


_ = datetime
