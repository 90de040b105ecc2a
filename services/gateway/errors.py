"""Every refusal as one JSON shape, `{"error": {"code", "message", "field"}}`.

A service's typed error keeps its code, message and field; a body the edge cannot read
is 422 naming the field; nothing a client sends produces a 5xx or a stack trace (a
service that fails inside answers 502, one that does not answer 503).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from contracts.errors import CommandError, ErrorBody, ErrorCode
from runtime.bus import explain_validation
from services.gateway.identity import IDENTITY_FIELDS

log = logging.getLogger(__name__)

STATUS_OF = {
    ErrorCode.INVALID: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 502,
}
CODE_OF_STATUS = {
    400: ErrorCode.INVALID,
    401: ErrorCode.FORBIDDEN,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID,
    409: ErrorCode.CONFLICT,
    422: ErrorCode.INVALID,
    429: ErrorCode.FORBIDDEN,
}


class ErrorReply(BaseModel):
    """What every 4xx and 5xx answer carries."""

    error: ErrorBody


class Refused(Exception):
    """Raised by the edge itself: an HTTP status and what to tell the client."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(
            code=code or CODE_OF_STATUS.get(status, ErrorCode.INVALID), message=message, field=field
        )
        self.headers = headers


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorReply, "description": description}
    for status, description in {
        400: "the body is not JSON",
        401: "not signed in, or the session ended",
        403: "signed in, but not allowed (or the CSRF token is missing)",
        404: "no such thing",
        409: "the state changed under the request; retry",
        411: "the body has no Content-Length",
        413: "the body is too large",
        422: "the request breaks a rule; the message says what to fix",
        429: "too many failed sign-ins",
        502: "a service failed inside",
        503: "a service is not answering now; retry",
    }.items()
}


def reply(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        ErrorReply(error=body).model_dump(mode="json"), status_code=status, headers=headers
    )


def explain(error: RequestValidationError) -> ErrorBody:
    problems, first = [], None
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ()) if part != "body"]
        where = ".".join(loc)
        first = first or where or None
        if item.get("type") == "extra_forbidden" and loc and loc[-1] in IDENTITY_FIELDS:
            problems.append(f"{where}: is set from your session; remove it from the request")
        elif item.get("type") == "extra_forbidden":
            problems.append(f"{where}: is not a field of this request; remove it")
        else:
            problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return ErrorBody(code=ErrorCode.INVALID, message="; ".join(problems), field=first)


def install(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def refused(_: Request, error: Refused) -> JSONResponse:
        return reply(error.status, error.body, error.headers)

    @app.exception_handler(CommandError)
    async def service_error(_: Request, error: CommandError) -> JSONResponse:
        return reply(STATUS_OF.get(error.code, 502), error.body())

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return reply(422, explain(error))

    @app.exception_handler(ValidationError)
    async def invalid_command(_: Request, error: ValidationError) -> JSONResponse:
        message, field = explain_validation(error)
        return reply(422, ErrorBody(code=ErrorCode.INVALID, message=message, field=field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = CODE_OF_STATUS.get(error.status_code, ErrorCode.INVALID)
        return reply(error.status_code, ErrorBody(code=code, message=str(error.detail)))

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        log.exception("request failed", extra={"path": request.url.path})
        body = ErrorBody(code=ErrorCode.INTERNAL, message="the edge failed; see its log")
        return reply(500, body)
