"""`./voco up` end to end: the embedded servers and every service; presence killed with
SIGKILL comes back and shows healthy in `./voco ps` while the others keep their pids;
Ctrl-C stops it all cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="voco-up-") as name:
        os.chmod(name, 0o755)  # postgres runs as nobody when the tests run as root
        yield Path(name)


def ps(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.ps"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def state(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "launcher.ps", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode != 0:
        return {}
    return {s["name"]: s for s in json.loads(result.stdout)["services"]}


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout} s")


def healthy(env: dict[str, str], name: str) -> bool:
    line = next((x for x in ps(env).stdout.splitlines() if x.startswith(name + " ")), "")
    return line.endswith("healthy") and "unhealthy" not in line


def test_up_restarts_a_killed_service_and_stops_cleanly_on_ctrl_c(data_dir: Path) -> None:
    env = {**os.environ, "VOCO_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    for name in ("VOCO_NATS_URL", "VOCO_DATABASE_URL", "VOCO_NATS_PORT", "VOCO_PG_PORT"):
        env.pop(name, None)
    output = data_dir / "up.out"
    with output.open("w") as out:
        up = subprocess.Popen(
            [sys.executable, "-m", "launcher", "--no-demo"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        wait_for(lambda: "running;" in output.read_text(), 120, "the platform started")
        before = state(env)
        assert set(before) >= {"presence", "routing", "scheduler", "visibility", "pbxsim"}
        wait_for(lambda: healthy(env, "presence"), 30, "presence healthy")

        os.kill(before["presence"]["pid"], signal.SIGKILL)
        after = wait_for(
            lambda: (
                (s := state(env)).get("presence", {}).get("restarts") == 1
                and s["presence"]["pid"] not in (None, before["presence"]["pid"])
                and s
            ),
            30,
            "presence restarted",
        )
        wait_for(lambda: healthy(env, "presence"), 30, "presence healthy again")
        for other in ("routing", "scheduler", "visibility", "pbxsim"):
            assert after[other]["pid"] == before[other]["pid"], other
            assert after[other]["restarts"] == 0
        text = output.read_text()
        assert "presence was killed by SIGKILL" in text
        assert "presence restarted (restart 1)" in text
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(60)
    text = output.read_text()
    assert code == 0, text
    assert text.rstrip().endswith("voco: stopped")
    assert not (data_dir / "supervisor.json").exists()
    for service in before.values():
        with pytest.raises(ProcessLookupError):
            os.kill(service["pid"], 0)
