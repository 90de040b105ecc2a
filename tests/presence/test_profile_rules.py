"""Rules of presence profiles: defaults, activation, saving with validation, deleting."""

from __future__ import annotations

import pytest

from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    MOBILE,
    ActivateProfile,
    Channel,
    ConfigurePresenceRouting,
    DeleteProfile,
    Destination,
    DestinationKind,
    Forwarding,
    PresenceChanged,
    Profile,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    Ringing,
    RingStep,
    RingStrategy,
    SaveProfile,
    Status,
    VoicemailSettings,
)
from services.presence.domain.profiles import Directory, default_profiles
from services.presence.domain.state import User
from tests.presence.given import EXT, NOW, given, provisioned, with_desk

DIRECTORY = Directory(
    extensions=frozenset({"1001", "1002"}),
    ring_groups=frozenset({"sales"}),
    ivrs=frozenset({"main"}),
)


def save(profile: Profile) -> SaveProfile:
    return SaveProfile(extension=EXT, profile=profile, actor="ann", at=NOW)


def refusal(profile: Profile, events: list | None = None) -> CommandError:  # type: ignore[type-arg]
    with pytest.raises(CommandError) as raised:
        given(events or with_desk(), directory=DIRECTORY).when(save(profile))
    return raised.value


def forward(rule: str, destination: Destination) -> Profile:
    return Profile(id="custom", name="Custom", forwarding=Forwarding(**{rule: destination}))


def test_business_trip_forwards_always_to_the_mobile_without_voicemail() -> None:
    trip = {p.id: p for p in default_profiles("+4915112345678")}["business-trip"]
    assert trip.forwarding.always == Destination(
        kind=DestinationKind.EXTERNAL, target="+4915112345678"
    )
    assert not trip.voicemail.enabled
    assert trip.ringing.timeout == 45


def test_without_a_mobile_number_business_trip_sends_to_voicemail() -> None:
    trip = {p.id: p for p in default_profiles(None)}["business-trip"]
    assert trip.direct_to_voicemail
    assert trip.voicemail.enabled
    assert trip.shows is Status.AWAY


def test_dnd_sends_directly_to_voicemail_and_meeting_uses_a_busy_greeting() -> None:
    profiles = {p.id: p for p in default_profiles(None)}
    assert profiles["dnd"].direct_to_voicemail
    assert profiles["dnd"].shows is Status.DO_NOT_DISTURB
    meeting = profiles["meeting"]
    assert meeting.ringing.timeout == 20
    assert meeting.forwarding.busy is not None
    assert meeting.forwarding.busy.greeting == "busy"


def test_every_default_profile_passes_validation() -> None:
    for mobile in (None, "+4915112345678"):
        for profile in default_profiles(mobile):
            given(provisioned(), directory=DIRECTORY).when(save(profile))


def test_activating_a_profile_shows_its_status_and_records_the_channel() -> None:
    command = ActivateProfile(
        extension=EXT, profile_id="dnd", actor="1001", channel=Channel.FEATURE_CODE, at=NOW
    )
    events = given(provisioned()).when(command)
    assert events == [
        ProfileActivated(
            extension=EXT,
            profile_id="dnd",
            previous_profile_id="available",
            channel=Channel.FEATURE_CODE,
            actor="1001",
        ),
        PresenceChanged(
            extension=EXT,
            status=Status.DO_NOT_DISTURB,
            previous_status=Status.AVAILABLE,
            channel=Channel.FEATURE_CODE,
            actor="1001",
            reason="profile",
        ),
    ]


def test_activating_the_active_profile_again_changes_nothing() -> None:
    assert (
        given(provisioned()).when(
            ActivateProfile(actor=EXT, extension=EXT, profile_id="available", at=NOW)
        )
        == []
    )


def test_activating_an_unknown_profile_is_refused_naming_the_existing_ones() -> None:
    with pytest.raises(CommandError, match=r"'holiday' does not exist.*available, away"):
        given(provisioned()).when(
            ActivateProfile(actor=EXT, extension=EXT, profile_id="holiday", at=NOW)
        )


def test_a_user_can_save_any_number_of_own_profiles() -> None:
    events = provisioned()
    for n in range(3):
        profile = Profile(id=f"focus-{n}", name=f"Focus {n}", shows=Status.BUSY)
        events += given(events).when(save(profile))
    state = given(events).state
    assert isinstance(state, User)
    assert list(state.profiles)[-3:] == ["focus-0", "focus-1", "focus-2"]


def test_saving_an_identical_profile_changes_nothing() -> None:
    profile = default_profiles(None)[0]
    assert given(provisioned()).when(save(profile)) == []


def test_editing_the_active_profile_changes_the_shown_status() -> None:
    edited = default_profiles(None)[0].model_copy(update={"shows": Status.BE_RIGHT_BACK})
    events = given(provisioned()).when(save(edited))
    assert isinstance(events[0], ProfileSaved)
    assert isinstance(events[1], PresenceChanged)
    assert events[1].status is Status.BE_RIGHT_BACK


@pytest.mark.parametrize("timeout", [4, 121, 0])
def test_a_ring_timeout_outside_5_to_120_seconds_is_refused(timeout: int) -> None:
    error = refusal(Profile(id="x", name="X", ringing=Ringing(timeout=timeout)))
    assert error.message == f"ring_timeout must be between 5 and 120 seconds (got {timeout})"
    assert error.field == "profile.ringing.timeout"


@pytest.mark.parametrize("timeout", [5, 120])
def test_ring_timeouts_at_the_bounds_are_accepted(timeout: int) -> None:
    profile = Profile(id="x", name="X", ringing=Ringing(timeout=timeout))
    assert given(with_desk()).when(save(profile)) == [ProfileSaved(extension=EXT, profile=profile)]


