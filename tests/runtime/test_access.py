"""The shared rules of the principal model, one given/when/then per rule (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.base import Acting, Role
from contracts.errors import ErrorCode, Forbidden
from contracts.presence import GetHistory, ProvisionUser, ReportDevice, SetStatus, Status
from contracts.routing import ExplainCall
from runtime.access import (
    ADMINISTRATORS,
    SERVICES,
    GuardedRoutes,
    Principal,
    access_table,
    authorize,
    authorize_party,
    own,
    party,
)


def set_status(**principal: Any) -> SetStatus:
    return SetStatus(extension="1001", status=Status.AWAY, **principal)


def test_a_command_without_an_actor_is_forbidden_and_says_to_sign_in() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(set_status(), own("extension"))
    assert refused.value.message.startswith("anonymous commands are refused")
    assert refused.value.field == "actor"


def test_a_blank_actor_counts_as_no_actor() -> None:
    with pytest.raises(Forbidden, match="anonymous"):
        authorize(set_status(actor="   "), own("extension"))


def test_an_actor_without_a_role_is_a_user() -> None:
    assert set_status(actor="1001").role is Role.USER


def test_a_user_acts_on_their_own_data() -> None:
    assert authorize(set_status(actor="1001"), own("extension")) == Principal("1001", Role.USER)


def test_a_user_may_not_act_on_someone_elses_data() -> None:
    with pytest.raises(Forbidden) as refused:
        authorize(set_status(actor="1002"), own("extension"))
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert refused.value.message.startswith("1002 may not act for 1001")


def test_the_refusal_of_another_users_data_is_the_same_whether_or_not_it_exists() -> None:
    # Nothing is read: the message depends on the command alone (4999 is nobody).
    def message(extension: str) -> str:
        with pytest.raises(Forbidden) as refused:
            authorize(GetHistory(extension=extension, actor="1002"), own("extension"))
        return refused.value.message.replace(extension, "X")

    assert message("1001") == message("4999")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE])
def test_administrators_and_services_act_on_anyones_data(role: Role) -> None:
    assert authorize(set_status(actor="ops", role=role), own("extension")).role is role


def test_an_administrators_command_is_refused_to_a_user_even_for_themself() -> None:
    command = ProvisionUser(extension="1001", display_name="Ann", actor="1001")
    with pytest.raises(Forbidden, match="it is for administrators") as refused:
        authorize(command, ADMINISTRATORS)
    assert refused.value.field == "role"


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE])
def test_an_administrators_command_is_allowed_to_administrators_and_services(role: Role) -> None:
    command = ProvisionUser(extension="1001", display_name="Ann", actor="ops", role=role)
    assert authorize(command, ADMINISTRATORS).role is role


@pytest.mark.parametrize("role", [Role.USER, Role.ADMIN])
def test_a_services_command_is_refused_to_users_and_administrators(role: Role) -> None:
    command = ReportDevice(
        extension="1001", device_id="desk", state="registered", actor="1001", role=role
    )
    with pytest.raises(Forbidden, match="it is for Voco's own services"):
        authorize(command, SERVICES)


def test_a_services_command_is_allowed_to_a_service() -> None:
    command = ReportDevice(
        extension="1001", device_id="desk", state="registered", actor="pbx", role=Role.SERVICE
    )
    assert authorize(command, SERVICES) == Principal("pbx", Role.SERVICE)


def test_a_party_rule_lets_a_user_through_to_be_checked_against_what_is_read() -> None:
    command = ExplainCall(call_id="c1", actor="1001")
    principal = authorize(command, party("caller or callee"))
    authorize_party(principal, {"2000", "1001"}, "call c1")


def test_a_user_who_takes_no_part_is_refused_alike_for_a_missing_thing() -> None:
    principal = Principal("1003", Role.USER)
    refusals = []
    for parties in ({"2000", "1001"}, set()):  # someone else's call; no such call
        with pytest.raises(Forbidden) as refused:
            authorize_party(principal, parties, "call c1")
        refusals.append(refused.value.body())
    assert refusals[0] == refusals[1]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE])
def test_administrators_and_services_see_what_they_take_no_part_in(role: Role) -> None:
    authorize_party(Principal("ops", role), set(), "call c1")


class Recorder:
    def __init__(self) -> None:
        self.routes: dict[Any, Any] = {}

    def route(self, command: Any, handler: Any) -> None:
        self.routes[command] = handler


async def test_guarded_routes_check_the_rule_before_the_handler_runs() -> None:
    ran: list[Acting] = []

    async def handler(command: SetStatus) -> dict[str, Any]:
        ran.append(command)
        return {}

    server = Recorder()
    GuardedRoutes(server, {SetStatus: own("extension")}).route(SetStatus, handler)
    with pytest.raises(Forbidden):
        await server.routes[SetStatus](set_status(actor="1002"))
    assert ran == []
    await server.routes[SetStatus](set_status(actor="1001"))
    assert len(ran) == 1


def test_a_command_without_a_rule_cannot_be_routed() -> None:
    async def handler(command: SetStatus) -> None:
        return None

    with pytest.raises(LookupError, match="SetStatus has no access rule"):
        GuardedRoutes(Recorder(), {}).route(SetStatus, handler)


def test_the_access_table_shows_each_role() -> None:
    table = access_table({SetStatus: own("extension"), ReportDevice: SERVICES})
    assert table.splitlines() == [
        "| command | user | admin | service |",
        "|---|---|---|---|",
        "| `ReportDevice` | no | no | yes |",
        "| `SetStatus` | own (`extension` = actor) | yes | yes |",
    ]
