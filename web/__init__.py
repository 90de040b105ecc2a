"""The web client: static ES modules the edge serves at `/` (no build step, no CDN).

`mount_web_client(app)` is the one hook the gateway calls, after its API routes, so
`/api/...` keeps matching first and every other path is a file of `web/static/`.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Everything the page loads comes from the edge itself: scripts, styles, the live stream.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    # The files change with the code: the browser asks again each time (a 304 is cheap).
    (b"cache-control", b"no-cache"),
]


class _WithHeaders:
    """Adds the security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def web_client_app() -> ASGIApp:
    return _WithHeaders(StaticFiles(directory=STATIC_DIR, html=True))


def mount_web_client(app: Starlette) -> None:
    """Serve the client at `/`; call it after the API's routes are added."""
    app.mount("/", web_client_app(), name="web")
