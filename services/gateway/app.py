"""The ASGI app: routes, errors, tracing, and the edge's resources for its lifetime."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.clock import Clock
from runtime.config import Connections, env_str
from runtime.heartbeat import beat
from runtime.telemetry import tracer
from services.gateway import errors
from services.gateway.config import GatewayConfig
from services.gateway.edge import open_edge
from services.gateway.routes import admin, calls, presence, schedule, session, stream, visibility
from services.gateway.sweeper import run_sweeper
from web import mount_web_client

log = logging.getLogger(__name__)
_tracer = tracer(__name__)


MAX_BODY = 64 * 1024
"""No request of this API needs more (a full profile or schedule is a few KiB)."""
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


async def refuse(send: Send, status: int, message: str) -> None:
    body = {"error": {"code": "invalid", "message": message, "field": None}}
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *SECURITY_HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


class TraceRequests:
    """A server span per request, always a new trace: context a browser sends is not
    trusted (it would let a client join or spoof internal traces). The span is current
    while the request runs, so runtime.bus injects it into every NATS request. Also: one
    structured log line per request, security headers, and a cap on body size."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                message["headers"] = headers
            await send(message)

        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is None and b"chunked" in headers.get(b"transfer-encoding", b""):
            # Every client of this API knows its body's length; counting a chunked one
            # as it arrives cannot refuse it cleanly once the framework reads it.
            await refuse(send, 411, "send the body with a Content-Length")
            return
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
            await refuse(send, 413, f"the body is over {MAX_BODY} bytes")
            return

        with _tracer.start_as_current_span(
            f"HTTP {scope['method']}",
            context=otel_context.Context(),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, sending)
            finally:
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )


def create_app(
    connections: Connections, config: GatewayConfig, clock: Clock | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        edge = await open_edge(connections, config, clock)
        app.state.edge = edge
        stopping = asyncio.Event()
        sweeper = asyncio.create_task(run_sweeper(edge, stopping), name="session-sweeper")
        keepalive = asyncio.create_task(
            edge.live.keep_alive(
                config.stream_keepalive_seconds, stopping, edge.session_still_open
            ),
            name="keepalive",
        )
        heartbeat = env_str("VOCO_HEARTBEAT_FILE", "")  # liveness, as every service's
        beating = (
            asyncio.create_task(beat(Path(heartbeat), edge.nc), name="heartbeat")
            if heartbeat
            else None
        )
        log.info("gateway started", extra={"port": config.port})
        try:
            yield {}
        finally:
            stopping.set()
            if beating is not None:
                beating.cancel()
            await asyncio.gather(sweeper, keepalive)
            await edge.close()
            log.info("gateway stopped")

    app = FastAPI(
        title="Voco",
        version="1",
        summary="Presence and presence-driven call routing: the HTTP API of the edge",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry would continue the trace a browser's `traceparent`
        # names; TraceRequests starts every request's trace afresh instead.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    for module in (session, presence, schedule, visibility, calls, admin, stream):
        app.include_router(module.router)

    @app.get("/api/health", tags=["health"], summary="Up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # The web client (web/): every path the API does not answer; after the API's routes.
    mount_web_client(app)
    app.add_middleware(TraceRequests)
    return app
