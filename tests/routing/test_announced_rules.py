"""The profile in effect at a call's own time: the active one, or from its moment on the one
presence announced (before presence's ProfileActivated reaches routing)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from contracts.presence import Profile
from contracts.routing import HopEntered
from services.routing.domain.directory import ExtensionView, Upcoming
from tests.routing.given import IDLE, T0, Call, directory, ext

MOMENT = T0 + timedelta(minutes=1)
AVAILABLE = Profile(id="available", name="Available")
DND = Profile(id="dnd", name="Do Not Disturb", direct_to_voicemail=True)


def announced_dnd() -> list[ExtensionView]:
    now = ext("1001", AVAILABLE, desk=IDLE)
    then = replace(now, profile=DND)
    return [replace(now, upcoming=Upcoming(MOMENT, then))]


def profile_of_hop(call: Call) -> str:
    hop = next(e for e in call.all if isinstance(e, HopEntered))
    assert hop.profile is not None
    return hop.profile.id


def test_a_call_before_the_moment_follows_the_active_profile() -> None:
    call = Call(directory(*announced_dnd()), at=MOMENT - timedelta(milliseconds=1))
    assert profile_of_hop(call) == "available"


def test_a_call_at_the_moment_follows_the_announced_profile() -> None:
    call = Call(directory(*announced_dnd()), at=MOMENT)
    assert profile_of_hop(call) == "dnd"


def test_a_call_a_tenth_of_a_second_after_the_moment_follows_the_announced_profile() -> None:
    call = Call(directory(*announced_dnd()), at=MOMENT + timedelta(milliseconds=100))
    assert profile_of_hop(call) == "dnd"


def test_without_an_announcement_the_active_profile_holds_at_any_time() -> None:
    plain = ext("1001", AVAILABLE, desk=IDLE)
    call = Call(directory(plain), at=MOMENT + timedelta(hours=5))
    assert profile_of_hop(call) == "available"


def test_many_boundaries_in_one_minute_each_take_effect_at_their_own_moment() -> None:
    views = []
    for n in range(100):
        now = ext(f"{2000 + n}", AVAILABLE, desk=IDLE)
        moment = MOMENT + timedelta(milliseconds=n)
        views.append(replace(now, upcoming=Upcoming(moment, replace(now, profile=DND))))
    dir_ = directory(*views)
    at = MOMENT + timedelta(milliseconds=50)
    seen = {v.extension: dir_.as_of(at).extension(v.extension) for v in views}
    switched = sorted(x for x, view in seen.items() if view and view.profile.id == "dnd")
    assert switched == [f"{2000 + n}" for n in range(51)]
    # The stored directory is not changed by looking at it at a time.
    assert all(dir_.extension(v.extension) == v for v in views)
