"""A bare NATS responder in its own process: the floor for a request/reply round trip."""

import asyncio
import sys

import nats
from nats.aio.msg import Msg

from runtime.bus import flush_all


async def main(url: str, subject: str) -> None:
    nc = await nats.connect(url)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(subject, cb=echo)
    await flush_all(nc)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
