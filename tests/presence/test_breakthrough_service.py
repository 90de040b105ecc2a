"""Breakthrough lists through the running presence service and the CLI (real NATS, PG)."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client as NatsClient

from cli.main import run
from contracts.errors import CommandError
from contracts.presence import ListProfiles, ProvisionUser, SaveProfile
from runtime.bus import request
from runtime.service import ServiceRuntime
from tests.principals import ADMIN

pytestmark = pytest.mark.integration


async def provision(nc: NatsClient, *extensions: str) -> None:
    for extension in extensions:
        await request(nc, "presence", ProvisionUser(extension=extension, display_name="U", **ADMIN))


async def dnd_of(nc: NatsClient) -> dict[str, object]:
    listed = await request(nc, "presence", ListProfiles(extension="1001", **ADMIN))
    return next(p for p in listed["profiles"] if p["id"] == "dnd")


async def test_an_unknown_extension_is_refused_with_its_field_over_nats(
    service: ServiceRuntime, nc: NatsClient
) -> None:
    await provision(nc, "1001", "1002")
    dnd = await dnd_of(nc)
    body = {**dnd, "breakthrough": {"extensions": ["1002", "4999"]}}
    with pytest.raises(CommandError) as raised:
        await request(
            nc,
            "presence",
            SaveProfile.model_validate({"extension": "1001", "profile": body, **ADMIN}),
        )
    assert raised.value.field == "profile.breakthrough.extensions[1]"
    assert "no user has extension 4999" in raised.value.message


async def test_the_cli_edits_the_breakthrough_list_in_place(
    service: ServiceRuntime,
    nc: NatsClient,
    nats_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VOCO_NATS_URL", nats_url)
    await provision(nc, "1001", "1002")
    assert await run(["profile", "breakthrough", "add", "1001", "dnd", "1002", "+4930123*"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["extensions"], shown["prefixes"]) == (["1002"], ["+4930123"])
    assert await run(["profile", "breakthrough", "set", "1001", "dnd", "--repeat", "5"]) == 0
    capsys.readouterr()
    section = (await dnd_of(nc))["breakthrough"]
    assert section["urgent_repeat"] == {"minutes": 5}  # type: ignore[index]
    assert section["extensions"] == ["1002"]  # type: ignore[index]

    assert await run(["profile", "breakthrough", "add", "1001", "dnd", "4999"]) == 1
    err = capsys.readouterr().err
    assert "no user has extension 4999 (profile.breakthrough.extensions[1])" in err
    assert await run(["profile", "breakthrough", "set", "1001", "dnd", "--repeat", "45"]) == 1
    assert "urgent_repeat.minutes" in capsys.readouterr().err
    assert await run(["profile", "breakthrough", "remove", "1001", "dnd", "1002"]) == 0
    assert json.loads(capsys.readouterr().out)["extensions"] == []
