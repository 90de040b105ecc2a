"""Configuration from the environment, with the defaults documented in README.md."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit


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


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***`, for anything printed or logged."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:  # not a URL we can read: say nothing of it
        return "<unreadable URL>"
    return urlunsplit(parts._replace(netloc=netloc))


def url_user(url: str) -> str | None:
    """The user a URL connects as (a principal), or None."""
    try:
        return urlsplit(url).username
    except ValueError:
        return None


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

    def __repr__(self) -> str:  # dataclasses would print the passwords
        return (
            f"Connections(nats_url={redact_url(self.nats_url)!r}, "
            f"database_url={redact_url(self.database_url)!r})"
        )
