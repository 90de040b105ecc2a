"""What routing knows about extensions, devices, ring groups and IVRs: its read model.

Built from presence events (see services/routing/directory_store.py); the call
decider reads it through this interface only, so decisions stay pure and a what-if
can overlay a proposed profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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

    def registered(self) -> list[str]:
        """Registered device ids in a stable order (the id order when no priority is set)."""
        return sorted(d for d, state in self.devices.items() if state in REGISTERED)

    def is_busy(self, device_id: str) -> bool:
        return self.devices.get(device_id) == DeviceState.BUSY


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

    def extension(self, number: str) -> ExtensionView | None:
        return self.extensions.get(number)

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
