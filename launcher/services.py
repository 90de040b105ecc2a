"""Every service process `./voco up` starts, in start order.

Each entry is (name, python module run with `python -m`). A service reads its
connections from VOCO_NATS_URL and VOCO_DATABASE_URL, which the launcher sets.
"""

SERVICES: list[tuple[str, str]] = [
    ("presence", "services.presence"),
    ("routing", "services.routing"),
    ("pbxsim", "services.pbxsim"),  # the PBX simulator with the demo devices of 1001-1005
]

DEMO_LOADERS: list[str] = [
    "services.presence.demo",
]
"""One-shot modules `./voco up` runs after the services start (skipped with --no-demo)."""
