"""The workload every fault row runs: what users, watchers and a PBX do, recorded so the
row can check from the outside what survived.

- Writers: each user sets statuses one after another, every note unique; a change counts
  as acknowledged when its SetStatus was answered ok.
- Watchers: subscribed to visibility's views of every user (`voco.view.<watcher>.>`), and
  on every (re)connect they read `GetContacts`, as the edge does.
- A PBX (the simulator as a library, its own node): calls offered to the users, half
  answered after half a second, half left to ring into the profile's 5 s timeout.
- A schedule boundary: a timed status on its own user that ends mid-run, which the
  scheduler must revert.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from contracts.base import Command, Role
from contracts.errors import CommandError, ErrorCode
from contracts.presence import (
    ActivateProfile,
    Channel,
    DeviceState,
    GetHistory,
    GetPresence,
    Profile,
    ProvisionUser,
    ReportDevice,
    Ringing,
    SaveProfile,
    SetStatus,
    Status,
)
from contracts.routing import ExplainCall, WhatIf
from contracts.scheduler import GetSchedule, SetTimedStatus, TimedStatus
from contracts.visibility import AddContact, GetContacts, WatchedPresence
from runtime.bus import connect, request
from runtime.clock import SystemClock
from services.pbxsim.scenario import Action, Behaviour, Scenario
from services.pbxsim.simulator import PbxSimulator

ADMIN: dict[str, Any] = {"actor": "faults", "role": Role.ADMIN, "channel": Channel.ADMIN}
PBX: dict[str, Any] = {"actor": "pbx", "role": Role.SERVICE, "channel": Channel.PBX}
STATUSES = [Status.AVAILABLE, Status.AWAY, Status.BUSY, Status.IN_MEETING, Status.BE_RIGHT_BACK]
NOT_FINAL = ("offered", "ringing", "unknown call")
ROWS = [*(f"F{n}" for n in range(1, 15)), "F10b", "O1", "O2"]
"""Every row's tag: its PBX node is `f<tag>`, and its users a hundred extensions of their own."""


def first_extension(tag: str) -> int:
    """Rows on one platform must not share users (a contact added twice is refused): each
    row's hundred extensions from 3000 on, in ROWS's order."""
    return 3000 + ROWS.index(tag) * 100


@dataclass
class Errors:
    """What clients saw go wrong, split into clear (a typed CommandError with a message)
    and unclear (anything else: a raw exception, an empty message)."""

    clear: Counter[str] = field(default_factory=Counter)
    unclear: list[str] = field(default_factory=list)

    def saw(self, error: BaseException) -> None:
        if isinstance(error, CommandError) and error.message.strip():
            self.clear[error.code.value] += 1
        else:
            self.unclear.append(f"{type(error).__name__}: {error!s}"[:200])


@dataclass
class Figures:
    acknowledged: int = 0
    lost: int = 0
    twice: int = 0
    calls: int = 0
    calls_not_final: int = 0
    offers_refused: int = 0
    views_wrong: int = 0
    boundary_fired: bool = False
    recovery_seconds: float | None = None
    clear_errors: dict[str, int] = field(default_factory=dict)
    unclear_errors: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


