"""Who is calling: the session cookie (browsers, CSRF-checked) or a bearer token.

A state-changing request made with the cookie must carry the session's CSRF token in
`X-CSRF-Token` (a cross-site page can make the browser send the cookie, not read the
token). A bearer token is never sent by a browser on its own, so it needs none.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from services.gateway.accounts.domain import AccountRole
from services.gateway.edge import Edge
from services.gateway.errors import Refused
from services.gateway.identity import Principal

COOKIE = "voco_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXTENSION = r"^[0-9]{2,10}$"
LOGIN = r"^([0-9]{2,10}|[a-z][a-z0-9_-]{0,31})$"

cookie_scheme = APIKeyCookie(name=COOKIE, auto_error=False, description="browsers")
bearer_scheme = HTTPBearer(auto_error=False, description="non-browser clients")


def edge_of(request: Request) -> Edge:
    edge: Edge = request.app.state.edge
    return edge


async def _session(
    request: Request,
    cookie: Annotated[str | None, Depends(cookie_scheme)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    edge = edge_of(request)
    token = bearer.credentials if bearer is not None else cookie
    if not token:
        raise Refused(
            401, "sign in first: POST /api/session", headers={"WWW-Authenticate": "Bearer"}
        )
    now = edge.clock.now()
    session, expired = await edge.sessions.current(token, now)
    if session is None:
        if expired is not None:
            await edge.ended(expired.login, [expired.id])
        raise Refused(
            401, "your session ended; sign in again", headers={"WWW-Authenticate": "Bearer"}
        )
    if bearer is None and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise Refused(
                403,
                f"missing or wrong {CSRF_HEADER} header: send the csrf_token from "
                "GET /api/session with every change",
                field=CSRF_HEADER,
            )
    return Principal(
        login=session.login,
        role=AccountRole(session.role),
        session_id=session.id,
        kind=session.kind,
        csrf_token=session.csrf_token,
        must_change_password=session.must_change_password,
    )


async def any_session(who: Annotated[Principal, Depends(_session)]) -> Principal:
    """Signed in, even with a password that must change first (session routes only)."""
    return who


async def signed_in(who: Annotated[Principal, Depends(_session)]) -> Principal:
    if who.must_change_password:
        raise Refused(
            403,
            "change your password first: PUT /api/session/password",
            field="password",
        )
    return who


async def acting_for(
    ext: Annotated[str, Path(pattern=EXTENSION, description="the user's extension")],
    who: Annotated[Principal, Depends(signed_in)],
) -> Principal:
    """The owner of `ext`, or an administrator acting for them."""
    if not who.may_act_for(ext):
        raise Refused(403, f"you may act only for your own extension ({who.login})", field="ext")
    return who


async def administrator(who: Annotated[Principal, Depends(signed_in)]) -> Principal:
    if not who.is_admin:
        raise Refused(403, "only an administrator may do this")
    return who


Anyone = Annotated[Principal, Depends(any_session)]
User = Annotated[Principal, Depends(signed_in)]
Owner = Annotated[Principal, Depends(acting_for)]
Admin = Annotated[Principal, Depends(administrator)]
EdgeDep = Annotated[Edge, Depends(edge_of)]
Ext = Annotated[str, Path(pattern=EXTENSION, description="the user's extension")]
