"""Who may do what on the bus and in the store: the one permission map.

Every process connects as a principal (DESIGN.md, "Identity and the trust boundary"):
a NATS user whose publish and subscribe rights are listed here, and, for those that
keep data, a PostgreSQL role that owns nothing and may use only its own schema. The
nats-server configuration (launcher/credentials.py) and the tests' permission matrix
(tests/security/) are both generated from `nats_permissions`, so what is tested is
what runs.

Why each right exists:
- commands are request/reply on `voco.cmd.<service>.<Command>`: a service subscribes to
  its own and answers with `allow_responses` (one reply to whoever asked, no general
  publish right on inboxes);
- replies come back on a per-principal inbox `_INBOX_<principal>.>` (runtime.bus.connect
  sets it), so no principal can read another's replies;
- events leave through the outbox relay as JetStream publishes on
  `voco.evt.<service>.>`; the PubAck comes back on the inbox;
- a service configures the streams it owns (`$JS.API.STREAM.CREATE/UPDATE/INFO.<s>`),
  may create a stream it consumes if its owner has not yet (CREATE and INFO, never
  UPDATE or DELETE), and reads through its own durable pull consumers only
  (`CONSUMER.DURABLE.CREATE/INFO/MSG.NEXT.<stream>.<durable>`, acks on
  `$JS.ACK.<stream>.<durable>.>`), so it cannot drain another service's consumer; a
  partitioned consumer's are one per partition (`<group>-p<n>`), each also created by
  name and deleted (the replica that takes a partition makes its consumer afresh from
  the checkpoint), and its service may add the partitioning to the stream (UPDATE);
- a PBX adapter publishes its events (`voco.pbx.evt.>`) and offers (`voco.pbx.offer`)
  and hears only its nodes' commands (`voco.pbx.cmd.<node>.>`, plainly or through its
  nodes' durable consumers `pbx-<node>` on VOCO_PBX_CMD, which keep them while it is away);
- the edge (gateway) sends only the commands a person may issue (a user for their own
  data, an administrator), as the services' access tables say (`edge_commands`): never
  what only services send (the scheduler's batch switches, presence's own timers); it
  reads the filtered views, batched for it (`voco.viewbatch.>`), never raw events and
  no stream management;
- the operator (CLI, demo loaders) sends any command, drives the simulator and watches
  events and views: the operator's tool, with no JetStream management either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from contracts.base import Role
from contracts.pbx import OFFER_SUBJECT, PBX_COMMAND_STREAM, PBX_STREAM, command_consumer
from contracts.presence import PRESENCE_STREAM
from contracts.routing import ROUTING_STREAM
from contracts.scheduler import SCHEDULER_STREAM
from contracts.visibility import VISIBILITY_STREAM
from runtime.partitions import MAX_PARTITIONS

SERVICES = ("presence", "routing", "scheduler", "visibility")
PBX_ADAPTERS = ("pbxsim", "kamailio")
PRINCIPALS = (*SERVICES, "gateway", *PBX_ADAPTERS, "operator")

SCHEMAS = {"presence": "presence", "routing": "routing", "scheduler": "scheduler",
           "visibility": "visibility", "gateway": "gateway"}  # fmt: skip
"""Principals that keep data: each has a PostgreSQL role of its name using this schema."""

OWNER_ROLE = "voco_owner"
"""Owns every schema and table and runs the migrations; no service runs as it."""
SUPERUSER = "voco"
"""The embedded cluster's superuser (its name from before roles existed): provisioning only."""

DEFAULT_PBX_NODES = {
    "pbxsim": ("sim1",),
    "kamailio": ("kam1",),
}  # the adapter's VOCO_KAMAILIO_NODE default
"""The PBX nodes each adapter speaks for (VOCO_PBXSIM_NODES / VOCO_KAMAILIO_NODES,
comma separated); it hears only their commands."""

API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    responds: bool = False  # allow_responses: may answer requests it received


def inbox_prefix(principal: str) -> str:
    return f"_INBOX_{principal}"


def pbx_nodes(principal: str) -> tuple[str, ...]:
    raw = os.environ.get(f"VOCO_{principal.upper()}_NODES", "")
    nodes = tuple(n.strip() for n in raw.split(",") if n.strip())
    return nodes or DEFAULT_PBX_NODES[principal]


def owns_stream(stream: str) -> list[str]:
    return [f"{API}.STREAM.{action}.{stream}" for action in ("CREATE", "UPDATE", "INFO")]


def reads_stream(stream: str) -> list[str]:
    """Create it if its owner has not yet (runtime.service.ensure_stream_exists)."""
    return [f"{API}.STREAM.INFO.{stream}", f"{API}.STREAM.CREATE.{stream}"]


