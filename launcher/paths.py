"""Where `./voco up` keeps its data, for the launcher and for `./voco ps`."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("VOCO_DATA_DIR", ROOT / ".voco-data")).resolve()
