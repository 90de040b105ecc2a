"""A command that meets its service's database gone is answered `unavailable` with a
sentence to act on, not `internal`: the caller should try again, nothing is broken."""

from __future__ import annotations

import asyncpg
import nats
import pytest

from contracts.base import Acting
from contracts.errors import CommandError, ErrorCode
from runtime.bus import CommandServer, request

pytestmark = pytest.mark.integration


class Ping(Acting):
    type_name = "Ping"


@pytest.mark.parametrize(
    "away",
    [
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
async def test_a_command_that_finds_the_database_away_is_refused_as_unavailable(
    nats_url: str, away: Exception
) -> None:
    nc = await nats.connect(nats_url)
    server = CommandServer(nc, "probe")

    async def handler(_: Ping) -> None:
        raise away

    server.route(Ping, handler)
    await server.start()
    try:
        with pytest.raises(CommandError) as refused:
            await request(nc, "probe", Ping(actor="someone"))
        assert refused.value.code is ErrorCode.UNAVAILABLE
        assert "cannot reach its database" in refused.value.message
        assert "try again" in refused.value.message
    finally:
        await server.drain()
        await nc.close()
