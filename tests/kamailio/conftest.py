"""A real PBX for the tests: Kamailio (Debian's 5.6.3) on free loopback ports, the adapter,
and the real routing and presence services on the session's NATS and a fresh database.

Debian's packages are installed when missing (as root, with apt-get); where they cannot
be, the tests fail saying what to install: they are never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from adapters.kamailio.adapter import KamailioAdapter
from adapters.kamailio.config import KamailioConfig, Secrets
from adapters.kamailio.confirm import serve
from adapters.kamailio.packages import MissingPackages, ensure_kamailio, ensure_sipp
from adapters.kamailio.server import command
from contracts.pbx import decode
from contracts.presence import GetPresence, ProvisionUser
from launcher.processes import free_port
from runtime.bus import connect, request
from runtime.clock import SystemClock
from runtime.config import Connections
from runtime.service import ServiceRuntime
from services.presence.app import build as build_presence
from services.routing.app import build as build_routing
from tests.conftest import ConnectionsFor
from tests.kamailio.sipp import Phones
from tests.principals import ADMIN

DEVICES = ("1001-desk", "1001-softphone", "1002-desk", "1003-desk")


@pytest.fixture(scope="session")
def debian_packages() -> None:
    try:
        ensure_kamailio()
        ensure_sipp()
    except MissingPackages as error:
        pytest.fail(str(error))


def pbx_config(root: Path, **changes: Any) -> KamailioConfig:
    config = KamailioConfig(
        node="kam1",
        data_dir=root,
        sip_host="127.0.0.1",
        sip_port=free_port(),
        domain="voco.test",
        evapi_host="127.0.0.1",
        evapi_port=free_port(),
        confirm_port=free_port(),
        gateway_uri=f"sip:{{number}}@127.0.0.1:{free_port()}",
        voicemail_uri=f"sip:{{mailbox}}@127.0.0.1:{free_port()}",
        ivr_uri=f"sip:{{target}}@127.0.0.1:{free_port()}",
        guard_seconds=4.0,
        offer_timeout=1.0,
        min_expires=1,
        usrloc_timer=1,
        children=2,
        devices=DEVICES,
    )
    return replace(config, **changes)


def port_of(uri: str) -> int:
    return int(uri.rsplit(":", 1)[1])


@dataclass
class Pbx:
    """Kamailio, its adapter, routing and presence; `phones` are SIPp agents."""

    config: KamailioConfig
    connections_for: ConnectionsFor
    nc: NatsClient  # the test bench's: it watches every PBX event and command
    secrets: Secrets
    phones: Phones
    kamailio: subprocess.Popen[bytes] | None = None
    adapter: KamailioAdapter | None = None
    routing: ServiceRuntime | None = None
    presence: ServiceRuntime | None = None
    _confirm: Any = None
    events: list[Any] = field(default_factory=list)  # every PBX event seen on NATS
    commands: list[Any] = field(default_factory=list)  # every command routing sent

    @property
    def log(self) -> Path:
        return self.config.data_dir / "kamailio.log"

    async def start_kamailio(self) -> None:
        with open(self.log, "ab") as out:  # noqa: ASYNC230 - a local file, once per test
            self.kamailio = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited
                command(self.config), stdout=out, stderr=out
            )
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.config.evapi_port)
                writer.close()
                return
            if self.kamailio.poll() is not None:
                raise AssertionError(f"kamailio exited: {self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.05)
        raise AssertionError("kamailio did not open evapi")

    def stop_kamailio(self) -> None:
        if self.kamailio is not None and self.kamailio.poll() is None:
            self.kamailio.terminate()
            try:
                self.kamailio.wait(5)
            except subprocess.TimeoutExpired:
                self.kamailio.kill()
                self.kamailio.wait()
        self.kamailio = None

    async def start_adapter(self) -> KamailioAdapter:
        """A new adapter process, as it would start: its own NATS connection, as the
        `kamailio` principal with its rights only."""
        nc = await connect(self.connections_for("kamailio").nats_url, "test-kamailio")
        self.adapter = KamailioAdapter(nc, SystemClock(), self.config, self.secrets.evapi)
        await self.adapter.start()
        await asyncio.wait_for(self.adapter.evapi.connected.wait(), 5)
        return self.adapter

    async def stop_adapter(self) -> None:
        if self.adapter is not None:
            await self.adapter.stop()
            await self.adapter.nc.close()
            self.adapter = None

    async def kill_adapter(self) -> None:
        """As SIGKILL would: its NATS connection and evapi socket close, nothing is given
        back or said to anyone."""
        if self.adapter is not None:
            await self.adapter.nc.close()
            for task in list(self.adapter._tasks):
                task.cancel()
            await asyncio.sleep(0.1)
            self.adapter = None

    async def start_routing(self) -> None:
        self.routing = await build_routing(self.connections_for("routing"), SystemClock())
        await self.routing.start()

    async def stop_routing(self) -> None:
        if self.routing is not None:
            await self.routing.stop()
            self.routing = None

    async def provision(self, *extensions: str) -> None:
        for extension in extensions:
            await request(self.nc, "presence", ProvisionUser(
                extension=extension, display_name=f"User {extension}", **ADMIN))  # fmt: skip

    async def presence_of(self, extension: str) -> dict[str, Any]:
        return await request(self.nc, "presence", GetPresence(extension=extension, **ADMIN))

    async def register(self, device: str, **options: Any) -> int:
        """Registers `device` with a phone port; returns that port."""
        port = free_port()
        outcome = await self.phones.register(device, port, **options)
        assert outcome.ok, outcome.output[-2000:]
        return port


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(0.05)


@pytest.fixture
def pbx_changes() -> dict[str, Any]:
    """Changes to the test PBX's configuration; a test sets its own with
    `@pytest.mark.parametrize("pbx_changes", [{...}])`."""
    return {}


@pytest.fixture
async def pbx(
    debian_packages: None,
    connections: Connections,
    connections_for: ConnectionsFor,
    pbx_changes: dict[str, Any],
) -> AsyncIterator[Pbx]:
    root = Path(tempfile.mkdtemp(prefix="voco-kamailio-"))
    config = pbx_config(root, **pbx_changes)
    secrets = Secrets.load(config)
    nc = await nats.connect(connections.nats_url)
    phones = Phones(config.sip_port, secrets.passwords)
    pbx = Pbx(config, connections_for, nc, secrets, phones)

    async def seen(msg: Msg) -> None:
        message = decode(msg.data)
        (pbx.commands if msg.subject.startswith("voco.pbx.cmd.") else pbx.events).append(message)

    await nc.subscribe("voco.pbx.evt.>", cb=seen)
    await nc.subscribe("voco.pbx.cmd.>", cb=seen)
    presence = pbx.presence = await build_presence(connections_for("presence"), SystemClock())
    await presence.start()
    transport, pbx._confirm = await serve(config.confirm_port)
    try:
        await pbx.start_routing()
        await pbx.start_kamailio()
        await pbx.start_adapter()
        yield pbx
    finally:
        pbx.phones.close()
        await pbx.stop_adapter()
        pbx.stop_kamailio()
        transport.close()
        await pbx.stop_routing()
        await presence.stop()
        await nc.close()
