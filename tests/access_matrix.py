"""Check a service's access table against the matrix the test writes down, for every
principal: the owner, another user, an administrator, a service, and nobody.

The expected matrix is written out by hand in each service's test_access.py (the
decision), so a rule that drifts from it fails; the README's table must be the rules'.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from contracts.base import Acting, Role
from contracts.errors import Forbidden
from runtime.access import Rule, access_table, authorize

SUBJECT = "1001"
PRINCIPALS: dict[str, tuple[str | None, Role]] = {
    "owner": (SUBJECT, Role.USER),
    "another user": ("1999", Role.USER),
    "administrator": ("admin-1", Role.ADMIN),
    "service": ("some-service", Role.SERVICE),
    "anonymous": (None, Role.USER),
    "anonymous administrator": (None, Role.ADMIN),
}
# Who gets through `authorize` for each kind of rule; "party" users are checked again
# by the handler once it has read who takes part (tests/routing/test_access.py).
ALLOWED: dict[str, set[str]] = {
    "own": {"owner", "administrator", "service"},
    "party": {"owner", "another user", "administrator", "service"},
    "admin": {"administrator", "service"},
    "service": {"service"},
}


def command(model: type[Acting], subject_field: str | None, principal: str) -> Acting:
    actor, role = PRINCIPALS[principal]
    fields: dict[str, Any] = {"actor": actor, "role": role}
    if subject_field:
        fields[subject_field] = SUBJECT
    return model.model_construct(**fields)  # only the principal and the subject matter


def cases(expected: Mapping[type[Acting], str]) -> list[tuple[type[Acting], str, str]]:
    return [(model, kind, who) for model, kind in expected.items() for who in PRINCIPALS]


def check(rules: Mapping[type[Acting], Rule], model: type[Acting], kind: str, who: str) -> None:
    """`kind` is "own:<field>", "party", "admin" or "service"."""
    name, _, field = kind.partition(":")
    issued = command(model, field or None, who)
    if who in ALLOWED[name]:
        assert authorize(issued, rules[model]).actor == PRINCIPALS[who][0]
    else:
        with pytest.raises(Forbidden):
            authorize(issued, rules[model])


def check_complete(
    rules: Mapping[type[Acting], Rule], expected: Mapping[type[Acting], str]
) -> None:
    assert set(rules) == set(expected), "every command the service answers has a decided rule"


def check_readme(rules: Mapping[type[Acting], Rule], readme: Path) -> None:
    table = access_table(rules)
    assert table in readme.read_text(), (
        f"{readme} must show the access table as the rules say:\n{table}"
    )
