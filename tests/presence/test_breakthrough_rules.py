"""Rules of a profile's breakthrough section on save (and delete): one test per rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.errors import CommandError
from contracts.presence import (
    MAX_BREAKTHROUGH_ENTRIES,
    Breakthrough,
    DeleteProfile,
    Destination,
    DestinationKind,
    Forwarding,
    Profile,
    ProfileSaved,
    SaveProfile,
)
from services.presence.domain.profiles import Directory, default_profiles
from tests.presence.given import EXT, NOW, given, provisioned

DIRECTORY = Directory(extensions=frozenset({"1001", "1002", "1003"}))


def quiet(**section: object) -> Profile:
    dnd = {p.id: p for p in default_profiles(None)}["dnd"]
    return dnd.model_copy(update={"breakthrough": Breakthrough.model_validate(section)})


def save(profile: Profile) -> SaveProfile:
    return SaveProfile(extension=EXT, profile=profile, actor=EXT, at=NOW)


def refusal(profile: Profile, *before: ProfileSaved) -> CommandError:
    with pytest.raises(CommandError) as raised:
        given(provisioned(), *before, directory=DIRECTORY).when(save(profile))
    return raised.value


def test_a_breakthrough_list_of_known_extensions_numbers_and_prefixes_is_saved() -> None:
    profile = quiet(
        extensions=["1002"],
        numbers=["+4917012345"],
        prefixes=["+4930123"],
        favourites=True,
        urgent_repeat={"minutes": 5},
    )
    events = given(provisioned(), directory=DIRECTORY).when(save(profile))
    assert events == [ProfileSaved(extension=EXT, profile=profile)]


def test_an_unknown_extension_is_refused_with_its_field() -> None:
    error = refusal(quiet(extensions=["1002", "4999"]))
    assert error.field == "profile.breakthrough.extensions[1]"
    assert "profile.breakthrough.extensions[1]: no user has extension 4999" in error.message


def test_the_users_own_extension_and_duplicates_are_refused() -> None:
    assert refusal(quiet(extensions=[EXT])).field == "profile.breakthrough.extensions[0]"
    twice = refusal(quiet(prefixes=["+4930", "+4930"]))
    assert twice.field == "profile.breakthrough.prefixes[1]"
    assert "listed twice" in twice.message


def test_malformed_numbers_are_refused_by_the_contract_with_their_field() -> None:
    with pytest.raises(ValidationError) as raised:
        Breakthrough.model_validate({"numbers": ["+49-30-123"]})
    assert raised.value.errors()[0]["loc"] == ("numbers", 0)
    with pytest.raises(ValidationError):
        Breakthrough.model_validate({"prefixes": ["abc"]})


def test_list_sizes_and_the_repeat_window_are_bounded() -> None:
    too_many = [f"+49301{n:05d}" for n in range(MAX_BREAKTHROUGH_ENTRIES + 1)]
    with pytest.raises(ValidationError):
        Breakthrough.model_validate({"numbers": too_many})
    for minutes in (0, 31):
        with pytest.raises(ValidationError):
            Breakthrough.model_validate({"urgent_repeat": {"minutes": minutes}})
    assert Breakthrough.model_validate({"urgent_repeat": {}}).urgent_repeat.minutes == 3  # type: ignore[union-attr]


def test_a_breakthrough_profile_that_does_not_exist_or_is_itself_is_refused() -> None:
    missing = refusal(quiet(extensions=["1002"], profile="vip"))
    assert missing.field == "profile.breakthrough.profile"
    assert "'vip' does not exist" in missing.message
    itself = refusal(quiet(extensions=["1002"], profile="dnd"))
    assert "cannot be its own breakthrough profile" in itself.message


def test_a_breakthrough_profile_that_holds_the_caller_back_again_is_a_loop() -> None:
    voicemail_too = refusal(quiet(extensions=["1002"], profile="business-trip"))
    assert voicemail_too.field == "profile.breakthrough.profile"
    assert "a loop" in voicemail_too.message
    assert "directly to voicemail too" in voicemail_too.message


def test_changing_the_breakthrough_profile_into_a_loop_is_refused_too() -> None:
    vip = Profile(id="vip", name="VIP")
    dnd = quiet(extensions=["1002"], profile="vip")
    before = [ProfileSaved(extension=EXT, profile=vip), ProfileSaved(extension=EXT, profile=dnd)]
    closed = vip.model_copy(update={"accept_calls": False})
    error = refusal(closed, *before)
    assert error.field == "profile"
    assert "the breakthrough profile of 'dnd'" in error.message


def test_a_breakthrough_profile_that_forwards_elsewhere_is_fine() -> None:
    mobile = Destination(kind=DestinationKind.EXTERNAL, target="+4917099999")
    to_mobile = Profile(id="vip", name="VIP", forwarding=Forwarding(always=mobile))
    before = ProfileSaved(extension=EXT, profile=to_mobile)
    profile = quiet(extensions=["1002"], profile="vip")
    events = given(provisioned(), before, directory=DIRECTORY).when(save(profile))
    assert events == [ProfileSaved(extension=EXT, profile=profile)]


def test_a_profile_named_as_breakthrough_profile_cannot_be_deleted() -> None:
    vip = Profile(id="vip", name="VIP")
    dnd = quiet(extensions=["1002"], profile="vip")
    before = [ProfileSaved(extension=EXT, profile=vip), ProfileSaved(extension=EXT, profile=dnd)]
    with pytest.raises(CommandError) as raised:
        given(provisioned(), *before).when(
            DeleteProfile(extension=EXT, profile_id="vip", actor=EXT, at=NOW)
        )
    assert "breakthrough profile of dnd" in raised.value.message
