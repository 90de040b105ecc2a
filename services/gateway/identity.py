"""Who is acting, from the session, and the one place that stamps it onto commands.

Every command the edge sends passes through `stamped`: `actor`, `role` and `channel`
come from the session and overwrite anything else. A field a contract does not declare
(yet) is left out, so the same function serves every service's commands as their
contracts gain fields. Request bodies never carry these fields (bodies.py forbids them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from contracts.base import Command
from contracts.presence import Channel
from services.gateway.accounts.domain import AccountRole

C = TypeVar("C", bound=Command)

IDENTITY_FIELDS = frozenset({"actor", "role", "channel"})
"""Set by the edge from the session, never by a client."""


@dataclass(frozen=True)
class Principal:
    login: str
    role: AccountRole
    session_id: str
    kind: str  # "cookie" or "bearer"
    csrf_token: str
    must_change_password: bool

    @property
    def is_admin(self) -> bool:
        return self.role is AccountRole.ADMIN

    def may_act_for(self, extension: str) -> bool:
        return self.is_admin or self.login == extension


def identity_of(who: Principal) -> dict[str, str]:
    channel = Channel.ADMIN if who.is_admin else Channel.CLIENT
    return {"actor": who.login, "role": who.role.value, "channel": channel.value}


def stamped(command: C, who: Principal) -> C:
    declared = type(command).model_fields
    identity = {k: v for k, v in identity_of(who).items() if k in declared}
    if not identity:
        return command
    fields = command.model_dump(exclude=set(identity), exclude_unset=True)
    return type(command).model_validate({**fields, **identity})
