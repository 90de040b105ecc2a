"""runtime.bus.request_many: many commands over one inbox, answers in order, typed errors."""

from __future__ import annotations

import nats
import pytest

from contracts.errors import CommandError, ErrorCode
from runtime.bus import CommandServer, request_many
from tests.runtime.counter import Increment

pytestmark = pytest.mark.integration


async def test_answers_come_back_in_order_with_typed_errors(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    server = CommandServer(nc, "many")

    async def handle(command: Increment) -> dict[str, object]:
        if command.by < 0:
            raise CommandError("by must not be negative", field="by")
        return {"doubled": command.by * 2}

    server.route(Increment, handle)
    await server.start()
    try:
        answers = await request_many(nc, "many", [Increment(by=n) for n in (1, -1, 3)])
        assert answers[0] == {"doubled": 2}
        assert isinstance(answers[1], CommandError)
        assert answers[1].field == "by"
        assert answers[2] == {"doubled": 6}
        assert len(await request_many(nc, "many", [Increment(by=n) for n in range(2000)])) == 2000
    finally:
        await server.drain()
        await nc.close()


async def test_no_responder_is_unavailable(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        (answer,) = await request_many(nc, "nobody", [Increment(by=1)], timeout=1)
        assert isinstance(answer, CommandError)
        assert answer.code is ErrorCode.UNAVAILABLE
    finally:
        await nc.close()
