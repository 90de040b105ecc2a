"""The adapter's pure translations: leg failures per branch, commands as evapi ops."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from adapters.kamailio import translate
from adapters.kamailio.config import extension_of
from contracts import pbx
from tests.kamailio.conftest import pbx_config

CONFIG = replace(
    pbx_config(Path("/nonexistent")),
    gateway_uri="sip:{number}@gw.example",
    voicemail_uri="sip:{mailbox}@vm.example",
    ivr_uri="sip:{target}@ivr.example",
)


@pytest.mark.parametrize(
    ("code", "rang", "reason"),
    [
        (486, False, pbx.LegFailure.BUSY),
        (600, True, pbx.LegFailure.BUSY),
        (603, True, pbx.LegFailure.DECLINED),
        (408, True, pbx.LegFailure.NO_ANSWER),  # rang until the fork timer
        (480, True, pbx.LegFailure.NO_ANSWER),
        (408, False, pbx.LegFailure.UNREACHABLE),  # never answered anything
        (404, False, pbx.LegFailure.UNREACHABLE),
        (503, False, pbx.LegFailure.UNREACHABLE),
        (487, True, None),  # cancelled: an answer elsewhere, the caller, or the step's end
    ],
)
def test_each_branch_is_classified_from_its_own_reply(
    code: int, rang: bool, reason: pbx.LegFailure | None
) -> None:
    assert translate.classify(code, rang) is reason


def test_ring_targets_fork_to_devices_and_numbers_through_the_gateway() -> None:
    command = pbx.RingTargets(command_id="c1", call_id="k1", step=1, timeout_seconds=12,
        caller="1002", legs=[pbx.Leg(leg_id="s1l1", extension="1001", device_id="1001-desk"),
                             pbx.Leg(leg_id="s1l2", extension="1001", number="+4917012"),
                             pbx.Leg(leg_id="s1l3", extension="1001")])  # fmt: skip
    op, impossible = translate.ring(CONFIG, command)
    assert op["timeout"] == 12
    assert op["targets"] == [
        {"leg": "s1l1", "dev": "1001-desk"},
        {"leg": "s1l2", "uri": "sip:+4917012@gw.example"},
    ]
    assert impossible == ["s1l3"]


def test_voicemail_goes_to_the_mailbox_uri_with_its_greeting() -> None:
    command = pbx.SendToVoicemail(command_id="c2", call_id="k1", mailbox="1001", greeting="dnd")
    assert translate.route(CONFIG, command) == {"op": "route", "call": "k1", "cmd": "c2",
        "uri": "sip:1001@vm.example", "hdr": "X-Voco-Greeting: dnd"}  # fmt: skip


def test_forwards_go_to_the_gateway_or_the_ivr_and_reserved_kinds_are_refused() -> None:
    external = pbx.Forward(command_id="c3", call_id="k1", kind="external", target="+4930123")
    ivr = pbx.Forward(command_id="c4", call_id="k1", kind="ivr", target="main")
    group = pbx.Forward(command_id="c5", call_id="k1", kind="ring_group", target="sales")
    assert translate.route(CONFIG, external)["uri"] == "sip:+4930123@gw.example"
    assert translate.route(CONFIG, ivr)["uri"] == "sip:main@ivr.example"
    assert translate.route(CONFIG, group)["code"] == 482


def test_a_forward_target_cannot_smuggle_sip_syntax() -> None:
    evil = pbx.Forward(command_id="c6", call_id="k1", kind="external", target="1@evil.com;x")
    assert translate.route(CONFIG, evil)["op"] == "reject"


@pytest.mark.parametrize(
    ("reason", "code"),
    [("busy", 486), ("not_found", 404), ("unavailable", 480), ("no_answer", 480),
     ("forward_failed", 482)],
)  # fmt: skip
def test_rejects_carry_the_contracts_sip_codes(reason: str, code: int) -> None:
    command = pbx.Reject(command_id="c7", call_id="k1", reason=reason)
    assert translate.reject_op(command, command.reason)["code"] == code


def test_a_sip_account_names_its_extension() -> None:
    assert extension_of("1001-desk") == "1001"
    assert extension_of("1001") == "1001"
    with pytest.raises(ValueError, match="<extension>"):
        extension_of("alice")


def test_the_registrations_dump_counts_contacts_per_device() -> None:
    dump = {"result": {"Domains": [{"Domain": {"AoRs": [
        {"Info": {"AoR": "1001-desk", "Contacts": [{"Contact": {}}]}},
        {"Info": {"AoR": "sip:1002-desk@voco", "Contacts": []}}]}}]}}  # fmt: skip
    assert translate.device_count(dump) == {"1001-desk": 1, "1002-desk": 0}
