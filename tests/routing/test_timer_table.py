"""The call timers table: timers stored by an earlier version survive the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runtime.eventstore import EventStore, create_pool
from services.routing.timers import TIMERS_SQL

pytestmark = pytest.mark.integration
DUE = datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)


async def test_live_timers_of_the_old_table_are_carried_over_once(database_url: str) -> None:
    pool = await create_pool(database_url)
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "CREATE SCHEMA earlier; CREATE TABLE earlier.timers (call_id text NOT NULL, "
                "timer_id text NOT NULL, due_at timestamptz NOT NULL, "
                "PRIMARY KEY (call_id, timer_id))"
            )
            await conn.executemany(
                "INSERT INTO earlier.timers VALUES ($1, $2, $3)",
                [("c1", "c1-step-1", DUE), ("c2", "c2-step-2", DUE)],
            )
        store = EventStore(pool, "earlier")  # the test database has routing already
        await store.setup(TIMERS_SQL)
        await store.setup(TIMERS_SQL)  # every start runs it; the second finds nothing to move
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM earlier.call_timers ORDER BY call_id")
            old = await conn.fetchval("SELECT to_regclass('earlier.timers')")
        assert [(r["call_id"], r["timer_id"], r["due_at"]) for r in rows] == [
            ("c1", "c1-step-1", DUE),
            ("c2", "c2-step-2", DUE),
        ]
        assert old is None
    finally:
        await pool.close()
