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

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from services.gateway.auth import EdgeDep, User
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.live import ENDED, KEEPALIVE, SHUTDOWN, Feed, Item, Listener
from services.gateway.sessions import still_open

router = APIRouter(prefix="/api", tags=["live"], responses=ERROR_RESPONSES)

STREAM_DOC = {200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}}


def _latest(feed: Feed) -> tuple[str, int]:
    latest = feed.latest
    return (latest.id, latest.n) if latest is not None else (f"{feed.epoch}.0", 0)


@router.get("/stream", response_class=StreamingResponse, responses=STREAM_DOC, summary="Live")  # type: ignore[arg-type]
async def stream(
    who: User,
    edge: EdgeDep,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    feed, listener = await edge.live.attach(who.login, who.session_id)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for chunk in _events(feed, listener, last_event_id):
                yield chunk
        finally:
            edge.live.detach(feed, listener)

    async def _events(feed: Feed, listener: Listener, last: str | None) -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        if last is not None:
            missed = feed.since(last)
            if missed is None:
                reason = {"reason": "what you missed is no longer kept; fetch it again"}
                yield Item(_latest(feed)[0], "reload", json.dumps(reason)).encode()
            for item in missed or ():
                yield item.encode()
        latest_id, sent = _latest(feed)
        yield Item(latest_id, "ready", "{}").encode()
        queue = listener.queue
        while True:
            # What has queued up meanwhile leaves in one write.
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            out = []
            for item in items:
                if item is KEEPALIVE:
                    if await still_open(edge.sessions, who.session_id, edge.clock.now()):
                        out.append(b": keepalive\n\n")
                        continue
                    item = ENDED
                if item is ENDED or item is SHUTDOWN:
                    yield b"".join([*out, item.encode()])
                    return
                if item.n > sent:  # not already sent from the buffer on reconnect
                    sent = item.n
                    out.append(item.encode())
            if out:
                yield b"".join(out)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
