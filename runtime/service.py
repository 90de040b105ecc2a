"""A service's process: connections, relay, consumers, command server, graceful shutdown.

Every service builds on `ServiceRuntime` and starts through `run_service`, so
wiring differs per service but the lifecycle is written once: on SIGTERM or
SIGINT it stops taking commands, lets in-flight handlers finish (NATS drain),
stops its consumers after their current batch, publishes what is left in the
outbox, and closes its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from runtime.bus import CommandServer, connect, flush_all
from runtime.clock import Clock, SystemClock
from runtime.config import Connections, env_float, env_int, env_str
from runtime.consumer import Apply, CheckpointedConsumer
from runtime.eventstore import EventStore
from runtime.heartbeat import beat
from runtime.leases import PartitionedConsumer
from runtime.logs import setup_logging
from runtime.outbox import OutboxRelay
from runtime.partitions import PartitionScheme, ensure_partitioned, partitions_from_env
from runtime.relays import PartitionedRelay
from runtime.schema import open_pool, prepare
from runtime.telemetry import setup_metrics, setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)


class Worker(Protocol):
    """A background loop the runtime starts and stops with the service (e.g. a timer driver)."""

    name: str

    async def run(self) -> None: ...

    def stop(self) -> None: ...


def stream_config(
    name: str,
    subjects: Sequence[str],
    storage: StorageType = StorageType.FILE,
    *,
    atomic_batches: bool = False,
) -> StreamConfig:
    """How every Voco stream is configured. MEMORY only for messages Postgres keeps anyway
    (no fsync). `atomic_batches` only where commits carry thousands of events (presence's
    bulk switches): measured, it made routing's call path (PBX streams) slower, p99 11 ->
    190-750 ms, with no per-message publish latency to show for it. Replicas from
    VOCO_STREAM_REPLICAS: 1 on one server (durable by `sync_interval: always`), 3 on a
    cluster, whose servers fsync lazily by default (DESIGN.md: fsync always or replicas)."""
    return StreamConfig(
        name=name,
        subjects=list(subjects),
        storage=storage,
        duplicate_window=120.0,
        allow_atomic=atomic_batches or None,
        num_replicas=stream_replicas(),
    )


def stream_replicas() -> int:
    replicas = env_int("VOCO_STREAM_REPLICAS", 1)
    if not 1 <= replicas <= 5:
        raise SystemExit(
            f"VOCO_STREAM_REPLICAS={replicas}: JetStream keeps 1 to 5 copies of a stream; "
            "set 1 for one NATS server, 3 for a cluster of three or more"
        )
    return replicas


async def ensure_stream(
    js: JetStreamContext,
    name: str,
    subjects: Sequence[str],
    storage: StorageType = StorageType.FILE,
    *,
    atomic_batches: bool = False,
) -> None:
    """Create or update a stream."""
    config = stream_config(name, subjects, storage, atomic_batches=atomic_batches)
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def ensure_stream_exists(js: JetStreamContext, name: str, subjects: Sequence[str]) -> None:
    """Create a stream this service consumes if its owner has not yet; never reconfigure
    it (the owner's `ensure_stream` sets it up as it needs)."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        with contextlib.suppress(BadRequestError):  # its owner created it meanwhile
            await js.add_stream(stream_config(name, subjects))


@dataclass
class ServiceRuntime:
    name: str
    nc: NatsClient
    js: JetStreamContext
    pool: asyncpg.Pool
    store: EventStore
    relay: OutboxRelay | PartitionedRelay
    commands: CommandServer
    clock: Clock
    consumers: list[CheckpointedConsumer] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    died: asyncio.Event = field(default_factory=asyncio.Event)

    def consume(
        self,
        name: str,
        stream: str,
        subjects: Sequence[str],
        apply: Apply | None = None,
        **options: object,
    ) -> CheckpointedConsumer:
        """A checkpointed consumer started with the service; by default the relay scans the
        outbox after each batch (for rows an `apply` wrote with `enqueue`)."""
        options.setdefault("after_commit", self.relay.wake)
        consumer = CheckpointedConsumer(
            self.store,
            self.js,
            name=name,
            stream=stream,
            subjects=subjects,
            apply=apply,
            **options,  # type: ignore[arg-type]
        )
        self.consumers.append(consumer)
        return consumer

    async def consume_partitioned(
        self,
        name: str,
        stream: StreamConfig,
        scheme: PartitionScheme,
        subjects: Sequence[str],
        apply: Apply | None = None,
        **options: Any,
    ) -> PartitionedConsumer:
        """A consumer of `stream`'s partitions (made partitioned if it is not), sharing
        them with the service's other replicas (runtime/leases.py). `subjects`: what it
        reads, as `scheme.source` with some wildcards made literal. By default the relay
        scans the outbox after each batch, as for `consume`."""
        options.setdefault("after_commit", self.relay.wake)
        count = await ensure_partitioned(self.js, stream, scheme)
        if isinstance(self.relay, PartitionedRelay):
            # The outbox partitioned as the stream: each replica relays what it consumes.
            if self.store.partitions != 1:
                raise ValueError("one partitioned consumer per service drives its relays")
            self.store.partitions = count
            options.update(on_taken=self.relay.take, on_let_go=self.relay.let_go)
        consumer = PartitionedConsumer(
            self.store,
            self.js,
            name=name,
            stream=stream.name or "",
            scheme=scheme,
            subjects=subjects,
            partitions=count,
            apply=apply,
            rebalance_seconds=env_float("VOCO_REBALANCE_SECONDS", 1.0),
            **options,
        )
        self.workers.append(consumer)
        return consumer

    def spawn(self, work: Awaitable[None], name: str) -> None:
        """Run background work; loops that must stop with the service are `workers`."""
        self._tasks.append(asyncio.create_task(self._guard(work, name), name=name))

    async def _guard(self, work: Awaitable[None], name: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            # A service whose loop died would go on answering (and beating) without doing
            # its work: it stops instead, and its supervisor starts it afresh.
            log.exception("background task died; the service stops", extra={"task": name})
            self.died.set()
            raise

    async def start(self) -> None:
        heartbeat = env_str("VOCO_HEARTBEAT_FILE", "")
        if heartbeat:
            self.spawn(beat(Path(heartbeat), self.nc), "heartbeat")
        self.spawn(self.relay.run(), "outbox-relay")
        for consumer in self.consumers:
            self.spawn(consumer.run(), f"consumer-{consumer.name}")
        for worker in self.workers:
            self.spawn(worker.run(), f"worker-{worker.name}")
        await self.commands.start()
        await flush_all(self.nc)  # the command subscriptions are live when start returns
        url = self.nc.connected_url
        log.info(
            "service started",
            extra={"nats": f"{url.hostname}:{url.port}" if url else None},  # no password
        )

    async def stop(self) -> None:
        log.info("service stopping: draining")
        await self.commands.drain()  # no new commands; in-flight handlers finish
        for consumer in self.consumers:
            consumer.stop()  # each finishes its current batch
        for worker in self.workers:
            worker.stop()
        for task in self._tasks:
            if task.get_name() == "heartbeat":
                task.cancel()
        consumer_tasks = [
            t for t in self._tasks if t.get_name().startswith(("consumer-", "worker-"))
        ]
        if consumer_tasks:
            await asyncio.wait(consumer_tasks, timeout=10)
        self.relay.stop()  # publishes what is left, then returns
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=10)
            for task in pending:
                task.cancel()
        if not self.nc.is_closed:
            await self.nc.drain()
        await self.pool.close()
        shutdown_tracing()
        log.info("service stopped")


async def open_runtime(
    name: str,
    schema: str,
    connections: Connections,
    *,
    clock: Clock | None = None,
    extra_sql: str = "",
    streams: dict[str, Sequence[str]] | None = None,
    batched_streams: Sequence[str] = (),
    consumed_streams: dict[str, Sequence[str]] | None = None,
    pool_size: int = 10,
    partitioned: bool = False,
) -> ServiceRuntime:
    """`streams`: the streams this service publishes to, configured by it;
    `batched_streams`: those of them the relay publishes to in atomic batches;
    `consumed_streams`: others' streams it reads, created only if missing;
    `partitioned`: it consumes partitions (`consume_partitioned`), each holding a pooled
    connection while this replica has it, so the pool has room for all of them, and its
    outbox is relayed partition by partition (runtime/relays.py)."""
    if partitioned:
        pool_size += partitions_from_env() + 1  # and the member lock's connection
    nc = await connect(connections.nats_url, name=f"voco-{name}")
    js = nc.jetstream()
    batched_subjects = []
    for stream_name, subjects in (streams or {}).items():
        atomic = stream_name in batched_streams
        await ensure_stream(js, stream_name, subjects, atomic_batches=atomic)
        batched_subjects += list(subjects) if atomic else []
    for stream_name, subjects in (consumed_streams or {}).items():
        await ensure_stream_exists(js, stream_name, subjects)
    pool = await open_pool(connections.database_url, max_size=pool_size)
    store = EventStore(pool, schema)
    await prepare(store, extra_sql)
    return ServiceRuntime(
        name=name,
        nc=nc,
        js=js,
        pool=pool,
        store=store,
        relay=(
            PartitionedRelay(store, nc, js, batched_subjects=batched_subjects)
            if partitioned
            else OutboxRelay(store, nc, js, batched_subjects=batched_subjects)
        ),
        commands=CommandServer(nc, name),
        clock=clock or SystemClock(),
    )


def gc_thresholds() -> tuple[int, int, int]:
    raw = env_str("VOCO_GC_THRESHOLDS", "50000,20,100")
    try:
        first, second, third = (int(x) for x in raw.split(","))
    except ValueError:
        raise SystemExit(
            f"VOCO_GC_THRESHOLDS={raw!r}: give three integers, e.g. 50000,20,100"
        ) from None
    return first, second, third


def quiet_collector(thresholds: tuple[int, int, int] | None = None) -> None:
    """Keep the garbage collector's pauses short in a process that has finished starting
    (services, and the load generators that time them)."""
    # What start-up loaded (modules, read models) lives as long as the process: out of the
    # collector's sight, a full collection scans only what came after (routing at 200
    # calls/s saw 23 ms full collections, its p99 budget is 10 ms).
    gc.freeze()
    # A request's garbage dies young: with the default first threshold (700 allocations)
    # it was promoted and rescanned in full collections; presence spent 4.3 s in the
    # collector for 6,000 users (full collections up to 380 ms), 0.75 s with these.
    gc.set_threshold(*(thresholds or gc_thresholds()))


def run_service(name: str, build: Callable[[Connections], Awaitable[ServiceRuntime]]) -> None:
    """The `main` of every service process."""
    setup_logging(name, env_str("VOCO_LOG_LEVEL", "info"))
    thresholds = gc_thresholds()  # bad configuration stops the service before it starts
    stream_replicas()
    setup_tracing(name)
    setup_metrics(name)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; this keeps PyPy usable
        pass
    asyncio.run(_serve(name, build, thresholds))


async def _serve(
    name: str,
    build: Callable[[Connections], Awaitable[ServiceRuntime]],
    gc_threshold: tuple[int, int, int],
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = await build(Connections.from_env())
    await service.start()
    quiet_collector(gc_threshold)
    stopped, died = asyncio.create_task(stop.wait()), asyncio.create_task(service.died.wait())
    await asyncio.wait([stopped, died], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    died.cancel()
    await service.stop()
    if service.died.is_set():
        raise SystemExit(f"{name}: a background task died (see the log above); exiting")
