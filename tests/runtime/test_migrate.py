"""`python -m runtime.migrate SERVICE` (Kubernetes' initContainer) makes the service's
schema as the owner role and exits; without the owner's URL it says what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from runtime.config import Connections

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run_migrate(service: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.migrate", service],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_migrate_makes_the_services_schema_and_exits(connections: Connections) -> None:
    result = run_migrate(
        "presence",
        {
            "VOCO_NATS_URL": connections.nats_url,
            "VOCO_DATABASE_OWNER_URL": connections.database_url,
        },
    )
    assert result.returncode == 0, result.stderr
    assert "presence: schema up to date" in result.stdout
    conn = await asyncpg.connect(connections.database_url)
    try:
        tables = {
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'presence'"
            )
        }
    finally:
        await conn.close()
    assert {"events", "outbox"} <= tables


def test_migrate_without_the_owner_url_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VOCO_DATABASE_OWNER_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "runtime.migrate", "routing"],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "VOCO_DATABASE_OWNER_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr
