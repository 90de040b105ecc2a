"""Who may ask routing what: the decided matrix, and who takes part in a call (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.base import Acting, Role
from contracts.errors import Forbidden
from contracts.pbx import ForwardKind
from contracts.routing import (
    CallForwarded,
    CallReceived,
    CheckProfile,
    ExplainCall,
    HopEntered,
    HopKind,
    ListCalls,
    WhatIf,
)
from runtime.access import Principal, authorize_party
from services.routing.access import ACCESS
from services.routing.explain import call_parties
from tests.access_matrix import cases, check, check_complete, check_readme

EXPECTED: dict[type[Acting], str] = {
    ExplainCall: "party",
    ListCalls: "own:extension",
    WhatIf: "own:callee",
    CheckProfile: "own:extension",
}

RECEIVED = CallReceived(
    why="offered", call_id="c-1", node="sim1", caller="2000", callee="1001", seed=1
)
FORWARDED_TO_1002 = [
    RECEIVED,
    HopEntered(why="profile", hop=0, kind=HopKind.EXTENSION, target="1001"),
    CallForwarded(why="busy", node="sim1", kind=ForwardKind.EXTENSION, target="1002"),
    HopEntered(why="forwarded", hop=1, kind=HopKind.EXTENSION, target="1002"),
    CallForwarded(why="no answer", node="sim1", kind=ForwardKind.EXTERNAL, target="+4930123"),
]


@pytest.mark.parametrize(("model", "kind", "who"), cases(EXPECTED))
def test_who_may_issue_each_query(model: type[Acting], kind: str, who: str) -> None:
    check(ACCESS, model, kind, who)


def test_every_query_the_service_answers_has_a_rule() -> None:
    check_complete(ACCESS, EXPECTED)


def test_the_readme_shows_the_table() -> None:
    check_readme(ACCESS, Path(__file__).parents[2] / "services/routing/README.md")


def test_the_caller_and_callee_take_part_in_a_call() -> None:
    assert call_parties([RECEIVED]) == {"2000", "1001"}


def test_each_extension_a_call_was_forwarded_to_takes_part_in_it() -> None:
    assert call_parties(FORWARDED_TO_1002) == {"2000", "1001", "1002"}


def test_an_external_forward_target_is_no_user() -> None:
    assert "+4930123" not in call_parties(FORWARDED_TO_1002)


def test_nobody_takes_part_in_a_call_that_does_not_exist() -> None:
    assert call_parties([]) == frozenset()


@pytest.mark.parametrize("user", ["2000", "1001", "1002"])
def test_every_party_may_have_the_call_explained(user: str) -> None:
    authorize_party(Principal(user, Role.USER), call_parties(FORWARDED_TO_1002), "call c-1")


def test_someone_elses_call_and_no_call_are_refused_alike() -> None:
    refusals = []
    for events in (FORWARDED_TO_1002, []):
        with pytest.raises(Forbidden) as refused:
            authorize_party(Principal("1003", Role.USER), call_parties(events), "call c-1")
        refusals.append(refused.value.body())
    assert refusals[0] == refusals[1]
