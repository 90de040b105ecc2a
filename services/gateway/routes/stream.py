"""The live stream (server-sent events) of the signed-in user.

SSE rather than WebSocket: the stream goes one way (commands are ordinary HTTP requests
with their CSRF check), a browser's EventSource reconnects by itself and sends
Last-Event-ID, and it is plain HTTP through any proxy with the same cookie.

Events: `ready` (the stream is live; fetch current state now), `presence` (a contact's
presence as visibility lets you see it, or your own: a `WatchedPresence`), `changed`
(something of yours changed through the edge: `{"command": ...}`), `reload` (what you
missed is no longer kept: fetch everything again), `signed_out`, `closing`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from services.gateway.auth import EdgeDep, User
from services.gateway.edge import Edge
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.identity import Principal
from services.gateway.live import Out
from services.gateway.server import TRANSPORT_EXTENSION

router = APIRouter(prefix="/api", tags=["live"], responses=ERROR_RESPONSES)

STREAM_DOC = {200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}}
HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
    (b"transfer-encoding", b"chunked"),  # what the direct writes frame their bytes as
]


class LiveStream(Response):
    """The response is started through ASGI (the middleware adds its headers and logs
    it); then the feed writes to the connection itself (live.py, `Out`) until the
    session ends, the server stops or the client goes away."""

    def __init__(self, edge: Edge, who: Principal, last_event_id: str | None) -> None:
        self.edge, self.who, self.last_event_id = edge, who, last_event_id
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        transport = scope.get("extensions", {}).get(TRANSPORT_EXTENSION)
        out = Out(transport, None if transport is not None else send)
        live = self.edge.live
        listener = live.open(self.who.login, self.who.session_id, self.last_event_id, out)
        writer = asyncio.ensure_future(out.drain_to_send() if transport is None else out.closed)
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait([out.closed, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            live.close_stream(self.who.login, listener)
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@router.get("/stream", response_class=StreamingResponse, responses=STREAM_DOC, summary="Live")  # type: ignore[arg-type]
async def stream(
    who: User,
    edge: EdgeDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> Response:
    return LiveStream(edge, who, last_event_id)
