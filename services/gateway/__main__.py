"""`python -m services.gateway`: the HTTP API on VOCO_HTTP_HOST:VOCO_HTTP_PORT until SIGTERM."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI

from runtime.config import Connections, env_str
from runtime.logs import setup_logging
from runtime.telemetry import setup_tracing
from services.gateway.app import create_app
from services.gateway.config import GatewayConfig


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


def main() -> None:
    setup_logging("gateway", env_str("VOCO_LOG_LEVEL", "info"))
    setup_tracing("gateway")
    config = GatewayConfig.from_env()
    app = create_app(Connections.from_env(), config)
    cert, key = env_str("VOCO_HTTP_TLS_CERT", ""), env_str("VOCO_HTTP_TLS_KEY", "")
    server = Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            lifespan="on",
            log_config=None,
            access_log=False,
            proxy_headers=config.trust_proxy_headers,
            forwarded_allow_ips=env_str("VOCO_GATEWAY_TRUSTED_PROXIES", "127.0.0.1"),
            ssl_certfile=cert or None,
            ssl_keyfile=key or None,
            timeout_graceful_shutdown=5,
        ),
        app,
    )
    server.run()


if __name__ == "__main__":
    main()
