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

DEMO_LOADERS: list[str] = [
    "services.presence.demo",
    # Accounts 1001-1005 and admin; prints the API's URL and their sign-in.
    "services.gateway.demo",
]
"""One-shot modules `./voco up` runs after the services start (skipped with --no-demo)."""
