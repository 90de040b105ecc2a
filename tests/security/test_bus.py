"""The bus, locked: who may publish and subscribe where, tried on the real nats-server.

The expectations below are written out by hand, apart from runtime/permissions.py: a right
the map grants that this table does not expect fails the test, and so does one it
refuses that a part needs. "Refused" is seen, not assumed: nats-server reports it to the
client's error callback ("permissions violation for publish to ..."), and "allowed" is
seen too: the message arrives, or the subscription receives one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from runtime.bus import connect
from runtime.permissions import PRINCIPALS, inbox_prefix
from tests.conftest import ConnectionsFor

pytestmark = pytest.mark.integration

SERVICES = {"presence", "routing", "scheduler", "visibility"}
CLIENTS = {"gateway", "operator"}  # those that send commands
PBX = {"pbxsim", "kamailio"}
NOBODY: set[str] = set()
READ_STREAM = {"presence", "routing", "scheduler", "visibility"}  # may create VOCO_PRESENCE

PUBLISH: dict[str, set[str]] = {
    "voco.cmd.presence.SetStatus": CLIENTS,
    "voco.cmd.presence.GetHistory": CLIENTS,
    # What only services send: the edge acts for people only, so the bus refuses it too.
    "voco.cmd.presence.SwitchUsers": {"operator", "scheduler"},
    "voco.cmd.presence.DetectIdle": {"operator"},
    "voco.cmd.presence.ExpireNote": {"operator"},
    "voco.cmd.routing.NotACommand": {"operator"},
    "voco.cmd.visibility.NotACommand": {"operator"},
    "voco.cmd.routing.WhatIf": CLIENTS,
    "voco.cmd.scheduler.GetSchedule": CLIENTS,
    "voco.cmd.visibility.GetView": CLIENTS,
    "voco.cmd.unknown.Anything": {"operator"},
    "voco.evt.presence.1001.PresenceChanged": {"presence"},
    "voco.evt.routing.c1.CallOffered": {"routing"},
    "voco.evt.scheduler.1001.ScheduleSaved": {"scheduler"},
    "voco.evt.visibility.1001.WatcherBlocked": {"visibility"},
    "voco.view.1002.1001": {"visibility"},
    "voco.viewbatch.1001": {"visibility"},
    "voco.pbx.evt.device.1001": PBX,
    "voco.pbx.evt.call.c1": PBX,
    "voco.pbx.offer": PBX,
    "voco.pbx.cmd.sim1.c1": {"routing"},
    "voco.pbxsim.sim1.control": {"operator"},
    "voco.elsewhere": NOBODY,
    "_INBOX_operator.x.y": NOBODY,  # nobody writes into another's inbox unasked
    "$JS.API.STREAM.CREATE.VOCO_PRESENCE": READ_STREAM,
    "$JS.API.STREAM.UPDATE.VOCO_PRESENCE": {"presence"},
    "$JS.API.STREAM.DELETE.VOCO_PRESENCE": NOBODY,
    "$JS.API.STREAM.PURGE.VOCO_PRESENCE": NOBODY,
    "$JS.API.STREAM.CREATE.VOCO_PBX": {"presence", "routing"} | PBX,
    "$JS.API.STREAM.UPDATE.VOCO_PBX": {"presence", "routing"},  # to partition it
    "$JS.API.STREAM.CREATE.VOCO_PBX_CMD": {"routing"},
    "$JS.API.STREAM.LIST": NOBODY,
    "$JS.API.CONSUMER.DURABLE.CREATE.VOCO_PRESENCE.scheduler-presence": {"scheduler"},
    "$JS.API.CONSUMER.MSG.NEXT.VOCO_PRESENCE.visibility-presence": {"visibility"},
    "$JS.API.CONSUMER.MSG.NEXT.VOCO_PBX.routing-calls-p0": {"routing"},
    "$JS.API.CONSUMER.CREATE.VOCO_PBX.routing-calls-p3.voco.pbx.evt.call.*.3": {"routing"},
    "$JS.API.CONSUMER.CREATE.VOCO_PBX.presence-pbx-p1": {"presence"},
    "$JS.API.CONSUMER.DELETE.VOCO_PBX.routing-calls-p2": {"routing"},
    "$JS.API.CONSUMER.DELETE.VOCO_PBX.presence-pbx-p2": {"presence"},
    "$JS.API.CONSUMER.CREATE.VOCO_PBX.snooper": NOBODY,
    "$JS.API.CONSUMER.DELETE.VOCO_PRESENCE.routing-directory": NOBODY,
    "$JS.ACK.VOCO_PBX.presence-pbx-p0.1.2.3.4.0": {"presence"},
    "$JS.ACK.VOCO_PBX.routing-calls-p1.1.2.3.4.0": {"routing"},
    # a node's commands, kept while its adapter is away: only that node's adapter reads them
    "$JS.API.CONSUMER.DURABLE.CREATE.VOCO_PBX_CMD.pbx-kam1": {"kamailio"},
    "$JS.API.CONSUMER.MSG.NEXT.VOCO_PBX_CMD.pbx-kam1": {"kamailio"},
    "$JS.API.CONSUMER.MSG.NEXT.VOCO_PBX_CMD.pbx-sim1": {"pbxsim"},
    "$JS.ACK.VOCO_PBX_CMD.pbx-kam1.1.2.3.4.0": {"kamailio"},
    "$JS.API.CONSUMER.DELETE.VOCO_PBX_CMD.pbx-kam1": NOBODY,
}

SUBSCRIBE: dict[str, tuple[str, set[str]]] = {
    # subscription: (a subject it would receive, who may make it)
    "voco.cmd.presence.SetStatus": ("voco.cmd.presence.SetStatus", {"presence"}),
    "voco.cmd.routing.WhatIf": ("voco.cmd.routing.WhatIf", {"routing"}),
    "voco.cmd.scheduler.GetSchedule": ("voco.cmd.scheduler.GetSchedule", {"scheduler"}),
    "voco.cmd.visibility.GetView": ("voco.cmd.visibility.GetView", {"visibility"}),
    "voco.cmd.>": ("voco.cmd.presence.SetStatus", NOBODY),
    "voco.pbx.offer": ("voco.pbx.offer", {"routing"}),
    "voco.evt.presence.1001.PresenceChanged": (
        "voco.evt.presence.1001.PresenceChanged",
        {"visibility", "operator"},
    ),
    "voco.evt.presence.1001.NoteChanged": ("voco.evt.presence.1001.NoteChanged", {"operator"}),
    "voco.evt.presence.>": ("voco.evt.presence.1001.NoteChanged", {"operator"}),
    "voco.evt.routing.c1.CallOffered": ("voco.evt.routing.c1.CallOffered", {"operator"}),
    "voco.view.1002.1001": ("voco.view.1002.1001", {"operator"}),
    "voco.view.>": ("voco.view.1002.1001", {"operator"}),
    # The edge reads the views batched for it, each naming the watchers it goes to.
    "voco.viewbatch.1001": ("voco.viewbatch.1001", {"gateway"}),
    "voco.viewbatch.>": ("voco.viewbatch.1001", {"gateway"}),
    "voco.pbx.cmd.sim1.c1": ("voco.pbx.cmd.sim1.c1", {"pbxsim"}),
    "voco.pbx.cmd.kam1.c1": ("voco.pbx.cmd.kam1.c1", {"kamailio"}),
    "voco.pbx.cmd.>": ("voco.pbx.cmd.sim1.c1", NOBODY),
    "voco.pbx.evt.call.c1": ("voco.pbx.evt.call.c1", NOBODY),
    "voco.pbxsim.sim1.control": ("voco.pbxsim.sim1.control", {"pbxsim"}),
    "_INBOX.x": ("_INBOX.x", NOBODY),
    **{f"{inbox_prefix(p)}.>": (f"{inbox_prefix(p)}.abc.1", {p}) for p in PRINCIPALS},
    "$JS.API.>": ("$JS.API.INFO", NOBODY),
    ">": ("voco.elsewhere", NOBODY),
}


class Watched:
    """A principal's connection whose refusals nats-server reports are collected."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NatsClient | None = None

    async def on_error(self, error: Exception) -> None:
        self.errors.append(str(error).lower())

    def refused(self, verb: str) -> set[str]:
        marker = f"permissions violation for {verb} to "
        return {e.split(marker, 1)[1].strip().strip("'\"") for e in self.errors if marker in e}


