"""Every service process `./voco up` starts, in start order.

Each entry is (name, python module run with `python -m`). A service reads its
connections from VOCO_NATS_URL and VOCO_DATABASE_URL, which the launcher sets.
"""

SERVICES: list[tuple[str, str]] = [
    ("presence", "services.presence"),
    ("visibility", "services.visibility"),
    ("scheduler", "services.scheduler"),
    ("routing", "services.routing"),
    # The PBX simulator: registers the demo devices of 1001-1005 and places a demo call
    # every 20 s unless VOCO_DEMO=0 (./voco up --no-demo sets it).
    ("pbxsim", "services.pbxsim"),
    # The edge: the HTTP API and live stream on VOCO_HTTP_HOST:VOCO_HTTP_PORT (127.0.0.1:8080).
    ("gateway", "services.gateway"),
]

KAMAILIO: list[tuple[str, str]] = [
    # `./voco up --pbx kamailio`: Kamailio itself (installs Debian's packages when missing,
    # as root) and its adapter, instead of the simulator (adapters/kamailio/README.md).
    ("kamailio", "adapters.kamailio.server"),
    ("kamailio-adapter", "adapters.kamailio"),
]
PRINCIPAL_OF = {"kamailio-adapter": "kamailio"}
"""A process whose NATS user is not its own name (runtime/permissions.py)."""


def services_for(pbx: str) -> list[tuple[str, str]]:
    """The services with the PBX side chosen: `pbxsim` (default) or `kamailio`."""
    if pbx == "pbxsim":
        return SERVICES
    return [entry for entry in SERVICES if entry[0] != "pbxsim"] + KAMAILIO


LOADERS: list[tuple[str, str, bool]] = [
    # (principal it runs as, module, demo only)
    ("operator", "services.presence.demo", True),
    # The administrator's account always (or nobody could sign in), and with the demo
    # accounts 1001-1005; prints the web client's URL and the sign-ins.
    ("gateway", "services.gateway.demo", False),
]
"""One-shot modules `./voco up` runs after the services start, each as its principal;
the demo ones are skipped with --no-demo (VOCO_DEMO=0)."""
