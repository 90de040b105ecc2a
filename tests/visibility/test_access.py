"""Who may issue each visibility command and query: the decided matrix (pure).

tests/visibility/test_actors.py plays the same principals through the decider.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.base import Acting
from contracts.visibility import (
    AcceptRequest,
    AddContact,
    AllowWatcher,
    BlockRequest,
    BlockWatcher,
    GetAllowed,
    GetBlocked,
    GetContacts,
    GetPendingRequests,
    GetView,
    MarkFavourite,
    RemoveContact,
    SetPolicy,
    UnmarkFavourite,
    WhoCanSeeMe,
    WhoWatchesMe,
)
from services.visibility.access import ACCESS
from tests.access_matrix import cases, check, check_complete, check_readme

EXPECTED: dict[type[Acting], str] = {
    SetPolicy: "own:owner",
    AcceptRequest: "own:owner",
    BlockRequest: "own:owner",
    AllowWatcher: "own:owner",
    BlockWatcher: "own:owner",
    AddContact: "own:watcher",
    RemoveContact: "own:watcher",
    MarkFavourite: "own:watcher",
    UnmarkFavourite: "own:watcher",
    GetContacts: "own:watcher",
    GetView: "own:watcher",
    GetPendingRequests: "own:owner",
    GetAllowed: "own:owner",
    GetBlocked: "own:owner",
    WhoCanSeeMe: "own:owner",
    WhoWatchesMe: "own:owner",
}


@pytest.mark.parametrize(("model", "kind", "who"), cases(EXPECTED))
def test_who_may_issue_each_command(model: type[Acting], kind: str, who: str) -> None:
    check(ACCESS, model, kind, who)


def test_every_command_the_service_answers_has_a_rule() -> None:
    check_complete(ACCESS, EXPECTED)


def test_the_readme_shows_the_table() -> None:
    check_readme(ACCESS, Path(__file__).parents[2] / "services/visibility/README.md")
