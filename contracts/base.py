"""Base classes and the wire registry for every event and command.

An event's wire type is a stable string (`type_name`), never the Python class
name. A breaking change bumps `schema_version` and registers an upcaster from
the previous version, so old events in a store still load.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]
M = TypeVar("M", bound="type[Message]")


class Message(BaseModel):
    """A contract message: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_name: ClassVar[str]
    schema_version: ClassVar[int] = 1


class Event(Message):
    """A past-tense fact."""


class Command(Message):
    """An imperative request that a service may accept or reject."""


class Role(StrEnum):
    """In which capacity the actor issues a command (see each service's access table)."""

    USER = "user"  # a person acting on their own data
    ADMIN = "admin"  # an administrator, acting on anyone's
    SERVICE = "service"  # a trusted internal caller: a service, the PBX path, the operator


class Acting(Command):
    """A command or query someone issues: who (`actor`) and in which `role`.

    The edge stamps both from the session and the internal callers set their own; a
    client never chooses them. No actor means nobody vouched for the command: it is
    refused (`forbidden`) before anything is read. The role defaults to the least one.
    """

    actor: str | None = Field(
        default=None,
        max_length=128,
        description="the extension, administrator or service acting; required",
    )
    role: Role = Field(default=Role.USER, description="user (default), admin or service")


class Issued(Acting):
    """A command that changes something; who and when are recorded on the events it causes."""

    at: AwareDatetime | None = Field(
        default=None, description="when it was issued; the service stamps it if absent"
    )


class UnknownMessageType(LookupError):
    pass


class Registry:
    """Maps wire type names to models and upcasts old payloads to the current version."""

    def __init__(self) -> None:
        self._models: dict[str, type[Message]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, model: type[Message]) -> type[Message]:
        existing = self._models.get(model.type_name)
        if existing is not None and existing is not model:
            raise ValueError(f"wire type {model.type_name!r} is already taken by {existing}")
        self._models[model.type_name] = model
        return model

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register `fn(data_at_from_version) -> data_at_from_version_plus_one`."""

        def add(fn: Upcaster) -> Upcaster:
            self._upcasters[(type_name, from_version)] = fn
            return fn

        return add

    def model(self, type_name: str) -> type[Message]:
        try:
            return self._models[type_name]
        except KeyError:
            raise UnknownMessageType(f"unknown message type {type_name!r}") from None

    def models(self) -> list[type[Message]]:
        return sorted(self._models.values(), key=lambda m: m.type_name)

    def upcast(self, type_name: str, version: int, data: JsonObject) -> JsonObject:
        current = self.model(type_name).schema_version
        if version > current:
            raise ValueError(
                f"{type_name} v{version} is newer than this service knows (v{current}): "
                "upgrade the service"
            )
        while version < current:
            step = self._upcasters.get((type_name, version))
            if step is None:
                raise LookupError(f"no upcaster for {type_name} from v{version} to v{version + 1}")
            data = step(data)
            version += 1
        return data

    def load(self, type_name: str, version: int, data: JsonObject) -> Message:
        return self.model(type_name).model_validate(self.upcast(type_name, version, data))


registry = Registry()


def event(model: M) -> M:
    """Class decorator: register an event or command on the shared registry."""
    registry.register(model)
    return model
