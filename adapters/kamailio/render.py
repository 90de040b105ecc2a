"""The project's kamailio.cfg with its {{placeholders}} filled from the configuration."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.kamailio.config import KamailioConfig, Secrets
from runtime.private_file import write_private

TEMPLATE = Path(__file__).with_name("kamailio.cfg")
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")
SAFE_PASSWORD = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def render(
    config: KamailioConfig,
    secrets: Secrets,
    boot_id: str,
    log_level: int = 1,
    static_routing: bool = False,
) -> str:
    """`static_routing` is the benchmark's baseline: Kamailio routes by its own location
    lookup and never asks Voco."""
    for device, password in secrets.passwords.items():
        if not SAFE_PASSWORD.match(password):  # it goes into a quoted cfg string
            raise ValueError(f"the password of {device} must be 8-64 of A-Z a-z 0-9 _ -")
    values = {
        "static_define": "#!define VOCO_STATIC_ROUTING" if static_routing else "",
        "log_level": str(log_level),
        "children": str(config.children),
        "sip_host": config.sip_host,
        "sip_port": str(config.sip_port),
        "domain": config.domain,
        "run_dir": str(config.data_dir / "run"),
        "fr_timer_ms": "5000",
        "usrloc_timer": str(config.usrloc_timer),
        "min_expires": str(config.min_expires),
        "auth_secret": secrets.auth,
        "evapi_host": config.evapi_host,
        "evapi_port": str(config.evapi_port),
        "evapi_secret": secrets.evapi,
        "confirm_hostport": f"127.0.0.1:{config.confirm_port}",
        "guard_ms": str(int(config.guard_seconds * 1000)),
        "keepalive_seconds": str(config.keepalive_seconds),
        # the keepalive timer's step: a keepalive leaves at most this late
        "keepalive_timer": str(min(config.keepalive_seconds, 5)),
        "max_call_seconds": str(config.max_call_seconds),
        "boot_id": boot_id,
        "passwords": "\n".join(
            f'\t$sht(pw=>{device}) = "{password}";'
            for device, password in sorted(secrets.passwords.items())
        ),
    }

    def fill(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return PLACEHOLDER.sub(fill, TEMPLATE.read_text())


def write_config(
    config: KamailioConfig, secrets: Secrets, boot_id: str, static_routing: bool = False
) -> Path:
    """The rendered file holds the passwords: 0600 in the data dir."""
    (config.data_dir / "run").mkdir(parents=True, exist_ok=True)
    path = config.data_dir / "kamailio.cfg"
    write_private(path, render(config, secrets, boot_id, static_routing=static_routing))
    return path
