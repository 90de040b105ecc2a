"""The Kamailio adapter's configuration: environment, documented defaults, and the secrets
kept in its data dir (README.md lists every variable)."""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from runtime.config import env_float, env_int, env_str
from runtime.private_file import write_private

ROOT = Path(__file__).resolve().parent.parent.parent
DEMO_DEVICES = [f"{ext}-{kind}" for ext in range(1001, 1006) for kind in ("desk", "softphone")]
DEVICE = re.compile(r"^([0-9]{2,10})(-[a-z0-9]{1,32})?$")


def extension_of(device: str) -> str:
    """A SIP account is a device: `1001-desk` belongs to extension 1001 (`1001` to itself)."""
    match = DEVICE.match(device)
    if match is None:
        raise ValueError(
            f"device {device!r} is not <extension>[-<name>], e.g. 1001-desk "
            "(digits, then lower-case letters and digits)"
        )
    return match.group(1)


@dataclass(frozen=True)
class KamailioConfig:
    node: str
    data_dir: Path
    sip_host: str
    sip_port: int
    domain: str
    evapi_host: str
    evapi_port: int
    confirm_port: int
    gateway_uri: str
    voicemail_uri: str
    ivr_uri: str
    guard_seconds: float
    offer_timeout: float
    min_expires: int
    usrloc_timer: int
    children: int
    devices: tuple[str, ...]
    # Dialog liveness: in-dialog OPTIONS to both sides of an answered call every
    # `keepalive_seconds` (Kamailio 5.6 accepts 30 or more; 0: none); a call whose side
    # does not answer one, or that lasts `max_call_seconds`, is ended with BYE.
    keepalive_seconds: int = 30
    max_call_seconds: int = 43_200

    @classmethod
    def from_env(cls) -> KamailioConfig:
        data = Path(env_str("VOCO_DATA_DIR", str(ROOT / ".voco-data")))
        host = env_str("VOCO_KAMAILIO_SIP_HOST", "127.0.0.1")
        devices = tuple(
            d.strip()
            for d in env_str("VOCO_KAMAILIO_DEVICES", ",".join(DEMO_DEVICES)).split(",")
            if d.strip()
        )
        for device in devices:
            extension_of(device)
        config = cls(
            node=env_str("VOCO_KAMAILIO_NODE", "kam1"),
            data_dir=Path(env_str("VOCO_KAMAILIO_DIR", str(data / "kamailio"))).resolve(),
            sip_host=host,
            sip_port=env_int("VOCO_KAMAILIO_SIP_PORT", 5060),
            domain=env_str("VOCO_KAMAILIO_DOMAIN", host),
            evapi_host="127.0.0.1",
            evapi_port=env_int("VOCO_KAMAILIO_EVAPI_PORT", 5068),
            confirm_port=env_int("VOCO_KAMAILIO_CONFIRM_PORT", 5069),
            gateway_uri=env_str("VOCO_KAMAILIO_GATEWAY_URI", "sip:{number}@127.0.0.1:5070"),
            voicemail_uri=env_str("VOCO_KAMAILIO_VOICEMAIL_URI", "sip:{mailbox}@127.0.0.1:5071"),
            ivr_uri=env_str("VOCO_KAMAILIO_IVR_URI", "sip:{target}@127.0.0.1:5072"),
            guard_seconds=env_float("VOCO_KAMAILIO_GUARD_SECONDS", 10.0),
            offer_timeout=env_float("VOCO_KAMAILIO_OFFER_TIMEOUT", 2.0),
            min_expires=env_int("VOCO_KAMAILIO_MIN_EXPIRES", 60),
            usrloc_timer=env_int("VOCO_KAMAILIO_USRLOC_TIMER", 10),
            children=env_int("VOCO_KAMAILIO_CHILDREN", 4),
            devices=devices,
            keepalive_seconds=env_int("VOCO_KAMAILIO_KEEPALIVE_SECONDS", 30),
            max_call_seconds=env_int("VOCO_KAMAILIO_MAX_CALL_SECONDS", 43_200),
        )
        if config.keepalive_seconds != 0 and config.keepalive_seconds < 30:
            raise SystemExit(
                f"VOCO_KAMAILIO_KEEPALIVE_SECONDS={config.keepalive_seconds}: Kamailio 5.6's "
                "dialog keepalives need 30 or more seconds (0 turns them off)"
            )
        if config.max_call_seconds < 1:
            raise SystemExit(
                f"VOCO_KAMAILIO_MAX_CALL_SECONDS={config.max_call_seconds}: give seconds, 1 or more"
            )
        for name, template, key in (
            ("VOCO_KAMAILIO_GATEWAY_URI", config.gateway_uri, "{number}"),
            ("VOCO_KAMAILIO_VOICEMAIL_URI", config.voicemail_uri, "{mailbox}"),
            ("VOCO_KAMAILIO_IVR_URI", config.ivr_uri, "{target}"),
        ):
            if not template.startswith("sip:") or key not in template:
                raise SystemExit(f"{name}={template!r}: give a sip: URI containing {key}")
        return config

    @property
    def sip_address(self) -> str:
        return f"sip:{self.sip_host}:{self.sip_port}"


@dataclass(frozen=True)
class Secrets:
    """The evapi secret (the adapter proves itself to Kamailio), the nonce secret, and one
    SIP password per device; kept 0600 in the data dir, made once, extended for new devices."""

    evapi: str
    auth: str
    passwords: dict[str, str]

    @classmethod
    def load(cls, config: KamailioConfig) -> Secrets:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        path = config.data_dir / "secrets.json"
        stored: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        passwords = dict(stored.get("passwords", {}))  # type: ignore[call-overload]
        changed = not path.exists()
        for device in config.devices:
            if device not in passwords:
                passwords[device] = secrets.token_urlsafe(12)
                changed = True
        loaded = cls(
            evapi=str(stored.get("evapi") or secrets.token_hex(16)),
            auth=str(stored.get("auth") or secrets.token_hex(16)),
            passwords={d: passwords[d] for d in config.devices},
        )
        if changed:
            body = {"evapi": loaded.evapi, "auth": loaded.auth, "passwords": passwords}
            write_private(path, json.dumps(body, indent=1))
        return loaded
