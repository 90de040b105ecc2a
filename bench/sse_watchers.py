"""Many live-stream watchers in one process, for bench/gateway.py's fan-out figure.

    python -m bench.sse_watchers HOST PORT TOKENS_FILE

Opens one `GET /api/stream` per bearer token (raw HTTP/1.1 on asyncio protocols: a
callback per read, no task or stream reader per connection, so the reader's own cost
stays small), prints `ready` once every stream said `ready`, then for each note it saw
on every stream prints `{"note", "first", "last"}` (time.perf_counter: the same
monotonic clock as the bench process on Linux). The fan-out floor (bench/
gateway_fanout.py) reads its plain server's connections with this same program.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from typing import cast

NOTE = re.compile(rb'"note":\s*"(n\d+)"')


class Watchers:
    def __init__(self, count: int) -> None:
        self.count = count
        self.ready = 0
        self.seen: dict[bytes, list[float]] = {}

    def saw(self, note: bytes, now: float) -> None:
        times = self.seen.setdefault(note, [])
        times.append(now)
        if len(times) == self.count:
            line = {"note": note.decode(), "first": min(times), "last": max(times)}
            print(json.dumps(line), flush=True)
            del self.seen[note]


class Stream(asyncio.Protocol):
    def __init__(self, watchers: Watchers, request: bytes) -> None:
        self.watchers = watchers
        self.request = request
        self.buffer = b""
        self.said_ready = False
        self.closed = asyncio.get_running_loop().create_future()

    def itself(self) -> Stream:
        return self  # the protocol factory create_connection wants

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.request)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        buffer = self.buffer + data
        if not self.said_ready and b"event: ready" in buffer:
            self.said_ready = True
            self.watchers.ready += 1
            if self.watchers.ready == self.watchers.count:
                print("ready", flush=True)
        for match in NOTE.finditer(buffer):
            self.watchers.saw(match.group(1), now)
        self.buffer = buffer[buffer.rfind(b"\n") + 1 :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def main(host: str, port: int, tokens: list[str]) -> None:
    loop = asyncio.get_running_loop()
    watchers = Watchers(len(tokens))
    streams = []
    for token in tokens:
        request = (
            f"GET /api/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        stream = Stream(watchers, request)
        await loop.create_connection(stream.itself, host, port)
        streams.append(stream)
    await asyncio.gather(*(s.closed for s in streams))


if __name__ == "__main__":
    import uvloop

    with open(sys.argv[3]) as file:
        tokens = [line.strip() for line in file if line.strip()]
    uvloop.run(main(sys.argv[1], int(sys.argv[2]), tokens))
