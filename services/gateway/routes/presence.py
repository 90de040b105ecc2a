"""A user's presence: status and note, profiles, automation, history (owner or admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from contracts.presence import (
    ActivateProfile,
    AutomationView,
    ConfigureAutomation,
    ConfigurePresenceRouting,
    DeleteProfile,
    GetAutomation,
    GetHistory,
    GetPresence,
    GetPresenceRouting,
    Identifier,
    ListProfiles,
    PresenceRoutingView,
    PresenceView,
    Profile,
    SaveProfile,
    SetStatus,
)
from contracts.routing import CheckProfile, ProfileCheck
from services.gateway.auth import EdgeDep, Ext, Owner
from services.gateway.bodies import body_of
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import Result, result

router = APIRouter(prefix="/api/users/{ext}", tags=["presence"], responses=ERROR_RESPONSES)

StatusBody = body_of(SetStatus, "StatusBody", without={"extension"})
ProfileBody = body_of(Profile, "ProfileBody", without={"id"})
AutomationBody = body_of(ConfigureAutomation, "AutomationBody", without={"extension"})
PresenceRoutingBody = body_of(
    ConfigurePresenceRouting, "PresenceRoutingBody", without={"extension"}
)
ProfileId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
_ = Identifier


@router.get("/presence", response_model=PresenceView, summary="My presence, devices, profile")
async def presence(ext: Ext, who: Owner, edge: EdgeDep) -> PresenceView:
    return PresenceView.model_validate(await edge.ask("presence", GetPresence(extension=ext), who))


@router.put("/status", response_model=Result, summary="Set my status and note")
async def set_status(ext: Ext, body: StatusBody, who: Owner, edge: EdgeDep) -> Result:
    command = SetStatus(extension=ext, **body.model_dump())
    return result(await edge.tell("presence", command, who))


@router.get("/history", response_model=Result, summary="What changed my presence, newest first")
async def history(
    ext: Ext, who: Owner, edge: EdgeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> Result:
    return result(await edge.ask("presence", GetHistory(extension=ext, limit=limit), who))


@router.get("/profiles", response_model=Result, summary="My profiles and the active one")
async def profiles(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("presence", ListProfiles(extension=ext), who))


@router.put("/profiles/{profile_id}", response_model=Result, summary="Create or edit a profile")
async def save_profile(
    ext: Ext, profile_id: ProfileId, body: ProfileBody, who: Owner, edge: EdgeDep
) -> Result:
    profile = Profile(id=profile_id, **body.model_dump())
    return result(await edge.tell("presence", SaveProfile(extension=ext, profile=profile), who))


@router.delete("/profiles/{profile_id}", response_model=Result, summary="Delete a profile")
async def delete_profile(ext: Ext, profile_id: ProfileId, who: Owner, edge: EdgeDep) -> Result:
    command = DeleteProfile(extension=ext, profile_id=profile_id)
    return result(await edge.tell("presence", command, who))


@router.post(
    "/profiles/{profile_id}/check",
    response_model=ProfileCheck,
    summary="Would this profile make a forward loop? (nothing is saved)",
)
async def check_profile(
    ext: Ext, profile_id: ProfileId, body: ProfileBody, who: Owner, edge: EdgeDep
) -> ProfileCheck:
    """Routing follows every forwarding rule of the proposed profile and its breakthrough
    profile through the other extensions' profiles, whatever the devices' state, and
    answers each loop with its field and chain. A check, not a save: the profile's own
    validation is the save's (PUT), and a loop is not refused there."""
    profile = Profile(id=profile_id, **body.model_dump())
    query = CheckProfile(extension=ext, profile=profile)
    return ProfileCheck.model_validate(await edge.ask("routing", query, who))


@router.post("/profiles/{profile_id}/activate", response_model=Result, summary="Activate a profile")
async def activate(ext: Ext, profile_id: ProfileId, who: Owner, edge: EdgeDep) -> Result:
    command = ActivateProfile(extension=ext, profile_id=profile_id)
    return result(await edge.tell("presence", command, who))


@router.get("/automation", response_model=AutomationView, summary="My idle automation")
async def get_automation(ext: Ext, who: Owner, edge: EdgeDep) -> AutomationView:
    answer = await edge.ask("presence", GetAutomation(extension=ext), who)
    return AutomationView.model_validate(answer)


@router.get(
    "/presence-routing", response_model=PresenceRoutingView, summary="Does my presence decide?"
)
async def get_presence_routing(ext: Ext, who: Owner, edge: EdgeDep) -> PresenceRoutingView:
    answer = await edge.ask("presence", GetPresenceRouting(extension=ext), who)
    return PresenceRoutingView.model_validate(answer)


@router.put("/automation", response_model=Result, summary="Away (or Offline) when idle")
async def automation(ext: Ext, body: AutomationBody, who: Owner, edge: EdgeDep) -> Result:
    command = ConfigureAutomation(extension=ext, **body.model_dump())
    return result(await edge.tell("presence", command, who))


@router.put("/presence-routing", response_model=Result, summary="My presence decides my profile")
async def presence_routing(
    ext: Ext, body: PresenceRoutingBody, who: Owner, edge: EdgeDep
) -> Result:
    command = ConfigurePresenceRouting(extension=ext, **body.model_dump())
    return result(await edge.tell("presence", command, who))
