"""Debian's packages the Kamailio PBX needs, installed with apt-get when missing (as root).

Kamailio 5.6.3 and SIPp are Debian 12 packages; there is nothing to pip-install. Without
root (or apt-get) the error says what to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
KAMAILIO = ["kamailio", "kamailio-extra-modules", "kamailio-json-modules", "kamailio-utils-modules"]
SIPP = ["sip-tester"]
NEEDED_MODULES = ["tm.so", "evapi.so", "jansson.so", "htable.so", "jsonrpcs.so", "auth.so"]


class MissingPackages(RuntimeError):
    pass


def kamailio_present() -> bool:
    return shutil.which("kamailio") is not None and all(
        (MODULES / module).exists() for module in NEEDED_MODULES
    )


def sipp_present() -> bool:
    return shutil.which("sipp") is not None


def ensure(packages: list[str], present: bool) -> None:
    if present:
        return
    command = "apt-get install -y --no-install-recommends " + " ".join(packages)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise MissingPackages(f"Debian packages missing: run `sudo {command}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = command.split()
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise MissingPackages(f"`{command}` failed: {done.stderr.strip()[-500:]}")


def ensure_kamailio() -> None:
    ensure(KAMAILIO, kamailio_present())


def ensure_sipp() -> None:
    ensure(SIPP, sipp_present())
