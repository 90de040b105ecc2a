"""Where the CLI finds NATS: VOCO_NATS_URL, else the file `./voco up` writes, else the default."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
ROOT = Path(__file__).resolve().parent.parent


def endpoints_file() -> Path:
    return Path(os.environ.get("VOCO_DATA_DIR", ROOT / ".voco-data")) / "endpoints.env"


def nats_url() -> str:
    if os.environ.get("VOCO_NATS_URL"):
        return os.environ["VOCO_NATS_URL"]
    try:
        lines = endpoints_file().read_text().splitlines()
    except OSError:
        return DEFAULT_NATS_URL
    for line in lines:
        key, _, value = line.strip().partition("=")
        if key == "VOCO_NATS_URL" and value:
            return value
    return DEFAULT_NATS_URL