async def watched(url: str, principal: str) -> Watched:
    watcher = Watched()
    watcher.nc = await connect(
        url, f"test-{principal}", error_cb=watcher.on_error, max_reconnect_attempts=0
    )
    return watcher


async def settle(nc: NatsClient) -> None:
    """Everything sent so far has been judged: the server answers in order."""
    await nc.flush()
    await asyncio.sleep(0.05)


async def received_on(
    bench: NatsClient, subjects: Iterable[str]
) -> tuple[set[str], list[Subscription]]:
    got: set[str] = set()
    subscriptions = []
    for subject in subjects:

        async def seen(msg: Msg, subject: str = subject) -> None:
            got.add(subject)

        subscriptions.append(await bench.subscribe(subject, cb=seen))
    await bench.flush()
    return got, subscriptions


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_each_principal_publishes_only_where_it_must(
    principal: str, connections_for: ConnectionsFor, nats_url: str
) -> None:
    bench = await nats.connect(nats_url)
    got, _ = await received_on(bench, PUBLISH)
    me = await watched(connections_for(principal).nats_url, principal)
    assert me.nc is not None
    try:
        for subject in PUBLISH:
            await me.nc.publish(subject, b"probe")
        await settle(me.nc)
        await bench.flush()
        allowed = {s for s, who in PUBLISH.items() if principal in who}
        for _ in range(100):
            if got >= allowed:
                break
            await asyncio.sleep(0.02)
        assert got == allowed, f"{principal} published where the table does not say"
        refused = {s.lower() for s in PUBLISH} - {s.lower() for s in allowed}
        assert me.refused("publish") == refused
    finally:
        await me.nc.close()
        await bench.close()


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_each_principal_subscribes_only_where_it_must(
    principal: str, connections_for: ConnectionsFor, nats_url: str
) -> None:
    bench = await nats.connect(nats_url)
    me = await watched(connections_for(principal).nats_url, principal)
    assert me.nc is not None
    got: set[str] = set()
    try:
        for subscription in SUBSCRIBE:

            async def seen(msg: Msg, subscription: str = subscription) -> None:
                got.add(subscription)

            await me.nc.subscribe(subscription, cb=seen)
        await settle(me.nc)
        for example, _ in SUBSCRIBE.values():
            await bench.publish(example, b"probe")
        await bench.flush()
        allowed = {s for s, (_, who) in SUBSCRIBE.items() if principal in who}
        for _ in range(100):
            if got >= allowed:
                break
            await asyncio.sleep(0.02)
        await settle(me.nc)
        assert got == allowed, f"{principal} heard where the table does not say"
        refused = {s.lower() for s in SUBSCRIBE} - {s.lower() for s in allowed}
        assert me.refused("subscription") == refused
    finally:
        await me.nc.close()
        await bench.close()


