"""The watchers' side of bench/visibility.py, in its own process.

`URL OWNER WATCHERS`: for each change of OWNER (its note names the round), publishes
`bench.visibility.round` with the round and the monotonic time the last watcher's view
arrived (perf_counter is CLOCK_MONOTONIC, the same clock in every process on Linux).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import nats
from nats.aio.msg import Msg

from runtime.bus import flush_all


async def rounds(url: str, owner: str, watchers: int) -> None:
    nc = await nats.connect(url)
    arrived: Counter[bytes] = Counter()
    done = asyncio.Event()

    async def view(msg: Msg) -> None:
        # Every watcher of one change gets the same bytes: count by payload, parse once.
        arrived[msg.data] += 1
        if arrived[msg.data] == watchers:
            at = time.perf_counter()
            note = json.loads(msg.data)["note"]
            await nc.publish("bench.visibility.round", f"{note} {at}".encode())
            del arrived[msg.data]

    async def end(msg: Msg) -> None:
        done.set()

    await nc.subscribe(f"voco.view.*.{owner}", cb=view, pending_msgs_limit=-1)
    await nc.subscribe("bench.visibility.end", cb=end)
    await flush_all(nc)
    print("ready", flush=True)
    await done.wait()
    await nc.close()


if __name__ == "__main__":
    asyncio.run(rounds(sys.argv[1], sys.argv[2], int(sys.argv[3])))
