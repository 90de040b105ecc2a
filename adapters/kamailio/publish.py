"""JetStream publishing for the adapter: `Nats-Msg-Id` on every event, retried with the
same id (a retry after a lost ack is dropped as a duplicate), and ordered lanes per
device so reports leave in order without holding up the evapi reader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from nats.js import JetStreamContext

from contracts import pbx
from contracts.base import Message
from runtime.telemetry import inject_headers

log = logging.getLogger(__name__)
ATTEMPTS = 20  # about 30 s of backoff: NATS reconnecting, or no stream yet


class Publisher:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._lanes: dict[str, asyncio.Queue[tuple[str, Message, str]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, subject: str, message: Message, msg_id: str) -> None:
        headers = inject_headers({"Nats-Msg-Id": msg_id})
        for attempt in range(ATTEMPTS):
            try:
                await self.js.publish(subject, pbx.encode(message), headers=headers, timeout=2)
                return
            except Exception as error:  # no stream yet, NATS reconnecting, a lost ack
                if attempt == ATTEMPTS - 1:
                    log.error("event not published", extra={"msg_id": msg_id, "error": str(error)})
                    return
                await asyncio.sleep(min(0.1 * 2**attempt, 2))

    def in_order(self, key: str, subject: str, message: Message) -> None:
        """Published after everything queued before under the same key (a device)."""
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = asyncio.Queue()
            task = asyncio.create_task(self._drain(lane))
            self._tasks.add(task)
        lane.put_nowait((subject, message, f"{key}:{uuid.uuid4().hex}"))

    async def _drain(self, lane: asyncio.Queue[tuple[str, Message, str]]) -> None:
        while True:
            subject, message, msg_id = await lane.get()
            try:
                await self.publish(subject, message, msg_id)
            finally:
                lane.task_done()

    async def close(self, timeout: float = 5.0) -> None:
        """Let what is queued leave (bounded), then stop the lanes."""
        for lane in self._lanes.values():
            if not lane.empty():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.join(), timeout)
        for task in self._tasks:
            task.cancel()
