"""Ends expired sessions (presence signs them out), retries sign-outs presence missed,
and drops live feeds nobody listens to."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.gateway.edge import Edge

log = logging.getLogger(__name__)


async def sweep_once(edge: Edge) -> None:
    now = edge.clock.now()
    for session_id in await edge.sessions.expire_due(now):
        edge.live.session_ended_by_id(session_id)
    for session_id, login in await edge.sessions.ended_in_presence():
        await edge.presence_sign_out(login, session_id)
    edge.live.sweep()


async def run_sweeper(edge: Edge, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        try:
            await sweep_once(edge)
        except Exception:  # the next round tries again; the edge keeps serving
            log.exception("session sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), edge.config.sweep_seconds)
