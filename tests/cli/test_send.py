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


def test_send_refuses_a_body_that_sets_actor_or_role() -> None:
    from cli.main import UsageError, any_command

    for body in (
        '{"extension": "1001", "actor": "1001"}',
        '{"extension": "1001", "role": "admin"}',
    ):
        with pytest.raises(UsageError, match="set by the CLI"):
            any_command("GetPresence", body)


def stamped(argv: list[str]) -> tuple[str | None, str]:
    from cli.main import as_issued, command_for
    from cli.parser import build_parser
    from contracts.base import Acting

    args = build_parser().parse_args(argv)
    command = as_issued(args, command_for(args))
    assert isinstance(command, Acting)
    return command.actor, command.role.value


def test_the_cli_acts_as_the_operator_an_administrator() -> None:
    assert stamped(["status", "set", "1001", "away"]) == ("operator", "admin")
    assert stamped(["history", "1001"]) == ("operator", "admin")
    assert stamped(["send", "SaveCompanySchedule", '{"schedule": {"time_zone": "UTC"}}']) == (
        "operator",
        "admin",
    )


def test_the_cli_acts_as_a_service_for_what_only_services_may_send() -> None:
    detect_idle = ["send", "DetectIdle", '{"extension": "1001", "at": "2026-12-03T09:00:00Z"}']
    assert stamped(detect_idle) == ("operator", "service")
    assert stamped(["device", "1001", "1001-desk", "busy"]) == ("operator", "admin")


def test_the_cli_acts_as_a_user_with_as() -> None:
    assert stamped(["history", "1001", "--as", "1002"]) == ("1002", "user")
    assert stamped(["send", "WhatIf", '{"callee": "1001"}', "--as", "1001"]) == ("1001", "user")
