"""Routing's batch of PBX call events: what reaches the store, with no I/O but a recording
connection (the statement itself is covered by the platform tests)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from contracts import pbx
from contracts.presence import DeviceState
from runtime.clock import FakeClock
from runtime.consumer import Delivery
from runtime.eventstore import Checkpoint, EventStore
from services.routing.app import Routing
from tests.routing.given import T0, directory, ext


class RecordingConn:
    """Answers the write statement as Postgres would (a position per outbox row)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    async def fetch(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        self.statements.append(sql)
        return [{"msg_id": m, "position": n} for n, m in enumerate(params[8], start=1)]


def routing() -> Routing:
    store = EventStore(pool=None, schema="routing")  # type: ignore[arg-type]
    shell = Routing(SimpleNamespace(clock=FakeClock(T0), store=store, pool=None), "routing")  # type: ignore[arg-type]
    shell.directory.directory = directory(ext("1001", desk=DeviceState.IDLE))
    return shell


def delivery(event: pbx.CallEvent, sequence: int) -> Delivery:
    return Delivery(pbx.call_subject(event.call_id), pbx.encode(event), {}, sequence)


async def test_a_batch_of_only_ringing_legs_writes_nothing_and_the_next_one_checkpoints() -> None:
    shell, conn = routing(), RecordingConn()

    async def apply(*events: pbx.CallEvent, first: int) -> None:
        batch = [delivery(e, n) for n, e in enumerate(events, start=first)]
        checkpoint = Checkpoint("routing-calls", batch[-1].sequence)
        done = await shell.apply_pbx_events(conn, batch, checkpoint)  # type: ignore[arg-type]
        await done()

    await apply(
        pbx.CallOffered(call_id="c1", node="n1", caller="2000", callee="1001", at=T0), first=1
    )
    assert len(conn.statements) == 1
    await apply(*(pbx.LegRinging(call_id="c1", leg_id=f"l{n}", at=T0) for n in (1, 2)), first=2)
    assert len(conn.statements) == 1  # LegRinging decides nothing: no statement, no commit
    await apply(pbx.CallEnded(call_id="c1", at=T0), first=4)
    assert len(conn.statements) == 2
    assert "checkpointed AS" in conn.statements[1]  # the checkpoint moves past all four
