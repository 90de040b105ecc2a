"""The whole platform for the browser tests: `./voco up` itself (the launcher) in a temp
data dir, with the edge on a free port and the simulator's demo calls off, so a test
places the calls it reads. One per test session; users are made per test through the
edge's admin API, so tests do not share state beyond the demo company."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from launcher.processes import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 180.0
_extensions = itertools.count(3100)


@dataclass
class Platform:
    url: str
    data_dir: Path
    output: list[str] = field(default_factory=list)
    admin: tuple[str, str] = ("", "")

    def env(self) -> dict[str, str]:
        return {**os.environ, "VOCO_DATA_DIR": str(self.data_dir), "PYTHONPATH": str(ROOT)}

    def client(self, login: str, password: str) -> httpx.Client:
        """An HTTP client signed in with a bearer token (no cookie, no CSRF needed)."""
        answer = httpx.post(
            f"{self.url}/api/session",
            json={"login": login, "password": password, "bearer": True},
            timeout=10,
        )
        answer.raise_for_status()
        token = answer.json()["token"]
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def unused_extension(self) -> str:
        """An extension no account has yet (for a test that creates one itself)."""
        with self.client(*self.admin) as admin:
            taken = {a["login"] for a in admin.get("/api/admin/accounts").json()}
        return next(e for e in map(str, _extensions) if e not in taken)

    def new_user(self, name: str, *, mobile: str | None = None, ready: bool = True) -> User:
        """A user of its own; `ready`: the first password already changed, so signing in
        lands on the main screen."""
        with self.client(*self.admin) as admin:
            while True:  # an extension taken already (a platform reused) is skipped
                extension = str(next(_extensions))
                first = f"first-{extension}-pw"
                body = {"login": extension, "display_name": name, "password": first}
                if mobile:
                    body["mobile_number"] = mobile
                created = admin.post("/api/admin/accounts", json=body)
                if created.status_code != 409:
                    created.raise_for_status()
                    break
        if not ready:
            return User(extension, name, first)
        password = f"own-{extension}-pw"
        with self.client(extension, first) as user:
            user.put(
                "/api/session/password",
                json={"current_password": first, "new_password": password},
            ).raise_for_status()
        return User(extension, name, password)

    def place_call(self, caller: str, callee: str) -> str:
        """A call through the PBX simulator (the CLI, as the operator); its call id."""
        done = subprocess.run(
            [sys.executable, "-m", "cli", "call", caller, callee, "--wait", "1", "--json"],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        call_id: str = json.loads(done.stdout)["call_id"]
        return call_id


@dataclass(frozen=True)
class User:
    extension: str
    name: str
    password: str


def _read(stream: IO[bytes], into: list[str]) -> None:
    for line in iter(stream.readline, b""):
        into.append(line.decode(errors="replace").rstrip("\n"))


@contextmanager
def running_platform() -> Iterator[Platform]:
    """A platform of the tests' own; VOCO_WEB_TEST_URL and VOCO_WEB_TEST_DATA_DIR point the
    tests at one already running instead (e.g. your `./voco up`, while working on the
    client)."""
    url, given = os.environ.get("VOCO_WEB_TEST_URL"), os.environ.get("VOCO_WEB_TEST_DATA_DIR")
    if url and given:
        platform = Platform(url=url.rstrip("/"), data_dir=Path(given))
        platform.admin = admin_credentials(platform)
        yield platform
        return
    with tempfile.TemporaryDirectory(prefix="voco-web-") as name:
        data_dir = Path(name)
        os.chmod(data_dir, 0o755)  # postgres runs as nobody when the tests run as root
        port = free_port()
        platform = Platform(url=f"http://127.0.0.1:{port}", data_dir=data_dir)
        env = {
            **platform.env(),
            "VOCO_HTTP_PORT": str(port),
            "VOCO_PBXSIM_DEMO_INTERVAL": "0",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        reader = threading.Thread(target=_read, args=(process.stdout, platform.output), daemon=True)
        reader.start()
        try:
            _wait_until_up(platform, process)
            platform.admin = admin_credentials(platform)
            yield platform
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            stop_process(process, timeout=30)
            reader.join(timeout=5)
            if process.stdout is not None:
                process.stdout.close()


def _wait_until_up(platform: Platform, process: subprocess.Popen[bytes]) -> None:
    """Up when the edge answers and the demo accounts are loaded (their passwords file is
    written once they exist), whatever the launcher prints meanwhile."""
    deadline = time.monotonic() + START_SECONDS
    passwords = platform.data_dir / "gateway-demo-passwords.json"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("./voco up exited:\n" + "\n".join(platform.output[-40:]))
        try:
            loaded = "admin" in json.loads(passwords.read_text())
            if loaded and httpx.get(f"{platform.url}/api/health", timeout=2).status_code == 200:
                platform.admin = admin_credentials(platform)
                if _demo_company_loaded(platform):
                    return
        except (OSError, ValueError, httpx.HTTPError):
            pass  # not written yet, half written, or the edge not listening yet
        time.sleep(0.25)
    raise RuntimeError("./voco up did not come up in time:\n" + "\n".join(platform.output[-40:]))


def _demo_company_loaded(platform: Platform) -> bool:
    """The demo company is in presence (its ring group is loaded after its users), so a
    test may use extensions 1001-1005 and presence answers."""
    with platform.client(*platform.admin) as admin:
        groups = admin.get("/api/admin/ring-groups")
    return groups.status_code == 200 and any(
        g["group_id"] == "sales" for g in groups.json()["ring_groups"]
    )


def admin_credentials(platform: Platform) -> tuple[str, str]:
    """The administrator's sign-in as `./voco up` keeps it in the data dir."""
    return "admin", demo_passwords(platform)["admin"]


def demo_passwords(platform: Platform) -> dict[str, str]:
    path = platform.data_dir / "gateway-demo-passwords.json"
    kept: dict[str, str] = json.loads(path.read_text())
    return kept
