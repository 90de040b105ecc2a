"""A PBX that speaks the Voco PBX contract over NATS: devices, calls, and legs that behave.

It offers calls (CallOffered as a request on `voco.pbx.offer`, or on JetStream where
routing does not answer), carries out the commands routing sends to its node
(`voco.pbx.cmd.<node>.>`), and reports each leg per its behaviour. A command id it has
carried out is ignored when it comes again, as the contract asks of a PBX.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from contracts import pbx
from contracts.base import Message
from contracts.errors import Reply
from contracts.presence import DeviceState
from runtime.clock import Clock
from runtime.partitions import PartitionScheme, ensure_partitioned
from runtime.service import stream_config
from runtime.telemetry import inject_headers, span_from_headers, tracer
from services.pbxsim.held import HeldCalls
from services.pbxsim.scenario import Action, Behaviour, Scenario

log = logging.getLogger(__name__)
_tracer = tracer(__name__)

FAILURES = {
    Action.BUSY: pbx.LegFailure.BUSY,
    Action.DECLINE: pbx.LegFailure.DECLINED,
    Action.UNREACHABLE: pbx.LegFailure.UNREACHABLE,
}


@dataclass
class SimCall:
    call_id: str
    caller: str
    callee: str
    offered: float  # perf_counter when CallOffered was sent
    first_command: float | None = None
    commands: list[pbx.PbxCommand] = field(default_factory=list)
    legs: dict[str, pbx.Leg] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    outcome: str | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def latency_ms(self) -> float | None:
        return None if self.first_command is None else (self.first_command - self.offered) * 1000

    def kinds(self) -> list[str]:
        return [c.type_name.removeprefix("pbx.") for c in self.commands]


class PbxSimulator:
    def __init__(
        self,
        nc: NatsClient,
        clock: Clock,
        scenario: Scenario | None = None,
        *,
        enforce_timers: bool = False,
        offer_by_request: bool = True,
        offer_timeout: float = 2.0,
        held: HeldCalls | None = None,
    ) -> None:
        """`offer_by_request`: offer calls as requests (contracts/PBX.md, "Offering a
        call"); False publishes them on JetStream only, as a PBX that cannot make requests.
        `held`: the answered calls, kept where a restarted simulator finds them."""
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.clock = clock
        self.scenario = scenario or Scenario()
        self.node = self.scenario.node
        self.behaviours: dict[str, Behaviour] = dict(self.scenario.behaviours)
        self.enforce_timers = enforce_timers
        self.offer_by_request = offer_by_request
        self.offer_timeout = offer_timeout
        self.calls: dict[str, SimCall] = {}
        self.held = held or HeldCalls()
        self._seen_commands: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        try:
            await self.js.stream_info(pbx.PBX_STREAM)
        except NotFoundError:  # the simulator started before any service: make the stream
            await ensure_partitioned(
                self.js,
                stream_config(pbx.PBX_STREAM, pbx.PBX_SUBJECTS),
                PartitionScheme(pbx.PARTITIONED_SUBJECTS, pbx.PARTITION_KEY),
            )
        self._subscription = await self.nc.subscribe(
            pbx.node_commands(self.node), cb=self._on_command
        )
        await self.end_left_over_calls()
        await self.register_all()

    async def end_left_over_calls(self) -> None:
        """Report the end of the calls an earlier run of this node held when it died."""
        left_over = self.held.ids()
        for call_id in left_over:
            await self._call_event(pbx.CallEnded(call_id=call_id, at=self.clock.now()), "ended")
            self.held.remove(call_id)
        if left_over:
            log.info("left-over calls ended", extra={"node": self.node, "calls": left_over})

    async def register_all(self) -> None:
        """Report every scenario device registered (a PBX does so on start and on refresh)."""
        for extension, devices in self.scenario.devices.items():
            for device in devices:
                await self.report_device(extension, device, DeviceState.REGISTERED)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
        for task in list(self._tasks):
            task.cancel()

    def behave(self, target: str, behaviour: Behaviour) -> None:
        self.behaviours[target] = behaviour

    async def report_device(self, extension: str, device: str, state: DeviceState) -> None:
        event = pbx.DeviceReported(
            extension=extension, device_id=device, state=state, at=self.clock.now()
        )
        await self._publish(
            pbx.device_subject(extension), event, f"{extension}:{device}:{uuid.uuid4().hex}"
        )

    async def offer(self, caller: str, callee: str, call_id: str | None = None) -> SimCall:
        call_id = call_id or uuid.uuid4().hex[:24]
        call = SimCall(call_id, caller, callee, offered=time.perf_counter())
        self.calls[call_id] = call
        offered = pbx.CallOffered(
            call_id=call_id, node=self.node, caller=caller, callee=callee, at=self.clock.now()
        )
        # The call's trace starts here, as it would at a PBX that traces: every command
        # routing sends back and every event this PBX reports for the call continues it.
        with _tracer.start_as_current_span(
            "offer call", kind=SpanKind.PRODUCER, attributes={"voco.call_id": call_id}
        ):
            if self.offer_by_request:
                await self._request_offer(call, offered)
            else:
                await self._publish_offer(offered)
        return call

    async def _request_offer(self, call: SimCall, offered: pbx.CallOffered) -> None:
        try:
            msg = await self.nc.request(
                pbx.OFFER_SUBJECT,
                pbx.encode(offered),
                timeout=self.offer_timeout,
                headers=inject_headers(),
            )
        except (NoRespondersError, NatsTimeout):
            # Routing is not running (or did not answer in time): the offer waits on
            # JetStream until it is back; a repeat of one it did store decides nothing.
            log.info("offer not answered, publishing it", extra={"call_id": call.call_id})
            await self._publish_offer(offered)
            return
        reply = Reply.model_validate_json(msg.data)
        if reply.error is not None:  # a PBX rejects the call (e.g. 500) and logs why
            log.warning(
                "offer refused", extra={"call_id": call.call_id, "error": reply.error.message}
            )
            call.outcome = f"refused:{reply.error.code.value}"
            call.settled.set()

    async def _publish_offer(self, offered: pbx.CallOffered) -> None:
        await self._publish(
            pbx.call_subject(offered.call_id), offered, f"{offered.call_id}:offered"
        )

    async def hang_up(self, call_id: str) -> None:
        await self._call_event(pbx.CallerHungUp(call_id=call_id, at=self.clock.now()), "hungup")

    async def _publish(self, subject: str, message: Message, msg_id: str) -> None:
        headers = inject_headers({"Nats-Msg-Id": msg_id})
        await self.js.publish(subject, pbx.encode(message), headers=headers)

    async def _call_event(self, event: pbx.CallEvent, key: str) -> None:
        await self._publish(pbx.call_subject(event.call_id), event, f"{event.call_id}:{key}")

    async def _on_command(self, msg: Msg) -> None:
        arrived = time.perf_counter()
        try:
            command = pbx.decode(msg.data)
        except Exception as error:  # a PBX logs and drops what it cannot read
            log.warning("unreadable command", extra={"subject": msg.subject, "error": str(error)})
            return
        assert isinstance(command, pbx.PbxCommand)
        if command.command_id in self._seen_commands:
            return  # a redelivery: already carried out
        self._seen_commands.add(command.command_id)
        call = self.calls.get(command.call_id)
        if call is None:  # a call this node did not offer (e.g. after a simulator restart)
            call = SimCall(command.call_id, "?", "?", offered=arrived)
            self.calls[command.call_id] = call
        if call.first_command is None:
            call.first_command = arrived
        call.commands.append(command)
        # The work it starts (ringing, answering) runs in tasks that inherit this span.
        with span_from_headers(
            _tracer,
            f"carry out {command.type_name}",
            msg.headers,
            attributes={"voco.call_id": command.call_id},
        ):
            self._spawn(self._carry_out(call, command))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _carry_out(self, call: SimCall, command: pbx.PbxCommand) -> None:
        match command:
            case pbx.RingTargets():
                for leg in command.legs:
                    call.legs[leg.leg_id] = leg
                    self._spawn(self._ring(call, leg, command.timeout_seconds))
            case pbx.CancelLegs():
                call.cancelled.update(command.leg_ids)
            case pbx.Forward():
                await self._settle(call, f"forwarded:{command.kind.value}:{command.target}", 0)
            case pbx.SendToVoicemail():
                await self._settle(call, f"voicemail:{command.mailbox}:{command.greeting}", 0)
            case pbx.Reject():
                await self._settle(call, f"rejected:{command.reason.value}", 0)

    async def _ring(self, call: SimCall, leg: pbx.Leg, timeout: int) -> None:
        target = leg.number or str(leg.device_id)
        behaviour = self.behaviours.get(target, Behaviour())
        await self._call_event(
            pbx.LegRinging(call_id=call.call_id, leg_id=leg.leg_id, at=self.clock.now()),
            f"{leg.leg_id}:ringing",
        )
        if behaviour.action is Action.RING:
            if not self.enforce_timers:
                return
            await self.clock.sleep(timeout)
            if leg.leg_id not in call.cancelled and call.outcome is None:
                failed = pbx.LegFailed(
                    call_id=call.call_id,
                    leg_id=leg.leg_id,
                    reason=pbx.LegFailure.NO_ANSWER,
                    at=self.clock.now(),
                )
                await self._call_event(failed, f"{leg.leg_id}:failed")
            return
        if behaviour.after:
            await self.clock.sleep(behaviour.after)
        if leg.leg_id in call.cancelled or call.outcome is not None:
            return
        if behaviour.action is Action.ANSWER:
            self.held.add(call.call_id)  # before routing hears of it: a kill cannot lose it
            await self._call_event(
                pbx.LegAnswered(call_id=call.call_id, leg_id=leg.leg_id, at=self.clock.now()),
                f"{leg.leg_id}:answered",
            )
            busy = self.scenario.busy_while_talking and leg.device_id and leg.extension
            if busy:
                await self.report_device(str(leg.extension), str(leg.device_id), DeviceState.BUSY)
            await self._settle(call, f"answered:{target}", self.scenario.talk_seconds)
            if busy:
                await self.report_device(str(leg.extension), str(leg.device_id), DeviceState.IDLE)
        else:
            failed = pbx.LegFailed(
                call_id=call.call_id,
                leg_id=leg.leg_id,
                reason=FAILURES[behaviour.action],
                at=self.clock.now(),
            )
            await self._call_event(failed, f"{leg.leg_id}:failed")

    async def _settle(self, call: SimCall, outcome: str, lasts: float) -> None:
        if call.outcome is not None:
            return
        call.outcome = outcome
        call.settled.set()
        if lasts:
            await self.clock.sleep(lasts)
        await self._call_event(pbx.CallEnded(call_id=call.call_id, at=self.clock.now()), "ended")
        self.held.remove(call.call_id)
