"""NATS: connecting, and commands as request/reply with typed errors.

Command subjects are `voco.cmd.<service>.<CommandType>`; a service answers in a
queue group so replicas share the load. Every reply is a `contracts.errors.Reply`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel, ValidationError

from contracts.base import Command, Message, UnknownMessageType
from contracts.errors import CommandError, ErrorBody, ErrorCode, Reply
from runtime.config import env_float, env_int, redact_url, url_user
from runtime.permissions import inbox_prefix
from runtime.telemetry import inject_headers, span_from_headers, tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)

# What a service's storage going away raises (Postgres restarting, a connection cut, a
# socket refused): the caller is told the service is unavailable, to try again, rather
# than that it failed inside.
STORAGE_AWAY: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.InterfaceError,
)

C = TypeVar("C", bound=Command)
M = TypeVar("M", bound=Message)
Handler = Callable[[M], Awaitable[BaseModel | dict[str, Any] | None]]
Decode = Callable[[bytes], Message]


def command_subject(service: str, command: type[Message] | Message) -> str:
    return f"voco.cmd.{service}.{command.type_name}"


async def flush_all(nc: NatsClient) -> None:
    """Return once everything sent so far (subscriptions included) has reached the server.

    nats-py's `flush()` alone is not that: it writes its PING straight to the socket,
    ahead of commands still in the client's buffer, so the PONG can come back before a
    SUB just made was sent (seen: a service's command subscription missing right after
    `start`). The buffer is pushed out first, then the round trip.
    """
    await nc._flush_pending(force_flush=True)
    await nc.flush()


async def connect(url: str, name: str, **options: Any) -> NatsClient:
    """Connect as the principal the URL names (its user); replies come back on that
    principal's own inbox prefix, the only one nats-server lets it read."""
    user = url_user(url)
    nc = NatsClient()
    refused = asyncio.Event()
    their_error_cb = options.pop("error_cb", None)

    async def on_error(error: Exception) -> None:
        # A refused user or password is retried forever like an unreachable server
        # (max_reconnect_attempts=-1): notice it, and stop with what to fix instead.
        if "authorization violation" in str(error).lower():
            refused.set()
        if their_error_cb is not None:
            await their_error_cb(error)
        else:  # e.g. a permissions violation: the server refused what this process sent
            log.warning("nats error", extra={"error": str(error)})

    connecting = asyncio.ensure_future(
        nc.connect(
            url,
            name=name,
            inbox_prefix=inbox_prefix(user) if user else "_INBOX",
            error_cb=on_error,
            **{
                "max_reconnect_attempts": -1,
                "reconnect_time_wait": 0.5,
                "connect_timeout": 5,
                **options,
            },
        )
    )
    told = asyncio.ensure_future(refused.wait())
    await asyncio.wait({connecting, told}, return_when=asyncio.FIRST_COMPLETED)
    told.cancel()
    try:
        if not connecting.done():
            connecting.cancel()
            raise SystemExit(refused_credentials(url))
        try:
            connecting.result()
        except nats.errors.Error as error:
            if "authorization violation" in str(error).lower():
                raise SystemExit(refused_credentials(url)) from None
            raise
    except BaseException:
        await nc.close()  # a refused connect leaves its socket open otherwise
        raise
    return nc


def refused_credentials(url: str) -> str:
    """What to fix when nats-server refuses a connection's user or password."""
    user = url_user(url)
    who = (
        f"as {user!r} with a password nats-server does not accept"
        if user
        else ("without a user and password")
    )
    return (
        f"NATS at {redact_url(url)} refused to let us in {who} (Authorization Violation): "
        "set VOCO_NATS_URL to nats://<principal>:<password>@host:port with this process's "
        "own credentials (./voco up writes them to the data dir; for Kubernetes, "
        "python -m launcher.credentials k8s)"
    )


def explain_validation(error: ValidationError) -> tuple[str, str | None]:
    """A ValidationError as one sentence a person can act on, and the field it names."""
    problems = []
    first_field: str | None = None
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"] if part != "__root__")
        first_field = first_field or where or None
        problems.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(problems), first_field