def pulls(stream: str, durable: str) -> list[str]:
    return [
        f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"{API}.CONSUMER.INFO.{stream}.{durable}",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def pulls_partitions(stream: str, group: str) -> list[str]:
    """The consumers of a partitioned consumer (runtime/leases.py), one per partition, each
    made afresh by whichever replica takes the partition (so also deleted), by name."""
    rights = [f"{API}.STREAM.UPDATE.{stream}"]  # to partition a stream made without it
    for partition in range(MAX_PARTITIONS):
        durable = f"{group}-p{partition}"
        rights += [
            f"{API}.CONSUMER.CREATE.{stream}.{durable}",
            f"{API}.CONSUMER.CREATE.{stream}.{durable}.>",  # the form naming its filter
            f"{API}.CONSUMER.DELETE.{stream}.{durable}",
            f"{API}.CONSUMER.INFO.{stream}.{durable}",
            f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    return rights


def _service(name: str, publish: list[str], subscribe: list[str]) -> Permissions:
    return Permissions(
        publish=tuple(publish),
        subscribe=(f"voco.cmd.{name}.>", *subscribe, f"{inbox_prefix(name)}.>"),
        responds=True,
    )


def _pbx(principal: str) -> Permissions:
    nodes = pbx_nodes(principal)
    control = [f"voco.pbxsim.{n}.control" for n in nodes] if principal == "pbxsim" else []
    return Permissions(
        publish=(
            "voco.pbx.evt.>",
            OFFER_SUBJECT,
            *reads_stream(PBX_STREAM),
            # its nodes' commands, kept for it while it is away (contracts/PBX.md)
            *(right for n in nodes for right in pulls(PBX_COMMAND_STREAM, command_consumer(n))),
        ),
        subscribe=(
            *(f"voco.pbx.cmd.{n}.>" for n in nodes),
            *control,
            f"{inbox_prefix(principal)}.>",
        ),
        responds=bool(control),
    )


def edge_commands() -> tuple[str, ...]:
    """The subjects of the commands a person may issue, by each service's access table
    (runtime/access.py: a rule that admits a user for their own data, or an
    administrator). The edge acts only for people, so it may send these and no other: a
    command only services may send (Role.SERVICE alone) is refused it by the bus too."""
    # Imported here: the tables live with their services, which import this package.
    from runtime.access import Rule
    from services.presence.access import ACCESS as PRESENCE
    from services.routing.access import ACCESS as ROUTING
    from services.scheduler.access import ACCESS as SCHEDULER
    from services.visibility.access import ACCESS as VISIBILITY

    def for_people(rule: Rule) -> bool:
        return Role.ADMIN in rule.roles or rule.own is not None or rule.party is not None

    tables = {"presence": PRESENCE, "routing": ROUTING, "scheduler": SCHEDULER,
              "visibility": VISIBILITY}  # fmt: skip
    return tuple(
        sorted(
            f"voco.cmd.{service}.{command.type_name}"
            for service, table in tables.items()
            for command, rule in table.items()
            if for_people(rule)
        )
    )


def nats_permissions(principal: str) -> Permissions:
    """The publish and subscribe allow lists of `principal`; everything else is refused."""
    match principal:
        case "presence":
            return _service(
                "presence",
                [
                    "voco.evt.presence.>",
                    *owns_stream(PRESENCE_STREAM),
                    *reads_stream(PBX_STREAM),
                    *pulls_partitions(PBX_STREAM, "presence-pbx"),
                ],
                [],
            )
        case "routing":
            return _service(
                "routing",
                [
                    "voco.evt.routing.>",
                    "voco.pbx.cmd.>",  # commands to every PBX node, on VOCO_PBX_CMD
                    *owns_stream(ROUTING_STREAM),
                    *owns_stream(PBX_COMMAND_STREAM),
                    *reads_stream(PBX_STREAM),
                    *reads_stream(PRESENCE_STREAM),
                    *pulls(PRESENCE_STREAM, "routing-directory"),
                    *pulls_partitions(PBX_STREAM, "routing-calls"),
                    *reads_stream(VISIBILITY_STREAM),
                    *pulls(VISIBILITY_STREAM, "routing-favourites"),  # breakthrough lists
                ],
                [OFFER_SUBJECT],
            )
        case "scheduler":
            return _service(
                "scheduler",
                [
                    "voco.evt.scheduler.>",
                    "voco.cmd.presence.SwitchUsers",  # profile switches at boundaries
                    *owns_stream(SCHEDULER_STREAM),
                    *reads_stream(PRESENCE_STREAM),
                    *pulls(PRESENCE_STREAM, "scheduler-presence"),
                ],
                [],
            )
        case "visibility":
            return _service(
                "visibility",
                [
                    "voco.evt.visibility.>",
                    "voco.view.>",  # the filtered fan-out
                    "voco.viewbatch.>",  # the same views, batched for the edge
                    *owns_stream(VISIBILITY_STREAM),
                    *reads_stream(PRESENCE_STREAM),
                    *pulls(PRESENCE_STREAM, "visibility-presence"),
                    *pulls(VISIBILITY_STREAM, "visibility-changes"),
                ],
                # The fan-out's fast path hears status changes as JetStream stores them.
                ["voco.evt.presence.*.PresenceChanged"],
            )
        case "gateway":
            return Permissions(
                publish=edge_commands(),
                subscribe=("voco.viewbatch.>", f"{inbox_prefix('gateway')}.>"),
            )
        case "pbxsim" | "kamailio":
            return _pbx(principal)
        case "operator":
            return Permissions(
                publish=("voco.cmd.>", "voco.pbxsim.*.control"),
                subscribe=("voco.evt.>", "voco.view.>", f"{inbox_prefix('operator')}.>"),
            )
    raise ValueError(f"no principal {principal!r}; the principals are {', '.join(PRINCIPALS)}")
