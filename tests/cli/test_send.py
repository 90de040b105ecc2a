"""`./voco send`: any command of any service by its wire type."""

import pytest


def test_send_builds_any_services_command_from_its_wire_type() -> None:
    from cli.main import any_command, service_of

    command = any_command("WhatIf", '{"caller": "2000", "callee": "1001"}')
    assert command.type_name == "WhatIf"
    assert service_of(command) == "routing"


def test_send_names_the_known_commands_when_the_type_is_unknown() -> None:
    from cli.main import UsageError, any_command

    with pytest.raises(UsageError, match=r"the commands are: .*SetStatus"):
        any_command("Nope", "{}")


def test_send_refuses_an_event() -> None:
    from cli.main import UsageError, any_command

    with pytest.raises(UsageError, match="is an event"):
        any_command("PresenceChanged", "{}")
