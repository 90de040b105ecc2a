"""My calls with routing's explanation of each, and what-if (owner or admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, Field

from contracts.presence import Profile
from contracts.routing import CallList, ExplainCall, Explanation, ListCalls, WhatIf
from services.gateway.auth import EdgeDep, Ext, Owner
from services.gateway.bodies import Body
from services.gateway.errors import ERROR_RESPONSES, Refused

router = APIRouter(prefix="/api/users/{ext}", tags=["calls"], responses=ERROR_RESPONSES)

CallIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class WhatIfBody(Body):
    """A call to me that is not placed: from `caller`, at `at`, with `profile` if proposed."""

    caller: str = Field(default="anonymous", min_length=1, max_length=64)
    at: AwareDatetime | None = None
    profile: Profile | None = None
    seed: int = Field(default=0, ge=0, le=2**31)


@router.get("/calls", response_model=CallList, summary="Calls I made or was dialled on")
async def calls(
    ext: Ext, who: Owner, edge: EdgeDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> CallList:
    answer = await edge.ask("routing", ListCalls(extension=ext, limit=limit), who)
    return CallList.model_validate(answer)


@router.get("/calls/{call_id}", response_model=Explanation, summary="Why my call went there")
async def explain(ext: Ext, call_id: CallIdPath, who: Owner, edge: EdgeDep) -> Explanation:
    mine = await edge.ask("routing", ListCalls(extension=ext, call_id=call_id, limit=1), who)
    if not mine.get("calls"):
        # The same answer whether the call does not exist or is someone else's.
        raise Refused(404, f"{ext} took part in no call {call_id}", field="call_id")
    answer = await edge.ask("routing", ExplainCall(call_id=call_id), who)
    return Explanation.model_validate(answer)


@router.post("/what-if", response_model=Explanation, summary="Where a call to me would go")
async def what_if(ext: Ext, body: WhatIfBody, who: Owner, edge: EdgeDep) -> Explanation:
    query = WhatIf(callee=ext, **body.model_dump())
    return Explanation.model_validate(await edge.ask("routing", query, who))
