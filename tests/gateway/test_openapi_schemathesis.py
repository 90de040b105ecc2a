"""Schemathesis against the edge's OpenAPI document, on the real platform: whatever it
sends, no 5xx, and every response is one the document describes, matching its schema.

The platform runs in a thread of its own (its own event loop) because Schemathesis calls
the server synchronously. Signed in as an administrator (bearer), so generated requests
reach the services instead of stopping at 403. Bounded: a few examples per operation.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import nats
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from launcher.postgres import PostgresServer
from launcher.processes import NatsServer
from runtime.config import Connections
from services.gateway.app import create_app
from services.gateway.config import GatewayConfig
from tests.conftest import bench_nats_url
from tests.databases import fresh_database
from tests.gateway.platform import running_gateway

pytestmark = [
    pytest.mark.integration,
    # The platform's thread uses the `random` module (retry jitter, the random ring
    # strategy) while Hypothesis draws examples; Hypothesis takes that for a strategy
    # using `random` and warns. Nothing in the strategies here does.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

schema = (
    schemathesis.openapi.from_dict(create_app(Connections.from_env(), GatewayConfig()).openapi())
    .exclude(path="/api/stream")  # endless by design; tests/gateway/test_live_stream.py
    .exclude(method="DELETE", path="/api/session")  # would sign the fuzzer itself out
    .exclude(method="PUT", path_regex=r"/password$")  # would end the fuzzer's session
)


class Platform(threading.Thread):
    def __init__(self, nats_url: str, postgres_server: PostgresServer) -> None:
        super().__init__(daemon=True)
        self.nats_url, self.postgres_server = nats_url, postgres_server
        self.ready = threading.Event()
        self.url = ""
        self.headers: dict[str, str] = {}
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # reported to the test
            self.error = error
            self.ready.set()

    async def _main(self) -> None:
        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        async with fresh_database(self.postgres_server) as dsn:
            connections = Connections(nats_url=self.nats_url, database_url=dsn)
            async with running_gateway(connections) as gateway:
                admin = await gateway.sign_in("admin", bearer=True)
                self.url, self.headers = (
                    gateway.url,
                    {"Authorization": admin.headers["Authorization"]},
                )
                await admin.aclose()
                self.ready.set()
                await self._stopping.wait()
            nc = await nats.connect(self.nats_url)
            for info in await nc.jetstream().streams_info():
                assert info.config.name is not None
                await nc.jetstream().delete_stream(info.config.name)
            await nc.close()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self.join(30)


@pytest.fixture(scope="module")
def live(
    nats_server: NatsServer, postgres_server: PostgresServer, test_password: str
) -> Iterator[Platform]:
    # The test bench's NATS user, as the `nats_url` fixture (function-scoped) gives it.
    platform = Platform(bench_nats_url(nats_server, test_password), postgres_server)
    platform.start()
    platform.ready.wait(60)
    if platform.error is not None:
        raise platform.error
    yield platform
    platform.stop()


CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_answer_is_a_5xx_and_every_answer_matches_the_document(
    case: Any, live: Platform
) -> None:
    case.call_and_validate(base_url=live.url, headers=live.headers, checks=CHECKS, timeout=15)
