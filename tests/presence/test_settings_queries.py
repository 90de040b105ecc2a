"""What was configured reads back as stored, on real NATS and Postgres: a user's
automation and presence routing (the owner's, refused to another user), ring groups,
IVRs and the feature-code map (administrators')."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NatsClient

from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ConfigureAutomation,
    ConfigureFeatureCodes,
    ConfigurePresenceRouting,
    GetAutomation,
    GetFeatureCodes,
    GetPresenceRouting,
    ListIvrs,
    ListRingGroups,
    SaveIvr,
    SaveRingGroup,
)
from runtime.service import ServiceRuntime
from tests.presence.service import provision, send
from tests.principals import ADMIN, as_user

pytestmark = pytest.mark.integration


async def test_automation_and_presence_routing_read_back_as_configured(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    await provision(nc, "1001")
    defaults = await send(nc, GetAutomation(extension="1001", **as_user("1001")))
    assert defaults == {
        "extension": "1001",
        "enabled": False,
        "idle_after_seconds": 300,
        "idle_status": "away",
    }
    await send(
        nc,
        ConfigureAutomation(
            extension="1001", idle_after_seconds=900, idle_status="offline", **as_user("1001")
        ),
    )
    await send(
        nc,
        ConfigurePresenceRouting(
            extension="1001",
            enabled=True,
            profiles_by_status={"do_not_disturb": "dnd", "away": "away"},
            **as_user("1001"),
        ),
    )

    automation = await send(nc, GetAutomation(extension="1001", **as_user("1001")))
    routing = await send(nc, GetPresenceRouting(extension="1001", **ADMIN))

    assert automation["enabled"] is True
    assert (automation["idle_after_seconds"], automation["idle_status"]) == (900, "offline")
    assert routing == {
        "extension": "1001",
        "enabled": True,
        "profiles_by_status": {"do_not_disturb": "dnd", "away": "away"},
    }


async def test_another_user_may_not_read_them(service: ServiceRuntime, nc: NatsClient) -> None:
    await provision(nc, "1001")
    for query in (GetAutomation, GetPresenceRouting):
        with pytest.raises(CommandError) as refused:
            await send(nc, query(extension="1001", **as_user("1002")))
        assert refused.value.code is ErrorCode.FORBIDDEN


async def test_ring_groups_ivrs_and_feature_codes_read_back_for_administrators(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    for extension in ("1001", "1002"):
        await provision(nc, extension)
    assert (await send(nc, GetFeatureCodes(**ADMIN)))["codes"]["*73"] == "dnd"  # the default
    await send(nc, SaveRingGroup(group_id="sales", name="Sales", members=["1001", "1002"], **ADMIN))
    await send(
        nc,
        SaveRingGroup(
            group_id="sales",
            name="Sales team",
            members=["1002"],
            strategy="sequential",
            timeout=20,
            **ADMIN,
        ),
    )
    await send(nc, SaveIvr(ivr_id="main", name="Main menu", **ADMIN))
    await send(nc, ConfigureFeatureCodes(codes={"*80": "dnd"}, **ADMIN))

    groups = await send(nc, ListRingGroups(**ADMIN))
    ivrs = await send(nc, ListIvrs(**ADMIN))
    codes = await send(nc, GetFeatureCodes(**ADMIN))

    assert groups == {
        "ring_groups": [
            {
                "group_id": "sales",
                "name": "Sales team",
                "members": ["1002"],
                "strategy": "sequential",
                "timeout": 20,
            }
        ]
    }
    assert ivrs == {"ivrs": [{"ivr_id": "main", "name": "Main menu"}]}
    assert codes == {"codes": {"*80": "dnd"}}
    for query in (ListRingGroups, ListIvrs, GetFeatureCodes):
        with pytest.raises(CommandError) as refused:
            await send(nc, query(**as_user("1001")))
        assert refused.value.code is ErrorCode.FORBIDDEN
