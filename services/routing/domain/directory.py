"""What routing knows about extensions, devices, ring groups and IVRs: its read model.

Built from presence events (see services/routing/directory_store.py); the call
decider reads it through this interface only, so decisions stay pure and a what-if
can overlay a proposed profile.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from contracts.presence import DeviceState, Profile
from contracts.routing import GroupView

DEFAULT_PROFILE = Profile(id="default", name="Default")
"""What an extension without an active profile gets: ring every device 30 s, then voicemail."""

REGISTERED = frozenset({DeviceState.REGISTERED, DeviceState.IDLE, DeviceState.BUSY})


@dataclass(frozen=True)
class ExtensionView:
    extension: str
    profile: Profile = DEFAULT_PROFILE
    devices: Mapping[str, DeviceState] = field(default_factory=dict)
    breakthrough_to: Profile | None = None
    """The profile a breakthrough caller is routed by (resolved when the read model is
    built, see breakthrough.routed_by); None when the active profile lets nobody through."""
    breakthrough_via: str = ""
    """Why that profile, for the explanation."""
    upcoming: Upcoming | None = None
    """A switch presence announced (`SwitchAnnounced`) whose moment may have come before
    presence's `ProfileActivated` reached routing."""

    def at(self, moment: datetime) -> ExtensionView:
        """The view in effect at `moment`: the announced profile from its moment on."""
        upcoming = self.upcoming
        if upcoming is None or moment < upcoming.takes_effect_at:
            return self
        return upcoming.view

    def registered(self) -> list[str]:
        """Registered device ids in a stable order (the id order when no priority is set)."""
        return sorted(d for d, state in self.devices.items() if state in REGISTERED)

    def is_busy(self, device_id: str) -> bool:
        return self.devices.get(device_id) == DeviceState.BUSY


@dataclass(frozen=True)
class Upcoming:
    takes_effect_at: datetime
    view: ExtensionView
    """The extension as it is from the moment on (the announced profile, the same devices)."""


class Directory:
    """An immutable-by-convention lookup; the service swaps entries, never mutates one."""

    def __init__(
        self,
        extensions: Mapping[str, ExtensionView] | None = None,
        groups: Mapping[str, GroupView] | None = None,
        ivrs: Mapping[str, str] | None = None,
        favourites: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.extensions: dict[str, ExtensionView] = dict(extensions or {})
        self.groups: dict[str, GroupView] = dict(groups or {})
        self.ivrs: dict[str, str] = dict(ivrs or {})
        self.favourites: dict[str, frozenset[str]] = dict(favourites or {})
        """Per extension, the contacts its user marked as favourites (from visibility)."""
        self.moment: datetime | None = None
        """The time views are taken at (`as_of`); None: as stored."""

    def as_of(self, moment: datetime) -> Directory:
        """The same tables, each extension as in effect at `moment` (a call's own time):
        a shallow copy, so it costs nothing however large the directory."""
        at = copy.copy(self)
        at.moment = moment
        return at

    def extension(self, number: str) -> ExtensionView | None:
        view = self.extensions.get(number)
        if view is None or self.moment is None or view.upcoming is None:
            return view
        return view.at(self.moment)

    def group(self, group_id: str) -> GroupView | None:
        return self.groups.get(group_id)

    def has_ivr(self, ivr_id: str) -> bool:
        return ivr_id in self.ivrs

    def is_favourite(self, extension: str, caller: str) -> bool:
        return caller in self.favourites.get(extension, frozenset())

    def with_view(self, view: ExtensionView) -> Directory:
        """A copy where the view's extension is as given (for what-if), the rest shared."""
        overlay = Directory(self.extensions, self.groups, self.ivrs, self.favourites)
        overlay.extensions[view.extension] = view
        return overlay

    def with_profile(self, extension: str, profile: Profile) -> Directory:
        """A copy where `extension` uses `profile` (for what-if), the rest shared."""
        current = self.extensions.get(extension) or ExtensionView(extension)
        return self.with_view(ExtensionView(extension, profile, current.devices))
