"""A user's live feed, pure: event ids, what a reconnect gets, and when it must reload."""

from __future__ import annotations

from services.gateway.live import Feed


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


def test_an_id_older_than_the_buffer_gets_reload() -> None:
    feed = feed_with(10, size=4)  # items 7-10 kept
    assert feed.since(f"{feed.epoch}.5") is None
    assert [i.id for i in feed.since(f"{feed.epoch}.6") or []] == [
        f"{feed.epoch}.{n}" for n in (7, 8, 9, 10)
    ]


def test_an_id_from_another_epoch_or_malformed_gets_reload() -> None:
    feed = feed_with(2)
    assert feed.since("deadbeef.1") is None
    assert feed.since(f"{feed.epoch}.x") is None
    assert feed.since("") is None


def test_listeners_receive_each_new_item_once() -> None:
    feed = feed_with(0)
    from services.gateway.live import Listener

    listener = Listener("s1")
    feed.listeners.append(listener)
    item = feed.add("changed", "{}")
    assert listener.queue.get_nowait() is item
    assert listener.queue.empty()
