"""Signing in and out, the password, and the signed-in clients of an account."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from services.gateway.accounts.domain import AccountRole, ChangePassword
from services.gateway.auth import COOKIE, LOGIN, Anyone, EdgeDep, any_session
from services.gateway.edge import Edge
from services.gateway.errors import ERROR_RESPONSES, Refused
from services.gateway.identity import Principal
from services.gateway.models import (
    AccountInfo,
    ChangePasswordBody,
    SessionInfo,
    SignedIn,
    SignInBody,
)
from services.gateway.sessions import Session

router = APIRouter(prefix="/api", tags=["session"], responses=ERROR_RESPONSES)

WRONG = "wrong login or password"


def address_of(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def info(session: Session, current: str | None = None) -> SessionInfo:
    return SessionInfo(
        id=session.id,
        kind=session.kind,
        user_agent=session.user_agent,
        address=session.address,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        current=session.id == current,
    )


async def account_info(edge: Edge, login: str) -> AccountInfo:
    account = await edge.accounts.find(login)
    if account is None:
        raise Refused(401, "your account no longer exists")
    return AccountInfo(
        login=account["login"],
        display_name=account["display_name"],
        role=AccountRole(account["role"]),
        must_change_password=account["must_change_password"],
    )


@router.post("/session", response_model=SignedIn, summary="Sign in")
async def sign_in(
    body: SignInBody, request: Request, response: Response, edge: EdgeDep
) -> SignedIn:
    address, now = address_of(request), edge.clock.now()
    locked, delay = await edge.throttle.standing(body.login, address, now)
    if locked:
        raise Refused(
            429,
            "too many failed sign-ins for this login or from this address; try again in "
            f"{int(locked // 60) + 1} minutes, or ask an administrator to reset the password",
            headers={"Retry-After": str(int(locked) + 1)},
        )
    if delay:
        await asyncio.sleep(delay)  # wall time on purpose: it slows a guesser down
    account = await edge.accounts.find(body.login)
    stored = account["password_hash"] if account is not None else None
    if not await edge.passwords.verify(stored, body.password):
        await edge.throttle.failed(body.login, address, now)
        raise Refused(401, WRONG, headers={"WWW-Authenticate": "Bearer"})
    assert account is not None
    await edge.throttle.succeeded(body.login)
    kind = "bearer" if body.bearer else "cookie"
    agent = request.headers.get("user-agent", "")
    token, session = await edge.sessions.open(
        body.login, account["role"], kind, agent, address, now
    )
    await edge.presence_sign_in(body.login, session.id)
    if not body.bearer:
        response.set_cookie(
            COOKIE,
            token,
            max_age=int(edge.config.session_max_seconds),
            path="/api",
            secure=edge.config.force_secure_cookie or request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
    return SignedIn(
        account=await account_info(edge, body.login),
        session=info(session, session.id),
        csrf_token=session.csrf_token,
        token=token if body.bearer else None,
    )


@router.get("/session", response_model=SignedIn, summary="Who am I")
async def current(who: Anyone, edge: EdgeDep) -> SignedIn:
    sessions = {s.id: s for s in await edge.sessions.of_login(who.login)}
    if who.session_id not in sessions:  # it ended since this request was authenticated
        raise Refused(401, "your session ended; sign in again")
    return SignedIn(
        account=await account_info(edge, who.login),
        session=info(sessions[who.session_id], who.session_id),
        csrf_token=who.csrf_token,
    )


@router.delete("/session", status_code=204, summary="Sign out")
async def sign_out(who: Anyone, edge: EdgeDep, response: Response) -> Response:
    if await edge.sessions.end(who.session_id, "signed_out", edge.clock.now()):
        await edge.ended(who.login, [who.session_id])
    response.delete_cookie(COOKIE, path="/api")
    response.status_code = 204
    return response


@router.put("/session/password", status_code=204, summary="Change my password")
async def change_password(body: ChangePasswordBody, who: Anyone, edge: EdgeDep) -> Response:
    account = await edge.accounts.find(who.login)
    stored = account["password_hash"] if account is not None else None
    if not await edge.passwords.verify(stored, body.current_password):
        raise Refused(422, "the current password is wrong", field="current_password")
    if body.new_password in (body.current_password, who.login):
        raise Refused(
            422, "choose a new password, not the old one or your login", field="new_password"
        )
    now = edge.clock.now()
    await edge.accounts.handle(
        ChangePassword(
            login=who.login,
            password_hash=await edge.passwords.hash(body.new_password),
            must_change_password=False,
            by=who.login,
        ),
        now,
        who.login,
    )
    # Whoever knew the old password is signed out everywhere but here.
    await edge.ended(
        who.login, await edge.sessions.end_all(who.login, "password", now, who.session_id)
    )
    return Response(status_code=204)


async def for_account(
    login: Annotated[str, Path(pattern=LOGIN, description="an account's login")],
    who: Annotated[Principal, Depends(any_session)],
) -> Principal:
    if not (who.is_admin or who.login == login):
        raise Refused(403, "you may see only your own sessions", field="login")
    return who


AccountOwner = Annotated[Principal, Depends(for_account)]


@router.get(
    "/accounts/{login}/sessions", response_model=list[SessionInfo], summary="Signed-in clients"
)
async def sessions(login: str, who: AccountOwner, edge: EdgeDep) -> list[SessionInfo]:
    return [info(s, who.session_id) for s in await edge.sessions.of_login(login)]


@router.delete(
    "/accounts/{login}/sessions/{session_id}", status_code=204, summary="Sign a client out"
)
async def revoke(
    login: str,
    session_id: Annotated[str, Path(max_length=64)],
    who: AccountOwner,
    edge: EdgeDep,
) -> Response:
    if session_id not in {s.id for s in await edge.sessions.of_login(login)}:
        raise Refused(404, f"{login} has no signed-in client {session_id}", field="session_id")
    await edge.sessions.end(session_id, "revoked", edge.clock.now())
    await edge.ended(login, [session_id])
    return Response(status_code=204)
