"""The edge's NATS publish rights are exactly the commands a person may issue.

runtime/permissions.py derives them from the services' access tables; these tests hold
the derivation to the tables and to what the edge's code sends (tests/security/
test_bus.py tries the refusals on the real nats-server)."""

from __future__ import annotations

import ast
from pathlib import Path

from contracts.base import Acting, Role
from runtime.permissions import edge_commands, nats_permissions
from services.presence.access import ACCESS as PRESENCE
from services.routing.access import ACCESS as ROUTING
from services.scheduler.access import ACCESS as SCHEDULER
from services.visibility.access import ACCESS as VISIBILITY

TABLES = {"presence": PRESENCE, "routing": ROUTING, "scheduler": SCHEDULER,
          "visibility": VISIBILITY}  # fmt: skip
GATEWAY = Path(__file__).parents[2] / "services" / "gateway"


def subject(service: str, command: type[Acting]) -> str:
    return f"voco.cmd.{service}.{command.type_name}"


def test_the_edge_may_send_no_wildcard_and_nothing_only_services_may() -> None:
    allowed = set(nats_permissions("gateway").publish)
    assert not any(s.endswith((">", "*")) for s in allowed), allowed
    services_only = {
        subject(service, command)
        for service, table in TABLES.items()
        for command, rule in table.items()
        if rule.roles == frozenset({Role.SERVICE}) and rule.own is None and rule.party is None
    }
    assert services_only  # SwitchUsers, DetectIdle, ExpireNote at least
    assert "voco.cmd.presence.SwitchUsers" in services_only
    assert not allowed & services_only


def test_every_command_the_edges_code_sends_is_allowed() -> None:
    """Every contracts command class the gateway's code names (routes, accounts, the
    edge) is in its allow list: a route added for a command only services may send, or
    one missing from the access tables, fails here instead of at the bus."""
    by_name = {
        command.__name__: subject(service, command)
        for service, table in TABLES.items()
        for command in table
    }
    named: set[str] = set()
    for path in GATEWAY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("contracts."):
                named.update(alias.name for alias in node.names if alias.name in by_name)
    assert named, "the gateway imports no command? (the scan is broken)"
    sent = {by_name[name] for name in named}
    assert sent <= set(edge_commands()), sorted(sent - set(edge_commands()))