async def test_an_anonymous_client_is_refused(nats_address: str) -> None:
    nc = NatsClient()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nc.connect(f"nats://{nats_address}", allow_reconnect=False, max_reconnect_attempts=0)
    await nc.close()


async def test_a_wrong_password_is_refused_with_what_to_fix(nats_address: str) -> None:
    url = f"nats://presence:not-the-password@{nats_address}"
    with pytest.raises(SystemExit) as refused:
        # With the services' options (retry an unreachable server forever): refused
        # credentials stop at once with what to fix, not an endless retry.
        async with asyncio.timeout(10):
            await connect(url, "test")
    message = str(refused.value)
    assert "VOCO_NATS_URL" in message
    assert "Authorization Violation" in message
    assert "not-the-password" not in message


async def test_a_principal_cannot_read_another_principals_replies(
    connections_for: ConnectionsFor,
) -> None:
    """The operator's request is answered on its own inbox; the gateway asking to hear
    that inbox is refused, so it cannot read what the operator was told."""
    gateway = await watched(connections_for("gateway").nats_url, "gateway")
    assert gateway.nc is not None
    try:
        await gateway.nc.subscribe(f"{inbox_prefix('operator')}.>")
        await gateway.nc.subscribe("_INBOX.>")
        await settle(gateway.nc)
        assert gateway.refused("subscription") == {"_inbox_operator.>", "_inbox.>"}
    finally:
        await gateway.nc.close()


async def test_a_pbx_cannot_send_commands_or_fake_another_nodes_commands(
    connections_for: ConnectionsFor,
) -> None:
    pbx = await watched(connections_for("pbxsim").nats_url, "pbxsim")
    assert pbx.nc is not None
    try:
        with pytest.raises(nats.errors.TimeoutError):  # refused looks like no answer...
            await pbx.nc.request("voco.cmd.presence.SetStatus", b"{}", timeout=0.3)
        await pbx.nc.subscribe("voco.pbx.cmd.kam1.>")
        await settle(pbx.nc)
        assert pbx.refused("publish") == {"voco.cmd.presence.setstatus"}  # ...but it is
        assert pbx.refused("subscription") == {"voco.pbx.cmd.kam1.>"}
    finally:
        await pbx.nc.close()
