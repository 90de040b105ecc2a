"""`python -m services.gateway` as `./voco up` runs it: serves, and on SIGTERM ends the
live streams (`closing`) and exits cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from runtime.config import Connections
from runtime.eventstore import EventStore, create_pool
from services.gateway.accounts.domain import AccountRole
from services.gateway.accounts.store import ACCOUNTS_SQL, AccountStore
from services.gateway.demo import ensure_accounts
from services.gateway.edge import SCHEMA
from services.gateway.passwords import Passwords
from services.gateway.sessions import SESSIONS_SQL
from services.gateway.throttle import THROTTLE_SQL
from tests.gateway.platform import Stream

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_process_serves_and_shuts_down_gracefully(connections: Connections) -> None:
    pool = await create_pool(connections.database_url, max_size=2)
    store = EventStore(pool, SCHEMA)
    await store.setup(ACCOUNTS_SQL + SESSIONS_SQL + THROTTLE_SQL)
    wanted = [("admin", "Admin", AccountRole.ADMIN)]
    await ensure_accounts(AccountStore(store), wanted, {"admin": "process-pw-1"}, Passwords())
    await pool.close()
    port = free_port()
    env = {
        **os.environ,
        "VOCO_NATS_URL": connections.nats_url,
        "VOCO_DATABASE_URL": connections.database_url,
        "VOCO_HTTP_PORT": str(port),
        "VOCO_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is timed
        [sys.executable, "-m", "services.gateway"], env=env
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(300):
                try:
                    if (await client.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            signed = await client.post(
                "/api/session",
                json={"login": "admin", "password": "process-pw-1", "bearer": True},
            )
            token = signed.json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with client.stream("GET", "/api/stream", headers=headers) as response:
                stream = Stream(response)
                assert (await stream.next())[0] == "ready"
                process.send_signal(signal.SIGTERM)
                assert (await stream.next())[0] == "closing"
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
