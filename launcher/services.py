"""Every service process `./voco up` starts, in start order.

Each entry is (name, python module run with `python -m`). A service reads its
connections from VOCO_NATS_URL and VOCO_DATABASE_URL, which the launcher sets.
"""

SERVICES: list[tuple[str, str]] = [
    ("presence", "services.presence"),
    ("scheduler", "services.scheduler"),
]
