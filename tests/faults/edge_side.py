"""The edge's row (F13): people use the platform over HTTP while the edge is killed.

- Writers: users signed in with bearer tokens set statuses with unique notes
  (`PUT /api/users/<ext>/status`); a change counts as acknowledged on 200.
- Sign-ins: a user signs in again and again (`POST /api/session`), each new session used
  at once (`GET /api/session`).
- Watchers: each holds the live stream (`GET /api/stream`); on an end it reconnects with
  `Last-Event-ID`, and on `ready` or `reload` reads its contacts over HTTP, as the web
  client does.

After the restart: every acknowledged note in the user's history, none twice; every
session made before the kill still signed in; every stream reconnected, by replay or
`reload`; every watcher's last view the truth; every answer an error body the client can
show, or no answer at all while the process was down (the connection refused).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from contracts.base import Role
from contracts.presence import GetHistory, GetPresence
from tests.faults.platform import Platform
from tests.faults.workload import STATUSES

PASSWORD = "faults-edge-password-1"
TRANSPORT = (httpx.TransportError,)
AS_ADMIN: dict[str, Any] = {
    "actor": "faults",
    "role": Role.ADMIN,
}  # refused, reset, closed mid-answer: no answer at all


@dataclass
class EdgeFigures:
    acknowledged: int = 0
    lost: int = 0
    twice: int = 0
    sign_ins: int = 0
    sessions_checked: int = 0
    sessions_lost: int = 0
    streams: int = 0
    streams_not_resumed: int = 0
    resumed_by: dict[str, int] = field(default_factory=dict)
    views_wrong: int = 0
    recovery_seconds: float | None = None
    clear_errors: dict[str, int] = field(default_factory=dict)
    unclear_errors: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


class EdgeWorkload:
    def __init__(self, platform: Platform, tag: str, users: int = 6, watchers: int = 2) -> None:
        self.platform = platform
        self.url = f"http://127.0.0.1:{platform.http_port}"
        base = 9100  # above every Workload's users (workload.first_extension)
        self.users = [str(base + n) for n in range(users)]
        self.watchers = [str(base + 50 + n) for n in range(watchers)]
        self.tag = tag
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.tokens_before: list[str] = []
        self.acked: dict[str, list[str]] = {u: [] for u in self.users}
        self.views: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.resumed: dict[str, str] = {}  # watcher -> how its stream came back
        self.last_ids: dict[str, str] = {}  # watcher -> the last event id its stream had
        self.clear: Counter[str] = Counter()
        self.unclear: list[str] = []
        self.killed_at: float | None = None
        self.recovered_at: float | None = None
        self.sign_ins = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- HTTP --------------------------------------------------------------------

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, timeout=5.0, headers=headers)

    async def sign_in(self, login: str, password: str) -> str:
        async with self.client() as anonymous:
            answer = await anonymous.post(
                "/api/session", json={"login": login, "password": password, "bearer": True}
            )
        if answer.status_code != 200:
            raise AssertionError(f"sign-in {login}: {answer.status_code} {answer.text}")
        token: str = answer.json()["token"]
        return token

    def saw(self, answer: httpx.Response | BaseException) -> None:
        """An error a client saw: clear when it is the edge's error body (or no answer
        at all: the connection refused while the process is down)."""
        if isinstance(answer, BaseException):
            if isinstance(answer, TRANSPORT):
                self.clear[f"no answer ({type(answer).__name__})"] += 1
            else:
                self.unclear.append(f"{type(answer).__name__}: {answer}"[:200])
            return
        try:
            error = answer.json()["error"]
            clear = bool(error["code"]) and bool(str(error["message"]).strip())
        except (ValueError, KeyError, TypeError):
            clear = False
        if clear:
            self.clear[f"{answer.status_code} {error['code']}"] += 1
        else:
            self.unclear.append(f"{answer.status_code}: {answer.text[:160]}")

    # ---- setup -------------------------------------------------------------------

    async def until_up(self, within: float = 60.0) -> None:
        """The edge answers its health check (it starts last, after the services)."""
        deadline = time.monotonic() + within
        async with self.client() as anonymous:
            while True:
                try:
                    if (await anonymous.get("/api/health")).status_code == 200:
                        return
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                await asyncio.sleep(0.2)

    async def prepare(self) -> None:
        await self.until_up()
        kept = json.loads((self.platform.data_dir / "gateway-demo-passwords.json").read_text())
        admin = self.client(await self.sign_in("admin", kept["admin"]))
        try:
            for login in [*self.users, *self.watchers]:
                made = await admin.post(
                    "/api/admin/accounts",
                    json={"login": login, "display_name": f"Edge {login}", "password": PASSWORD},
                )
                assert made.status_code in (200, 201), made.text
                reset = await admin.put(
                    f"/api/admin/accounts/{login}/password",
                    json={"password": PASSWORD, "must_change_password": False},
                )
                assert reset.status_code == 200, reset.text
        finally:
            await admin.aclose()
        for login in [*self.users, *self.watchers]:
            token = await self.sign_in(login, PASSWORD)
            self.tokens_before.append(token)
            self.clients[login] = self.client(token)
        for watcher in self.watchers:
            for user in self.users:
                for _ in range(50):  # visibility learns of a new user through JetStream
                    added = await self.clients[watcher].put(f"/api/users/{watcher}/contacts/{user}")
                    if added.status_code == 200:
                        break
                    await asyncio.sleep(0.2)
                assert added.status_code == 200, added.text
            await self.read_contacts(watcher)

    # ---- running -----------------------------------------------------------------

    def start(self) -> None:
        self._tasks += [asyncio.create_task(self._write(user)) for user in self.users]
        self._tasks += [asyncio.create_task(self._watch(w)) for w in self.watchers]
        self._tasks.append(asyncio.create_task(self._sign_in_again()))

    async def _write(self, user: str) -> None:
        client = self.clients[user]
        n = 0
        while not self._stop.is_set():
            n += 1
            note = f"{self.tag}-{user}-{n}-{uuid.uuid4().hex[:6]}"
            body = {"status": STATUSES[n % len(STATUSES)].value, "note": note}
            try:
                answer = await client.put(f"/api/users/{user}/status", json=body)
            except Exception as error:
                self.saw(error)
                await asyncio.sleep(0.2)
                continue
            if answer.status_code == 200:
                self.acked[user].append(note)
                await asyncio.sleep(0.05)
            else:
                self.saw(answer)
                await asyncio.sleep(0.2)

    async def _sign_in_again(self) -> None:
        login = self.users[0]
        while not self._stop.is_set():
            try:
                async with self.client() as anonymous:
                    answer = await anonymous.post(
                        "/api/session", json={"login": login, "password": PASSWORD, "bearer": True}
                    )
                if answer.status_code == 200:
                    async with self.client(answer.json()["token"]) as fresh:
                        answer = await fresh.get("/api/session")
                if answer.status_code == 200:
                    self.sign_ins += 1
                else:
                    self.saw(answer)
            except Exception as error:
                self.saw(error)
            await asyncio.sleep(0.3)

    async def _watch(self, watcher: str) -> None:
        client = self.clients[watcher]
        while not self._stop.is_set():
            last = self.last_ids.get(watcher)
            headers = {"Last-Event-ID": last} if last else {}
            try:
                async with client.stream(
                    "GET", "/api/stream", headers=headers, timeout=httpx.Timeout(5.0, read=None)
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        self.saw(response)
                        await asyncio.sleep(0.3)
                        continue
                    await self._read_stream(watcher, response)
            except Exception as error:
                if not self._stop.is_set():
                    self.saw(error)
            await asyncio.sleep(0.3)

    async def _read_stream(self, watcher: str, response: httpx.Response) -> None:
        """Events until the stream ends. The first one of a stream opened after the kill
        says how it resumed: `reload` (the restarted edge cannot tell what was missed),
        or the missed events replayed (`presence` before `ready`), or `ready` at once
        (nothing missed)."""
        kind, data, event_id = "", "", None
        first_after_kill = self.killed_at is not None and watcher not in self.resumed
        async for line in response.aiter_lines():
            if self._stop.is_set():
                return
            if line.startswith((":", "retry:")):
                continue
            if line:
                name, _, value = line.partition(": ")
                if name == "event":
                    kind = value
                elif name == "data":
                    data = value
                elif name == "id":
                    event_id = value
                continue
            if not kind:
                continue
            if event_id:
                self.last_ids[watcher] = event_id
            if first_after_kill:
                how = {"reload": "reload", "presence": "replay"}.get(kind, "nothing missed")
                self.resumed[watcher] = how
                first_after_kill = False
            if kind == "presence":
                view = json.loads(data)
                self.views[(watcher, view["extension"])] = (view["status"], view.get("note"))
            elif kind in ("ready", "reload"):
                await self.read_contacts(watcher)
            kind, data, event_id = "", "", None

    async def read_contacts(self, watcher: str) -> None:
        try:
            answer = await self.clients[watcher].get(f"/api/users/{watcher}/contacts")
        except Exception as error:
            self.saw(error)
            return
        if answer.status_code != 200:
            self.saw(answer)
            return
        for contact in answer.json()["contacts"]:
            presence = contact.get("presence") or contact
            self.views[(watcher, contact["extension"])] = (presence["status"], presence.get("note"))

    async def until_answering(self, since: float, within: float = 60.0) -> float:
        """Seconds from `since` until the edge takes a command again (a status set)."""
        client = self.clients[self.watchers[0]]
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                answer = await client.put(
                    f"/api/users/{self.watchers[0]}/status",
                    json={"status": "available", "note": "probe"},
                )
                if answer.status_code == 200:
                    self.recovered_at = time.monotonic()
                    return self.recovered_at - since
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"the edge did not take a command within {within} s")

    # ---- checking ----------------------------------------------------------------

    async def stop_and_check(self, settle: float = 20.0) -> EdgeFigures:
        await asyncio.sleep(2.0)  # the streams have reconnected and caught up
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        figures = EdgeFigures(sign_ins=self.sign_ins, streams=len(self.watchers))
        figures.acknowledged = sum(len(n) for n in self.acked.values())
        nc = await self.platform_nats()
        try:
            for user, notes in self.acked.items():
                history = await self._ask(
                    nc, "presence", GetHistory(extension=user, limit=1000, **AS_ADMIN)
                )
                seen = Counter(
                    entry["summary"].split("note '", 1)[1].split("'", 1)[0]
                    for entry in history["entries"]
                    if entry["type"] == "PresenceChanged" and "note '" in entry["summary"]
                )
                figures.lost += sum(1 for note in notes if seen[note] == 0)
                figures.details += [f"lost: {note}" for note in notes if seen[note] == 0]
                figures.twice += sum(1 for count in seen.values() if count > 1)
            deadline = time.monotonic() + settle
            while True:
                wrong = await self._wrong_views(nc)
                if not wrong or time.monotonic() > deadline:
                    break
                for watcher in self.watchers:  # as a client would on a stale screen: re-read
                    await self.read_contacts(watcher)
                await asyncio.sleep(0.5)
            figures.views_wrong = len(wrong)
            figures.details += wrong
        finally:
            await nc.close()
        for token in self.tokens_before:
            async with self.client(token) as client:
                answer = await client.get("/api/session")
            figures.sessions_checked += 1
            if answer.status_code != 200:
                figures.sessions_lost += 1
                figures.details.append(f"session lost: {answer.status_code} {answer.text[:80]}")
        figures.resumed_by = dict(Counter(self.resumed.values()))
        figures.streams_not_resumed = len(set(self.watchers) - set(self.resumed))
        if self.killed_at is not None and self.recovered_at is not None:
            figures.recovery_seconds = round(self.recovered_at - self.killed_at, 2)
        figures.clear_errors = dict(self.clear)
        figures.unclear_errors = list(self.unclear)
        return figures

    async def platform_nats(self) -> Any:
        from runtime.bus import connect

        return await connect(self.platform.endpoints()["VOCO_NATS_URL"], "faults-edge-check")

    async def _ask(self, nc: Any, service: str, command: Any) -> dict[str, Any]:
        from runtime.bus import request

        answer: dict[str, Any] = await request(nc, service, command, timeout=5.0)
        return answer

    async def _wrong_views(self, nc: Any) -> list[str]:
        wrong = []
        for user in self.users:
            truth = await self._ask(nc, "presence", GetPresence(extension=user, **AS_ADMIN))
            for watcher in self.watchers:
                seen = self.views.get((watcher, user))
                if seen != (truth["status"], truth["note"]):
                    wrong.append(f"view {watcher}->{user}: {seen} != {truth['status']}")
        return wrong

    async def close(self) -> None:
        self._stop.set()
        for task in self._tasks:
            task.cancel()
        for client in self.clients.values():
            await client.aclose()


def assert_edge_survived(figures: EdgeFigures) -> None:
    assert figures.acknowledged > 0
    assert figures.lost == 0, figures.details
    assert figures.twice == 0, figures.details
    assert figures.sessions_lost == 0, figures.details
    assert figures.streams_not_resumed == 0, figures
    assert figures.views_wrong == 0, figures.details
    assert figures.sign_ins > 0
    assert figures.unclear_errors == [], figures.unclear_errors
