"""Routing's memory for the urgent-repeat rule: the last held-back call per callee and caller.

Kept from routing's own call events by a projection in the append statement, so it
commits with the call that made it and survives a restart: a `CallHeldBack` that counts
(`remembered`) stores when, a `CallBrokeThrough` by urgent repeat forgets it (the repeat
rings through once). Rows older than the longest window are dropped as the callee's
next held-back call is stored. The shell looks the row up in Postgres when a call
reaches a quiet profile with the rule on, so a call any replica held back counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from contracts.envelope import Envelope
from contracts.presence import Profile
from contracts.routing import BreakthroughRule, CallBrokeThrough, CallHeldBack
from runtime.eventstore import Conn, SqlProjection
from services.routing.domain.breakthrough import is_anonymous

LONGEST_WINDOW = timedelta(minutes=30)
"""UrgentRepeat.minutes is at most 30: an older held-back call can never count."""

HELD_CALLS_SQL = """
CREATE TABLE IF NOT EXISTS {s}.held_calls (
    extension text NOT NULL,
    caller text NOT NULL,
    held_at timestamptz NOT NULL,
    PRIMARY KEY (extension, caller)
);
"""

HELD = CallHeldBack.type_name
BROKE_THROUGH = CallBrokeThrough.type_name


def _changes(envelopes: Sequence[Envelope]) -> list[object]:
    """Per (callee, caller), the last event that matters: remember it, or forget it."""
    last: dict[tuple[str, str], Envelope] = {}
    for e in envelopes:
        if (e.type == HELD and e.data.get("remembered")) or (
            e.type == BROKE_THROUGH and e.data["rule"] == BreakthroughRule.URGENT_REPEAT.value
        ):
            last[(e.data["extension"], e.data["caller"])] = e
    kept = {pair: e for pair, e in last.items() if e.type == HELD}
    forgotten = [pair for pair in last if pair not in kept]
    cutoff = min((e.at for e in kept.values()), default=None)
    return [
        [extension for extension, _ in kept],
        [caller for _, caller in kept],
        [e.at for e in kept.values()],
        [extension for extension, _ in forgotten],
        [caller for _, caller in forgotten],
        None if cutoff is None else cutoff - LONGEST_WINDOW,
    ]


HELD_CALLS_PROJECTION = SqlProjection(
    sql="""held_forgotten AS (
    DELETE FROM {s}.held_calls h
    WHERE (h.extension, h.caller) IN (SELECT * FROM unnest({3}::text[], {4}::text[]))
       OR (h.extension = ANY({0}::text[]) AND h.held_at < {5}::timestamptz
           AND (h.extension, h.caller) NOT IN (SELECT * FROM unnest({0}::text[], {1}::text[])))
), held_remembered AS (
    INSERT INTO {s}.held_calls (extension, caller, held_at)
    SELECT * FROM unnest({0}::text[], {1}::text[], {2}::timestamptz[])
    ON CONFLICT (extension, caller) DO UPDATE SET held_at = EXCLUDED.held_at
)""",
    params=_changes,
    arity=6,
)
"""Part of the append statement; the rows it deletes and those it writes are disjoint."""


def may_repeat(profile: Profile, caller: str) -> bool:
    """Whether the urgent-repeat rule could apply: worth a look in Postgres."""
    return (
        not profile.rings()
        and profile.breakthrough.urgent_repeat is not None
        and not is_anonymous(caller)
    )


async def last_held_back(
    db: Conn | asyncpg.Pool, schema: str, extension: str, caller: str
) -> datetime | None:
    value = await db.fetchval(
        f"SELECT held_at FROM {schema}.held_calls WHERE extension = $1 AND caller = $2",
        extension,
        caller,
    )
    return value if isinstance(value, datetime) else None
