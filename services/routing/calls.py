"""`ListCalls`: a user's calls, read from the call streams' first events (CallReceived).

Kept to one query and two partial indexes on routing's own events table, so the edge can
show "my calls" and check that a user took part in a call before it explains it.
"""

from __future__ import annotations

from contracts.routing import CallList, CallSummary, ListCalls
from runtime.eventstore import EventStore

CALLS_SQL = """
CREATE INDEX IF NOT EXISTS calls_by_callee ON {s}.events ((data->>'callee'), at)
    WHERE type = 'CallReceived';
CREATE INDEX IF NOT EXISTS calls_by_caller ON {s}.events ((data->>'caller'), at)
    WHERE type = 'CallReceived';
"""


class CallQueries:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def list_calls(self, query: ListCalls) -> CallList:
        s = self.store.s
        rows = await self.store.pool.fetch(
            f"SELECT r.at, r.data->>'call_id' AS call_id, r.data->>'caller' AS caller, "
            f"r.data->>'callee' AS callee, (SELECT e.type FROM {s}.events e "
            "WHERE e.stream = r.stream ORDER BY e.version DESC LIMIT 1) AS last_step "
            f"FROM {s}.events r WHERE r.type = 'CallReceived' "
            "AND (r.data->>'callee' = $1 OR r.data->>'caller' = $1) "
            "AND ($2::text IS NULL OR r.data->>'call_id' = $2) "
            "ORDER BY r.at DESC, r.position DESC LIMIT $3",
            query.extension,
            query.call_id,
            query.limit,
        )
        return CallList(
            extension=query.extension,
            calls=[
                CallSummary(
                    call_id=r["call_id"],
                    at=r["at"].isoformat(),
                    caller=r["caller"],
                    callee=r["callee"],
                    last_step=r["last_step"],
                )
                for r in rows
            ],
        )