def test_a_sequential_strategy_with_no_devices_is_refused() -> None:
    error = refusal(Profile(id="x", name="X", ringing=Ringing(strategy=RingStrategy.SEQUENTIAL)))
    assert "sequential ring strategy needs its devices" in error.message


def test_a_sequential_strategy_over_known_devices_and_the_mobile_is_accepted() -> None:
    ringing = Ringing(
        strategy=RingStrategy.SEQUENTIAL,
        devices=[RingStep(device="1001-desk", seconds=10), RingStep(device=MOBILE, seconds=20)],
    )
    profile = Profile(id="x", name="X", ringing=ringing, mobile_number="+491511234")
    assert given(with_desk()).when(save(profile)) == [ProfileSaved(extension=EXT, profile=profile)]


def test_a_device_the_pbx_never_reported_is_refused() -> None:
    ringing = Ringing(strategy=RingStrategy.SEQUENTIAL, devices=[RingStep(device="1001-fax")])
    error = refusal(Profile(id="x", name="X", ringing=ringing))
    assert "'1001-fax' is not a device of this extension (known: 1001-desk)" in error.message


@pytest.mark.parametrize(
    "ringing",
    [Ringing(include_mobile=True), Ringing(devices=[RingStep(device=MOBILE)])],
)
def test_a_mobile_leg_without_a_mobile_number_is_refused(ringing: Ringing) -> None:
    error = refusal(Profile(id="x", name="X", ringing=ringing))
    assert "no mobile_number" in error.message
    assert error.field == "profile.mobile_number"


@pytest.mark.parametrize("number", ["12", "+49 151", "abc", "0049-151"])
def test_a_malformed_external_number_is_refused(number: str) -> None:
    error = refusal(forward("always", Destination(kind=DestinationKind.EXTERNAL, target=number)))
    assert f"external number {number!r} is malformed" in error.message
    assert error.field == "profile.forwarding.always"


@pytest.mark.parametrize(
    ("kind", "target", "message"),
    [
        (DestinationKind.EXTENSION, "1099", "extension 1099 does not exist"),
        (DestinationKind.EXTENSION, EXT, "cannot forward to itself"),
        (DestinationKind.RING_GROUP, "support", "ring group 'support' does not exist"),
        (DestinationKind.IVR, "night", "IVR 'night' does not exist"),
        (DestinationKind.EXTENSION, None, "needs a target"),
        (DestinationKind.VOICEMAIL, "1099", "mailbox 1099 does not exist"),
    ],
)
def test_a_forward_to_something_unknown_is_refused(
    kind: DestinationKind, target: str | None, message: str
) -> None:
    error = refusal(forward("busy", Destination(kind=kind, target=target)))
    assert message in error.message


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        (DestinationKind.EXTENSION, "1002"),
        (DestinationKind.RING_GROUP, "sales"),
        (DestinationKind.IVR, "main"),
        (DestinationKind.EXTERNAL, "+4915112345678"),
        (DestinationKind.VOICEMAIL, None),
    ],
)
def test_a_forward_to_something_known_is_accepted(
    kind: DestinationKind, target: str | None
) -> None:
    profile = forward("no_answer", Destination(kind=kind, target=target))
    events = given(with_desk(), directory=DIRECTORY).when(save(profile))
    assert events == [ProfileSaved(extension=EXT, profile=profile)]


def test_voicemail_as_destination_or_directly_needs_voicemail_enabled() -> None:
    off = VoicemailSettings(enabled=False)
    error = refusal(
        Profile(
            id="x",
            name="X",
            voicemail=off,
            direct_to_voicemail=True,
            forwarding=Forwarding(busy=Destination(kind=DestinationKind.VOICEMAIL)),
        )
    )
    assert "direct_to_voicemail needs voicemail enabled" in error.message
    assert "voicemail is off in this profile" in error.message


def test_every_problem_is_reported_at_once_and_nothing_is_decided() -> None:
    profile = Profile(
        id="x",
        name="X",
        ringing=Ringing(timeout=200, strategy=RingStrategy.SEQUENTIAL),
        forwarding=Forwarding(always=Destination(kind=DestinationKind.EXTENSION, target="1099")),
    )
    error = refusal(profile)
    assert error.message.count(";") == 2


def test_deleting_a_profile() -> None:
    assert given(provisioned()).when(
        DeleteProfile(actor=EXT, extension=EXT, profile_id="meeting", at=NOW)
    ) == [ProfileDeleted(extension=EXT, profile_id="meeting")]


def test_deleting_the_active_profile_is_refused() -> None:
    with pytest.raises(CommandError, match="'available' is active; activate another"):
        given(provisioned()).when(
            DeleteProfile(actor=EXT, extension=EXT, profile_id="available", at=NOW)
        )


def test_deleting_an_unknown_profile_is_not_found() -> None:
    with pytest.raises(CommandError) as raised:
        given(provisioned()).when(
            DeleteProfile(actor=EXT, extension=EXT, profile_id="nope", at=NOW)
        )
    assert raised.value.code is ErrorCode.NOT_FOUND


def test_deleting_a_profile_that_presence_routing_uses_is_refused() -> None:
    routing = ConfigurePresenceRouting(
        actor=EXT,
        extension=EXT,
        enabled=True,
        profiles_by_status={Status.IN_MEETING: "meeting"},
        at=NOW,
    )
    events = provisioned() + given(provisioned()).when(routing)
    with pytest.raises(CommandError, match="mapped from status in_meeting"):
        given(events).when(DeleteProfile(actor=EXT, extension=EXT, profile_id="meeting", at=NOW))
