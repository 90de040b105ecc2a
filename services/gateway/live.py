"""One live feed per signed-in user: what visibility shows them, and their own changes.

The edge subscribes once, at start, to visibility's batched views
(`voco.viewbatch.>`: each view with the watchers it goes to) and hands each view to the
feeds of the watchers it names; a user's own presence comes the same way. A feed exists
while any of the user's streams is open and for `linger` seconds after, so a client that
reconnects with Last-Event-ID gets what it missed. Views for users without a feed here
are dropped: visibility's queries give the current state to whoever connects later.

Event ids are `<epoch>.<n>`, one counter for the whole process, so one view sent to a
thousand watchers is one item, encoded once, the same bytes on every stream. A feed
keeps its last `buffer` items and the number below which it cannot tell what its user
missed (`floor`: a number taken when the feed was made, then the last one it evicted).
An id from another epoch (the edge restarted), below the floor, or not yet issued gets
`reload`.

What goes out is exactly what visibility published, byte for byte: a blocked watcher's
feed therefore carries what an offline user's or a stranger's does.

Streams are written from the NATS callback itself, with no task or queue per stream:
`Out` is either the connection's transport (server.py's protocol hands it over; frames
in HTTP/1.1 chunks, as the response declared) or, under any other ASGI server, a queue
drained into ASGI `send`. A stream whose client does not read (more than
`MAX_UNSENT` bytes waiting in the kernel's and the transport's buffers) is closed; its
client reconnects with Last-Event-ID and catches up from the buffer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from starlette.types import Send

from contracts.visibility import VIEW_BATCH_SUBJECTS, decode_view_batch
from runtime.bus import flush_all

log = logging.getLogger(__name__)

MAX_UNSENT = 256 * 1024
"""Bytes a stream may have waiting to be sent before it is closed (a client that stopped
reading: the buffer would otherwise grow with every change)."""


@dataclass(frozen=True)
class Item:
    id: str
    kind: str
    data: str
    n: int = 0  # the number in `id`, kept as an int: compared for every delivery

    def encode(self) -> bytes:
        head = f"id: {self.id}\n" if self.id else ""
        return f"{head}event: {self.kind}\ndata: {self.data}\n\n".encode()

    @cached_property
    def frame(self) -> bytes:
        """The event as one HTTP/1.1 chunk, made once however many streams carry it."""
        return chunk(self.encode())


def chunk(body: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(body), body)


ENDED = Item("", "signed_out", '{"reason": "your session ended; sign in again"}')
"""A stream's last event when its session ends."""
SHUTDOWN = Item("", "closing", '{"reason": "the server is restarting; reconnect"}')
KEEPALIVE = b": keepalive\n\n"


class Numbering:
    """The process's event ids: one epoch, one counter (shared by every feed)."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self._next = itertools.count(1)
        self.last = 0

    def take(self) -> int:
        self.last = next(self._next)
        return self.last


class Out:
    """Where a stream's bytes go. The transport case writes at once (no task switch per
    delivery); the fallback queues for a task that calls ASGI `send`."""

    def __init__(self, transport: asyncio.WriteTransport | None, send: Send | None) -> None:
        self.transport = transport
        self.send = send
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = asyncio.get_running_loop().create_future()

    def write(self, body: bytes) -> None:
        """Server-sent-event bytes, as they are."""
        if self.transport is None:
            self._queue(body)
        else:
            self._write(chunk(body))

    def write_item(self, item: Item) -> None:
        if self.transport is None:
            self._queue(item.encode())
        else:
            self._write(item.frame)

    def _queue(self, body: bytes) -> None:
        if not self.closed.done():
            self.queue.put_nowait(body)

    def _write(self, frame: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if self.closed.done():
            return
        if transport.is_closing():
            self.close()
        elif transport.get_write_buffer_size() > MAX_UNSENT:
            log.warning("closing a live stream whose client stopped reading")
            transport.close()
            self.close()
        else:
            transport.write(frame)

    def close(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
            self.queue.put_nowait(None)

    async def drain_to_send(self) -> None:
        """The fallback's writer: queued bytes to ASGI `send` until closed; what queued
        up meanwhile leaves in one write."""
        assert self.send is not None
        ended = False
        while not ended:
            body = await self.queue.get()
            if body is None:
                return
            parts = [body]
            while not self.queue.empty():
                more = self.queue.get_nowait()
                if more is None:
                    ended = True
                    break
                parts.append(more)
            await self.send(
                {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
            )


@dataclass(eq=False)
class Listener:
    session_id: str
    out: Out

    def deliver(self, item: Item) -> None:
        self.out.write_item(item)

    def end(self, item: Item) -> None:
        """The stream's last event, then it closes."""
        self.deliver(item)
        self.out.close()


