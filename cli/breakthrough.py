"""`./voco profile breakthrough ...`: edit a profile's breakthrough list in place.

Reads the profile (ListProfiles), changes its breakthrough section, saves it
(SaveProfile): presence validates it as any save, so an unknown extension or a loop is
refused with the field.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client as NatsClient

from contracts.base import Command
from contracts.presence import Breakthrough, Channel, ListProfiles, Profile, SaveProfile
from runtime.bus import request

EXTENSION = re.compile(r"^[0-9]{2,10}$")
LISTS = ("extensions", "numbers", "prefixes")


def add_parsers(profile: Any, leaf: Any) -> None:
    """`profile breakthrough show|add|remove|set`, under `./voco profile`."""
    group = profile.add_parser("breakthrough", help="who rings through a quiet profile")
    sub = group.add_subparsers(required=True)
    show = leaf(sub, "show", "breakthrough-show", "print a profile's breakthrough section")
    show.add_argument("extension")
    show.add_argument("profile", help="profile id, e.g. dnd")
    for name, help_ in (
        ("add", "let callers through: 1002 (extension), +4930123456 (number), +4930123* (prefix)"),
        ("remove", "take callers off the breakthrough list"),
    ):
        command = leaf(sub, name, f"breakthrough-{name}", help_)
        command.add_argument("extension")
        command.add_argument("profile", help="profile id, e.g. dnd")
        command.add_argument("callers", nargs="+", help="extensions, numbers, prefixes ending in *")
        command.add_argument(
            "--list",
            dest="kind",
            choices=LISTS,
            help="which list (default: a trailing * is a prefix, 2-10 digits an extension, "
            "else a number)",
        )
    set_ = leaf(sub, "set", "breakthrough-set", "favourites, urgent repeat, the profile to use")
    set_.add_argument("extension")
    set_.add_argument("profile", help="profile id, e.g. dnd")
    set_.add_argument("--favourites", choices=("on", "off"), help="let favourite contacts through")
    set_.add_argument("--repeat", help="minutes (1-30) for the urgent-repeat rule, or off")
    set_.add_argument(
        "--route-by",
        help="the profile a breakthrough caller is routed by, or 'previous' (the profile "
        "active before, else available)",
    )


def list_of(entry: str, kind: str | None) -> tuple[str, str]:
    if kind is not None:
        return kind, entry.removesuffix("*")
    if entry.endswith("*"):
        return "prefixes", entry[:-1]
    return ("extensions" if EXTENSION.match(entry) else "numbers"), entry


def changed(section: Breakthrough, args: argparse.Namespace) -> Breakthrough:
    body = section.model_dump(mode="json")
    if args.action in ("breakthrough-add", "breakthrough-remove"):
        for entry in args.callers:
            name, value = list_of(entry, args.kind)
            if args.action == "breakthrough-add" and value not in body[name]:
                body[name].append(value)
            elif args.action == "breakthrough-remove":
                if value not in body[name]:
                    raise ValueError(f"{value} is not on the breakthrough list ({name})")
                body[name].remove(value)
    if args.action == "breakthrough-set":
        if args.favourites is not None:
            body["favourites"] = args.favourites == "on"
        if args.repeat is not None:
            body["urgent_repeat"] = None if args.repeat == "off" else {"minutes": args.repeat}
        if args.route_by is not None:
            body["profile"] = None if args.route_by == "previous" else args.route_by
    return Breakthrough.model_validate(body)


async def edit(
    nc: NatsClient, args: argparse.Namespace, stamp: Callable[[Command], Command], timeout: float
) -> Any:
    """Show, or change and save, the profile's breakthrough section; returns it. `stamp`
    puts the CLI's principal on each command."""
    listed = await request(
        nc, "presence", stamp(ListProfiles(extension=args.extension)), timeout=timeout
    )
    bodies = {body["id"]: body for body in listed["profiles"]}
    if args.profile not in bodies:
        known = ", ".join(bodies)
        raise ValueError(f"no profile {args.profile!r}; the profiles are: {known}")
    profile = Profile.model_validate(bodies[args.profile])
    if args.action == "breakthrough-show":
        return profile.breakthrough.model_dump(mode="json")
    updated = profile.model_copy(update={"breakthrough": changed(profile.breakthrough, args)})
    save = SaveProfile(extension=args.extension, profile=updated, channel=Channel(args.channel))
    await request(nc, "presence", stamp(save), timeout=timeout)
    return updated.breakthrough.model_dump(mode="json")
