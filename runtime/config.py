"""Configuration from the environment, with the defaults documented in README.md."""

from __future__ import annotations

import os
from dataclasses import dataclass


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number; set it to e.g. {default}") from None


def env_int(name: str, default: int) -> int:
    return int(env_float(name, default))


@dataclass(frozen=True)
class Connections:
    """Where a service finds NATS and PostgreSQL."""

    nats_url: str
    database_url: str

    @classmethod
    def from_env(cls) -> Connections:
        return cls(
            nats_url=env_str("VOCO_NATS_URL", "nats://127.0.0.1:4222"),
            database_url=env_str("VOCO_DATABASE_URL", "postgresql://voco@127.0.0.1:5432/voco"),
        )
