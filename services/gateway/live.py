"""One live feed per signed-in user: what visibility shows them, and their own changes.

A feed subscribes `voco.view.<user>.>` (visibility's filtered fan-out, the user's own
presence included) while any of the user's streams is open, and for `linger` seconds
after, so a client that reconnects with Last-Event-ID gets what it missed. Every item
gets an id `<epoch>.<n>`; the last `buffer` items are kept. An id from another epoch
(the edge restarted, or the feed was dropped) or older than the buffer gets `reload`.

What goes out is exactly what visibility published, byte for byte: a blocked watcher's
feed therefore carries what an offline user's or a stranger's does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from runtime.bus import flush_all


@dataclass(frozen=True)
class Item:
    id: str
    kind: str
    data: str
    n: int = 0  # the number in `id`, kept as an int: compared for every delivery

    def encode(self) -> bytes:
        head = f"id: {self.id}\n" if self.id else ""
        return f"{head}event: {self.kind}\ndata: {self.data}\n\n".encode()


ENDED = Item("", "signed_out", '{"reason": "your session ended; sign in again"}')
"""Put on a stream's queue when its session ends: the stream says so and closes."""
SHUTDOWN = Item("", "closing", '{"reason": "the server is restarting; reconnect"}')
KEEPALIVE = Item("", "", "")
"""Put on every stream's queue each keepalive interval: the stream checks its session
and writes a comment line (a timer per stream and event would cost more per delivery)."""


@dataclass
class Listener:
    session_id: str
    queue: asyncio.Queue[Item] = field(default_factory=asyncio.Queue)


class Feed:
    def __init__(self, login: str, size: int) -> None:
        self.login = login
        self.epoch = secrets.token_hex(4)
        self._numbers = itertools.count(1)
        self.items: deque[Item] = deque(maxlen=size)
        self.listeners: list[Listener] = []
        self.subscription: Subscription | None = None
        self.idle_since = time.monotonic()

    def add(self, kind: str, data: str) -> Item:
        n = next(self._numbers)
        item = Item(f"{self.epoch}.{n}", kind, data, n)
        self.items.append(item)
        for listener in self.listeners:
            listener.queue.put_nowait(item)
        return item

    def since(self, last_id: str) -> list[Item] | None:
        """What came after `last_id`, or None when that cannot be told (reload)."""
        epoch, _, number = last_id.partition(".")
        if epoch != self.epoch or not number.isdigit():
            return None
        seen = int(number)
        if self.items and self.items[0].n > seen + 1:
            return None  # the buffer no longer holds everything after it
        return [i for i in self.items if i.n > seen]

    @property
    def latest(self) -> Item | None:
        return self.items[-1] if self.items else None

    async def on_view(self, msg: Msg) -> None:
        self.add("presence", msg.data.decode())


class LiveHub:
    def __init__(self, nc: NatsClient, *, buffer: int, linger: float) -> None:
        self.nc = nc
        self.buffer = buffer
        self.linger = linger
        self.feeds: dict[str, Feed] = {}
        self._lock = asyncio.Lock()

    async def attach(self, login: str, session_id: str) -> tuple[Feed, Listener]:
        """The user's feed (subscribed and flushed to the server before this returns)."""
        async with self._lock:
            for subscription in self._drop_idle():
                await subscription.unsubscribe()
            feed = self.feeds.get(login)
            if feed is None:
                feed = self.feeds[login] = Feed(login, self.buffer)
                feed.subscription = await self.nc.subscribe(
                    f"voco.view.{login}.>", cb=feed.on_view, pending_msgs_limit=-1
                )
                await flush_all(self.nc)
            listener = Listener(session_id)
            feed.listeners.append(listener)
            return feed, listener

    def detach(self, feed: Feed, listener: Listener) -> None:
        if listener in feed.listeners:
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
        for listener in feed.listeners if feed is not None else ():
            if listener.session_id == session_id:
                listener.queue.put_nowait(ENDED)

    def session_ended_by_id(self, session_id: str) -> None:
        for feed in self.feeds.values():
            for listener in feed.listeners:
                if listener.session_id == session_id:
                    listener.queue.put_nowait(ENDED)

    def _drop_idle(self) -> list[Subscription]:
        """Forget feeds nobody listened to for `linger` seconds; their subscriptions."""
        now = time.monotonic()
        dropped = []
        for login, feed in list(self.feeds.items()):
            if not feed.listeners and now - feed.idle_since > self.linger:
                del self.feeds[login]
                if feed.subscription is not None:
                    dropped.append(feed.subscription)
        return dropped

    async def sweep(self) -> None:
        async with self._lock:
            for subscription in self._drop_idle():
                await subscription.unsubscribe()

    async def keep_alive(self, interval: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), interval)
            except TimeoutError:
                for feed in self.feeds.values():
                    for listener in feed.listeners:
                        listener.queue.put_nowait(KEEPALIVE)

    def end_all(self) -> None:
        """Every open stream ends (the edge is shutting down; clients reconnect elsewhere)."""
        for feed in self.feeds.values():
            for listener in feed.listeners:
                listener.queue.put_nowait(SHUTDOWN)

    async def close(self) -> None:
        self.end_all()
        for feed in self.feeds.values():
            if feed.subscription is not None and not self.nc.is_closed:
                await feed.subscription.unsubscribe()
        self.feeds.clear()
