"""Partitioned subjects: one aggregate's messages always in one partition of a stream.

A stream is partitioned by a JetStream subject transform: a message published on
`voco.pbx.evt.call.<call_id>` is stored as `voco.pbx.evt.call.<call_id>.<p>`, where
`p = fnv1a(<call_id>) % N` (nats-server's `{{partition(N, k)}}` of the key token). Each
partition is then consumed by its own consumer filtering on the last token (one replica
at a time each, runtime/leases.py), so every call (and every user) is handled in order
by one replica while the replicas share the partitions.

The number of partitions is the stream's: it is fixed when the transform is first set
(VOCO_PARTITIONS, default 4) and read back from the stream by every consumer, so a
replica started with another VOCO_PARTITIONS never consumes a partition set that does not
match the stored subjects (it says so in its log). Changing it on a live stream is not
supported: messages stored under the old count would wait on partitions no one reads.

Upgrading a stream made before partitions (`ensure_partitioned` adds the transform in
place, keeping its messages): the partition consumers read only the partitioned subjects,
so a message stored before, that the old unpartitioned consumer had not applied (one a
PBX published while every replica was down for the upgrade), is not applied. Upgrade
with the old replicas stopped gracefully (they drain what they hold) and the PBX's
events flowing; the old consumer's checkpoint row and durable are left unused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import StreamConfig, SubjectTransform
from nats.js.errors import BadRequestError, NotFoundError

from runtime.config import env_int

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4
MAX_PARTITIONS = 16
"""The bus permissions name each partition's consumer (runtime/permissions.py)."""
_COUNT = re.compile(r"\{\{\s*partition\(\s*(\d+)\s*,")


def partitions_from_env() -> int:
    count = env_int("VOCO_PARTITIONS", DEFAULT_PARTITIONS)
    if not 1 <= count <= MAX_PARTITIONS:
        raise SystemExit(
            f"VOCO_PARTITIONS={count}: give 1 to {MAX_PARTITIONS} partitions (at least the "
            f"number of replicas a service will run; default {DEFAULT_PARTITIONS})"
        )
    return count


def fnv1a(text: str) -> int:
    """FNV-1a, 32 bits: the hash nats-server's `partition()` transform uses."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def partition_of(key: str, count: int) -> int:
    """The partition JetStream stores a message whose key token is `key` in."""
    return fnv1a(key) % count


@dataclass(frozen=True)
class PartitionScheme:
    """How a stream's subjects are partitioned.

    `source`: the subjects partitioned, with `*` for each token kept (e.g.
    `voco.pbx.evt.*.*`); `key`: which of those wildcards (1-based) is the aggregate's
    key (the call id, the extension). Other subjects of the stream are stored as sent.
    """

    source: str
    key: int

    def transform(self, count: int) -> SubjectTransform:
        tokens, n = [], 0
        for token in self.source.split("."):
            if token == "*":
                n += 1
                tokens.append(f"{{{{wildcard({n})}}}}")
            else:
                tokens.append(token)
        return SubjectTransform(
            src=self.source, dest=".".join(tokens) + f".{{{{partition({count},{self.key})}}}}"
        )

    def count_of(self, config: StreamConfig) -> int | None:
        """The partitions of a stream configured with this scheme, or None (not partitioned)."""
        transform = config.subject_transform
        if transform is None or transform.src != self.source or transform.dest is None:
            return None
        found = _COUNT.search(transform.dest)
        return int(found.group(1)) if found else None

    def filters(self, subjects: Sequence[str], partition: int) -> list[str]:
        """The stored subjects of `partition` among `subjects` (each as `source`, with some
        wildcards made literal, e.g. `voco.pbx.evt.call.*`)."""
        return [f"{subject}.{partition}" for subject in subjects]


async def ensure_partitioned(
    js: JetStreamContext, config: StreamConfig, scheme: PartitionScheme
) -> int:
    """Create the stream partitioned, or add the partitioning to one that has none; the
    partition count its consumers must use (the stream's own when it has one)."""
    wanted = partitions_from_env()
    try:
        current = (await js.stream_info(config.name or "")).config
    except NotFoundError:
        try:
            await js.add_stream(config.evolve(subject_transform=scheme.transform(wanted)))
            return wanted
        except BadRequestError:  # another process created it meanwhile
            current = (await js.stream_info(config.name or "")).config
    count = scheme.count_of(current)
    if count is None:
        log.info("partitioning stream", extra={"stream": current.name, "partitions": wanted})
        await js.update_stream(current.evolve(subject_transform=scheme.transform(wanted)))
        return wanted
    if count != wanted:
        log.warning(
            "the stream keeps its partition count; VOCO_PARTITIONS is not applied to it",
            extra={"stream": current.name, "partitions": count, "VOCO_PARTITIONS": wanted},
        )
    if count > MAX_PARTITIONS:
        raise SystemExit(
            f"stream {current.name} has {count} partitions, more than the {MAX_PARTITIONS} "
            "the bus permissions allow"
        )
    return count
