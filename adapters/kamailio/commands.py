"""Routing's commands for this node, from its durable JetStream consumer (contracts/PBX.md,
"Subjects and streams"): a command sent while the adapter was away (restarting, or
disconnected from NATS or from Kamailio) waits in VOCO_PBX_CMD and is carried out when
the adapter is back.

Commands are taken only while Kamailio is connected and has re-sent the calls it holds
(so a command for a call that is over can be told apart and dropped), in the stream's
order, and each is acked once it was handed to Kamailio. What was fetched and not
carried out (Kamailio went away meanwhile, or the adapter stops) is given back (NAK),
in order; what a killed adapter had in flight comes again after the ack wait. Kamailio
and the adapter both ignore a command id they carried out already.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts import pbx
from runtime.pull import PullStream

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 2.0
"""How long a command handed to a killed adapter waits before it comes again: well
inside the guard timer that bounds a waiting call (VOCO_KAMAILIO_GUARD_SECONDS)."""

CarryOut = Callable[[Msg], Awaitable[bool]]
"""Carries out one command; False when Kamailio is not connected (it is given back)."""


def consumer_config(node: str) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=pbx.command_consumer(node),
        filter_subject=pbx.node_commands(node),
        ack_policy=AckPolicy.EXPLICIT,
        # Made once, at the node's first start: there is no earlier call of it to serve.
        deliver_policy=DeliverPolicy.NEW,
        ack_wait=ACK_WAIT_SECONDS,
        max_ack_pending=10_000,
    )


class CommandConsumer:
    def __init__(
        self, js: JetStreamContext, node: str, ready: asyncio.Event, carry_out: CarryOut
    ) -> None:
        self.js = js
        self.node = node
        self.ready = ready  # Kamailio connected and its calls re-sent
        self.carry_out = carry_out
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            if not await self._wait(self.ready):
                return
            try:
                await self._consume()
            except Exception as error:  # NATS away, or no stream yet: routing makes it
                log.warning("commands not consumed, trying again", extra={"error": str(error)})
                await self._wait(self._stopping, 1.0)

    async def _wait(self, event: asyncio.Event, timeout: float | None = None) -> bool:
        """True once `event` is set; False when stopping (or at the timeout)."""
        waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stopping.wait())}
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return event.is_set() and not self._stopping.is_set()

    async def _consume(self) -> None:
        config = consumer_config(self.node)
        await self.js.add_consumer(pbx.PBX_COMMAND_STREAM, config)
        assert config.durable_name is not None
        pull = PullStream(
            self.js._nc,
            api_prefix=self.js._prefix,  # nats-py keeps the API prefix (domain) here
            stream=pbx.PBX_COMMAND_STREAM,
            durable=config.durable_name,
            batch=100,
        )
        await pull.start()
        log.info("consuming commands", extra={"consumer": config.durable_name})
        msgs: list[Msg] = []
        try:
            while self.ready.is_set() and not self._stopping.is_set():
                msgs = await pull.next_batch(timeout=0.5)
                while msgs and self.ready.is_set() and not self._stopping.is_set():
                    if not await self.carry_out(msgs[0]):
                        break
                    with contextlib.suppress(NatsError):
                        await msgs.pop(0).ack()
        finally:
            await pull.stop(unhandled=msgs)
