"""The in-memory fan-out index: who may see whom now, and everyone's latest view.

The fan-out reads only this, never the database, so a presence change reaches its
watchers at the speed of NATS publishes. It is rebuilt at start from the compact
`edges` and `presence` tables (a COPY stream, names interned so 1,000,000 edges over
100,000 users share 100,000 strings) when a replica becomes the fan-out leader, and
kept current by the leader's two consumers (fanout.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from contracts.presence import Status
from contracts.visibility import WatchedPresence
from runtime.eventstore import Conn


def encode_view(presence: WatchedPresence) -> bytes:
    return presence.model_dump_json().encode()


def offline_view(extension: str) -> bytes:
    return encode_view(WatchedPresence.offline(extension))


@dataclass
class LoadReport:
    edges: int
    users_with_presence: int
    seconds: float


@dataclass
class FanoutIndex:
    # watched extension -> watchers who have it as a contact and are allowed to see it
    allowed: dict[str, set[str]] = field(default_factory=dict)
    # watched extension -> (encoded WatchedPresence, the version of its PresenceChanged)
    latest: dict[str, tuple[bytes, int]] = field(default_factory=dict)

    def can_see(self, watched: str, watcher: str) -> bool:
        watchers = self.allowed.get(watched)
        return watchers is not None and watcher in watchers

    def allow(self, watched: str, watcher: str) -> None:
        self.allowed.setdefault(watched, set()).add(watcher)

    def deny(self, watched: str, watcher: str) -> None:
        watchers = self.allowed.get(watched)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self.allowed[watched]

    def view_of(self, watched: str) -> bytes:
        """The real latest view; Offline for a user never seen, exactly as for one offline."""
        latest = self.latest.get(watched)
        return latest[0] if latest is not None else offline_view(watched)

    def view_for(self, watcher: str, watched: str) -> bytes:
        """What `watcher` may see of `watched`: the same bytes for blocked, offline, unknown."""
        if self.can_see(watched, watcher):
            return self.view_of(watched)
        return offline_view(watched)

    async def load(self, conn: Conn, schema_sql_name: str) -> LoadReport:
        started = time.perf_counter()
        names: dict[str, str] = {}
        allowed: dict[str, set[str]] = {}
        rest = b""
        edges = 0

        async def take(chunk: bytes) -> None:
            nonlocal rest, edges
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for line in lines:
                owner_raw, watcher_raw = line.decode().split("\t")
                owner = names.setdefault(owner_raw, owner_raw)
                watcher = names.setdefault(watcher_raw, watcher_raw)
                watchers = allowed.get(owner)
                if watchers is None:
                    watchers = allowed[owner] = set()
                watchers.add(watcher)
            edges += len(lines)

        await conn.copy_from_query(
            f"SELECT owner, watcher FROM {schema_sql_name}.edges "
            "WHERE contact AND standing = 'allowed'",
            output=take,
        )
        rows = await conn.fetch(
            f"SELECT extension, status, note, note_expires_at, version "
            f"FROM {schema_sql_name}.presence"
        )
        latest = {
            names.setdefault(r["extension"], r["extension"]): (
                encode_view(
                    WatchedPresence(
                        extension=r["extension"],
                        status=Status(r["status"]),
                        note=r["note"],
                        note_expires_at=r["note_expires_at"],
                    )
                ),
                int(r["version"]),
            )
            for r in rows
        }
        self.allowed, self.latest = allowed, latest
        return LoadReport(edges, len(latest), time.perf_counter() - started)
