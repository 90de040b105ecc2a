"""Who sees whom: contacts, requests, policy, allowed and blocked lists (owner or admin).

A user reads others only through visibility's filtered view (`/views/{other}`): a user
who may not see `other` gets exactly what an offline or non-existent user gives.
"""

from __future__ import annotations

from fastapi import APIRouter

from contracts.presence import Extension
from contracts.visibility import (
    AcceptRequest,
    AddContact,
    AllowWatcher,
    BlockRequest,
    BlockWatcher,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    GetView,
    MarkFavourite,
    RemoveContact,
    SetPolicy,
    UnmarkFavourite,
    WatchedPresence,
    WhoCanSeeMe,
    WhoWatchesMe,
)
from services.gateway.auth import EdgeDep, Ext, Owner
from services.gateway.bodies import body_of
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import Result, result

router = APIRouter(prefix="/api/users/{ext}", tags=["visibility"], responses=ERROR_RESPONSES)

PolicyBody = body_of(SetPolicy, "PolicyBody", without={"owner"})
Other = Ext
_ = Extension


async def _tell(edge: EdgeDep, who: Owner, command: object, about: str) -> Result:
    return result(await edge.tell("visibility", command, who, about=about))  # type: ignore[arg-type]


@router.get("/contacts", response_model=Result, summary="My contacts as I may see them")
async def contacts(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("visibility", GetContacts(watcher=ext), who))


@router.put("/contacts/{other}", response_model=Result, summary="Add a contact (asks them)")
async def add_contact(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    answer = await _tell(edge, who, AddContact(watcher=ext, contact=other), ext)
    edge.live.changed(other, AddContact.type_name)  # their requests and watchers changed
    return answer


@router.delete("/contacts/{other}", response_model=Result, summary="Remove a contact")
async def remove_contact(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    answer = await _tell(edge, who, RemoveContact(watcher=ext, contact=other), ext)
    edge.live.changed(other, RemoveContact.type_name)
    return answer


@router.put("/favourites/{other}", response_model=Result, summary="Mark a contact as a favourite")
async def mark_favourite(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    """A favourite rings through a quiet profile whose breakthrough lets favourites in
    (`GET /contacts` lists them under `favourites`)."""
    return await _tell(edge, who, MarkFavourite(watcher=ext, contact=other), ext)


@router.delete("/favourites/{other}", response_model=Result, summary="Unmark a favourite")
async def unmark_favourite(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    return await _tell(edge, who, UnmarkFavourite(watcher=ext, contact=other), ext)


@router.get("/views/{other}", response_model=WatchedPresence, summary="Anyone, as I may see them")
async def view(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> WatchedPresence:
    answer = await edge.ask("visibility", GetView(watcher=ext, extension=other), who)
    return WatchedPresence.model_validate(answer)


@router.get("/requests", response_model=Result, summary="Pending requests, with their count")
async def requests(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("visibility", GetPendingRequests(owner=ext), who))


@router.post("/requests/{other}/accept", response_model=Result, summary="Accept a request")
async def accept(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    return await _tell(edge, who, AcceptRequest(owner=ext, watcher=other), ext)


@router.post("/requests/{other}/block", response_model=Result, summary="Block a request")
async def block_request(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    return await _tell(edge, who, BlockRequest(owner=ext, watcher=other), ext)


@router.get("/visibility", response_model=Result, summary="My policy and who can see me")
async def who_can_see_me(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("visibility", WhoCanSeeMe(owner=ext), who))


@router.put("/visibility/policy", response_model=Result, summary="Everyone, nobody, or ask")
async def set_policy(ext: Ext, body: PolicyBody, who: Owner, edge: EdgeDep) -> Result:
    return await _tell(edge, who, SetPolicy(owner=ext, **body.model_dump()), ext)


@router.get("/visibility/allowed", response_model=Result, summary="Who I allow")
async def allowed(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("visibility", GetAllowed(owner=ext), who))


@router.put("/visibility/allowed/{other}", response_model=Result, summary="Allow (move here)")
async def allow(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    return await _tell(edge, who, AllowWatcher(owner=ext, watcher=other), ext)


@router.get("/visibility/blocked", response_model=Result, summary="Who I block")
async def blocked(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("visibility", GetBlocked(owner=ext), who))


@router.put("/visibility/blocked/{other}", response_model=Result, summary="Block (move here)")
async def block(ext: Ext, other: Other, who: Owner, edge: EdgeDep) -> Result:
    return await _tell(edge, who, BlockWatcher(owner=ext, watcher=other), ext)


@router.get("/watchers", response_model=Result, summary="Who has me as a contact")
async def watchers(ext: Ext, who: Owner, edge: EdgeDep) -> Result:
    return result(await edge.ask("visibility", WhoWatchesMe(owner=ext), who))
