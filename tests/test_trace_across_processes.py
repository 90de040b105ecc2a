"""One trace spans processes: the CLI's SetStatus, the presence service that handles it,
and the PresenceChanged it publishes through the outbox, each process exporting its own
spans (console exporter) the way they would to a collector."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from runtime.config import Connections
from tests.conftest import ConnectionsFor

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]


def spans_in(output: str) -> list[dict[str, Any]]:
    """The console exporter prints one JSON object per span, pretty-printed."""
    decoder = json.JSONDecoder()
    spans, index = [], 0
    while (start := output.find("{", index)) != -1:
        try:
            span, index = decoder.raw_decode(output, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        if isinstance(span, dict) and "context" in span:
            spans.append(span)
    return spans


async def test_the_cli_and_the_presence_service_share_one_trace(
    connections: Connections, connections_for: ConnectionsFor, tmp_path: Path
) -> None:
    presence = connections_for("presence")
    env = {
        **os.environ,
        "VOCO_NATS_URL": presence.nats_url,
        "VOCO_DATABASE_URL": presence.database_url,
        "PYTHONPATH": str(ROOT),
        "OTEL_TRACES_EXPORTER": "console",
        "VOCO_LOG_LEVEL": "warning",
    }
    service_out = tmp_path / "presence.out"
    with service_out.open("wb") as out:
        service = subprocess.Popen(  # noqa: ASYNC220 - started before anything is timed
            [sys.executable, "-m", "services.presence"],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        watcher = await nats.connect(connections.nats_url)
        seen: asyncio.Queue[dict[str, str]] = asyncio.Queue()

        async def on_event(msg: Msg) -> None:
            if json.loads(msg.data)["data"]["status"] == "away":
                seen.put_nowait(dict(msg.headers or {}))

        await watcher.subscribe("voco.evt.presence.1001.PresenceChanged", cb=on_event)

        async def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "cli", *args],
                env={**env, "VOCO_NATS_URL": connections_for("operator").nats_url},
                capture_output=True,
                text=True,
                timeout=60,
            )

        for _ in range(100):  # the service takes a moment to start
            added = await cli("user", "add", "1001", "Ann")
            if added.returncode == 0:
                break
            await asyncio.sleep(0.1)
        assert added.returncode == 0, added.stderr
        result = await cli("status", "set", "1001", "away")
        assert result.returncode == 0, result.stderr
        headers = await asyncio.wait_for(seen.get(), 10)
        await watcher.close()
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(20)

    cli_spans = [
        s
        for s in spans_in(result.stdout + result.stderr)
        if str(s["name"]).startswith("send SetStatus")
    ]
    assert len(cli_spans) == 1
    trace_id = cli_spans[0]["context"]["trace_id"]
    service_spans = [
        s for s in spans_in(service_out.read_text()) if s["context"]["trace_id"] == trace_id
    ]
    names = {str(s["name"]) for s in service_spans}
    assert "handle SetStatus" in names
    assert {s["resource"]["attributes"]["service.name"] for s in service_spans} == {"presence"}
    traceparent = headers["traceparent"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", traceparent)
    assert traceparent.split("-")[1] == str(trace_id).removeprefix("0x")
