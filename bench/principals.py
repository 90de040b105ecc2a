"""Who the load generators act as: what the edge would stamp for each command."""

from __future__ import annotations

from typing import Any

from contracts.base import Role

ADMIN: dict[str, Any] = {"actor": "bench-admin", "role": Role.ADMIN}


def as_user(extension: str) -> dict[str, Any]:
    """A user acting on their own data, as the edge stamps it from the session."""
    return {"actor": extension, "role": Role.USER}
