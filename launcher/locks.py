"""What `./voco up` does to keep its data dir private and hand each process its own keys.

The data dir and everything in it are the user's only (folders 0700, files 0600): the
credentials, the NATS configuration with its password hashes, JetStream's store and the
logs. One found open to other users is closed, and the launcher says what it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from launcher.credentials import Credentials, private_tree
from runtime.permissions import OWNER_ROLE, SCHEMAS


def private_data_dir(root: Path) -> list[str]:
    """Create `root` private, or close what is open in it; returns what to tell the user."""
    root.mkdir(parents=True, exist_ok=True)
    opened = private_tree(root)
    if not opened:
        return []
    shown = ", ".join(str(p) for p in opened[:3]) + (" ..." if len(opened) > 3 else "")
    return [
        f"{len(opened)} paths in {root} were readable by other users ({shown}): made them "
        "private (folders 0700, files 0600)"
    ]


@dataclass
class Endpoints:
    """Where the servers are: embedded (an address, and the data dir's credentials per
    principal) or external (one URL for every process, as the user gave it)."""

    credentials: Credentials
    nats_address: str = ""
    postgres_address: str = ""
    external_nats_url: str = ""
    external_database_url: str = ""

    def urls(self, principal: str) -> dict[str, str]:
        """The URLs one process gets: its own NATS user and, with a schema, its own role."""
        urls = {
            "VOCO_NATS_URL": self.external_nats_url
            or self.credentials.nats_url(principal, self.nats_address)
        }
        if principal in SCHEMAS:
            urls["VOCO_DATABASE_URL"] = self.external_database_url or (
                self.credentials.database_url(principal, self.postgres_address)
            )
        return urls


def owner_url(credentials: Credentials, postgres_address: str) -> str:
    return credentials.database_url(OWNER_ROLE, postgres_address)


def address_of(url: str) -> str:
    """host:port of a URL the embedded servers report (nats://127.0.0.1:4222)."""
    return url.split("://", 1)[-1].rsplit("@", 1)[-1].rstrip("/")
