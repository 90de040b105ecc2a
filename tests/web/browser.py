"""Debian's Chromium for the browser tests: installed when missing (as root), never a
browser download; launched headless through Playwright with its executable path."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path(os.environ.get("VOCO_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class NoBrowser(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """The Chromium binary; apt-get installs Debian's package when it is missing and we are
    root. Anyone else gets a message saying what to install."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise NoBrowser(
            f"the browser tests need Debian's Chromium at {CHROMIUM}: run "
            "`sudo apt-get install -y chromium` (or set VOCO_CHROMIUM to a Chromium binary)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise NoBrowser(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]}")
    if not CHROMIUM.exists():
        raise NoBrowser(f"apt-get installed chromium but {CHROMIUM} is not there")
    return CHROMIUM
