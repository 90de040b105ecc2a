"""Routing's read model of presence: extensions, profiles, devices, ring groups, IVRs.

A CheckpointedConsumer applies presence events (Envelope bytes on
`voco.evt.presence.>`) to routing's own tables; the rows it wrote are mirrored
into an in-memory `Directory` after the batch commits, so the call path reads
memory and never asks another service (or Postgres) while a caller waits.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from contracts.base import UnknownMessageType
from contracts.envelope import Envelope
from contracts.presence import (
    AnnouncementEnded,
    Channel,
    DeviceState,
    DeviceStateChanged,
    IvrSaved,
    Profile,
    ProfileActivated,
    ProfileDeleted,
    ProfileSaved,
    RingGroupSaved,
    SwitchAnnounced,
    UserProvisioned,
)
from contracts.routing import GroupView
from runtime.consumer import Delivery, Rejected
from runtime.eventstore import Conn
from services.routing.domain.breakthrough import routed_by
from services.routing.domain.directory import DEFAULT_PROFILE, Directory, ExtensionView, Upcoming

log = logging.getLogger(__name__)

READ_MODEL_SQL = """
CREATE TABLE IF NOT EXISTS {s}.extensions (
    extension text PRIMARY KEY,
    display_name text,
    active_profile text,
    profiles jsonb NOT NULL DEFAULT '{{}}',
    devices jsonb NOT NULL DEFAULT '{{}}'
);
ALTER TABLE {s}.extensions ADD COLUMN IF NOT EXISTS previous_profile text;
ALTER TABLE {s}.extensions ADD COLUMN IF NOT EXISTS pending_profile text;
ALTER TABLE {s}.extensions ADD COLUMN IF NOT EXISTS pending_at timestamptz;
CREATE TABLE IF NOT EXISTS {s}.ring_groups (group_id text PRIMARY KEY, data jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.ivrs (ivr_id text PRIMARY KEY, name text NOT NULL);
"""

HANDLED = {
    m.type_name
    for m in (
        UserProvisioned,
        ProfileSaved,
        ProfileDeleted,
        ProfileActivated,
        DeviceStateChanged,
        RingGroupSaved,
        IvrSaved,
        SwitchAnnounced,
        AnnouncementEnded,
    )
}


def extension_view(row: Any, active: Profile | None = None) -> ExtensionView:
    """An extensions row as the decider sees it; `active` overrides the active profile (a
    what-if with a proposed profile)."""
    profiles = row["profiles"]
    previous = row["previous_profile"]
    proposed = active is not None  # a what-if's profile holds whatever was announced
    if active is None:
        stored = profiles.get(row["active_profile"] or "")
        active = Profile.model_validate(stored) if stored else DEFAULT_PROFILE
    else:
        # As if it were activated now: the active one would become the one before it.
        profiles = {**profiles, active.id: active.model_dump(mode="json")}
        if active.id != row["active_profile"]:
            previous = row["active_profile"]
    devices = {device: DeviceState(state) for device, state in row["devices"].items()}
    view = with_breakthrough(ExtensionView(row["extension"], active, devices), profiles, previous)
    announced = profiles.get(row["pending_profile"] or "")
    if proposed or announced is None or row["pending_at"] is None:
        return view  # none announced, or its profile deleted since: the active one holds
    then = ExtensionView(row["extension"], Profile.model_validate(announced), devices)
    then = with_breakthrough(then, profiles, view.profile.id)
    return replace(view, upcoming=Upcoming(row["pending_at"], then))


def with_breakthrough(
    view: ExtensionView, profiles: dict[str, Any], previous: str | None
) -> ExtensionView:
    """Resolve the profile a breakthrough caller is routed by now, while every profile of
    the user is at hand: the call path then needs only the view."""
    if view.profile.rings() or not view.profile.breakthrough.in_use():
        return view
    known = {pid: Profile.model_validate(body) for pid, body in profiles.items()}
    target, via = routed_by(view.profile, known, previous)
    return replace(view, breakthrough_to=target, breakthrough_via=via)


class DirectoryStore:
    def __init__(self, schema: str) -> None:
        self.s = schema
        self.directory = Directory()
        self._pending_extensions: dict[str, ExtensionView] = {}
        self._pending_groups: dict[str, GroupView] = {}
        self._pending_ivrs: dict[str, str] = {}

    async def load(self, conn: Conn) -> None:
        """Fill the in-memory directory from the tables (on start).

        Only each extension's active profile is read, in chunks, and extensions whose
        active profiles are the same share one (immutable) Profile: with 100,000 users
        reading every profile of every row took 21 s and 1.5 GB.
        """
        profiles: dict[str, Profile] = {}
        extensions = self.directory.extensions
        quiet: list[str] = []
        async with conn.transaction():  # a cursor lives in a transaction
            async for row in conn.cursor(
                "SELECT extension, (profiles -> active_profile)::text AS active, devices::text, "
                f"pending_profile IS NOT NULL AS announced FROM {self.s}.extensions",
                prefetch=5_000,
            ):
                active = row["active"]
                profile = DEFAULT_PROFILE
                if active is not None:
                    profile = profiles.get(active) or profiles.setdefault(
                        active, Profile.model_validate_json(active)
                    )
                devices = {d: DeviceState(s) for d, s in json.loads(row["devices"]).items()}
                extensions[row["extension"]] = ExtensionView(row["extension"], profile, devices)
                if row["announced"] or (not profile.rings() and profile.breakthrough.in_use()):
                    quiet.append(row["extension"])
        # The few whose quiet profile lets someone through, or who have a switch announced,
        # need their other profiles once.
        for row in await conn.fetch(
            f"SELECT * FROM {self.s}.extensions WHERE extension = ANY($1::text[])", quiet
        ):
            extensions[row["extension"]] = extension_view(row)
        for row in await conn.fetch(f"SELECT * FROM {self.s}.ring_groups"):
            self.directory.groups[row["group_id"]] = GroupView.model_validate(row["data"])
        for row in await conn.fetch(f"SELECT * FROM {self.s}.ivrs"):
            self.directory.ivrs[row["ivr_id"]] = row["name"]

    def publish_pending(self) -> None:
        """After the batch committed: what it wrote becomes what calls see."""
        self.directory.extensions.update(self._pending_extensions)
        self.directory.groups.update(self._pending_groups)
        self.directory.ivrs.update(self._pending_ivrs)
        self._pending_extensions.clear()
        self._pending_groups.clear()
        self._pending_ivrs.clear()

    async def apply(self, conn: Conn, delivery: Delivery) -> None:
        try:
            envelope = Envelope.from_bytes(delivery.data)
        except (ValueError, ValidationError) as error:
            raise Rejected(f"not a presence event envelope: {error}") from None
        if envelope.type not in HANDLED:
            return  # statuses, sessions, ...: not routing's business
        try:
            event = envelope.payload()
        except (ValueError, LookupError, ValidationError, UnknownMessageType) as error:
            raise Rejected(
                f"{envelope.type} v{envelope.schema_version} is invalid: {error}"
            ) from None
        match event:
            case UserProvisioned():
                await self._extension(
                    conn, event.extension, "display_name = $2", event.display_name
                )
            case ProfileSaved():
                await self._extension(
                    conn,
                    event.extension,
                    "profiles = t.profiles || jsonb_build_object($2::text, $3::jsonb)",
                    event.profile.id,
                    event.profile.model_dump(mode="json"),
                )
            case ProfileDeleted():
                await self._extension(
                    conn, event.extension, "profiles = t.profiles - $2::text", event.profile_id
                )
            case ProfileActivated() if event.channel is Channel.SCHEDULER:
                # The announced switch happened (or the scheduler sent it): none pending.
                await self._extension(
                    conn,
                    event.extension,
                    "active_profile = $2, previous_profile = $3, pending_profile = NULL, "
                    "pending_at = NULL",
                    event.profile_id,
                    event.previous_profile_id,
                )
            case ProfileActivated():
                await self._extension(
                    conn,
                    event.extension,
                    "active_profile = $2, previous_profile = $3",
                    event.profile_id,
                    event.previous_profile_id,
                )
            case SwitchAnnounced():
                # A status-only announcement replaces a profile one: no profile is pending.
                await self._extension(
                    conn,
                    event.extension,
                    "pending_profile = $2, pending_at = $3",
                    event.profile_id,
                    event.takes_effect_at if event.profile_id else None,
                )
            case AnnouncementEnded():
                await self._extension(
                    conn, event.extension, "pending_profile = NULL, pending_at = NULL"
                )
            case DeviceStateChanged():
                await self._extension(
                    conn,
                    event.extension,
                    "devices = t.devices || jsonb_build_object($2::text, $3::text)",
                    event.device_id,
                    event.state.value,
                )
            case RingGroupSaved():
                group = GroupView(
                    group_id=event.group_id,
                    members=event.members,
                    strategy=event.strategy,
                    timeout=event.timeout,
                )
                await conn.execute(
                    f"INSERT INTO {self.s}.ring_groups (group_id, data) VALUES ($1, $2) "
                    "ON CONFLICT (group_id) DO UPDATE SET data = EXCLUDED.data",
                    group.group_id,
                    group.model_dump(mode="json"),
                )
                self._pending_groups[group.group_id] = group
            case IvrSaved():
                await conn.execute(
                    f"INSERT INTO {self.s}.ivrs (ivr_id, name) VALUES ($1, $2) "
                    "ON CONFLICT (ivr_id) DO UPDATE SET name = EXCLUDED.name",
                    event.ivr_id,
                    event.name,
                )
                self._pending_ivrs[event.ivr_id] = event.name

    async def _extension(self, conn: Conn, extension: str, change: str, *args: object) -> None:
        await conn.execute(
            f"INSERT INTO {self.s}.extensions (extension) VALUES ($1) ON CONFLICT DO NOTHING",
            extension,
        )
        row = await conn.fetchrow(
            f"UPDATE {self.s}.extensions AS t SET {change} WHERE extension = $1 RETURNING *",
            extension,
            *args,
        )
        self._pending_extensions[extension] = extension_view(row)
