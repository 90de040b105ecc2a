"""Who the tests act as: every command a test sends names its principal, as the edge and
the internal callers do (runtime/access.py decides what each may do)."""

from __future__ import annotations

from typing import Any

from contracts.base import Role

ADMIN: dict[str, Any] = {"actor": "admin", "role": Role.ADMIN}
SERVICE: dict[str, Any] = {"actor": "test-service", "role": Role.SERVICE}
ANONYMOUS: dict[str, Any] = {}


def as_user(extension: str) -> dict[str, Any]:
    return {"actor": extension, "role": Role.USER}
