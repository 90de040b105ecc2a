"""The CLI's own logic: finding NATS, reading --until, and clear errors without a service."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cli.endpoints import DEFAULT_NATS_URL, nats_url
from cli.main import UsageError, parse_status, run
from cli.times import parse_until
from contracts.presence import Status

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=timezone(timedelta(hours=1)))


def test_nats_url_comes_from_the_environment_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "endpoints.env").write_text("VOCO_NATS_URL=nats://127.0.0.1:9999\n")
    monkeypatch.setenv("VOCO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("VOCO_NATS_URL", "nats://elsewhere:4000")
    assert nats_url() == "nats://elsewhere:4000"


def test_nats_url_comes_from_the_file_voco_up_writes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "endpoints.env").write_text(
        "VOCO_NATS_URL=nats://127.0.0.1:9999\nVOCO_DATABASE_URL=postgresql://x\n"
    )
    monkeypatch.setenv("VOCO_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VOCO_NATS_URL", raising=False)
    assert nats_url() == "nats://127.0.0.1:9999"


def test_nats_url_falls_back_to_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOCO_DATA_DIR", str(tmp_path / "missing"))
    monkeypatch.delenv("VOCO_NATS_URL", raising=False)
    assert nats_url() == DEFAULT_NATS_URL


def test_until_a_clock_time_later_today() -> None:
    assert parse_until("13:00", NOW) == NOW.replace(hour=13, minute=0)


def test_until_a_clock_time_already_past_means_tomorrow() -> None:
    assert parse_until("08:00", NOW) == NOW.replace(hour=8, minute=0) + timedelta(days=1)


def test_until_a_duration() -> None:
    assert parse_until("30m", NOW) == NOW + timedelta(minutes=30)
    assert parse_until("2h", NOW) == NOW + timedelta(hours=2)


def test_until_an_iso_moment_keeps_its_zone_or_takes_the_local_one() -> None:
    assert parse_until("2026-11-24T09:00+00:00", NOW) == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert parse_until("2026-11-24T09:00", NOW).tzinfo == NOW.tzinfo


def test_until_nonsense_says_what_to_type() -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 13:00, 30m"):
        parse_until("after lunch", NOW)


def test_status_names_and_short_aliases() -> None:
    assert parse_status("dnd") is Status.DO_NOT_DISTURB
    assert parse_status("In-Meeting") is Status.IN_MEETING
    with pytest.raises(UsageError, match="unknown status 'sleepy'"):
        parse_status("sleepy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_without_nats_the_cli_says_how_to_start_it_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOCO_NATS_URL", f"nats://127.0.0.1:{free_port()}")
    assert await run(["status", "get", "1001"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach NATS" in err
    assert "./voco up" in err
    assert "Traceback" not in err


async def test_a_malformed_extension_is_refused_before_sending(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run(["status", "set", "10a1", "away"]) == 1
    assert "extension: String should match pattern" in capsys.readouterr().err
