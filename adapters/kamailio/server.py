"""`python -m adapters.kamailio.server`: Kamailio itself, with the project's rendered config.

Installs Debian's packages when missing (as root), renders kamailio.cfg into the data dir
and runs Kamailio in the foreground until SIGTERM, which it passes on.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import uuid

from adapters.kamailio.config import KamailioConfig, Secrets
from adapters.kamailio.packages import MissingPackages, ensure_kamailio
from adapters.kamailio.render import write_config
from runtime.config import env_str
from runtime.logs import setup_logging

log = logging.getLogger("kamailio")


def command(config: KamailioConfig, static_routing: bool = False) -> list[str]:
    boot = uuid.uuid4().hex[:12]
    path = write_config(config, Secrets.load(config), boot, static_routing=static_routing)
    run = config.data_dir / "run"
    return ["kamailio", "-f", str(path), "-DD", "-E", "-m", "256", "-M", "8", "-Y", str(run),
            "-P", str(run / "kamailio.pid"), "-w", str(run)]  # fmt: skip


def main() -> int:
    config = KamailioConfig.from_env()
    try:
        ensure_kamailio()
    except MissingPackages as error:
        log.error("cannot start Kamailio", extra={"reason": str(error)})
        return 2
    process = subprocess.Popen(command(config))
    log.info("kamailio started", extra={"pid": process.pid, "sip": config.sip_address})
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _: process.send_signal(number))
    return process.wait()


if __name__ == "__main__":
    setup_logging("kamailio", env_str("VOCO_LOG_LEVEL", "info"))
    sys.exit(main())
