"""Who may issue each presence command and query: the decided matrix (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
from services.presence.access import ACCESS
from services.presence.domain.user import USER_COMMANDS
from tests.access_matrix import cases, check, check_complete, check_readme

EXPECTED: dict[type[Acting], str] = {
    SetStatus: "own:extension",
    ActivateProfile: "own:extension",
    SaveProfile: "own:extension",
    DeleteProfile: "own:extension",
    SignIn: "own:extension",
    SignOut: "own:extension",
    ConfigureAutomation: "own:extension",
    ConfigurePresenceRouting: "own:extension",
    GetPresence: "own:extension",
    GetHistory: "own:extension",
    ListProfiles: "own:extension",
    GetAutomation: "own:extension",
    GetPresenceRouting: "own:extension",
    ListRingGroups: "admin",
    ListIvrs: "admin",
    GetFeatureCodes: "admin",
    ProvisionUser: "admin",
    SaveRingGroup: "admin",
    SaveIvr: "admin",
    ConfigureFeatureCodes: "admin",
    ReportDevice: "admin",
    DetectIdle: "service",
    ExpireNote: "service",
    SwitchUsers: "service",
    AnnounceSwitch: "service",
    RetractSwitch: "service",
    ApplyAnnouncedSwitch: "service",
}


@pytest.mark.parametrize(("model", "kind", "who"), cases(EXPECTED))
def test_who_may_issue_each_command(model: type[Acting], kind: str, who: str) -> None:
    check(ACCESS, model, kind, who)


def test_every_command_the_service_answers_has_a_rule() -> None:
    check_complete(ACCESS, EXPECTED)
    assert set(USER_COMMANDS) <= set(ACCESS)


def test_the_readme_shows_the_table() -> None:
    check_readme(ACCESS, Path(__file__).parents[2] / "services/presence/README.md")
