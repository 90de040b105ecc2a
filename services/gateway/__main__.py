"""`python -m services.gateway`: the HTTP API on VOCO_HTTP_HOST:VOCO_HTTP_PORT until SIGTERM."""

from __future__ import annotations

from runtime.config import Connections, env_str
from runtime.logs import setup_logging
from runtime.telemetry import setup_tracing
from services.gateway.app import create_app
from services.gateway.config import GatewayConfig
from services.gateway.server import Server, server_config


def main() -> None:
    setup_logging("gateway", env_str("VOCO_LOG_LEVEL", "info"))
    setup_tracing("gateway")
    config = GatewayConfig.from_env()
    app = create_app(Connections.from_env(), config)
    Server(server_config(app, config, loop="uvloop"), app).run()


if __name__ == "__main__":
    main()
