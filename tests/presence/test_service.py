"""The real presence service on a real nats-server and PostgreSQL, driven through the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from cli.main import run as cli
from contracts import pbx
from contracts.envelope import Envelope
from contracts.presence import (
    GetHistory,
    PresenceChanged,
    Profile,
    ProvisionUser,
    Ringing,
    SetStatus,
    Status,
)
from runtime.service import ServiceRuntime
from services.presence.app import PresenceRuntime, build
from services.presence.demo import load_demo
from tests.conftest import ConnectionsFor
from tests.presence.service import eventually, presence, provision, send
from tests.principals import ADMIN, as_user

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def cli_env(connections_for: ConnectionsFor, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI connects as the operator, as it does after ./voco up."""
    monkeypatch.setenv("VOCO_NATS_URL", connections_for("operator").nats_url)


async def test_a_status_set_with_the_cli_arrives_as_presence_changed_with_trace_context(
    service: ServiceRuntime, nc: NatsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await provision(nc)
    sub = await nc.subscribe("voco.evt.presence.1001.PresenceChanged")
    code = await cli(["status", "set", "1001", "away", "--note", "lunch", "--until", "2h"])
    assert code == 0, capsys.readouterr().err
    assert "1001 Ann: away" in capsys.readouterr().out
    while True:  # provisioning's own PresenceChanged may be relayed after subscribing
        msg = await sub.next_msg(timeout=5)
        envelope = Envelope.from_bytes(msg.data)
        changed = envelope.payload()
        assert isinstance(changed, PresenceChanged)
        if changed.status is Status.AWAY:
            break
    assert msg.headers is not None
    assert msg.headers["traceparent"].startswith("00-")
    # The CLI is the operator's tool: it acts as the operator, an administrator.
    assert (changed.status, changed.note, changed.actor) == (Status.AWAY, "lunch", "operator")
    assert changed.note_expires_at is not None
    assert (envelope.meta.actor, envelope.meta.channel) == ("operator", "client")
    assert envelope.meta.model_extra == {"role": "admin"}


async def test_history_shows_who_changed_what_through_which_channel(
    service: ServiceRuntime, nc: NatsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await provision(nc)
    assert await cli(["status", "set", "1001", "dnd", "--as", "1001", "--channel", "ip_phone"]) == 0
    assert await cli(["history", "1001"]) == 0
    out = capsys.readouterr().out
    assert "1001" in out
    assert "ip_phone" in out
    assert "status available -> do_not_disturb" in out
    history = await send(nc, GetHistory(extension="1001", limit=1, **as_user("1001")))
    (latest,) = history["entries"]
    assert (latest["type"], latest["actor"], latest["channel"]) == (
        "PresenceChanged",
        "1001",
        "ip_phone",
    )


async def test_a_rejected_save_profile_stores_nothing(
    service: ServiceRuntime,
    nc: NatsClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await provision(nc)
    counts = (
        "SELECT (SELECT count(*) FROM presence.events), (SELECT count(*) FROM presence.profiles)"
    )
    before = await service.pool.fetchrow(counts)
    bad = Profile(id="focus", name="Focus", ringing=Ringing(timeout=200))
    path = tmp_path / "focus.json"
    path.write_text(bad.model_dump_json())
    assert await cli(["profile", "save", "1001", "--file", str(path)]) == 1
    err = capsys.readouterr().err
    assert "ring_timeout must be between 5 and 120 seconds (got 200)" in err
    assert "Traceback" not in err
    assert await service.pool.fetchrow(counts) == before
    good = bad.model_copy(update={"ringing": Ringing(timeout=25)})
    path.write_text(good.model_dump_json())
    assert await cli(["profile", "save", "1001", "--file", str(path)]) == 0
    capsys.readouterr()
    assert await cli(["profile", "list", "1001", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in listed["profiles"]][-1] == "focus"
    assert await cli(["profile", "show", "1001", "focus"]) == 0
    assert Profile.model_validate_json(capsys.readouterr().out) == good


async def test_an_unknown_extension_is_not_found_with_a_hint(
    service: ServiceRuntime, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(["status", "get", "1077"]) == 1
    err = capsys.readouterr().err
    assert 'extension 1077 is not provisioned; add it with ./voco user add 1077 "Full Name"' in err


async def test_device_events_from_the_pbx_update_devices_and_bad_ones_are_set_aside(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    await provision(nc)
    js = nc.jetstream()
    now = service.clock.now()
    await js.publish(pbx.device_subject("1001"), b"{not json")
    await js.publish(
        pbx.device_subject("1077"),
        pbx.encode(pbx.DeviceReported(extension="1077", device_id="x", state="registered", at=now)),
    )
    for state in ("registered", "busy"):
        report = pbx.DeviceReported(extension="1001", device_id="1001-desk", state=state, at=now)
        await js.publish(pbx.device_subject("1001"), pbx.encode(report))

    async def desk_busy() -> bool:
        return bool((await presence(nc))["devices"] == {"1001-desk": "busy"})

    await eventually(desk_busy)
    rows = await service.pool.fetch("SELECT reason FROM presence.dead_letters ORDER BY id")
    # 1001 and 1077 may be read by different partitions, so the two set-aside
    # messages are not ordered between themselves.
    reasons = [row["reason"] for row in rows]
    assert len(reasons) == 2
    assert any(reason.startswith("JSON is malformed") for reason in reasons)
    assert any("extension 1077 is not provisioned" in reason for reason in reasons)


async def test_a_dialled_feature_code_switches_the_profile(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    await provision(nc)
    dialled = pbx.FeatureCodeDialled(
        extension="1001", code="*73", device_id="1001-desk", at=service.clock.now()
    )
    await nc.jetstream().publish(pbx.feature_code_subject("1001"), pbx.encode(dialled))

    async def in_dnd() -> bool:
        view = await presence(nc)
        return (view["active_profile"], view["status"]) == ("dnd", "do_not_disturb")

    await eventually(in_dnd)
    entries = (await send(nc, GetHistory(extension="1001", limit=2, **as_user("1001"))))["entries"]
    # The extension dialled it; the PBX path vouches for that as a service.
    assert {(e["actor"], e["role"], e["channel"]) for e in entries} == {
        ("1001", "service", "feature_code")
    }


async def test_the_demo_data_loads_twice_without_failing(
    service: ServiceRuntime, nc: NatsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await load_demo(nc)
    events = await service.pool.fetchval("SELECT count(*) FROM presence.events")
    assert await load_demo(nc) == first
    assert await service.pool.fetchval("SELECT count(*) FROM presence.events") == events
    view = await presence(nc, "1005")
    assert set(view["devices"]) == {"1005-desk", "1005-softphone"}
    assert await cli(["profile", "list", "1001"]) == 0
    assert "busy -> ring_group sales" in capsys.readouterr().out


async def test_watch_prints_events_as_they_happen(
    service: ServiceRuntime, nc: NatsClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await provision(nc)
    watcher = asyncio.create_task(cli(["watch", "1001"]))
    printed = ""

    async def until_printed(text: str) -> None:
        nonlocal printed
        async with asyncio.timeout(5):
            while text not in printed:
                await asyncio.sleep(0.01)
                printed += capsys.readouterr().out

    try:
        await until_printed("watching")  # from that line on, every event is printed
        assert await cli(["status", "set", "1001", "brb"]) == 0
        # (the provisioning's own events may still be on their way and come first)
        await until_printed("PresenceChanged")
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def test_cached_states_see_what_another_replica_appended(
    connections_for: ConnectionsFor,
) -> None:
    mine = connections_for("presence")
    first, second = await build(mine), await build(mine)
    assert isinstance(first, PresenceRuntime)
    assert isinstance(second, PresenceRuntime)
    assert first.presence is not None
    assert second.presence is not None
    await first.start()
    await second.start()
    try:
        await first.presence.user(ProvisionUser(extension="1001", display_name="Ann", **ADMIN))
        await first.presence.user(
            SetStatus(extension="1001", status=Status.AWAY, **as_user("1001"))
        )
        await second.presence.user(
            SetStatus(extension="1001", status=Status.BUSY, note="call", **as_user("1001"))
        )
        after = await first.presence.user(
            SetStatus(extension="1001", status=Status.BUSY, note="call", **as_user("1001"))
        )
        assert (after.status, after.note) == (Status.BUSY, "call")
        versions = await first.pool.fetchval(
            "SELECT max(version) FROM presence.events WHERE stream = 'user:1001'"
        )
        assert versions == 10  # provisioning (8) + away + busy; the third was a no-op
    finally:
        await first.stop()
        await second.stop()


async def test_the_cli_runs_as_its_own_process(service: ServiceRuntime, nc: NatsClient) -> None:
    await provision(nc)

    async def voco(*argv: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli",
            *argv,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    code, out, _ = await voco("status", "set", "1001", "meeting", "--note", "standup")
    assert code == 0
    assert "1001 Ann: in_meeting" in out
    code, _, err = await voco("profile", "activate", "1001", "holiday")
    assert code == 1
    assert err.startswith("error: profile 'holiday' does not exist for 1001")
    assert "Traceback" not in err
