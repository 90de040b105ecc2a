"""Fixtures of the fault rows: one platform (`./voco up` in a temp data dir) per module.

VOCO_FAULTS_KEEP=1 keeps the data dir (logs, stores) after the run, and says where."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.platform import Platform


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    name = tempfile.mkdtemp(prefix="voco-faults-")
    os.chmod(name, 0o755)  # postgres runs as nobody when the tests run as root
    running = Platform(Path(name)).start()
    try:
        yield running
    finally:
        code = running.stop()
        if os.environ.get("VOCO_FAULTS_KEEP"):
            print(f"fault rows' data kept in {name}")
        else:
            shutil.rmtree(name, ignore_errors=True)
        assert code == 0, running.output()[-3000:]
