"""Who may issue which command: the rules of the principal model, written once for all.

Every command and query a person or a service issues names its `actor` and `role`
(`contracts.base.Acting`). Each service declares a table, command type -> `Rule`, and
routes its commands through `GuardedRoutes`, which checks the rule before the handler
reads anything, so a refusal says the same whether or not the data exists. The checks
are pure: `authorize` and `authorize_party` take the command and the facts, nothing
else.

- `own(field)`: a user acts on their own data (the field names whose it is, e.g.
  `extension`); an administrator on anyone's; a service too.
- `ADMINISTRATORS`: administrators and services only (users, ring groups, IVRs...).
- `SERVICES`: Voco's own trusted callers only (the PBX path, timers, batch switches).
- `party(what)`: a user only for something they take part in (a call they made, received
  or were forwarded), which the handler learns by reading; it then calls
  `authorize_party`, whose refusal is the same for "not yours" and "does not exist".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from contracts.base import Acting, Role
from contracts.errors import Forbidden

A = TypeVar("A", bound=Acting)
Answer = BaseModel | dict[str, Any] | None
PRIVILEGED = frozenset({Role.ADMIN, Role.SERVICE})


@dataclass(frozen=True)
class Principal:
    actor: str
    role: Role


@dataclass(frozen=True)
class Rule:
    """Who may issue a command.

    `roles` may whatever the command names. A `user` may too when `own` names a field
    equal to the actor, or, with `party`, when the handler finds the actor among the
    parties of what it reads.
    """

    roles: frozenset[Role]
    own: str | None = None
    party: str | None = None

    def cell(self, role: Role) -> str:
        """This rule for one role, as the access tables in the READMEs show it."""
        if role in self.roles:
            return "yes"
        if role is Role.USER and self.own:
            return f"own (`{self.own}` = actor)"
        if role is Role.USER and self.party:
            return f"own ({self.party})"
        return "no"


def own(field: str) -> Rule:
    return Rule(roles=PRIVILEGED, own=field)


def party(what: str) -> Rule:
    return Rule(roles=PRIVILEGED, party=what)


ADMINISTRATORS = Rule(roles=PRIVILEGED)
SERVICES = Rule(roles=frozenset({Role.SERVICE}))


def principal_of(command: Acting) -> Principal:
    """Who issued the command, or Forbidden when nobody says (a blank actor is nobody)."""
    actor = (command.actor or "").strip()
    if not actor:
        raise Forbidden(
            f"anonymous commands are refused: {command.type_name} names no actor; sign in "
            "first (the edge, or the calling service, sets `actor` and `role`)",
            field="actor",
        )
    return Principal(actor, command.role)


def actor_of(command: Acting) -> str:
    """The actor a decider records on its events; anonymous commands never get that far."""
    return principal_of(command).actor


def authorize(command: Acting, rule: Rule) -> Principal:
    """The principal when `rule` lets it issue `command`, else Forbidden.

    Decided from the command alone, before anything is read: a refused caller learns
    nothing about which users, calls or lists exist.
    """
    principal = principal_of(command)
    if principal.role in rule.roles:
        return principal
    if principal.role is Role.USER:
        if rule.party:
            return principal  # the handler reads the parties, then authorize_party
        if rule.own:
            subject = getattr(command, rule.own)
            if subject == principal.actor:
                return principal
            raise Forbidden(
                f"{principal.actor} may not act for {subject}: with {command.type_name} a "
                "user acts only on their own data (administrators can act for anyone)",
                field="actor",
            )
    needed = "administrators" if Role.ADMIN in rule.roles else "Voco's own services"
    raise Forbidden(
        f"{principal.actor} may not issue {command.type_name} as {principal.role.value}: "
        f"it is for {needed}",
        field="role",
    )


def authorize_party(principal: Principal, parties: Collection[str], what: str) -> None:
    """After reading: a user takes part in `what`, or Forbidden.

    Call it with no parties for something that does not exist, so the refusal is the
    same for "not yours" and "no such thing".
    """
    if principal.role in PRIVILEGED or principal.actor in parties:
        return
    raise Forbidden(
        f"{principal.actor} may not see {what}: users see only what they take part in",
        field="actor",
    )


class Routes(Protocol):
    def route(self, command: Any, handler: Any) -> None: ...


class GuardedRoutes:
    """Routes only commands that have a rule, and checks it before the handler runs."""

    def __init__(self, server: Routes, rules: Mapping[type[Acting], Rule]) -> None:
        self.server = server
        self.rules = rules

    def route(self, command: type[A], handler: Callable[[A], Awaitable[Answer]]) -> None:
        rule = self.rules.get(command)
        if rule is None:
            raise LookupError(
                f"{command.type_name} has no access rule: add it to the service's table"
            )

        async def checked(issued: A) -> Answer:
            authorize(issued, rule)
            return await handler(issued)

        self.server.route(command, checked)


def access_table(rules: Mapping[type[Acting], Rule]) -> str:
    """The rules as the Markdown table each service's README shows (tests compare them)."""
    roles = list(Role)
    lines = [
        "| command | " + " | ".join(r.value for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for command in sorted(rules, key=lambda c: c.type_name):
        cells = " | ".join(rules[command].cell(r) for r in roles)
        lines.append(f"| `{command.type_name}` | {cells} |")
    return "\n".join(lines)
