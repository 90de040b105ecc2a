"""A user's live feed, pure: event ids, what a reconnect gets, when it must reload, and
how one batched view reaches exactly the streams it names."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

from contracts.visibility import encode_view_batch
from services.gateway.live import MAX_UNSENT, Feed, LiveHub, Numbering, Out, chunk


def feed_with(count: int, size: int = 4) -> Feed:
    feed = Feed("1001", size)
    for n in range(count):
        feed.add("presence", f'{{"n": {n}}}')
    return feed


def test_a_reconnect_gets_every_event_after_its_last_id() -> None:
    feed = feed_with(3)
    first = feed.items[0].id
    assert [i.data for i in feed.since(first) or []] == ['{"n": 1}', '{"n": 2}']
    assert feed.since(feed.items[-1].id) == []
    assert feed.since(feed.latest_id) == []


def test_an_id_older_than_the_buffer_gets_reload() -> None:
    feed = feed_with(10, size=4)  # the feed took 1; items 2-11, of which 8-11 are kept
    assert feed.since(f"{feed.epoch}.6") is None
    assert [i.id for i in feed.since(f"{feed.epoch}.7") or []] == [
        f"{feed.epoch}.{n}" for n in (8, 9, 10, 11)
    ]


def test_an_id_from_another_epoch_malformed_or_never_issued_gets_reload() -> None:
    feed = feed_with(2)
    assert feed.since("deadbeef.1") is None
    assert feed.since(f"{feed.epoch}.x") is None
    assert feed.since("") is None
    assert feed.since(f"{feed.epoch}.99") is None


def test_a_feed_made_again_cannot_tell_what_was_missed_before_it() -> None:
    numbering = Numbering()
    old = Feed("1001", 4, numbering)
    old.add("presence", "{}")
    seen = old.latest_id
    numbering.take()  # a view for someone else meanwhile
    again = Feed("1001", 4, numbering)  # the old feed was dropped; views went unkept
    assert again.since(seen) is None
    assert again.since(again.latest_id) == []


@dataclass
class FakeTransport:
    written: list[bytes] = field(default_factory=list)
    unsent: int = 0
    closing: bool = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def close(self) -> None:
        self.closing = True


@dataclass
class FakeMsg:
    data: bytes


def stream_of(hub: LiveHub, login: str) -> FakeTransport:
    transport = FakeTransport()
    hub.open(login, f"s-{login}", None, Out(cast(Any, transport), None))
    return transport


async def test_one_batch_is_one_item_with_the_same_bytes_on_every_stream_it_names() -> None:
    hub = LiveHub(cast(Any, None), buffer=8, linger=60)
    a, b, other = stream_of(hub, "2001"), stream_of(hub, "2002"), stream_of(hub, "2003")
    view = b'{"extension":"1001","status":"busy","note":"x","note_expires_at":null}'
    await hub.on_batch(cast(Any, FakeMsg(encode_view_batch(["2001", "2002", "4444"], view))))
    assert a.written[-1] is b.written[-1]  # encoded once
    assert view in a.written[-1]
    assert a.written[-1] == chunk(hub.feeds["2001"].items[-1].encode())  # one HTTP chunk
    assert all(view not in w for w in other.written)  # not named: nothing
    assert hub.feeds["2001"].items[-1] is hub.feeds["2002"].items[-1]
    assert "4444" not in hub.feeds  # no stream here: dropped, not kept


async def test_a_stream_whose_client_stopped_reading_is_closed() -> None:
    hub = LiveHub(cast(Any, None), buffer=8, linger=60)
    transport = stream_of(hub, "2001")
    transport.unsent = MAX_UNSENT + 1
    await hub.on_batch(cast(Any, FakeMsg(encode_view_batch(["2001"], b"{}"))))
    assert transport.closing
    listener = hub.feeds["2001"].listeners[0]
    assert listener.out.closed.done()


async def test_the_asgi_fallback_sends_what_queued_up_in_one_body_and_ends() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    out = Out(None, send)
    out.write(b"a")
    out.write(b"b")
    out.close()
    await asyncio.wait_for(out.drain_to_send(), 1)
    assert [m["body"] for m in sent] == [b"ab"]
