"""The state cache keeps the newest state per stream and forgets the least recently used."""

from __future__ import annotations

from runtime.decider import StateCache


def test_an_older_state_never_replaces_a_newer_one() -> None:
    cache = StateCache()
    cache.put("user:1001", "v5", 5)
    cache.put("user:1001", "v3", 3)
    assert cache.get("user:1001") == ("v5", 5)


def test_the_least_recently_used_stream_is_forgotten_first() -> None:
    cache = StateCache(size=2)
    cache.put("a", 1, 1)
    cache.put("b", 2, 1)
    cache.get("a")
    cache.put("c", 3, 1)
    assert cache.get("b") is None
    assert cache.get("a") == (1, 1)
    assert cache.get("c") == (3, 1)


def test_a_state_not_worth_keeping_is_dropped_not_cached() -> None:
    cache = StateCache(keep=lambda state: state != "ended")
    cache.put("call:1", "ringing", 2)
    cache.put("call:1", "ended", 3)
    assert cache.get("call:1") is None
