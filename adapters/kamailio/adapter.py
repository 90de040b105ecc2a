"""The Kamailio adapter: Kamailio's evapi events as the PBX contract on NATS, and routing's
commands carried out by Kamailio (contracts/PBX.md).

Kamailio keeps each call's SIP state, its suspension and the command ids it carried out,
so this process can restart mid-call: on reconnect Kamailio re-sends each call's last
state and the registrations are re-read (`ul.dump`) and reported for every device.
Routing's commands wait for it on the node's durable JetStream consumer (commands.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from pydantic import ValidationError

from adapters.kamailio import translate
from adapters.kamailio.commands import CommandConsumer
from adapters.kamailio.config import KamailioConfig, extension_of
from adapters.kamailio.evapi import Evapi
from adapters.kamailio.publish import Publisher
from contracts import pbx
from contracts.base import Message
from contracts.errors import Reply
from contracts.presence import DeviceState
from runtime.clock import Clock
from runtime.telemetry import inject_headers, tracer

log = logging.getLogger(__name__)
_tracer = tracer(__name__)


@dataclass
class Call:
    call_id: str
    caller_device: str | None = None
    offered: asyncio.Event = field(default_factory=asyncio.Event)
    ringing: bool = False
    legs: dict[str, str] = field(default_factory=dict)  # leg id -> device
    busy: set[str] = field(default_factory=set)  # devices this call made busy
    received: float = 0.0  # monotonic, when Kamailio offered it
    first_fork_ms: float | None = None
    outbox: asyncio.Queue[tuple[Message, str]] = field(default_factory=asyncio.Queue)
    drainer: asyncio.Task[None] | None = None
    ended: bool = False
    carried_out: set[str] = field(default_factory=set)  # command ids


class KamailioAdapter:
    def __init__(
        self, nc: NatsClient, clock: Clock, config: KamailioConfig, evapi_secret: str
    ) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.clock = clock
        self.config = config
        self.node = config.node
        self.evapi = Evapi(config.evapi_host, config.evapi_port, evapi_secret, self.on_event)
        self.calls: dict[str, Call] = {}
        self.boot: str | None = None
        self.fork_latencies_ms: list[float] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()
        self.commands = CommandConsumer(self.js, self.node, self.evapi.connected, self.on_command)
        self._consuming: asyncio.Task[None] | None = None
        # Device and feature-code reports leave in order per device, off the evapi reader
        # (a JetStream ack awaited there would hold up the next offer).
        self.publisher = Publisher(self.js)

    async def start(self) -> None:
        self._spawn(self.evapi.run(self._stop))
        self._consuming = self._spawn(self.commands.run())

    async def stop(self) -> None:
        self._stop.set()
        self.commands.stop()  # what it fetched and did not carry out is given back
        if self._consuming is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._consuming), 5)
        for call in self.calls.values():  # let what Kamailio said reach JetStream
            if not call.outbox.empty():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.outbox.join(), 5)
        await self.publisher.close()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, work: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- Kamailio -> Voco -------------------------------------------------------------

    async def on_event(self, event: dict[str, Any]) -> None:
        try:
            await self._on_event(event)
        except (KeyError, ValueError, ValidationError) as error:
            log.warning("evapi event not understood", extra={"event": event, "error": str(error)})

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("e")
        call_id = str(event.get("call", ""))
        match kind:
            case "hello":
                await self.hello(str(event["boot"]))
            case "reg":
                state = DeviceState.REGISTERED if int(event["n"]) else DeviceState.UNREGISTERED
                await self.report_device(str(event["dev"]), state)
            case "expired":
                await self.report_device(str(event["dev"]), DeviceState.UNREGISTERED)
            case "dump":
                await self.resync_devices(translate.device_count(event["body"]))
            case "feature":
                await self.feature_code(str(event["dev"]), str(event["code"]))
            case "offer":
                await self.offer(event)
            case "routed":  # a resync's "still held"
                self.call(call_id)
            case "ringing_step":
                self.call(call_id).ringing = True
            case "synced":
                pass  # Kamailio re-sent every call it holds (evapi.py sets `connected`)
            case "done":  # a command Kamailio could not resume its call for
                log.warning("command not carried out", extra={"command_id": event.get("cmd")})
            case "fork_ended":
                self.call(call_id).ringing = False
            case "ringing":
                leg = str(event["leg"])
                self.emit(pbx.LegRinging(call_id=call_id, leg_id=leg, at=self.clock.now()),
                          f"{call_id}:{leg}:ringing")  # fmt: skip
            case "answered":
                await self.answered(call_id, str(event["leg"]))
            case "leg_failed":
                self.leg_failed(call_id, str(event["leg"]), int(event["code"]), bool(event["rang"]))
            case "cancel":
                self.emit(
                    pbx.CallerHungUp(call_id=call_id, at=self.clock.now()), f"{call_id}:hungup"
                )
            case "bye" | "ended":
                await self.ended(call_id)
            case _:
                log.warning("unknown evapi event", extra={"event": event})

    def call(self, call_id: str) -> Call:
        """The call's state; one this process never saw offered (a restart) is taken as
        offered: routing has it, or will from JetStream."""
        call = self.calls.get(call_id)
        if call is None:
            call = self.calls[call_id] = Call(call_id)
            call.offered.set()
            call.drainer = self._spawn(self._drain(call))
        return call

    async def hello(self, boot: str) -> None:
        if self.boot is not None and boot != self.boot:
            # Kamailio restarted: every call it held is gone (contracts/PBX.md, "Failures").
            for call in list(self.calls.values()):
                await self.ended(call.call_id)
        self.boot = boot
        await self.evapi.send({"op": "dump"})

    async def offer(self, event: dict[str, Any]) -> None:
        """An INVITE waiting for routing; also a resync's call that Kamailio held while no
        adapter was connected (a repeat of an offer routing has decides nothing)."""
        if str(event.get("call")) in self.calls:
            return  # this process offered it already
        offered = translate.offered(event, self.node, self.clock.now())
        call = Call(offered.call_id, caller_device=str(event["from"]), received=time.monotonic())
        self.calls[offered.call_id] = call
        call.drainer = self._spawn(self._drain(call))
        self._spawn(self._request_offer(call, offered))

    async def _request_offer(self, call: Call, offered: pbx.CallOffered) -> None:
        with _tracer.start_as_current_span("offer call", attributes={"call_id": call.call_id}):
            try:
                msg = await self.nc.request(
                    pbx.OFFER_SUBJECT,
                    pbx.encode(offered),
                    timeout=self.config.offer_timeout,
                    headers=inject_headers(),
                )
            except (NoRespondersError, NatsTimeout):
                # Routing is down or slow: the offer waits on JetStream, the INVITE under
                # Kamailio's guard timer; a repeat of a stored offer decides nothing.
                log.info("offer not answered, publishing it", extra={"call_id": call.call_id})
                await self.publisher.publish(
                    pbx.call_subject(call.call_id), offered, f"{call.call_id}:offered"
                )
                call.offered.set()
                return
        reply = Reply.model_validate_json(msg.data)
        call.offered.set()
        if reply.error is not None:
            log.warning(
                "offer refused", extra={"call_id": call.call_id, "error": reply.error.message}
            )
            refused = {"op": "reject", "call": call.call_id, "cmd": f"refused-{call.call_id}"}
            await self.evapi.send({**refused, "code": 500, "reason": "Server Internal Error"})

    async def answered(self, call_id: str, leg: str) -> None:
        call = self.call(call_id)
        call.ringing = False
        self.emit(pbx.LegAnswered(call_id=call_id, leg_id=leg, at=self.clock.now()),
                  f"{call_id}:{leg}:answered")  # fmt: skip
        for device in (call.legs.get(leg), call.caller_device):
            if device and device not in call.busy:
                call.busy.add(device)
                await self.report_device(device, DeviceState.BUSY)

    def leg_failed(self, call_id: str, leg: str, code: int, rang: bool) -> None:
        reason = translate.classify(code, rang)
        if reason is not None:
            failed = pbx.LegFailed(call_id=call_id, leg_id=leg, reason=reason, at=self.clock.now())
            self.emit(failed, f"{call_id}:{leg}:failed")

    async def ended(self, call_id: str) -> None:
        call = self.call(call_id)
        if call.ended:
            return  # told twice: its BYE, and its dialog's end
        call.ended = True
        self.emit(pbx.CallEnded(call_id=call_id, at=self.clock.now()), f"{call_id}:ended")
        for device in sorted(call.busy):
            await self.report_device(device, DeviceState.IDLE)
        call.busy.clear()
        self._spawn(self._forget(call))

    async def _forget(self, call: Call) -> None:
        await call.outbox.join()
        await asyncio.sleep(60)  # a late command or event of the call still finds it
        await call.outbox.join()
        if call.drainer is not None:
            call.drainer.cancel()
        self.calls.pop(call.call_id, None)

    def emit(self, event: pbx.CallEvent, msg_id: str) -> None:
        """Queued per call: published in order, and only after the offer was answered."""
        self.call(event.call_id).outbox.put_nowait((event, msg_id))

    async def _drain(self, call: Call) -> None:
        await call.offered.wait()
        while True:
            event, msg_id = await call.outbox.get()
            try:
                await self.publisher.publish(pbx.call_subject(call.call_id), event, msg_id)
            finally:
                call.outbox.task_done()

    async def report_device(self, device: str, state: DeviceState) -> None:
        extension = extension_of(device)
        event = pbx.DeviceReported(
            extension=extension, device_id=device, state=state, at=self.clock.now()
        )
        self.publisher.in_order(device, pbx.device_subject(extension), event)

    async def resync_devices(self, contacts: dict[str, int]) -> None:
        """After Kamailio or this process restarted: every subscriber as Kamailio has it."""
        for device in self.config.devices:
            registered = contacts.get(device, 0) > 0
            await self.report_device(
                device, DeviceState.REGISTERED if registered else DeviceState.UNREGISTERED
            )
        log.info(
            "devices resynced", extra={"registered": sorted(d for d, n in contacts.items() if n)}
        )

    async def feature_code(self, device: str, code: str) -> None:
        extension = extension_of(device)
        event = pbx.FeatureCodeDialled(
            extension=extension, code=code, device_id=device, at=self.clock.now()
        )
        self.publisher.in_order(device, pbx.feature_code_subject(extension), event)

    # ---- Voco -> Kamailio -------------------------------------------------------------

    async def on_command(self, msg: Msg) -> bool:
        """Carries out one command; False (given back, to come again) when Kamailio is
        not connected. A command for a call this node does not hold, or holds no more,
        is dropped: Kamailio re-sent every call it holds before commands are taken."""
        try:
            command = pbx.decode(msg.data)
        except Exception as error:  # a PBX logs and drops what it cannot read
            log.warning("unreadable command", extra={"subject": msg.subject, "error": str(error)})
            return True
        if not isinstance(command, pbx.PbxCommand):
            log.warning("not a command", extra={"subject": msg.subject})
            return True
        call = self.calls.get(command.call_id)
        if call is None or call.ended:
            ids = {"call_id": command.call_id, "command_id": command.command_id}
            log.info("command for a call that is over, dropped", extra=ids)
            return True
        if command.command_id in call.carried_out:
            return True  # a redelivery
        call.offered.set()  # commands follow a stored offer
        op = self.op_for(call, command)
        if op is not None and not await self.evapi.send(op):
            return False
        call.carried_out.add(command.command_id)
        return True

    def _fork_measured(self, ms: float) -> None:
        """Kamailio's offer received -> routing's first command received, logged per 100."""
        self.fork_latencies_ms.append(ms)
        if len(self.fork_latencies_ms) % 100 == 0:
            last = sorted(self.fork_latencies_ms[-100:])
            figures = {"p50_ms": round(last[49], 2), "p99_ms": round(last[98], 2)}
            log.info("offer to first command, last 100 calls", extra=figures)
        if len(self.fork_latencies_ms) > 10_000:
            del self.fork_latencies_ms[:5_000]

    def op_for(self, call: Call, command: pbx.PbxCommand) -> dict[str, Any] | None:
        match command:
            case pbx.RingTargets():
                op, impossible = translate.ring(self.config, command)
                for leg in command.legs:
                    if leg.device_id:
                        call.legs[leg.leg_id] = leg.device_id
                for leg_id in impossible:
                    self.leg_failed(call.call_id, leg_id, 404, rang=False)
                if call.first_fork_ms is None and call.received:
                    call.first_fork_ms = (time.monotonic() - call.received) * 1000
                    self._fork_measured(call.first_fork_ms)
                call.ringing = True
                return op
            case pbx.CancelLegs():
                # An answer elsewhere and a caller's CANCEL are cancelled by SIP itself;
                # a step's end cancels the fork if it still rings.
                if command.reason is pbx.CancelReason.STEP_TIMEOUT and call.ringing:
                    call.ringing = False
                    return {"op": "cancel", "call": call.call_id, "cmd": command.command_id}
                return None
            case pbx.Forward() | pbx.SendToVoicemail():
                return translate.route(self.config, command)
            case pbx.Reject():
                return translate.reject_op(command, command.reason)
        return None
