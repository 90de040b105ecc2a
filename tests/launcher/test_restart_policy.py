"""The supervisor's restart policy and `./voco ps`'s health, without processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from launcher.ps import health, main, table
from launcher.supervisor import RestartPolicy, describe_exit

POLICY = RestartPolicy(first_delay=0.5, max_delay=8.0, stable_after=60.0, give_up_after=5)


def test_backoff_doubles_from_the_first_delay() -> None:
    assert [POLICY.delay(n) for n in range(1, 5)] == [0.5, 1.0, 2.0, 4.0]


def test_backoff_is_capped() -> None:
    assert RestartPolicy(max_delay=8.0, give_up_after=100).delay(30) == 8.0


def test_a_crash_soon_after_starting_counts_in_a_row() -> None:
    assert POLICY.crashes_in_a_row(before=2, uptime=3.0) == 3


def test_a_run_that_lasted_resets_the_backoff() -> None:
    crashes = POLICY.crashes_in_a_row(before=4, uptime=60.0)
    assert crashes == 1
    assert POLICY.delay(crashes) == 0.5


def test_the_supervisor_gives_up_past_the_limit() -> None:
    assert POLICY.delay(5) is not None
    assert POLICY.delay(6) is None


def test_exits_are_described_by_signal_name() -> None:
    assert describe_exit(-9) == "was killed by SIGKILL"
    assert describe_exit(1) == "exited with status 1"


def entry(**fields: Any) -> dict[str, Any]:
    base = {
        "name": "presence",
        "pid": 42,
        "started": 1000.0,
        "restarts": 0,
        "heartbeat": "/data/run/presence.alive",
    }
    return {**base, **fields}


def alive(pid: int) -> bool:
    return pid == 42


def test_a_fresh_heartbeat_is_healthy() -> None:
    assert health(entry(), 1100.0, alive, lambda _: 3.0) == "healthy"


def test_a_stale_heartbeat_is_unhealthy() -> None:
    assert health(entry(), 1100.0, alive, lambda _: 40.0) == "unhealthy: last heartbeat 40 s ago"


def test_no_heartbeat_yet_is_starting_then_a_problem() -> None:
    assert health(entry(), 1005.0, alive, lambda _: None) == "starting"
    assert health(entry(), 1100.0, alive, lambda _: None) == "no heartbeat after 100 s"


def test_a_service_waiting_for_its_restart_says_so() -> None:
    waiting = entry(pid=None, restart_in=2.0, restarts=1)
    assert health(waiting, 1100.0, alive, lambda _: None).startswith("restarting")


def test_a_dead_pid_is_not_reported_healthy() -> None:
    assert health(entry(pid=7), 1100.0, alive, lambda _: 1.0).startswith("exited")


def test_the_table_has_a_line_per_service() -> None:
    state = {"services": [entry(), entry(name="routing", pid=None, restart_in=1.0, restarts=3)]}
    lines = table(state, 1125.0, alive, lambda _: 1.0)
    assert lines[1].split()[:4] == ["presence", "42", "2m05s", "0"]
    assert lines[2].split()[:4] == ["routing", "-", "-", "3"]


def test_ps_without_a_running_up_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOCO_DATA_DIR", str(tmp_path))
    assert main([]) == 1
    assert "not running here" in capsys.readouterr().err


def test_ps_tells_a_stale_state_file_from_a_running_supervisor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOCO_DATA_DIR", str(tmp_path))
    (tmp_path / "supervisor.json").write_text(
        json.dumps({"supervisor_pid": 2**22 + 1, "services": []})  # above pid_max
    )
    assert main([]) == 1
    assert "did not stop cleanly" in capsys.readouterr().err
