"""SIPp (Debian's sip-tester) as the phones of the end-to-end tests: each role one process
on a free loopback port, each scenario one call (scenarios/)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from launcher.processes import free_port

SCENARIOS = Path(__file__).with_name("scenarios")
BIND_ERROR = 254  # SIPp's exit code for "fatal error binding a socket" (-2)


@dataclass
class Outcome:
    code: int | None
    output: str
    log: str

    @property
    def ok(self) -> bool:
        return self.code == 0


class Agent:
    """One SIPp process; `wait()` returns its outcome (exit code 0: the scenario passed)."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    async def wait(self, timeout: float = 30) -> Outcome:
        try:
            out, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        except TimeoutError:
            self.kill()
            out, _ = await self.process.communicate()
        log = self.log.read_text() if self.log.exists() else ""
        return Outcome(self.process.returncode, out.decode(errors="replace"), log)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def bound(self, *ports: int, within: float = 2.0) -> bool:
        """Whether this SIPp bound `ports` itself (False: it exited first, e.g. a port
        another process took after `free_port` chose it)."""
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            if self.process.returncode is not None:
                return False
            if set(ports) <= udp_ports_of(self.process.pid):
                return True
            await asyncio.sleep(0.01)
        return self.process.returncode is None


def udp_ports_of(pid: int) -> set[int]:
    """The UDP ports the process's own sockets are bound to (/proc/net/udp by inode)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Phones:
    def __init__(self, proxy_port: int, passwords: dict[str, str]) -> None:
        self.proxy = f"127.0.0.1:{proxy_port}"
        self.passwords = passwords
        self.dir = Path(tempfile.mkdtemp(prefix="voco-sipp-"))
        self.agents: list[Agent] = []

    async def _run(
        self,
        scenario: str,
        *args: str,
        remote: bool = True,
        port: int | None = None,
        media_port: int | None = None,
    ) -> Agent:
        log = self.dir / f"{scenario}-{free_port()}.log"
        command = ["sipp", *([self.proxy] if remote else []), "-sf", str(SCENARIOS / scenario),
                   "-i", "127.0.0.1", "-p", str(port or free_port()),
                   "-mp", str(media_port or free_port()),
                   "-m", "1", "-nostdin", "-timeout", "25", "-timeout_error",
                   "-trace_logs", "-log_file", str(log), *args]  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir,
        )
        agent = Agent(process, log)
        self.agents.append(agent)
        return agent

    def _auth(self, device: str, password: str | None) -> list[str]:
        return ["-key", "user", device, "-au", device, "-ap", password or self.passwords[device]]

    async def register(
        self, device: str, contact_port: int, *, expires: int = 60, password: str | None = None,
        refused: bool = False,
    ) -> Outcome:  # fmt: skip
        """Registered (200), or with `refused` challenged again (401) after the digest."""
        for _ in range(3):
            agent = await self._run(
                "register_refused.xml" if refused else "register.xml",
                *self._auth(device, password),
                "-key", "contact_port", str(contact_port), "-key", "expires", str(expires),
            )  # fmt: skip
            outcome = await agent.wait()
            if outcome.code != BIND_ERROR:
                break
            # Its -p/-mp ports (free a moment before) were taken by another process on
            # this shared machine before SIPp bound them: nothing was sent; new ports.
        return outcome

    async def phone(self, behaviour: str = "answer", *, port: int, ring_ms: int = 200) -> Agent:
        """A phone listening on `port`: answer (uas.xml), busy, ring (until cancelled), or
        vanish (answer, then gone without a BYE)."""
        scenario = {"answer": "uas.xml", "busy": "uas_busy.xml", "ring": "uas_ring.xml",
                    "vanish": "uas_vanish.xml"}[behaviour]  # fmt: skip
        for _ in range(3):
            media = free_port()
            agent = await self._run(
                scenario, "-d", str(ring_ms), remote=False, port=port, media_port=media
            )
            if await agent.bound(port, media):
                break
            if (await agent.wait()).code != BIND_ERROR:
                break
            # Its media port (free a moment before) was taken by another process on this
            # shared machine before SIPp bound it; the SIP port is the registered contact's,
            # so only the media port can change.
        return agent

    async def call(self, device: str, dialled: str, *, scenario: str = "uac_call.xml",
                   talk_ms: int = 300, password: str | None = None) -> Agent:  # fmt: skip
        return await self._run(
            scenario, *self._auth(device, password), "-s", dialled, "-d", str(talk_ms)
        )

    def close(self) -> None:
        for agent in self.agents:
            if agent.process.returncode is None:
                agent.kill()
