"""Issue 12's attacks on routing over real NATS and Postgres: explaining someone else's
call and playing someone else's what-if are refused; the parties, an administrator and
a service are answered."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.base import Command
from contracts.errors import CommandError, ErrorBody, ErrorCode
from contracts.presence import DeviceState, Profile
from contracts.routing import ExplainCall, WhatIf
from runtime.bus import request
from services.pbxsim.scenario import Scenario
from tests.principals import ADMIN, SERVICE, as_user
from tests.routing.platform import Platform, eventually

pytestmark = pytest.mark.integration

FORWARD_TO_1002 = Profile.model_validate(
    {
        "id": "away",
        "name": "Away",
        "forwarding": {"always": {"kind": "extension", "target": "1002"}},
    }
)


async def ask(platform: Platform, command: Command) -> dict[str, Any]:
    return await request(platform.nc, "routing", command)


async def refusal(platform: Platform, command: Command) -> ErrorBody:
    with pytest.raises(CommandError) as refused:
        await ask(platform, command)
    assert refused.value.code is ErrorCode.FORBIDDEN, refused.value.message
    return refused.value.body()


async def forwarded_call(platform: Platform) -> str:
    """2000 calls 1001, whose profile forwards to 1002; returns the call id."""
    await platform.provision("1001", FORWARD_TO_1002, desk=DeviceState.IDLE)
    await platform.provision("1002", None, desk=DeviceState.IDLE)
    await platform.start_sim(Scenario())
    call = await platform.call("1001")
    await eventually(lambda: call.kinds())
    return call.call_id


async def test_a_user_who_took_no_part_in_a_call_may_not_have_it_explained(
    platform: Platform,
) -> None:
    call_id = await forwarded_call(platform)
    await platform.provision("1003", None, desk=DeviceState.IDLE)
    someone_elses = await refusal(platform, ExplainCall(call_id=call_id, **as_user("1003")))
    missing = await refusal(platform, ExplainCall(call_id="no-such-call", **as_user("1003")))
    assert someone_elses.message.replace(call_id, "X") == missing.message.replace(
        "no-such-call", "X"
    )
    assert (someone_elses.code, someone_elses.field) == (missing.code, missing.field)


async def test_a_call_is_explained_to_its_caller_callee_forward_target_admin_and_services(
    platform: Platform,
) -> None:
    call_id = await forwarded_call(platform)
    for principal in (as_user("2000"), as_user("1001"), as_user("1002"), ADMIN, SERVICE):
        explained = await ask(platform, ExplainCall(call_id=call_id, **principal))
        assert explained["steps"][0]["event"] == "CallReceived"


async def test_explaining_without_an_actor_is_refused(platform: Platform) -> None:
    call_id = await forwarded_call(platform)
    body = await refusal(platform, ExplainCall(call_id=call_id))
    assert body.message.startswith("anonymous commands are refused")


async def test_an_administrator_asking_for_an_unknown_call_gets_not_found(
    platform: Platform,
) -> None:
    with pytest.raises(CommandError) as raised:
        await ask(platform, ExplainCall(call_id="no-such-call", **ADMIN))
    assert raised.value.code is ErrorCode.NOT_FOUND


async def test_a_user_may_not_play_a_what_if_of_someone_elses_routing(platform: Platform) -> None:
    await platform.provision("1001", FORWARD_TO_1002, desk=DeviceState.IDLE)
    for callee in ("1001", "4999"):  # an existing user's routing, and nobody's: alike
        body = await refusal(platform, WhatIf(callee=callee, caller="2000", **as_user("1003")))
        assert body.message.startswith(f"1003 may not act for {callee}")
    proposed = FORWARD_TO_1002.model_copy(update={"id": "probe"})
    await refusal(platform, WhatIf(callee="1001", profile=proposed, **as_user("1002")))
    await refusal(platform, WhatIf(callee="1001"))


async def test_what_if_someone_calls_me_is_answered_to_me_an_admin_and_services(
    platform: Platform,
) -> None:
    await platform.provision("1001", FORWARD_TO_1002, desk=DeviceState.IDLE)
    for principal in (as_user("1001"), ADMIN, SERVICE):
        played = await ask(platform, WhatIf(callee="1001", caller="1003", **principal))
        assert played["steps"][0]["event"] == "CallReceived"
