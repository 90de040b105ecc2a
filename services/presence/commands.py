"""The shell around the deciders: stamps time, looks up the directory, runs, answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from contracts.base import Command, Role
from contracts.envelope import Envelope, Metadata
from contracts.errors import CommandError, ErrorBody, ErrorCode, Forbidden
from contracts.presence import (
    ApplyAnnouncedSwitch,
    ByActor,
    ConfigureFeatureCodes,
    PresenceView,
    SaveIvr,
    SaveProfile,
    SaveRingGroup,
    SwitchResults,
    SwitchUsers,
    event_subject,
)
from runtime.access import authorize
from runtime.clock import Clock
from runtime.decider import CommandRunner, Decider, Job, StateCache
from runtime.eventstore import EventStore, Outgoing, VersionConflict
from services.presence.access import ACCESS
from services.presence.domain.directory import (
    FEATURE_CODES_STREAM,
    feature_codes_decider,
    ivr_decider,
    ivr_stream,
    ring_group_decider,
    ring_group_stream,
)
from services.presence.domain.profiles import NO_DIRECTORY, Directory, referenced_names
from services.presence.domain.state import User
from services.presence.domain.user import user_decider, user_stream
from services.presence.read_model import ReadModel

S = TypeVar("S")
TIMER_ACTOR = "presence"  # the service's own timer applying announced switches
B = TypeVar("B", bound=ByActor)


def subject_key(stream: str) -> str:
    """`user:1001` -> `1001`; `ring-group:sales` -> `ring-group-sales`; `feature-codes` as is."""
    kind, _, key = stream.partition(":")
    if not key:
        return kind
    return key if kind == "user" else f"{kind}-{key}"


def outgoing(envelopes: Sequence[Envelope]) -> list[Outgoing]:
    return [
        Outgoing(
            subject=event_subject(subject_key(e.stream), e.type),
            payload=e.to_bytes(),
            msg_id=str(e.id),
        )
        for e in envelopes
    ]


def view_of(user: User) -> PresenceView:
    return PresenceView(
        extension=user.extension,
        display_name=user.display_name,
        status=user.status,
        note=user.note,
        note_expires_at=user.note_expires_at,
        active_profile=user.active_profile,
        devices=dict(user.devices),
        signed_in_sessions=len(user.sessions),
    )


def by(command: ByActor, **extra: str) -> Metadata:
    """Who acted, in which role, through which channel: recorded on every event."""
    return Metadata.model_validate(
        {
            "actor": command.actor,
            "role": command.role.value,
            "channel": command.channel.value,
            **extra,
        }
    )


class PresenceCommands:
    def __init__(
        self,
        store: EventStore,
        read_model: ReadModel,
        clock: Clock,
        on_commit: Callable[[], None] | None = None,
        cache: StateCache | None = None,
    ) -> None:
        self.store = store
        self.read_model = read_model
        self.clock = clock
        self.on_commit = on_commit
        self.cache = cache or StateCache()

    def _runner(self, decider: Decider[Command, S]) -> CommandRunner[Command, S]:
        # A runner is a handful of attributes; one per command lets the decider close over
        # the directory entries this command refers to.
        return CommandRunner(
            self.store,
            decider,
            outgoing=outgoing,
            projections=[self.read_model.project],
            on_commit=self.on_commit,
            cache=self.cache,
        )

    def stamped(self, command: B) -> B:
        return (
            command
            if command.at is not None
            else command.model_copy(update={"at": self.clock.now()})
        )

    async def _directory(self, names: set[str]) -> Directory:
        if not names:
            return NO_DIRECTORY
        async with self.store.pool.acquire() as conn:
            return await self.read_model.directory(conn, names)

    async def _run(
        self, stream: str, command: Command, decider: Decider[Command, S], meta: Metadata
    ) -> S:
        at = getattr(command, "at", None) or self.clock.now()
        decided = await self._runner(decider).handle(stream, command, at=at, meta=meta)
        return decided.state

    async def user(self, command: Command, extra_meta: Mapping[str, str] | None = None) -> User:
        """Run a command on `user:<extension>`; returns the user's state after it."""
        if isinstance(command, ByActor):
            command = self.stamped(command)
            meta = by(command, **(extra_meta or {}))
        else:
            meta = Metadata(actor="automation", channel="automation")
        directory = NO_DIRECTORY
        if isinstance(command, SaveProfile):
            directory = await self._directory(referenced_names(command.profile))
        extension: str = getattr(command, "extension")  # noqa: B009
        state = await self._run(user_stream(extension), command, user_decider(directory), meta)
        assert isinstance(state, User)
        return state

    async def user_view(self, command: Command) -> PresenceView:
        return view_of(await self.user(command))

    async def switch_users(self, command: SwitchUsers, attempts: int = 3) -> SwitchResults:
        """Every switch decided on its user's state, all written in one transaction.

        A switch another writer overtook (a user switching by hand at that moment) makes
        the write conflict: nothing is stored and the batch is decided again on fresh
        state, which costs a re-read of its users, so it is rare enough.
        """
        jobs: list[Job[Command]] = []
        # Each switch is authorized as if sent alone; a forbidden one is refused by itself.
        forbidden: dict[int, ErrorBody] = {}
        for position, switch in enumerate(command.switches):
            try:
                authorize(switch, ACCESS[type(switch)])
            except Forbidden as refusal:
                forbidden[position] = refusal.body()
                continue
            stamped = self.stamped(switch)
            assert stamped.at is not None
            jobs.append(
                Job(user_stream(stamped.extension), stamped, at=stamped.at, meta=by(stamped))
            )
        if not jobs:
            return SwitchResults(refused=[forbidden[p] for p in range(len(command.switches))])
        outcomes = iter(await self.decide_together(jobs, attempts))
        refused: list[ErrorBody | None] = [
            forbidden[position] if position in forbidden else next(outcomes)
            for position in range(len(command.switches))
        ]
        return SwitchResults(refused=refused)

    async def decide_together(
        self, jobs: list[Job[Command]], attempts: int = 3
    ) -> list[ErrorBody | None]:
        """Decide the jobs on their users' states and write them in one transaction; per
        job, None when it holds, else why it was refused."""
        runner = self._runner(user_decider())
        for _ in range(attempts):
            try:
                async with self.store.pool.acquire() as conn, conn.transaction():
                    batch = await runner.decide_batch(conn, jobs, collect_refusals=True)
            except VersionConflict:
                continue
            await batch.committed()
            return [d.refused.body() if d.refused else None for d in batch.decided]
        raise CommandError(
            f"users changed under the batch {attempts} times while deciding; try again",
            code=ErrorCode.CONFLICT,
        )

    async def apply_announced(self, announcers: Mapping[str, str], now: datetime) -> int:
        """The announced switches due at `now` (extension -> who announced it, recorded on
        the events as if they had sent the switch then), in one transaction; returns how
        many were refused."""
        jobs: list[Job[Command]] = [
            Job(
                user_stream(ext),
                ApplyAnnouncedSwitch(extension=ext, at=now, actor=TIMER_ACTOR, role=Role.SERVICE),
                at=now,
                meta=Metadata.model_validate(
                    {"actor": actor, "role": Role.SERVICE.value, "channel": "scheduler"}
                ),
            )
            for ext, actor in announcers.items()
        ]
        refused = await self.decide_together(jobs)
        return sum(1 for r in refused if r is not None)

    async def save_ring_group(self, command: SaveRingGroup) -> dict[str, Any]:
        command = self.stamped(command)
        directory = await self._directory(set(command.members))
        await self._run(
            ring_group_stream(command.group_id),
            command,
            ring_group_decider(directory),
            by(command),
        )
        return {"group_id": command.group_id}

    async def save_ivr(self, command: SaveIvr) -> dict[str, Any]:
        command = self.stamped(command)
        await self._run(
            ivr_stream(command.ivr_id),
            command,
            ivr_decider,
            by(command),
        )
        return {"ivr_id": command.ivr_id}

    async def configure_feature_codes(self, command: ConfigureFeatureCodes) -> dict[str, Any]:
        command = self.stamped(command)
        state = await self._run(
            FEATURE_CODES_STREAM,
            command,
            feature_codes_decider,
            by(command),
        )
        return {"codes": dict(state.codes)}

    async def current(self, stream: str, decider: Decider[Command, S]) -> S:
        """The stream's state as stored now (read past the cache: another replica may have
        written since), for the queries."""
        state, _ = await self._runner(decider).state_of(stream, fresh=True)
        return state

    async def feature_codes(self) -> Mapping[str, str]:
        state, _ = await self._runner(feature_codes_decider).state_of(FEATURE_CODES_STREAM)
        return state.codes
