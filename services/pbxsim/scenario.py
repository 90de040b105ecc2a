"""A simulator scenario: which devices register, how each target behaves, which calls come.

JSON, e.g.::

    {"node": "sim1",
     "devices": {"1001": ["1001-desk", "1001-softphone"]},
     "behaviours": {"1001-desk": {"action": "answer", "after": 3},
                    "+491701234": {"action": "busy"}},
     "calls": [{"caller": "2000", "callee": "1001", "at": 0}]}

A target without a behaviour lets it ring (`ring`), as a phone nobody picks up.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Action(StrEnum):
    ANSWER = "answer"
    BUSY = "busy"
    DECLINE = "decline"
    UNREACHABLE = "unreachable"
    RING = "ring"  # ring until cancelled (or the PBX's own timer, if enforced)


class Behaviour(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Action = Action.RING
    after: float = Field(default=0.0, ge=0, description="seconds of ringing before the action")


class PlannedCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    caller: str
    callee: str
    at: float = Field(default=0.0, ge=0, description="seconds after start")


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str = "sim1"
    devices: dict[str, list[str]] = Field(default_factory=dict)
    behaviours: dict[str, Behaviour] = Field(default_factory=dict)
    calls: list[PlannedCall] = Field(default_factory=list)
    talk_seconds: float = Field(default=5.0, ge=0, description="an answered call lasts this long")
    busy_while_talking: bool = Field(
        default=False,
        description="an answered device reports busy until its call ends, as a PBX's do",
    )

    @classmethod
    def from_file(cls, path: Path) -> Scenario:
        return cls.model_validate(json.loads(path.read_text()))


DEMO_EXTENSIONS = ["1001", "1002", "1003", "1004", "1005"]


def demo() -> Scenario:
    """What `./voco up` runs: the demo extensions' desk phones and softphones."""
    return Scenario(
        node="sim1",
        devices={ext: [f"{ext}-desk", f"{ext}-softphone"] for ext in DEMO_EXTENSIONS},
        behaviours={
            "1001-desk": Behaviour(action=Action.ANSWER, after=4),
            "1002-softphone": Behaviour(action=Action.ANSWER, after=2),
            "1003-desk": Behaviour(action=Action.BUSY),
            "1004-desk": Behaviour(action=Action.DECLINE, after=3),
        },
    )
