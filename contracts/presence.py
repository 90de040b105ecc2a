"""Presence: statuses, notes, presence profiles, devices, and how they change.

Streams: `user:<extension>` for everything about one user, `ring-group:<id>`,
`ivr:<id>`, and `feature-codes` for the system's feature-code map.
Events are published on `voco.evt.presence.<extension or id>.<EventType>`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag

from contracts.base import Acting, Event, Issued, event
from contracts.errors import ErrorBody

PRESENCE_STREAM = "VOCO_PRESENCE"
PRESENCE_SUBJECTS = ["voco.evt.presence.>"]

Extension = Annotated[str, Field(pattern=r"^[0-9]{2,10}$", description="An extension number")]
Identifier = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="lower-case letters, digits, _ and -"),
]
PhoneNumber = Annotated[
    str, Field(pattern=r"^\+?[0-9]{3,20}$", description="digits with an optional leading +")
]
FeatureCode = Annotated[str, Field(pattern=r"^\*[0-9]{1,6}$", description="e.g. *71")]


def event_subject(key: str, type_name: str) -> str:
    return f"voco.evt.presence.{key}.{type_name}"


class Status(StrEnum):
    AVAILABLE = "available"
    AWAY = "away"
    DO_NOT_DISTURB = "do_not_disturb"
    BE_RIGHT_BACK = "be_right_back"
    BUSY = "busy"
    IN_MEETING = "in_meeting"
    OFFLINE = "offline"


class Channel(StrEnum):
    """Through which channel a change came."""

    CLIENT = "client"  # web, desktop or mobile client, or the CLI
    IP_PHONE = "ip_phone"
    FEATURE_CODE = "feature_code"
    SCHEDULER = "scheduler"
    AUTOMATION = "automation"  # idle detection, expiring notes
    PBX = "pbx"
    ADMIN = "admin"


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DestinationKind(StrEnum):
    EXTENSION = "extension"
    EXTERNAL = "external"
    VOICEMAIL = "voicemail"
    IVR = "ivr"
    RING_GROUP = "ring_group"


class Destination(Part):
    """Where a forwarding rule sends a call.

    `target` is the extension, the external number, the IVR id or the ring group
    id; for voicemail it is the mailbox (the callee's own when omitted), and
    `greeting` names the greeting to play (e.g. "busy", "unavailable", a custom one).
    """

    kind: DestinationKind
    target: str | None = None
    greeting: str | None = None


class Forwarding(Part):
    always: Destination | None = None
    busy: Destination | None = None
    no_answer: Destination | None = None
    unavailable: Destination | None = None


class RingStrategy(StrEnum):
    SIMULTANEOUS = "simultaneous"
    SEQUENTIAL = "sequential"
    RANDOM = "random"
    FIRST_AVAILABLE = "first_available"


MOBILE = "mobile"
"""The device id that stands for the profile's mobile number as a ring leg."""


class RingStep(Part):
    """One device in priority order; `seconds` is its ring time in a sequential strategy."""

    device: str = Field(min_length=1, max_length=64)
    seconds: int | None = Field(default=None, ge=1, le=120)


class Ringing(Part):
    strategy: RingStrategy = RingStrategy.SIMULTANEOUS
    devices: list[RingStep] = Field(
        default_factory=list,
        description="Priority order. Empty: every registered device of the extension.",
    )
    include_mobile: bool = False
    timeout: int = Field(default=30, description="ring timeout, 5-120 seconds")


class VoicemailSettings(Part):
    enabled: bool = True
    greeting: str = "default"


NumberPrefix = Annotated[
    str,
    Field(
        pattern=r"^\+?[0-9]{2,20}$",
        description="the start of a phone number, e.g. +4930123 for a customer's lines",
    ),
]
MAX_BREAKTHROUGH_ENTRIES = 100
"""Per list of a breakthrough section: enough for a VIP list, small enough to scan per call."""


class UrgentRepeat(Part):
    """A caller whose call this profile held back, calling again within `minutes`, rings
    through once (the second call; a third needs another held-back call first)."""

    minutes: int = Field(default=3, ge=1, le=30)


class Breakthrough(Part):
    """Who rings through a profile that would not ring (accept calls off, directly to
    voicemail, forward always), and how such a caller is routed.

    `profile`: the user's profile a breakthrough caller is routed by; unset, the profile
    active before this one (if it rings), else 'available', else ring every device.
    Anonymous callers (no caller id) never break through.
    """

    extensions: list[Extension] = Field(
        default_factory=list, max_length=MAX_BREAKTHROUGH_ENTRIES, description="exact extensions"
    )
    numbers: list[PhoneNumber] = Field(
        default_factory=list,
        max_length=MAX_BREAKTHROUGH_ENTRIES,
        description="external numbers, exactly as the PBX presents them",
    )
    prefixes: list[NumberPrefix] = Field(
        default_factory=list,
        max_length=MAX_BREAKTHROUGH_ENTRIES,
        description="external numbers starting with one of these",
    )
    favourites: bool = Field(
        default=False, description="contacts the user marked as favourites (visibility)"
    )
    profile: Identifier | None = None
    urgent_repeat: UrgentRepeat | None = None

    def in_use(self) -> bool:
        """Whether anyone could break through (else the section changes nothing)."""
        return bool(
            self.extensions
            or self.numbers
            or self.prefixes
            or self.favourites
            or self.urgent_repeat is not None
        )


class Profile(Part):
    id: Identifier
    name: str = Field(min_length=1, max_length=64)
    shows: Status = Status.AVAILABLE
    accept_calls: bool = True
    direct_to_voicemail: bool = False
    forwarding: Forwarding = Forwarding()
    ringing: Ringing = Ringing()
    mobile_number: PhoneNumber | None = None
    voicemail: VoicemailSettings = VoicemailSettings()
    breakthrough: Breakthrough = Breakthrough()

    def rings(self) -> bool:
        """Whether a call is offered to the user's devices at all: not when calls are not
        accepted, go directly to voicemail or are forwarded always (a quiet profile)."""
        return self.accept_calls and not self.direct_to_voicemail and self.forwarding.always is None


class DeviceState(StrEnum):
    REGISTERED = "registered"
    UNREGISTERED = "unregistered"
    BUSY = "busy"
    IDLE = "idle"


class IdleStatus(StrEnum):
    AWAY = "away"
    OFFLINE = "offline"


class ChangeReason(StrEnum):
    """Why a status changed when the user did not set it directly."""

    PROFILE = "profile"  # the activated (or edited active) profile shows this status
    IDLE = "idle"  # automation: no signed-in client for the configured time
    IDLE_ENDED = "idle_ended"  # a client signed in again: the status before idling is back
    NOTE_EXPIRED = "note_expired"


class AnnouncementEnd(StrEnum):
    """Why an announced switch ended without (or after) taking effect."""

    RETRACTED = "retracted"  # the schedule changed or was removed before the moment
    SUPERSEDED = "superseded"  # the user switched by hand between announcement and moment
    PROFILE_DELETED = "profile_deleted"  # the announced profile was gone at the moment
    TOOK_EFFECT = "took_effect"  # it applied at the moment without activating a profile


# ---- events -------------------------------------------------------------------------


@event
class UserProvisioned(Event):
    type_name = "UserProvisioned"
    extension: Extension
    display_name: str


@event
class PresenceChanged(Event):
    """The status or note a user shows changed."""

    type_name = "PresenceChanged"
    extension: Extension
    status: Status
    note: str | None = None
    note_expires_at: datetime | None = None
    previous_status: Status | None = None
    channel: Channel
    actor: str
    reason: ChangeReason | None = Field(
        default=None, description="absent when the status was set directly"
    )


@event
class ProfileSaved(Event):
    type_name = "ProfileSaved"
    extension: Extension
    profile: Profile


@event
class ProfileDeleted(Event):
    type_name = "ProfileDeleted"
    extension: Extension
    profile_id: Identifier


@event
class ProfileActivated(Event):
    type_name = "ProfileActivated"
    extension: Extension
    profile_id: Identifier
    previous_profile_id: str | None = None
    channel: Channel
    actor: str


@event
class DeviceStateChanged(Event):
    type_name = "DeviceStateChanged"
    extension: Extension
    device_id: str
    state: DeviceState


@event
class ClientSignedIn(Event):
    type_name = "ClientSignedIn"
    extension: Extension
    session_id: str


@event
class ClientSignedOut(Event):
    type_name = "ClientSignedOut"
    extension: Extension
    session_id: str
    at: datetime | None = Field(
        default=None, description="set when the last client left: the idle clock starts here"
    )


@event
class AutomationConfigured(Event):
    type_name = "AutomationConfigured"
    extension: Extension
    enabled: bool
    idle_after_seconds: int
    idle_status: IdleStatus
    at: datetime | None = Field(
        default=None, description="set when no client is signed in: the idle clock starts here"
    )


@event
class PresenceRoutingConfigured(Event):
    """The opt-in 'my presence decides how I receive calls' and its status-to-profile map."""

    type_name = "PresenceRoutingConfigured"
    extension: Extension
    enabled: bool
    profiles_by_status: dict[Status, Identifier]


@event
class RingGroupSaved(Event):
    type_name = "RingGroupSaved"
    group_id: Identifier
    name: str
    members: list[Extension]
    strategy: RingStrategy
    timeout: int


@event
class IvrSaved(Event):
    type_name = "IvrSaved"
    ivr_id: Identifier
    name: str


@event
class FeatureCodesConfigured(Event):
    """Feature code to the profile id it activates (e.g. *71 -> available)."""

    type_name = "FeatureCodesConfigured"
    codes: dict[FeatureCode, Identifier]


@event
class SwitchAnnounced(Event):
    """A switch that takes effect at `takes_effect_at` (the scheduler's next boundary).

    Until then it is pending on the user's stream: routing decides a call by the profile
    in effect at the call's own time (this one from the moment on), and presence applies
    it at the moment (`ProfileActivated` / `PresenceChanged`). A later announcement
    replaces it; `ProfileActivated` or `AnnouncementEnded` ends it.
    """

    type_name = "SwitchAnnounced"
    extension: Extension
    takes_effect_at: datetime
    profile_id: Identifier | None = None
    status: Status | None = None
    note: str | None = None
    note_expires_at: datetime | None = None
    channel: Channel
    actor: str


@event
class AnnouncementEnded(Event):
    """The pending switch announced for `takes_effect_at` is no longer pending (why)."""

    type_name = "AnnouncementEnded"
    extension: Extension
    takes_effect_at: datetime
    reason: AnnouncementEnd
    channel: Channel
    actor: str


# ---- commands (subject voco.cmd.presence.<type_name>) ----------------------------------


class ByActor(Issued):
    """A command made by someone through a channel; both are recorded on the event."""

    channel: Channel = Channel.CLIENT


@event
class ProvisionUser(ByActor):
    type_name = "ProvisionUser"
    extension: Extension
    display_name: str = Field(min_length=1, max_length=128)
    mobile_number: PhoneNumber | None = Field(
        default=None, description="used by the default Away and Business Trip profiles"
    )


@event
class SetStatus(ByActor):
    type_name = "SetStatus"
    extension: Extension
    status: Status
    note: str | None = Field(default=None, max_length=200)
    note_expires_at: AwareDatetime | None = None


@event
class SaveProfile(ByActor):
    type_name = "SaveProfile"
    extension: Extension
    profile: Profile


@event
class DeleteProfile(ByActor):
    type_name = "DeleteProfile"
    extension: Extension
    profile_id: Identifier


@event
class ActivateProfile(ByActor):
    type_name = "ActivateProfile"
    extension: Extension
    profile_id: Identifier


@event
class AnnounceSwitch(ByActor):
    """Store a switch (profile and/or status) that takes effect at `takes_effect_at`.

    The scheduler's boundaries, announced ahead (VOCO_SCHEDULER_ANNOUNCE_SECONDS). The
    moment must be after the command's `at`; the profile must exist. Only trusted
    services announce (role `service`).
    """

    type_name = "AnnounceSwitch"
    extension: Extension
    takes_effect_at: AwareDatetime
    profile_id: Identifier | None = None
    status: Status | None = None
    note: str | None = Field(default=None, max_length=200)
    note_expires_at: AwareDatetime | None = None


@event
class RetractSwitch(ByActor):
    """Withdraw the pending switch announced for `takes_effect_at` (any pending one if
    absent); nothing when none is pending (a retraction is safe to repeat)."""

    type_name = "RetractSwitch"
    extension: Extension
    takes_effect_at: AwareDatetime | None = None
    retract: Literal[True] = Field(default=True, description="tells it apart in a batch")


def _switch_kind(value: Any) -> str:
    """An ActivateProfile names a profile, a SetStatus a status, an announcement the moment
    it takes effect, a retraction says so: that tells them apart."""
    if isinstance(value, dict):
        if "retract" in value:
            return "RetractSwitch"
        if "takes_effect_at" in value:
            return "AnnounceSwitch"
        return "ActivateProfile" if "profile_id" in value else "SetStatus"
    return str(getattr(value, "type_name", "SetStatus"))


Switch = Annotated[
    Annotated[ActivateProfile, Tag("ActivateProfile")]
    | Annotated[SetStatus, Tag("SetStatus")]
    | Annotated[AnnounceSwitch, Tag("AnnounceSwitch")]
    | Annotated[RetractSwitch, Tag("RetractSwitch")],
    Discriminator(_switch_kind),
]
MAX_SWITCHES = 1000


@event
class SwitchUsers(Acting):
    """Many users' switches in one command (the scheduler's boundaries): switches now
    (`ActivateProfile`, `SetStatus`) and switches announced ahead of their moment
    (`AnnounceSwitch`, `RetractSwitch`).

    Each switch is decided on its own and answered on its own: a refused one (e.g. a
    profile deleted since) does not hold up the rest. Those accepted are stored in one
    transaction; a user's switches apply in the order given. The answer is
    `SwitchResults`, one entry per switch, in order. The batch is for trusted services
    (role `service`); each switch names its own actor and role and is authorized as if
    sent alone.
    """

    type_name = "SwitchUsers"
    switches: list[Switch] = Field(min_length=1, max_length=MAX_SWITCHES)


class SwitchResults(BaseModel):
    """`SwitchUsers`' answer: per switch, null when it holds now, else why it was refused."""

    refused: list[ErrorBody | None]


@event
class ReportDevice(ByActor):
    type_name = "ReportDevice"
    extension: Extension
    device_id: str = Field(min_length=1, max_length=64)
    state: DeviceState


@event
class SignIn(ByActor):
    type_name = "SignIn"
    extension: Extension
    session_id: str = Field(min_length=1, max_length=128)


@event
class SignOut(ByActor):
    type_name = "SignOut"
    extension: Extension
    session_id: str = Field(min_length=1, max_length=128)


@event
class ConfigureAutomation(ByActor):
    type_name = "ConfigureAutomation"
    extension: Extension
    enabled: bool = True
    idle_after_seconds: int = Field(default=300, ge=10, le=86_400)
    idle_status: IdleStatus = IdleStatus.AWAY


@event
class ConfigurePresenceRouting(ByActor):
    type_name = "ConfigurePresenceRouting"
    extension: Extension
    enabled: bool
    profiles_by_status: dict[Status, Identifier] = Field(default_factory=dict)


@event
class SaveRingGroup(ByActor):
    type_name = "SaveRingGroup"
    group_id: Identifier
    name: str = Field(min_length=1, max_length=64)
    members: list[Extension] = Field(min_length=1)
    strategy: RingStrategy = RingStrategy.SIMULTANEOUS
    timeout: int = 30


@event
class SaveIvr(ByActor):
    type_name = "SaveIvr"
    ivr_id: Identifier
    name: str = Field(min_length=1, max_length=64)


@event
class ConfigureFeatureCodes(ByActor):
    type_name = "ConfigureFeatureCodes"
    codes: dict[FeatureCode, Identifier]


@event
class DetectIdle(Acting):
    """Issued by the service's own timer: apply the idle status if the user is still idle."""

    type_name = "DetectIdle"
    extension: Extension
    at: AwareDatetime


@event
class ApplyAnnouncedSwitch(Acting):
    """Issued by the service's own timer at the moment: apply the pending switch if due."""

    type_name = "ApplyAnnouncedSwitch"
    extension: Extension
    at: AwareDatetime


@event
class ExpireNote(Acting):
    """Issued by the service's own timer: clear the note if its expiry has passed."""

    type_name = "ExpireNote"
    extension: Extension
    at: AwareDatetime


# ---- queries (request/reply, no events) ---------------------------------------------


@event
class GetPresence(Acting):
    type_name = "GetPresence"
    extension: Extension


@event
class GetHistory(Acting):
    type_name = "GetHistory"
    extension: Extension
    limit: int = Field(default=50, ge=1, le=1000)


@event
class ListProfiles(Acting):
    type_name = "ListProfiles"
    extension: Extension


class HistoryEntry(BaseModel):
    at: datetime
    type: str
    actor: str | None
    role: str | None = Field(default=None, description="user, admin or service; older: none")
    channel: str | None
    summary: str


class PresenceView(BaseModel):
    extension: str
    display_name: str
    status: Status
    note: str | None
    note_expires_at: datetime | None
    active_profile: str | None
    devices: dict[str, DeviceState]
    signed_in_sessions: int


@event
class GetAutomation(Acting):
    """The user's idle automation as stored (the defaults when never configured)."""

    type_name = "GetAutomation"
    extension: Extension


@event
class GetPresenceRouting(Acting):
    """Whether the user's presence decides their profile, and the profile per status."""

    type_name = "GetPresenceRouting"
    extension: Extension


@event
class ListRingGroups(Acting):
    type_name = "ListRingGroups"


@event
class ListIvrs(Acting):
    type_name = "ListIvrs"


@event
class GetFeatureCodes(Acting):
    """The feature-code map in force (the defaults until an administrator configures it)."""

    type_name = "GetFeatureCodes"


class AutomationView(BaseModel):
    extension: str
    enabled: bool
    idle_after_seconds: int
    idle_status: IdleStatus


class PresenceRoutingView(BaseModel):
    extension: str
    enabled: bool
    profiles_by_status: dict[Status, str]


class RingGroupInfo(BaseModel):
    group_id: str
    name: str
    members: list[str]
    strategy: RingStrategy
    timeout: int


class RingGroupList(BaseModel):
    ring_groups: list[RingGroupInfo]


class IvrInfo(BaseModel):
    ivr_id: str
    name: str


class IvrList(BaseModel):
    ivrs: list[IvrInfo]


class FeatureCodesView(BaseModel):
    codes: dict[str, str]
