"""uvicorn as the edge's server: its settings from GatewayConfig, and a graceful stop."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runtime.config import env_str
from services.gateway.config import GatewayConfig

TRANSPORT_EXTENSION = "voco.transport"
"""The scope extension under which the connection's transport reaches the live stream."""


class StreamingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that also puts the connection's transport in the
    request's scope: the live stream writes its events there directly, from the NATS
    callback, instead of through a task per stream and the ASGI send chain (measured:
    most of the edge's CPU per delivery; bench/results/NOTES.md). Everything else,
    the response's start and end included, goes through uvicorn as usual."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, object] = self.scope.setdefault("extensions", {})  # type: ignore[assignment]
        extensions[TRANSPORT_EXTENSION] = self.transport


def server_config(app: FastAPI, config: GatewayConfig, **overrides: object) -> uvicorn.Config:
    """Forwarded headers count only with VOCO_GATEWAY_TRUST_PROXY=1 and only from
    VOCO_GATEWAY_TRUSTED_PROXIES (uvicorn would trust 127.0.0.1's by default)."""
    cert, key = env_str("VOCO_HTTP_TLS_CERT", ""), env_str("VOCO_HTTP_TLS_KEY", "")
    settings: dict[str, object] = {
        "host": config.host,
        "port": config.port,
        "lifespan": "on",
        "log_config": None,
        "access_log": False,
        "proxy_headers": config.trust_proxy_headers,
        "forwarded_allow_ips": env_str("VOCO_GATEWAY_TRUSTED_PROXIES", "127.0.0.1"),
        "ssl_certfile": cert or None,
        "ssl_keyfile": key or None,
        "timeout_graceful_shutdown": 5,
        "http": StreamingProtocol,
        **overrides,
    }
    return uvicorn.Config(app, **settings)  # type: ignore[arg-type]


class Server(uvicorn.Server):
    """On SIGTERM the live streams end first (they would hold the graceful shutdown
    open until its timeout); requests in flight finish, then the edge closes."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    def handle_exit(self, sig: int, frame: object) -> None:
        edge = getattr(self.app.state, "edge", None)
        if edge is not None:
            try:  # a signal handler interrupts the loop anywhere: let the loop do it
                asyncio.get_running_loop().call_soon_threadsafe(edge.live.end_all)
            except RuntimeError:
                edge.live.end_all()
        super().handle_exit(sig, frame)  # type: ignore[arg-type]
        # uvicorn re-raises the signal once it has shut down (exit -15); like every Voco
        # service, exit 0 after a graceful stop.
        self._captured_signals.clear()
