"""Who may issue each scheduler command and query: the decided matrix (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.base import Acting
from contracts.scheduler import (
    AddOverride,
    CancelOverride,
    CancelTimedStatus,
    GetCompanySchedule,
    GetSchedule,
    RemoveSchedule,
    SaveCompanySchedule,
    SaveSchedule,
    SetTimedStatus,
)
from services.scheduler.access import ACCESS
from services.scheduler.handlers import USER_COMMANDS
from tests.access_matrix import cases, check, check_complete, check_readme

EXPECTED: dict[type[Acting], str] = {
    SaveSchedule: "own:extension",
    RemoveSchedule: "own:extension",
    AddOverride: "own:extension",
    CancelOverride: "own:extension",
    SetTimedStatus: "own:extension",
    CancelTimedStatus: "own:extension",
    GetSchedule: "own:extension",
    GetCompanySchedule: "admin",
    SaveCompanySchedule: "admin",
}


@pytest.mark.parametrize(("model", "kind", "who"), cases(EXPECTED))
def test_who_may_issue_each_command(model: type[Acting], kind: str, who: str) -> None:
    check(ACCESS, model, kind, who)


def test_every_command_the_service_answers_has_a_rule() -> None:
    check_complete(ACCESS, EXPECTED)
    assert set(USER_COMMANDS) <= set(ACCESS)


def test_the_readme_shows_the_table() -> None:
    check_readme(ACCESS, Path(__file__).parents[2] / "services/scheduler/README.md")
