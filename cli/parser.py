"""Every subcommand of `./voco` and its arguments."""

from __future__ import annotations

import argparse

from cli import breakthrough
from contracts.presence import Channel, DeviceState, IdleStatus, RingStrategy

EPILOG = """examples:
  ./voco status set 1001 away --note "lunch" --until 13:00
  ./voco status get 1001
  ./voco history 1001
  ./voco profile list 1001
  ./voco profile activate 1001 dnd
  ./voco profile show 1001 meeting > meeting.json   (edit it, then:)
  ./voco profile save 1001 --file meeting.json
  ./voco profile breakthrough add 1001 dnd 1002 +4930123*   (1002 and +4930123... ring through)
  ./voco profile breakthrough set 1001 dnd --repeat 3 --favourites on
  ./voco favourite add 1001 1004          (1004, a contact of 1001, becomes a favourite)
  ./voco user add 1010 "Dana Scully" --mobile +4915112345678
  ./voco watch 1001
  ./voco call 2000 1001                  (a call through the PBX simulator, explained)
  ./voco send WhatIf '{"caller": "2000", "callee": "1001"}'
  ./voco send SetPolicy '{"owner": "1001", "policy": "ask"}'
  ./voco history 1001 --as 1002          (refused: 1002 may read only their own)

The CLI is the operator's tool: every command goes out with actor `operator` and
role `admin` (role `service` for what only Voco's services may send, e.g. a device
report), so it may act for anyone. `--as EXT` sends as that user instead (role
`user`), to see what the user may do; a JSON body of `send` may not set actor or role.

It connects as the operator: with the operator's credentials (NATS user `operator` and
its password) that ./voco up keeps in the data dir and writes, inside the URL, to
.voco-data/endpoints.env (0600; VOCO_DATA_DIR moves it). VOCO_NATS_URL, when set, is
used instead (nats://operator:<password>@host:port); else nats://127.0.0.1:4222."""


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the raw JSON result")
    common.add_argument(
        "--as",
        dest="as_user",
        metavar="EXT",
        help="act as this user (role user) instead of the operator (actor operator, role admin)",
    )
    common.add_argument(
        "--channel",
        default=Channel.CLIENT.value,
        choices=[c.value for c in Channel],
        help="through which channel (default: client)",
    )
    common.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="./voco",
        description="Voco's command-line client, the operator's tool: presence, profiles, "
        "history, calls, and any command of any service, sent as the operator (actor "
        "operator, role admin) unless --as EXT.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="group", required=True, metavar="<subcommand>")

    def leaf(parent: argparse._SubParsersAction, name: str, action: str, help_: str):  # type: ignore[no-untyped-def, type-arg]
        command = parent.add_parser(name, parents=[common], help=help_, description=help_)
        command.set_defaults(action=action)
        return command

    send = leaf(sub, "send", "send", "send any command of any service (see contracts/schemas)")
    send.add_argument("type", help="the command's wire type, e.g. WhatIf, SetPolicy, SaveSchedule")
    send.add_argument("body", nargs="?", default="{}", help="the command as JSON (default {})")
    call = leaf(sub, "call", "call", "place a call on the PBX simulator and show its outcome")
    call.add_argument("caller")
    call.add_argument("callee")
    call.add_argument("--node", default="sim1", help="the simulator's node (default sim1)")
    call.add_argument("--wait", type=float, default=3.0, help="seconds to let it ring first")

    user = sub.add_parser("user", help="provision users").add_subparsers(required=True)
    add = leaf(user, "add", "user-add", "provision an extension with the default profiles")
    add.add_argument("extension")
    add.add_argument("name")
    add.add_argument("--mobile", help="mobile number for the Away and Business Trip profiles")

    status = sub.add_parser("status", help="show or set a status").add_subparsers(required=True)
    get = leaf(status, "get", "status-get", "show an extension's presence")
    get.add_argument("extension")
    set_ = leaf(status, "set", "status-set", "set status and note")
    set_.add_argument("extension")
    set_.add_argument("status", help="available, away, dnd, brb, busy, meeting, offline")
    set_.add_argument("--note", help="a custom note; without it the note is cleared")
    set_.add_argument("--until", help="the note expires: 13:00, 30m, 2h or an ISO date-time")

    history = leaf(sub, "history", "history", "who changed what, when, through which channel")
    history.add_argument("extension")
    history.add_argument("--limit", type=int, default=20)

    profile = sub.add_parser("profile", help="presence profiles").add_subparsers(required=True)
    leaf(profile, "list", "profile-list", "list profiles (* = active)").add_argument("extension")
    show = leaf(profile, "show", "profile-show", "print one profile as JSON, to edit and save")
    show.add_argument("extension")
    show.add_argument("profile", help="profile id, e.g. meeting")
    save = leaf(profile, "save", "profile-save", "create or replace a profile from a JSON file")
    save.add_argument("extension")
    save.add_argument("--file", required=True, help="a JSON profile, as `profile show` prints")
    for name, help_ in (("activate", "activate a profile"), ("delete", "delete a profile")):
        command = leaf(profile, name, f"profile-{name}", help_)
        command.add_argument("extension")
        command.add_argument("profile", help="profile id, e.g. dnd")
    breakthrough.add_parsers(profile, leaf)

    favourite = sub.add_parser("favourite", help="favourite contacts").add_subparsers(required=True)
    for name, help_ in (
        ("add", "mark a contact as a favourite"),
        ("remove", "unmark a favourite contact"),
    ):
        command = leaf(favourite, name, f"favourite-{name}", help_)
        command.add_argument("extension", help="whose favourite")
        command.add_argument("contact", help="one of their contacts")
    leaf(favourite, "list", "favourite-list", "list favourite contacts").add_argument("extension")

    device = leaf(sub, "device", "device", "report a device state (as a PBX would)")
    device.add_argument("extension")
    device.add_argument("device")
    device.add_argument("state", choices=[s.value for s in DeviceState])

    for name in ("sign-in", "sign-out"):
        session = leaf(sub, name, name, f"{name.replace('-', ' ')} a client session")
        session.add_argument("extension")
        session.add_argument("--session", default="cli")

    automation = leaf(sub, "automation", "automation", "show away/offline when no client is in")
    automation.add_argument("extension")
    automation.add_argument("--after", type=int, default=300, help="seconds (default 300)")
    automation.add_argument("--show", default="away", choices=[s.value for s in IdleStatus])
    automation.add_argument("--off", action="store_true")

    routing = leaf(sub, "routing", "routing", "let the status activate a profile (opt-in)")
    routing.add_argument("extension")
    routing.add_argument("--map", action="append", default=[], help="status=profile, repeatable")
    routing.add_argument("--off", action="store_true")

    group = leaf(sub, "ring-group", "ring-group", "create or replace a ring group")
    group.add_argument("group")
    group.add_argument("name")
    group.add_argument("members", nargs="+")
    group.add_argument(
        "--strategy", default="simultaneous", choices=[s.value for s in RingStrategy]
    )
    group.add_argument("--timeout-seconds", dest="ring_timeout", type=int, default=30)

    ivr = leaf(sub, "ivr", "ivr", "create or rename an IVR")
    ivr.add_argument("ivr")
    ivr.add_argument("name")

    codes = leaf(sub, "feature-codes", "feature-codes", "replace the feature-code map")
    codes.add_argument("codes", nargs="+", help="e.g. '*71=available' '*72=away'")

    watch = leaf(sub, "watch", "watch", "print an extension's events as they happen")
    watch.add_argument("extension")
    watch.add_argument("--count", type=int, default=0, help="stop after this many events")
    return parser
