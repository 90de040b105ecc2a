"""The edge's settings from the environment; defaults and meanings in README.md."""

from __future__ import annotations

from dataclasses import dataclass

from runtime.config import env_float, env_int, env_str


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    # Where a proxy that terminates TLS says so: the cookie is then Secure. Only trusted
    # when the edge listens behind that proxy (the header is otherwise the client's word).
    trust_proxy_headers: bool = False
    force_secure_cookie: bool = False
    session_idle_seconds: float = 1800.0
    session_max_seconds: float = 43_200.0
    signin_account_limit: int = 5
    signin_address_limit: int = 20
    signin_window_seconds: float = 900.0
    signin_lock_seconds: float = 900.0
    signin_delay_step_seconds: float = 0.25
    signin_delay_max_seconds: float = 2.0
    sweep_seconds: float = 30.0
    stream_buffer: int = 256
    stream_linger_seconds: float = 300.0
    stream_keepalive_seconds: float = 15.0
    request_timeout_seconds: float = 5.0
    pool_size: int = 10

    @classmethod
    def from_env(cls) -> GatewayConfig:
        return cls(
            host=env_str("VOCO_HTTP_HOST", cls.host),
            port=env_int("VOCO_HTTP_PORT", cls.port),
            trust_proxy_headers=env_str("VOCO_GATEWAY_TRUST_PROXY", "0") == "1",
            force_secure_cookie=env_str("VOCO_GATEWAY_SECURE_COOKIE", "0") == "1",
            session_idle_seconds=env_float("VOCO_GATEWAY_SESSION_IDLE_SECONDS", 1800.0),
            session_max_seconds=env_float("VOCO_GATEWAY_SESSION_MAX_SECONDS", 43_200.0),
            signin_account_limit=env_int("VOCO_GATEWAY_SIGNIN_ACCOUNT_LIMIT", 5),
            signin_address_limit=env_int("VOCO_GATEWAY_SIGNIN_ADDRESS_LIMIT", 20),
            signin_window_seconds=env_float("VOCO_GATEWAY_SIGNIN_WINDOW_SECONDS", 900.0),
            signin_lock_seconds=env_float("VOCO_GATEWAY_SIGNIN_LOCK_SECONDS", 900.0),
            signin_delay_step_seconds=env_float("VOCO_GATEWAY_SIGNIN_DELAY_STEP_SECONDS", 0.25),
            signin_delay_max_seconds=env_float("VOCO_GATEWAY_SIGNIN_DELAY_MAX_SECONDS", 2.0),
            sweep_seconds=env_float("VOCO_GATEWAY_SWEEP_SECONDS", 30.0),
            stream_buffer=env_int("VOCO_GATEWAY_STREAM_BUFFER", 256),
            stream_linger_seconds=env_float("VOCO_GATEWAY_STREAM_LINGER_SECONDS", 300.0),
            stream_keepalive_seconds=env_float("VOCO_GATEWAY_STREAM_KEEPALIVE_SECONDS", 15.0),
            request_timeout_seconds=env_float("VOCO_GATEWAY_REQUEST_TIMEOUT_SECONDS", 5.0),
            pool_size=env_int("VOCO_GATEWAY_POOL_SIZE", 10),
        )
