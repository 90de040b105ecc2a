"""The rendered Kamailio config and the adapter's secrets, as kept in the data dir."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.kamailio.config import Secrets
from adapters.kamailio.render import PLACEHOLDER, render, write_config
from tests.kamailio.conftest import pbx_config


def test_secrets_are_made_once_kept_0600_and_extended_for_new_devices(tmp_path: Path) -> None:
    config = pbx_config(tmp_path, devices=("1001-desk",))
    first = Secrets.load(config)
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    again = Secrets.load(replace(config, devices=("1001-desk", "1002-desk")))
    assert again.passwords["1001-desk"] == first.passwords["1001-desk"]
    assert again.evapi == first.evapi
    assert set(again.passwords) == {"1001-desk", "1002-desk"}


def test_every_placeholder_is_filled_and_the_file_is_0600(tmp_path: Path) -> None:
    config = pbx_config(tmp_path)
    secrets = Secrets.load(config)
    path = write_config(config, secrets, boot_id="b1")
    text = path.read_text()
    assert not PLACEHOLDER.search(text)
    assert f'$sht(pw=>1001-desk) = "{secrets.passwords["1001-desk"]}";' in text
    assert f"listen=udp:127.0.0.1:{config.sip_port}" in text
    assert "VOCO_STATIC_ROUTING" not in text.split("request_route")[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_password_that_could_break_out_of_the_config_string_is_refused(
    tmp_path: Path,
) -> None:
    config = pbx_config(tmp_path)
    secrets = Secrets(evapi="e", auth="a", passwords={"1001-desk": 'x"; evil(); "'})
    with pytest.raises(ValueError, match="1001-desk"):
        render(config, secrets, boot_id="b1")