class CommandServer:
    """Routes each command type to one handler and answers with a Reply."""

    def __init__(
        self,
        nc: NatsClient,
        service: str,
        max_concurrency: int = 256,
        max_waiting: int | None = None,
        max_wait_seconds: float | None = None,
    ) -> None:
        """`max_waiting` (default VOCO_COMMAND_QUEUE, 2,000): commands allowed to wait for
        one of the `max_concurrency` slots; past it a command is refused at once
        (`unavailable`, "overloaded"), instead of waiting until its caller times out.
        `max_wait_seconds` (default VOCO_COMMAND_MAX_WAIT, 2): a command that waited longer
        than this for a slot is refused the same way when its turn comes, unread: its
        caller (5 s by default) would otherwise get a timeout, or a late answer after it."""
        self.nc = nc
        self.service = service
        self._handlers: dict[str, tuple[type[Message], Handler[Any], Decode | None]] = {}
        self._subscriptions: list[Subscription] = []
        # nats-py runs one callback at a time per subscription; handlers run as tasks so a
        # slow command does not hold up the next, bounded so overload queues in NATS.
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max_concurrency)
        self.max_waiting = (
            max_waiting if max_waiting is not None else env_int("VOCO_COMMAND_QUEUE", 2000)
        )
        self.max_wait_seconds = (
            max_wait_seconds
            if max_wait_seconds is not None
            else env_float("VOCO_COMMAND_MAX_WAIT", 2.0)
        )
        self._capacity = max_concurrency
        self._admitted = 0  # answering or waiting for a slot

    def route(
        self,
        command: type[M],
        handler: Handler[M],
        *,
        subject: str | None = None,
        decode: Decode | None = None,
    ) -> None:
        """Answer `command` on its command subject, or on `subject` (another contract's,
        e.g. the PBX's call offers), read with `decode` where that contract's wire format
        is not the model's JSON."""
        key = subject or command_subject(self.service, command)
        self._handlers[key] = (command, handler, decode)

    async def start(self) -> None:
        for subject in self._handlers:
            self._subscriptions.append(
                await self.nc.subscribe(subject, queue=self.service, cb=self._dispatch)
            )

    async def drain(self) -> None:
        for subscription in self._subscriptions:
            await subscription.drain()  # type: ignore[no-untyped-call]
        self._subscriptions.clear()
        if self._in_flight:
            await asyncio.wait(self._in_flight)

    async def _dispatch(self, msg: Msg) -> None:
        if self._admitted >= self._capacity + self.max_waiting:
            work = self._refuse_overloaded(msg)
        else:
            self._admitted += 1  # counted now: the task may not start before the next one
            work = self._answer_in_turn(msg, time.monotonic())
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _answer_in_turn(self, msg: Msg, arrived: float) -> None:
        try:
            async with self._slots:
                if time.monotonic() - arrived > self.max_wait_seconds:
                    await self._refuse_overloaded(msg)
                else:
                    await self._answer(msg)
        finally:
            self._admitted -= 1

    async def _refuse_overloaded(self, msg: Msg) -> None:
        log.warning("command refused: overloaded", extra={"subject": msg.subject})
        if msg.reply:
            body = ErrorBody(
                code=ErrorCode.UNAVAILABLE,
                message=f"the {self.service} service is overloaded "
                f"({self._admitted - self._capacity} commands waiting); try again in a moment",
            )
            await self.nc.publish(msg.reply, Reply(ok=False, error=body).model_dump_json().encode())

    async def _answer(self, msg: Msg) -> None:
        model, handler, decode = self._handlers[msg.subject]
        with span_from_headers(
            _tracer, f"handle {model.type_name}", msg.headers, kind=SpanKind.SERVER
        ) as span:
            reply = await self._run(model, handler, decode, msg.data)
            if reply.error is not None:
                span.set_status(Status(StatusCode.ERROR, reply.error.message))
                log.info(
                    "command refused",
                    extra={
                        "subject": msg.subject,
                        "code": reply.error.code.value,
                        "reason": reply.error.message,
                    },
                )
            if msg.reply:
                await self.nc.publish(msg.reply, reply.model_dump_json().encode())

    async def _run(
        self, model: type[Message], handler: Handler[Any], decode: Decode | None, raw: bytes
    ) -> Reply:
        try:
            command = decode(raw) if decode is not None else model.model_validate_json(raw)
        except ValidationError as error:
            message, field = explain_validation(error)
            return Reply(
                ok=False, error=ErrorBody(code=ErrorCode.INVALID, message=message, field=field)
            )
        except (ValueError, UnknownMessageType) as error:  # not JSON, or not a known type
            message = f"could not read {model.type_name}: {error}"
            return Reply(ok=False, error=ErrorBody(code=ErrorCode.INVALID, message=message))
        if not isinstance(command, model):
            return Reply(
                ok=False,
                error=ErrorBody(
                    code=ErrorCode.INVALID,
                    message=f"{command.type_name} is not answered here; send {model.type_name}",
                ),
            )
        try:
            result = await handler(command)
        except CommandError as error:
            return Reply(ok=False, error=error.body())
        except ValidationError as error:
            message, field = explain_validation(error)
            return Reply(
                ok=False, error=ErrorBody(code=ErrorCode.INVALID, message=message, field=field)
            )
        except STORAGE_AWAY as error:
            log.warning(
                "command failed: storage unreachable",
                extra={"command": model.type_name, "error": repr(error)},
            )
            return Reply(
                ok=False,
                error=ErrorBody(
                    code=ErrorCode.UNAVAILABLE,
                    message=f"{model.type_name} could not be served: the {self.service} "
                    "service cannot reach its database or message store right now; "
                    "try again in a moment",
                ),
            )
        except Exception:
            log.exception("command failed", extra={"command": model.type_name})
            return Reply(
                ok=False,
                error=ErrorBody(
                    code=ErrorCode.INTERNAL,
                    message=f"{model.type_name} failed inside the service; see its log",
                ),
            )
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return Reply(ok=True, result=result or {})


async def request(
    nc: NatsClient, service: str, command: Command, *, timeout: float = 5.0
) -> dict[str, Any]:
    """Send a command and return its result, or raise the CommandError it was answered with."""
    subject = command_subject(service, command)
    with _tracer.start_as_current_span(f"send {command.type_name}", kind=SpanKind.CLIENT):
        try:
            msg = await nc.request(
                subject,
                command.model_dump_json(exclude_none=True).encode(),
                timeout=timeout,
                headers=inject_headers(),
            )
        except NoRespondersError:
            raise CommandError(
                f"the {service} service is not running (no responder on "
                f"{subject}); start it with ./voco up",
                code=ErrorCode.UNAVAILABLE,
            ) from None
        except NatsTimeout:
            raise CommandError(
                f"the {service} service did not answer within {timeout} s",
                code=ErrorCode.UNAVAILABLE,
            ) from None
    reply = Reply.model_validate(json.loads(msg.data))
    if reply.error is not None:
        raise CommandError.from_body(reply.error)
    return reply.result or {}
