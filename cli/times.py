"""`--until` values: a clock time today (13:00), a duration (30m, 2h), or an ISO date-time."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_until(text: str, now: datetime) -> datetime:
    """An aware moment after `now` (which carries the local zone)."""
    text = text.strip()
    duration = _DURATION.match(text)
    if duration:
        return now + timedelta(**{_UNITS[duration.group(2)]: int(duration.group(1))})
    try:
        clock = time.fromisoformat(text)
    except ValueError:
        pass
    else:
        moment = datetime.combine(now.date(), clock, tzinfo=now.tzinfo)
        return moment if moment > now else moment + timedelta(days=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--until {text!r} is not a time: use e.g. 13:00, 30m, 2h or 2026-11-23T13:00+01:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
