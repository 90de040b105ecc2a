"""Request bodies made from the contracts' models, minus what the edge sets itself.

A body never has `actor`, `role`, `channel` or `at` (the edge and the services stamp
them) nor the fields the URL names (the extension, the profile id...). Unknown fields
are refused, so a body that tries to set `actor` gets 422 naming `actor`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

from services.gateway.identity import IDENTITY_FIELDS

STAMPED = IDENTITY_FIELDS | {"at"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def body_of(model: type[BaseModel], name: str, *, without: set[str] = frozenset()) -> type[Body]:  # type: ignore[assignment]
    """A body model with `model`'s fields (their types, constraints and docs) but those the
    edge fills in."""
    fields: dict[str, Any] = {
        field: (info.annotation, info)
        for field, info in model.model_fields.items()
        if field not in STAMPED and field not in without
    }
    made: type[Body] = create_model(name, __base__=Body, __doc__=model.__doc__, **fields)
    return made
