"""One trace spans processes: the CLI's SetStatus, the presence service that handles it,
and the PresenceChanged it publishes through the outbox, each process exporting its own
spans (console exporter) the way they would to a collector; and one call, from the PBX
simulator through routing and back, and to presence, exported over OTLP to a receiver
the test runs, is one trace whose every hop is parented on the one before."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from contracts.presence import ProvisionUser
from contracts.routing import WhatIf
from runtime.bus import request
from runtime.config import Connections
from tests.conftest import ConnectionsFor
from tests.principals import ADMIN

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


class OtlpReceiver:
    """An OTLP/HTTP trace receiver on a free port: what a collector would get."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                receiver.add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    with self.lock:
                        self.spans.append(
                            {
                                "service": attributes.get("service.name"),
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex() or None,
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                                "attributes": {
                                    a.key: a.value.string_value for a in span.attributes
                                },
                            }
                        )

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans if s["trace_id"] == trace_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def until(check: Any, timeout: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        try:
            if found := await check():
                return found
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


async def test_a_call_is_one_trace_across_the_simulator_routing_and_presence(
    connections: Connections, tmp_path: Path
) -> None:
    receiver = OtlpReceiver()
    env = {
        **os.environ,
        "VOCO_NATS_URL": connections.nats_url,
        "VOCO_DATABASE_URL": connections.database_url,
        "PYTHONPATH": str(ROOT),
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "VOCO_LOG_LEVEL": "warning",
        "VOCO_DEMO": "0",
    }
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "node": "sim1",
                "devices": {"1001": ["1001-desk"]},
                "behaviours": {"1001-desk": {"action": "answer", "after": 0.2}},
                "talk_seconds": 0.3,
                "busy_while_talking": True,
            }
        )
    )
    processes: list[subprocess.Popen[bytes]] = []

    def start(*argv: str) -> None:
        with (tmp_path / f"{argv[0]}.log").open("wb") as log:
            processes.append(
                subprocess.Popen([sys.executable, "-m", *argv], env=env, stdout=log, stderr=log)
            )

    nc = await nats.connect(connections.nats_url)
    try:
        start("services.presence")
        start("services.routing")
        await until(
            lambda: request(
                nc, "presence", ProvisionUser(extension="1001", display_name="Ann", **ADMIN)
            ),
            30,
            "presence answering",
        )
        start("services.pbxsim", "--scenario", str(scenario))

        async def routing_knows_the_desk() -> bool:
            explained = await request(nc, "routing", WhatIf(callee="1001", **ADMIN), timeout=2)
            return "1001-desk" in json.dumps(explained)

        await until(routing_knows_the_desk, 30, "routing knowing 1001's desk")

        async def control(body: dict[str, Any]) -> dict[str, Any]:
            reply = await nc.request("voco.pbxsim.sim1.control", json.dumps(body).encode(), 5)
            answer: dict[str, Any] = json.loads(reply.data)
            return answer

        call_id = (await control({"op": "offer", "caller": "2000", "callee": "1001"}))["call_id"]

        async def answered() -> bool:
            calls = (await control({"op": "calls"}))["calls"]
            return any(c["call_id"] == call_id and c["outcome"] for c in calls)

        await until(answered, 20, "the call answered")

        def root() -> dict[str, Any] | None:
            with receiver.lock:
                return next(
                    (
                        s
                        for s in receiver.spans
                        if s["name"] == "offer call"
                        and s["attributes"].get("voco.call_id") == call_id
                    ),
                    None,
                )

        async def presence_in_the_trace() -> bool:
            offer = root()
            return offer is not None and any(
                s["service"] == "presence" for s in receiver.trace(offer["trace_id"])
            )

        await until(presence_in_the_trace, 20, "presence's span in the call's trace")
    finally:
        await nc.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(20)
        receiver.close()

    offer = root()
    assert offer is not None
    spans = receiver.trace(offer["trace_id"])
    by_id = {s["span_id"]: s for s in spans}
    assert {s["service"] for s in spans} >= {"pbxsim", "routing", "presence"}
    assert [s for s in spans if s["parent"] is None] == [offer]
    for span in spans:  # every parent exported: none lost, none left open
        assert span["parent"] is None or span["parent"] in by_id, span["name"]
        assert span["end"] >= span["start"] > 0, span["name"]

    def parent_service(span: dict[str, Any]) -> str:
        return str(by_id[span["parent"]]["service"])

    offered = [s for s in spans if s["name"] == "handle pbx.CallOffered"]
    assert len(offered) == 1
    assert offered[0]["parent"] == offer["span_id"]  # PBX -> routing
    ring = [s for s in spans if s["name"] == "carry out pbx.RingTargets"]
    assert ring
    assert all(parent_service(s) == "routing" for s in ring)  # routing -> PBX
    presence_spans = [s for s in spans if s["service"] == "presence"]
    assert any(parent_service(s) == "pbxsim" for s in presence_spans)  # PBX -> presence
    routing_after_answer = [
        s
        for s in spans
        if s["service"] == "routing" and s["parent"] and parent_service(s) == "pbxsim"
    ]
    assert len(routing_after_answer) >= 2  # the offer, and the PBX's reports of the call
