"""What the edge's own resources look like on the wire (accounts and sessions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from contracts.presence import PhoneNumber
from services.gateway.accounts.domain import AccountRole, Login
from services.gateway.bodies import Body
from services.gateway.passwords import MAX_LENGTH, MIN_LENGTH

NewPassword = Field(
    min_length=MIN_LENGTH, max_length=MAX_LENGTH, description=f"at least {MIN_LENGTH} characters"
)


class SignInBody(Body):
    login: Login
    password: str = Field(min_length=1, max_length=MAX_LENGTH)
    bearer: bool = Field(
        default=False,
        description="true: answer with a bearer token (non-browser clients) and set no cookie",
    )


class AccountInfo(BaseModel):
    login: str
    display_name: str
    role: AccountRole
    must_change_password: bool


class SessionInfo(BaseModel):
    id: str
    kind: str
    user_agent: str
    address: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool = False


class SignedIn(BaseModel):
    account: AccountInfo
    session: SessionInfo
    csrf_token: str = Field(description="send it as X-CSRF-Token with every change")
    token: str | None = Field(default=None, description="the bearer token, when asked for")


class ChangePasswordBody(Body):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = NewPassword


class NewAccountBody(Body):
    login: Login
    display_name: str = Field(min_length=1, max_length=128)
    role: AccountRole = AccountRole.USER
    password: str | None = Field(
        default=None,
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description="omit to have one generated (shown once in the answer)",
    )
    mobile_number: PhoneNumber | None = None


class ResetPasswordBody(Body):
    password: str | None = Field(
        default=None, min_length=MIN_LENGTH, max_length=MAX_LENGTH, description="omit: generated"
    )
    must_change_password: bool = True


class AccountCreated(BaseModel):
    account: AccountInfo
    password: str | None = Field(description="the generated password, shown only here")


class PasswordReset(BaseModel):
    password: str | None = Field(description="the generated password, shown only here")
    sessions_ended: int


class Result(BaseModel):
    """A service's answer to a command, as it gave it."""

    model_config = {"extra": "allow"}


def result(answer: dict[str, Any]) -> Result:
    return Result.model_validate(answer)
