"""The edge's fan-out: one status change to the last of N watchers' live streams.

Part of bench/gateway.py (`python -m bench.gateway`, `./voco bench --only edge`): the
issue's 1,000 watchers, p50 <= 20 ms and p99 <= 50 ms, and the edge's CPU per delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import nats

from bench import visibility as visibility_bench
from bench.cpu import cpu_seconds
from bench.harness import Latency, Servers, service_env
from bench.principals import ADMIN
from contracts.errors import CommandError
from contracts.presence import ProvisionUser
from runtime.bus import request
from runtime.eventstore import EventStore, create_pool
from services.gateway.accounts.store import ACCOUNTS_SQL
from services.gateway.edge import SCHEMA
from services.gateway.sessions import SESSIONS_SQL, SessionStore
from services.gateway.throttle import THROTTLE_SQL

OWNER = "1001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def fan_out(s: Servers, quick: bool, dsn: str | None = None) -> dict[str, Any]:
    """One status change to the last of N watchers on the live stream (issue 12: 1,000,
    p50 <= 20 ms, p99 <= 50 ms), and the edge's CPU per delivery. Sessions are made in
    the store directly: N argon2 sign-ins would take minutes and time nothing asked."""
    dsn = dsn or s.database_url
    watchers = [f"3{n:04d}" for n in range(200 if quick else 1000)]
    await visibility_bench.seed(dsn, [OWNER, *watchers], [(OWNER, w, "allowed") for w in watchers])
    tokens = await sessions(dsn, [OWNER, *watchers])
    port = free_port()
    env = {**service_env(s.nats_url, dsn), "VOCO_HTTP_PORT": str(port)}
    with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as file:
        file.write("\n".join(tokens[1:]))
    changes, warm = (20, 5) if quick else (100, 10)
    floor = await socket_floor(file.name, changes, warm)
    processes = [
        subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env) for name in SERVICES
    ]
    reader = None
    try:
        await provisioned(s.nats_url, [OWNER])
        owner = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
        owner.headers["Authorization"] = f"Bearer {tokens[0]}"
        await up(owner)
        reader = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.sse_watchers",
            "127.0.0.1",
            str(port),
            file.name,
            stdout=asyncio.subprocess.PIPE,
        )
        assert reader.stdout is not None
        assert (await asyncio.wait_for(reader.stdout.readline(), 120)).strip() == b"ready"
        to_last, to_first, cpu = [], [], 0.0
        named: dict[str, int | list[int]] = {
            **{name: p.pid for name, p in zip(SERVICES, processes, strict=True)},
            "readers": reader.pid,
            **descendants({"nats-server": "nats-server", "postgres": "postgres"}),
        }
        profiling = profile(named)
        spent: dict[str, float] = {}
        for n in range(changes + warm):
            if n == warm:
                spent = {name: -tree_cpu(pids) for name, pids in named.items()}
            before = cpu_seconds(processes[2].pid)
            start = time.perf_counter()
            answer = await owner.put(
                f"/api/users/{OWNER}/status",
                json={"status": ["away", "available"][n % 2], "note": f"n{n}"},
            )
            answer.raise_for_status()
            line = json.loads(await asyncio.wait_for(reader.stdout.readline(), 30))
            assert line["note"] == f"n{n}", line
            if n >= warm:
                to_last.append(line["last"] - start)
                to_first.append(line["first"] - start)
                cpu += cpu_seconds(processes[2].pid) - before
            await asyncio.sleep(0.05)  # one change at a time, the system idle between
        spent = {name: spent[name] + tree_cpu(pids) for name, pids in named.items()}
        for spy in profiling:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 60)
        await owner.aclose()
    finally:
        if reader is not None and reader.returncode is None:
            reader.terminate()
            await reader.wait()
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.to_thread(process.wait, 20)
        os.unlink(file.name)
    return {
        "watchers": len(watchers),
        "change_to_last_watcher": Latency.of(to_last).as_dict(),
        "change_to_first_watcher": Latency.of(to_first).as_dict(),
        "socket_floor": floor,
        "edge_cpu_us_per_delivery": round(cpu / (len(to_last) * len(watchers)) * 1e6, 1),
        # Every process's share of one change (100 changes, /proc: 10 ms ticks).
        "cpu_ms_per_change": {
            name: round(seconds / len(to_last) * 1000, 2) for name, seconds in spent.items()
        },
    }


SERVICES = ("presence", "visibility", "gateway")
FRAME = (
    "id: 0.{n}\nevent: presence\n"
    'data: {{"extension": "1001", "status": "away", "note": "n{n}", "note_expires_at": null}}\n\n'
)


class PlainStream(asyncio.Protocol):
    """The floor's server side: answers the GET with an SSE response, then only writes."""

    def __init__(self, streams: list[asyncio.Transport]) -> None:
        self.streams = streams

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if b"\r\n\r\n" in data and self.transport not in self.streams:
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"
            self.transport.write(head + b"event: ready\ndata: {}\n\n")
            self.streams.append(self.transport)


