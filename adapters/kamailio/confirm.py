"""The feature-code confirmation: a tiny SIP UAS that answers a dialled code (*72) with
200 OK and hangs up a moment later, so the phone shows a completed call, not a failure.

Kamailio sends it only the codes of authenticated devices (the event itself comes over
evapi); it listens on loopback and answers only INVITE, ACK and BYE.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import cast

log = logging.getLogger(__name__)
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
}
HOST_PORT = re.compile(r"sip:(?:[^@>;]+@)?([^:;>]+)(?::(\d+))?")
SDP = "v=0\r\no=voco 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=inactive\r\n"  # noqa: E501


def parse(data: bytes) -> tuple[str, list[tuple[str, str]]]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    first, *lines = head.split("\r\n")
    headers = []
    for line in lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers.append((COMPACT.get(name, name), value.strip()))
    return first, headers


def values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n == name]


class Confirmation(asyncio.DatagramProtocol):
    def __init__(self, hang_up_after: float = 0.5) -> None:
        self.hang_up_after = hang_up_after
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self._answered: dict[str, bytes] = {}  # call-id -> our 200 (for retransmissions)
        self._dialogs: dict[str, list[tuple[str, str]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            first, headers = parse(data)
        except ValueError:
            return
        call_id = (values(headers, "call-id") or [""])[0]
        method = first.split(" ", 1)[0]
        if method == "INVITE":
            if call_id not in self._answered:
                self._answered[call_id] = self._ok(headers, with_sdp=True)
                self._dialogs[call_id] = headers
            self._send(self._answered[call_id], addr)
        elif method == "ACK" and call_id in self._dialogs:
            asyncio.get_running_loop().call_later(self.hang_up_after, self._bye, call_id)
        elif method == "BYE":
            self._send(self._ok(headers, with_sdp=False), addr)
            self._forget(call_id)
        elif first.startswith("SIP/2.0 ") and "BYE" in (values(headers, "cseq") or [""])[0]:
            self._forget(call_id)

    def _forget(self, call_id: str) -> None:
        self._dialogs.pop(call_id, None)
        asyncio.get_running_loop().call_later(32, self._answered.pop, call_id, None)

    def _ok(self, headers: list[tuple[str, str]], with_sdp: bool) -> bytes:
        lines = ["SIP/2.0 200 OK"]
        for name in ("via", "record-route", "from"):
            lines += [f"{name.title()}: {v}" for v in values(headers, name)]
        to = values(headers, "to")[0]
        if ";tag=" not in to:
            to += ";tag=" + self._tag(values(headers, "call-id")[0])
        lines += [f"To: {to}", f"Call-ID: {values(headers, 'call-id')[0]}",
                  f"CSeq: {values(headers, 'cseq')[0]}",
                  f"Contact: <sip:confirm@127.0.0.1:{self.port}>"]  # fmt: skip
        body = SDP if with_sdp else ""
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    @staticmethod
    def _tag(call_id: str) -> str:
        return uuid.uuid5(uuid.NAMESPACE_URL, call_id).hex[:10]

    def _bye(self, call_id: str) -> None:
        headers = self._dialogs.get(call_id)
        if headers is None:
            return  # the phone hung up first
        contact = values(headers, "contact")[0].strip("<>").split(">")[0]
        routes = values(headers, "record-route")
        to = values(headers, "to")[0] + ";tag=" + self._tag(call_id)
        lines = [
            f"BYE {contact} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{uuid.uuid4().hex[:12]};rport",
            *[f"Route: {r}" for r in routes],
            f"From: {to}",
            f"To: {values(headers, 'from')[0]}",
            f"Call-ID: {call_id}",
            "CSeq: 1 BYE",
            "Max-Forwards: 70",
            "Content-Length: 0",
        ]
        target = HOST_PORT.match(routes[0].strip("<>") if routes else contact)
        if target is None:
            return
        self._send(
            ("\r\n".join(lines) + "\r\n\r\n").encode(),
            (target.group(1), int(target.group(2) or 5060)),
        )

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)


async def serve(
    port: int, hang_up_after: float = 0.5
) -> tuple[asyncio.DatagramTransport, Confirmation]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Confirmation(hang_up_after), local_addr=("127.0.0.1", port)
    )
    return transport, protocol
