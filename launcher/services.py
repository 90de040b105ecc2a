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
]

KAMAILIO: list[tuple[str, str]] = [
    # `./voco up --pbx kamailio`: Kamailio itself (installs Debian's packages when missing,
    # as root) and its adapter, instead of the simulator (adapters/kamailio/README.md).
    ("kamailio", "adapters.kamailio.server"),
    ("kamailio-adapter", "adapters.kamailio"),
]


def services_for(pbx: str) -> list[tuple[str, str]]:
    """The services with the PBX side chosen: `pbxsim` (default) or `kamailio`."""
    if pbx == "pbxsim":
        return SERVICES
    return [entry for entry in SERVICES if entry[0] != "pbxsim"] + KAMAILIO


DEMO_LOADERS: list[str] = [
    "services.presence.demo",
]
"""One-shot modules `./voco up` runs after the services start (skipped with --no-demo)."""
