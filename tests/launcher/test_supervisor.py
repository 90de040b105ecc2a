"""The supervisor on real processes: a child killed with SIGKILL is started again while
its sibling keeps running; a child that keeps crashing makes it give up, naming it."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from launcher.supervisor import Child, GiveUp, RestartPolicy, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]
FAST = RestartPolicy(first_delay=0.05, max_delay=0.2, stable_after=5.0, give_up_after=3)


def poll_until(supervisor: Supervisor, condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        supervisor.poll()
        time.sleep(0.02)


def test_a_killed_child_is_restarted_while_the_other_keeps_running(tmp_path: Path) -> None:
    said: list[str] = []
    supervisor = Supervisor(tmp_path / "supervisor.json", FAST, said.append)
    victim = supervisor.start(Child("victim", SLEEPER, dict(os.environ), tmp_path / "v.log"))
    bystander = supervisor.start(Child("bystander", SLEEPER, dict(os.environ), tmp_path / "b.log"))
    try:
        assert victim.process is not None
        assert bystander.process is not None
        first_pid, bystander_pid = victim.process.pid, bystander.process.pid

        os.kill(first_pid, signal.SIGKILL)
        poll_until(supervisor, lambda: victim.running and victim.restarts == 1)

        assert victim.process is not None
        assert victim.process.pid != first_pid

        assert victim.restarts == 1
        assert bystander.process.pid == bystander_pid
        assert bystander.running
        assert any("victim was killed by SIGKILL" in line for line in said)
        assert any("victim restarted (restart 1)" in line for line in said)
        state = json.loads((tmp_path / "supervisor.json").read_text())
        by_name = {s["name"]: s for s in state["services"]}
        assert by_name["victim"]["restarts"] == 1
        assert by_name["victim"]["pid"] == victim.process.pid
        assert by_name["bystander"]["pid"] == bystander_pid
        assert stat.S_IMODE((tmp_path / "supervisor.json").stat().st_mode) == 0o600
    finally:
        supervisor.stop_all(timeout=5)
    assert not (tmp_path / "supervisor.json").exists()


def test_repeated_crashes_past_the_limit_give_up_naming_the_service(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "supervisor.json", FAST, lambda _: None)
    supervisor.start(Child("crasher", CRASHER, dict(os.environ), tmp_path / "crasher.log"))
    bystander = supervisor.start(Child("bystander", SLEEPER, dict(os.environ), tmp_path / "b.log"))
    try:
        with pytest.raises(GiveUp) as gave_up:
            poll_until(supervisor, lambda: False)
        message = str(gave_up.value)
        assert "crasher crashed 4 times in a row" in message
        assert "the last exited with status 3" in message
        assert str(tmp_path / "crasher.log") in message
        assert bystander.running
    finally:
        supervisor.stop_all(timeout=5)
    assert not bystander.running


def test_stop_all_terminates_every_child(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "supervisor.json", FAST, lambda _: None)
    children = [
        supervisor.start(Child(f"s{i}", SLEEPER, dict(os.environ), tmp_path / f"{i}.log"))
        for i in range(3)
    ]
    processes = [c.process for c in children]
    supervisor.stop_all(timeout=5)
    assert all(p is not None and p.returncode == -signal.SIGTERM for p in processes)
