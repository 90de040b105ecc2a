"""Typed errors a command can answer with, for a client to show as they are."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class ErrorCode(StrEnum):
    INVALID = "invalid"  # the command breaks a rule; message says which and how to fix it
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # the state changed under the command too often; retry
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"  # the service could not answer now; retry later
    INTERNAL = "internal"


class ErrorBody(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ErrorCode
    message: str
    field: str | None = None


class CommandError(Exception):
    """Raised by domain logic and services; travels to the client as an ErrorBody."""

    code = ErrorCode.INVALID

    def __init__(self, message: str, *, field: str | None = None, code: ErrorCode | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def body(self) -> ErrorBody:
        return ErrorBody(code=self.code, message=self.message, field=self.field)

    @classmethod
    def from_body(cls, body: ErrorBody) -> CommandError:
        return cls(body.message, field=body.field, code=body.code)


class NotFound(CommandError):
    code = ErrorCode.NOT_FOUND


class Forbidden(CommandError):
    code = ErrorCode.FORBIDDEN


class Reply(BaseModel):
    """Every command's reply: a result, or an error and never both."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    result: dict[str, object] | None = None
    error: ErrorBody | None = None
