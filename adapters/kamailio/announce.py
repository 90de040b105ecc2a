"""What `./voco up --pbx kamailio` prints: the SIP address and each device's account, so a
person can register a softphone and call. The passwords come from the data dir (0600)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from adapters.kamailio.config import KamailioConfig, Secrets


def announce(env: Mapping[str, str]) -> list[str]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        config = KamailioConfig.from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    secrets = Secrets.load(config)
    lines = [
        f"Kamailio SIP                {config.sip_address} (UDP), realm {config.domain}",
        f"SIP accounts (user / password, kept in {config.data_dir / 'secrets.json'}):",
    ]
    lines += [f"  {device:<18} {password}" for device, password in secrets.passwords.items()]
    lines.append("feature codes: *71 available, *72 away, *73 dnd, *74 business trip")
    return lines
