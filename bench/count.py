"""A bare NATS subscriber in its own process.

`python -m bench.count URL SUBJECT END_SUBJECT [EXPECTED]` counts messages on SUBJECT
until EXPECTED arrived or a message on END_SUBJECT, then prints how many it saw and the
seconds from the first to the last.
"""

import asyncio
import sys
import time

import nats
from nats.aio.msg import Msg

from runtime.bus import flush_all


async def main(url: str, subject: str, end_subject: str, expected: int | None) -> None:
    nc = await nats.connect(url, pending_size=256 * 1024 * 1024)
    done = asyncio.Event()
    seen = 0
    first = last = 0.0

    async def count(msg: Msg) -> None:
        nonlocal seen, first, last
        last = time.perf_counter()
        if seen == 0:
            first = last
        seen += 1
        if expected is not None and seen >= expected:
            done.set()

    async def end(msg: Msg) -> None:
        done.set()

    await nc.subscribe(subject, cb=count, pending_msgs_limit=-1, pending_bytes_limit=-1)
    await nc.subscribe(end_subject, cb=end)
    await flush_all(nc)
    print("ready", flush=True)
    await done.wait()
    print(seen, last - first, flush=True)
    await nc.close()


if __name__ == "__main__":
    url, subject, end_subject = sys.argv[1:4]
    asyncio.run(main(url, subject, end_subject, int(sys.argv[4]) if len(sys.argv) > 4 else None))