class Workload:
    def __init__(
        self, nats_url: str, tag: str, users: int = 12, watchers: int = 3, *, pbx_url: str = ""
    ) -> None:
        self.nats_url = nats_url
        self.pbx_url = pbx_url or nats_url  # the PBX side's own user (pbxsim)
        self.pbx_nc: NatsClient | None = None
        self.tag = tag  # unique per row: its users and notes are its own
        base = first_extension(tag)
        self.users = [str(base + n) for n in range(users)]
        self.watchers = [str(base + 90 + n) for n in range(watchers)]
        self.timed_user = str(base + 99)
        self.acked: dict[str, list[str]] = {u: [] for u in self.users}
        self.errors = Errors()
        self.views: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.calls: list[str] = []
        self.refused_offers = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._seq = 0
        self.nc: NatsClient | None = None
        self.sim: PbxSimulator | None = None
        self.timed_ends: datetime | None = None
        self.last_ok = time.monotonic()

    # ---- setup ---------------------------------------------------------------------

    async def send(self, service: str, command: Command, timeout: float = 5.0) -> dict[str, Any]:
        assert self.nc is not None
        return await request(self.nc, service, command, timeout=timeout)

    async def send_patiently(
        self, service: str, command: Command, within: float = 60.0, *, until_found: bool = False
    ) -> Any:
        """Setup and checks: retried while the service is unavailable (it may be restarting)
        and, `until_found`, while what it names is not known there yet."""
        deadline = time.monotonic() + within
        while True:
            try:
                return await self.send(service, command)
            except CommandError as error:
                # not_found: visibility's directory learns of a user just provisioned
                # through JetStream, a moment after presence answered.
                waiting = error.code is ErrorCode.UNAVAILABLE or (
                    until_found and error.code is ErrorCode.NOT_FOUND
                )
                if not waiting or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def prepare(self) -> None:
        self.nc = await connect(self.nats_url, f"faults-{self.tag}")
        self.nc._reconnected_cb = self._reconnected  # watchers re-read on reconnect
        ringing = Profile(id="quick", name="Quick ring", ringing=Ringing(timeout=5))
        everyone = [*self.users, *self.watchers, self.timed_user]
        for user in everyone:
            await self.send_patiently(
                "presence", ProvisionUser(extension=user, display_name=f"F {user}", **ADMIN)
            )
        for user in self.users:
            await self.send_patiently(
                "presence", SaveProfile(extension=user, profile=ringing, **ADMIN)
            )
            await self.send_patiently(
                "presence", ActivateProfile(extension=user, profile_id="quick", **ADMIN)
            )
            await self.send_patiently(
                "presence",
                ReportDevice(
                    extension=user, device_id=f"{user}-desk", state=DeviceState.REGISTERED, **PBX
                ),
            )
        for watcher in self.watchers:
            await self.nc.subscribe(f"voco.view.{watcher}.>", cb=self._on_view)
            for user in self.users:
                await self.send_patiently(
                    "visibility",
                    AddContact(watcher=watcher, contact=user, actor=watcher, role=Role.USER),
                    until_found=True,
                )
        await self._read_contacts()
        # Odd users answer after half a second; even ones ring until routing's 5 s timeout.
        behaviours = {
            f"{u}-desk": Behaviour(action=Action.ANSWER, after=0.5) for u in self.users[1::2]
        }
        scenario = Scenario(node=f"f{self.tag}", behaviours=behaviours, talk_seconds=0.5)
        self.pbx_nc = await connect(self.pbx_url, f"faults-pbx-{self.tag}")
        self.sim = PbxSimulator(self.pbx_nc, SystemClock(), scenario)
        await self.sim.start()
        now = datetime.now(UTC)
        self.timed_ends = now + timedelta(seconds=6)
        timed = TimedStatus(
            timed_id="faults",
            starts_at=now,
            ends_at=self.timed_ends,
            status=Status.BUSY,
            note=f"timed {self.tag}",
            reverts_to=Status.AWAY,
        )
        await self.send_patiently(
            "scheduler",
            SetTimedStatus(
                extension=self.timed_user, timed_status=timed, actor="faults", role=Role.ADMIN
            ),
        )

    # ---- running -------------------------------------------------------------------

    def start(self) -> None:
        for user in self.users:
            self._tasks.append(asyncio.create_task(self._write(user)))
        self._tasks.append(asyncio.create_task(self._offer_calls()))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _write(self, user: str) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            note = f"{self.tag}-{user}-{n}-{uuid.uuid4().hex[:6]}"
            command = SetStatus(
                extension=user,
                status=STATUSES[n % len(STATUSES)],
                note=note,
                actor=user,
                role=Role.USER,
            )
            try:
                await self.send("presence", command, timeout=3.0)
            except Exception as error:
                self.errors.saw(error)
                await asyncio.sleep(0.2)
                continue
            self.acked[user].append(note)
            self.last_ok = time.monotonic()
            await asyncio.sleep(0.05)

    async def _offer_calls(self) -> None:
        assert self.sim is not None
        n = 0
        while not self._stop.is_set():
            user = self.users[n % len(self.users)]
            n += 1
            try:
                call = await self.sim.offer("+4930999", user)
                if call.outcome and call.outcome.startswith("refused"):
                    # Routing answered that it could not take the call (its database is
                    # away, say): the PBX rejects it at once; nothing is stored to finish.
                    self.refused_offers += 1
                else:
                    self.calls.append(call.call_id)
            except Exception as error:
                self.errors.saw(error)
            await asyncio.sleep(0.4)

    async def _on_view(self, msg: Msg) -> None:
        _, _, watcher, watched = msg.subject.split(".", 3)
        view = WatchedPresence.model_validate_json(msg.data)
        self.views[(watcher, watched)] = (view.status.value, view.note)

    async def _reconnected(self) -> None:
        asyncio.get_running_loop().create_task(self._read_contacts())

    async def _read_contacts(self) -> None:
        for watcher in self.watchers:
            try:
                answer = await self.send_patiently(
                    "visibility", GetContacts(watcher=watcher, actor=watcher, role=Role.USER)
                )
            except CommandError:
                continue
            for contact in answer["contacts"]:
                presence = contact.get("presence") or contact
                self.views[(watcher, contact["extension"])] = (
                    presence["status"],
                    presence.get("note"),
                )

    def probe_command(self, service: str) -> Command:
        """A command that works only when `service` can serve again; for the servers'
        rows a presence write (it needs NATS, PostgreSQL and the outbox's store)."""
        admin: dict[str, Any] = {"actor": "faults", "role": Role.ADMIN}
        match service:
            case "routing":
                return WhatIf(callee=self.users[0], **admin)
            case "visibility":
                return GetContacts(watcher=self.watchers[0], **admin)
            case "scheduler":
                return GetSchedule(extension=self.timed_user, **admin)
        return SetStatus(extension=self.watchers[0], status=Status.AVAILABLE, note="probe", **ADMIN)

    async def probe(self, service: str = "presence", within: float = 120.0) -> float:
        """Seconds until `service` answers a command again, counted from now."""
        service = service if service in ("routing", "visibility", "scheduler") else "presence"
        command = self.probe_command(service)
        started = time.monotonic()
        while time.monotonic() - started < within:
            try:
                await self.send(service, command, timeout=1.0)
                return time.monotonic() - started
            except CommandError:
                await asyncio.sleep(0.05)
        raise AssertionError(f"{service} did not answer again within {within} s")

    # ---- checking ------------------------------------------------------------------

    async def check(self, settle: float = 30.0) -> Figures:
        figures = Figures()
        figures.acknowledged = sum(len(notes) for notes in self.acked.values())
        for user, notes in self.acked.items():
            history = await self.send_patiently(
                "presence", GetHistory(extension=user, limit=1000, actor="faults", role=Role.ADMIN)
            )
            seen = Counter(
                entry["summary"].split("note '", 1)[1].split("'", 1)[0]
                for entry in history["entries"]
                if entry["type"] == "PresenceChanged" and "note '" in entry["summary"]
            )
            for note in notes:
                if seen[note] == 0:
                    figures.lost += 1
                    figures.details.append(f"lost: {note}")
            for note, count in seen.items():
                if count > 1:
                    figures.twice += 1
                    figures.details.append(f"applied {count} times: {note}")
        figures.calls = len(self.calls)
        figures.offers_refused = self.refused_offers
        deadline = time.monotonic() + settle
        while True:
            open_calls = await self._open_calls()
            wrong = await self._wrong_views()
            timed = await self.send_patiently(
                "presence", GetPresence(extension=self.timed_user, actor="faults", role=Role.ADMIN)
            )
            figures.boundary_fired = timed["status"] == Status.AWAY.value
            done = not open_calls and not wrong and figures.boundary_fired
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        figures.calls_not_final = len(open_calls)
        figures.details += [f"not final: {c}" for c in open_calls]
        figures.views_wrong = len(wrong)
        figures.details += wrong
        figures.clear_errors = dict(self.errors.clear)
        figures.unclear_errors = list(self.errors.unclear)
        return figures

    async def _open_calls(self) -> list[str]:
        still: list[str] = []
        for call_id in self.calls:
            try:
                explained = await self.send_patiently(
                    "routing", ExplainCall(call_id=call_id, actor="faults", role=Role.ADMIN)
                )
                outcome = str(explained["outcome"])
            except CommandError as error:
                outcome = f"unknown call ({error.message})"
            if outcome.startswith(NOT_FINAL):
                still.append(f"{call_id}: {outcome}")
        return still

    async def _wrong_views(self) -> list[str]:
        wrong = []
        for user in self.users:
            truth = await self.send_patiently(
                "presence", GetPresence(extension=user, actor="faults", role=Role.ADMIN)
            )
            for watcher in self.watchers:
                seen = self.views.get((watcher, user))
                if seen != (truth["status"], truth["note"]):
                    wrong.append(
                        f"view {watcher}->{user}: {seen} != {truth['status']}, {truth['note']}"
                    )
        return wrong

    async def close(self) -> None:
        if self.sim is not None:
            await self.sim.stop()
        if self.pbx_nc is not None:
            await self.pbx_nc.close()
        if self.nc is not None:
            await self.nc.close()
