"""Who may issue each presence command and query (the table in the README is this one)."""

from __future__ import annotations

from contracts.base import Acting
from contracts.presence import (
    ActivateProfile,
    AnnounceSwitch,
    ApplyAnnouncedSwitch,
    ConfigureAutomation,
    ConfigureFeatureCodes,
    ConfigurePresenceRouting,
    DeleteProfile,
    DetectIdle,
    ExpireNote,
    GetAutomation,
    GetFeatureCodes,
    GetHistory,
    GetPresence,
    GetPresenceRouting,
    ListIvrs,
    ListProfiles,
    ListRingGroups,
    ProvisionUser,
    ReportDevice,
    RetractSwitch,
    SaveIvr,
    SaveProfile,
    SaveRingGroup,
    SetStatus,
    SignIn,
    SignOut,
    SwitchUsers,
)
from runtime.access import ADMINISTRATORS, SERVICES, Rule, own

OWN_EXTENSION = own("extension")

ACCESS: dict[type[Acting], Rule] = {
    # A user's own presence, profiles and clients; administrators for anyone.
    SetStatus: OWN_EXTENSION,
    ActivateProfile: OWN_EXTENSION,
    SaveProfile: OWN_EXTENSION,
    DeleteProfile: OWN_EXTENSION,
    SignIn: OWN_EXTENSION,
    SignOut: OWN_EXTENSION,
    ConfigureAutomation: OWN_EXTENSION,
    ConfigurePresenceRouting: OWN_EXTENSION,
    # Raw presence and history: the owner, an administrator or a service. Other people
    # see a user only through visibility's filtered view (GetView, GetContacts).
    GetPresence: OWN_EXTENSION,
    GetHistory: OWN_EXTENSION,
    ListProfiles: OWN_EXTENSION,
    GetAutomation: OWN_EXTENSION,
    GetPresenceRouting: OWN_EXTENSION,
    # The system's directory: administrators.
    ProvisionUser: ADMINISTRATORS,
    SaveRingGroup: ADMINISTRATORS,
    SaveIvr: ADMINISTRATORS,
    ConfigureFeatureCodes: ADMINISTRATORS,
    ListRingGroups: ADMINISTRATORS,
    ListIvrs: ADMINISTRATORS,
    GetFeatureCodes: ADMINISTRATORS,
    # Devices: the PBX path reports them; an administrator sets one up for a user (the
    # edge's admin pages), as a PBX administrator assigns phones to extensions.
    ReportDevice: ADMINISTRATORS,
    # What only the service's own timers and the scheduler issue.
    DetectIdle: SERVICES,
    ExpireNote: SERVICES,
    SwitchUsers: SERVICES,
    # Switches announced ahead of their moment: the scheduler's, and the service's timer.
    AnnounceSwitch: SERVICES,
    RetractSwitch: SERVICES,
    ApplyAnnouncedSwitch: SERVICES,
}
