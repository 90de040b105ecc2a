"""Routing's read model of favourite contacts, from visibility's events.

Visibility owns contacts, so a favourite is marked there (MarkFavourite); routing keeps
its own copy, applied from `visibility.ContactFavourited` / `ContactUnfavourited` with
the consumer's checkpoint in the same transaction, and mirrored in memory after the
commit. A call then decides from memory, never asking visibility while the caller waits,
and goes on deciding while visibility is down.
"""

from __future__ import annotations

from pydantic import ValidationError

from contracts.base import UnknownMessageType
from contracts.envelope import Envelope
from contracts.visibility import ContactFavourited, ContactUnfavourited, event_subject
from runtime.consumer import Delivery, Rejected
from runtime.eventstore import Conn
from services.routing.domain.directory import Directory

FAVOURITES_SQL = """
CREATE TABLE IF NOT EXISTS {s}.favourites (
    extension text NOT NULL,
    contact text NOT NULL,
    PRIMARY KEY (extension, contact)
);
"""

FAVOURITE_SUBJECTS = [
    event_subject("*", ContactFavourited.type_name),
    event_subject("*", ContactUnfavourited.type_name),
]
"""Only these of visibility's events: the rest (who may see whom) is not routing's."""


class FavouritesStore:
    def __init__(self, schema: str, directory: Directory) -> None:
        self.s = schema
        self.directory = directory
        self._pending: dict[str, set[str]] = {}

    async def load(self, conn: Conn) -> None:
        found: dict[str, set[str]] = {}
        for row in await conn.fetch(f"SELECT extension, contact FROM {self.s}.favourites"):
            found.setdefault(row["extension"], set()).add(row["contact"])
        self.directory.favourites.update({e: frozenset(c) for e, c in found.items()})

    async def apply(self, conn: Conn, delivery: Delivery) -> None:
        try:
            event = Envelope.from_bytes(delivery.data).payload()
        except (ValueError, LookupError, ValidationError, UnknownMessageType) as error:
            raise Rejected(f"not a visibility event routing can read: {error}") from None
        # The watcher marked the owner: the owner's calls may ring through the watcher's DND.
        match event:
            case ContactFavourited(owner=contact, watcher=extension):
                await conn.execute(
                    f"INSERT INTO {self.s}.favourites (extension, contact) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    extension,
                    contact,
                )
            case ContactUnfavourited(owner=contact, watcher=extension):
                await conn.execute(
                    f"DELETE FROM {self.s}.favourites WHERE extension = $1 AND contact = $2",
                    extension,
                    contact,
                )
            case _:
                return
        rows = await conn.fetch(
            f"SELECT contact FROM {self.s}.favourites WHERE extension = $1", extension
        )
        self._pending[extension] = {row["contact"] for row in rows}

    def publish_pending(self) -> None:
        """After the batch committed: what it wrote becomes what calls see."""
        for extension, contacts in self._pending.items():
            self.directory.favourites[extension] = frozenset(contacts)
        self._pending.clear()
