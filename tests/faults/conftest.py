"""Fixtures of the fault rows: one platform (`./voco up` in a temp data dir) per module."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.platform import Platform


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    with tempfile.TemporaryDirectory(prefix="voco-faults-") as name:
        os.chmod(name, 0o755)  # postgres runs as nobody when the tests run as root
        running = Platform(Path(name)).start()
        try:
            yield running
        finally:
            code = running.stop()
            assert code == 0, running.output()[-3000:]
