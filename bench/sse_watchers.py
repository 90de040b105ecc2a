"""Many live-stream watchers in one process, for bench/gateway.py's fan-out figure.

    python -m bench.sse_watchers HOST PORT TOKENS_FILE

Opens one `GET /api/stream` per bearer token (raw HTTP/1.1 over asyncio, so the reader's
own cost stays small), prints `ready` once every stream said `ready`, then for each
note it saw on every stream prints `{"note", "first", "last"}` (time.perf_counter: the
same monotonic clock as the bench process on Linux).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

NOTE = re.compile(rb'"note":\s*"(n\d+)"')


async def watch(
    host: str, port: int, token: str, seen: dict[str, list[float]], ready: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    buffer = b""
    said_ready = False
    while True:
        chunk = await reader.read(65536)
        if not chunk:
            return
        now = time.perf_counter()
        buffer += chunk
        if not said_ready and b"event: ready" in buffer:
            said_ready = True
            ready[0] += 1
            if ready[0] == ready[1]:
                print("ready", flush=True)
        for match in NOTE.finditer(buffer):
            note = match.group(1).decode()
            times = seen.setdefault(note, [])
            times.append(now)
            if len(times) == ready[1]:
                print(
                    json.dumps({"note": note, "first": min(times), "last": max(times)}), flush=True
                )
        buffer = buffer[buffer.rfind(b"\n") + 1 :]


async def main(host: str, port: int, tokens: list[str]) -> None:
    seen: dict[str, list[float]] = {}
    ready = [0, len(tokens)]
    await asyncio.gather(*(watch(host, port, t, seen, ready) for t in tokens))


if __name__ == "__main__":
    import uvloop

    with open(sys.argv[3]) as file:
        tokens = [line.strip() for line in file if line.strip()]
    uvloop.run(main(sys.argv[1], int(sys.argv[2]), tokens))