async def socket_floor(tokens_file: str, changes: int, warm: int) -> dict[str, Any]:
    """What the streams alone cost on this machine: a bare asyncio server in this
    process writes one event of the same size to every connection of the same reader
    (bench/sse_watchers.py, one connection per token), timed from before its first
    write to the reader's last read. No HTTP request, NATS, store or Python framework:
    the socket writes and reads that any server of these streams must do."""
    streams: list[asyncio.Transport] = []
    server = await asyncio.get_running_loop().create_server(
        lambda: PlainStream(streams), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    reader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.sse_watchers", "127.0.0.1", str(port), tokens_file,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert reader.stdout is not None
    try:
        assert (await asyncio.wait_for(reader.stdout.readline(), 120)).strip() == b"ready"
        to_last = []
        for n in range(changes + warm):
            frame = FRAME.format(n=n).encode()
            start = time.perf_counter()
            for stream in streams:
                stream.write(frame)
            line = json.loads(await asyncio.wait_for(reader.stdout.readline(), 30))
            assert line["note"] == f"n{n}", line
            if n >= warm:
                to_last.append(line["last"] - start)
            await asyncio.sleep(0.05)
    finally:
        if reader.returncode is None:
            reader.terminate()
            await reader.wait()
        for stream in streams:
            stream.close()
        server.close()
    return {"streams": len(streams), "write_to_last_read": Latency.of(to_last).as_dict()}


def descendants(names: dict[str, str]) -> dict[str, list[int]]:
    """This process's descendants by command name (the servers `servers()` started)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            commands[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    mine = {os.getpid()}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                grew = True
    return {
        label: [pid for pid in mine if commands.get(pid, "").startswith(command)]
        for label, command in names.items()
    }


def tree_cpu(pids: int | list[int]) -> float:
    total = 0.0
    for pid in [pids] if isinstance(pids, int) else pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def profile(named: dict[str, int | list[int]]) -> list[subprocess.Popen[bytes]]:
    """VOCO_BENCH_PYSPY=<dir>: py-spy records the Python processes while changes run
    (<dir>/<process>.folded: collapsed stacks, for speedscope or flamegraph.pl, and
    easy to sum with grep); py-spy itself is not a dependency."""
    folder = os.environ.get("VOCO_BENCH_PYSPY")
    if not folder:
        return []
    spy = os.environ.get("VOCO_BENCH_PYSPY_BIN", "py-spy")
    return [
        subprocess.Popen(
            [
                spy,
                "record",
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                f"{folder}/{name}.folded",
                "-p",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in named.items()
        if isinstance(pid, int)
    ]


async def sessions(dsn: str, logins: list[str]) -> list[str]:
    pool = await create_pool(dsn, max_size=2)
    try:
        events = EventStore(pool, SCHEMA)
        await events.setup(ACCOUNTS_SQL + SESSIONS_SQL + THROTTLE_SQL)
        store = SessionStore(events, idle=timedelta(hours=1), absolute=timedelta(hours=2))
        now = datetime.now(UTC)
        return [
            (await store.open(u, "user", "bearer", "bench", "127.0.0.1", now))[0] for u in logins
        ]
    finally:
        await pool.close()


async def provisioned(nats_url: str, extensions: list[str]) -> None:
    nc = await nats.connect(nats_url)
    try:
        for extension in extensions:
            for _ in range(300):
                try:
                    await request(
                        nc,
                        "presence",
                        ProvisionUser(extension=extension, display_name=extension, **ADMIN),
                    )
                    break
                except CommandError:
                    await asyncio.sleep(0.1)
    finally:
        await nc.close()


async def up(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/api/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start")