class Feed:
    def __init__(self, login: str, size: int, numbering: Numbering | None = None) -> None:
        self.login = login
        self.numbering = numbering or Numbering()
        self.epoch = self.numbering.epoch
        # Nothing before this feed existed is known: ids up to here get `reload`.
        self.floor = self.numbering.take()
        self.items: deque[Item] = deque(maxlen=size)
        self.listeners: list[Listener] = []
        self.idle_since = time.monotonic()

    def add(self, kind: str, data: str) -> Item:
        n = self.numbering.take()
        item = Item(f"{self.epoch}.{n}", kind, data, n)
        self.append(item)
        return item

    def append(self, item: Item) -> None:
        """`item` (maybe shared with other feeds) is kept and sent to every listener."""
        items = self.items
        if len(items) == items.maxlen:
            self.floor = items[0].n
        items.append(item)
        for listener in self.listeners:
            listener.deliver(item)

    def since(self, last_id: str) -> list[Item] | None:
        """What came after `last_id`, or None when that cannot be told (reload)."""
        epoch, _, number = last_id.partition(".")
        if epoch != self.epoch or not number.isdigit():
            return None
        seen = int(number)
        if seen < self.floor or seen > self.numbering.last:
            return None  # before the buffer (or this feed), or never issued
        return [i for i in self.items if i.n > seen]

    @property
    def latest_id(self) -> str:
        """The id `ready` carries: a reconnect with it misses nothing said before."""
        latest = self.items[-1].n if self.items else self.floor
        return f"{self.epoch}.{latest}"


class LiveHub:
    def __init__(self, nc: NatsClient, *, buffer: int, linger: float) -> None:
        self.nc = nc
        self.buffer = buffer
        self.linger = linger
        self.numbering = Numbering()
        self.feeds: dict[str, Feed] = {}
        self.subscription: Subscription | None = None

    async def start(self) -> None:
        """The one subscription (flushed to the server before this returns)."""
        self.subscription = await self.nc.subscribe(
            VIEW_BATCH_SUBJECTS, cb=self.on_batch, pending_msgs_limit=-1
        )
        await flush_all(self.nc)

    async def on_batch(self, msg: Msg) -> None:
        watchers, view = decode_view_batch(msg.data)
        item: Item | None = None
        feeds = self.feeds
        for watcher in watchers:
            feed = feeds.get(watcher.decode())
            if feed is None:
                continue
            if item is None:  # numbered only when someone here receives it
                n = self.numbering.take()
                item = Item(f"{self.numbering.epoch}.{n}", "presence", view.decode(), n)
            feed.append(item)

    def open(self, login: str, session_id: str, last_event_id: str | None, out: Out) -> Listener:
        """The user's stream, from its first bytes to listening, with no await between:
        nothing delivered meanwhile can be missed or sent twice."""
        self.sweep()
        feed = self.feeds.get(login)
        if feed is None:
            feed = self.feeds[login] = Feed(login, self.buffer, self.numbering)
        first = [b"retry: 2000\n\n"]
        if last_event_id is not None:
            missed = feed.since(last_event_id)
            if missed is None:
                reason = {"reason": "what you missed is no longer kept; fetch it again"}
                first.append(Item(feed.latest_id, "reload", json.dumps(reason)).encode())
            first.extend(item.encode() for item in missed or ())
        first.append(Item(feed.latest_id, "ready", "{}").encode())
        out.write(b"".join(first))
        listener = Listener(session_id, out)
        feed.listeners.append(listener)
        return listener

    def close_stream(self, login: str, listener: Listener) -> None:
        listener.out.close()
        feed = self.feeds.get(login)
        if feed is not None and listener in feed.listeners:
            feed.listeners.remove(listener)
            if not feed.listeners:
                feed.idle_since = time.monotonic()

    def changed(self, login: str, command: str) -> None:
        """Something of `login`'s changed through the edge (their other tabs, an admin)."""
        feed = self.feeds.get(login)
        if feed is not None:
            feed.add("changed", json.dumps({"command": command}))

    def session_ended(self, login: str, session_id: str) -> None:
        feed = self.feeds.get(login)
        for listener in list(feed.listeners) if feed is not None else ():
            if listener.session_id == session_id:
                listener.end(ENDED)

    def session_ended_by_id(self, session_id: str) -> None:
        for listener in self._listeners():
            if listener.session_id == session_id:
                listener.end(ENDED)

    def _listeners(self) -> list[Listener]:
        return [listener for feed in self.feeds.values() for listener in feed.listeners]

    def sweep(self) -> None:
        """Forget feeds nobody listened to for `linger` seconds."""
        now = time.monotonic()
        for login, feed in list(self.feeds.items()):
            if not feed.listeners and now - feed.idle_since > self.linger:
                del self.feeds[login]

    async def keep_alive(
        self,
        interval: float,
        stopping: asyncio.Event,
        still_open: Callable[[str], Awaitable[bool]],
    ) -> None:
        """Each interval every stream gets a comment line, or `signed_out` once its
        session has ended or expired (checked once per session; checking also keeps an
        open stream's session from going idle)."""
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), interval)
            except TimeoutError:
                listeners = self._listeners()
                open_ = {}
                for session_id in {listener.session_id for listener in listeners}:
                    try:
                        open_[session_id] = await still_open(session_id)
                    except Exception as error:  # the store is down: keep streaming
                        log.warning("session check failed", extra={"error": str(error)})
                        open_[session_id] = True
                for listener in listeners:
                    if open_.get(listener.session_id, True):
                        listener.out.write(KEEPALIVE)
                    else:
                        listener.end(ENDED)

    def end_all(self) -> None:
        """Every open stream ends (the edge is shutting down; clients reconnect elsewhere)."""
        for listener in self._listeners():
            listener.end(SHUTDOWN)

    async def close(self) -> None:
        self.end_all()
        if self.subscription is not None and not self.nc.is_closed:
            await self.subscription.unsubscribe()
        self.feeds.clear()
