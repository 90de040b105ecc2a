"""The AsyncAPI document and JSON Schemas, generated from the registered contracts.

`python -m contracts.asyncapi --write` regenerates contracts/schemas/; a test
fails when the committed files differ from the code, so a wire change is
always a visible diff in review.

A contract module may define `channel_for(model) -> (address, action)` for
subjects of its own; otherwise events are sent on
`voco.evt.<service>.{key}.<Type>` and commands received on
`voco.cmd.<service>.<Type>` (request/reply), where <service> is the module name.
It may also define `request_channel_for(model) -> address | None`: a subject where Voco
receives the model as a request as well (answered with a Reply).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

import contracts
from contracts.base import Command, Message, registry
from contracts.envelope import Envelope

SCHEMAS_DIR = Path(__file__).parent / "schemas"


def load_all_contracts() -> None:
    for module in pkgutil.iter_modules(contracts.__path__):
        importlib.import_module(f"contracts.{module.name}")


def contract_models() -> list[type[Message]]:
    """The registered models defined in contracts/ (tests may register their own)."""
    load_all_contracts()
    return [m for m in registry.models() if m.__module__.startswith("contracts.")]


def _channel(model: type[Message]) -> tuple[str, str]:
    module = sys.modules[model.__module__]
    custom = getattr(module, "channel_for", None)
    if custom is not None:
        address, action = custom(model)
        return str(address), str(action)
    service = model.__module__.rsplit(".", 1)[-1]
    if issubclass(model, Command):
        return f"voco.cmd.{service}.{model.type_name}", "receive"
    return f"voco.evt.{service}.{{key}}.{model.type_name}", "send"


def _request_channel(model: type[Message]) -> str | None:
    custom = getattr(sys.modules[model.__module__], "request_channel_for", None)
    return None if custom is None else custom(model)


def json_schemas() -> dict[str, Any]:
    return {
        model.type_name: {"schema_version": model.schema_version, **model.model_json_schema()}
        for model in contract_models()
    }


def asyncapi() -> dict[str, Any]:
    models = contract_models()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model in models:
        name = model.type_name.replace(".", "_")
        address, action = _channel(model)
        messages[name] = {
            "name": model.type_name,
            "title": model.__name__,
            "summary": (model.__doc__ or "").strip().split("\n")[0],
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "x-schema-version": model.schema_version,
        }
        channels[name] = {
            "address": address,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[name] = {"action": action, "channel": {"$ref": f"#/channels/{name}"}}
        request_address = _request_channel(model)
        if request_address is not None:
            channels[f"{name}_request"] = {
                "address": request_address,
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            }
            operations[f"{name}_request"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{name}_request"},
                "reply": {"address": {"location": "$message.header#/reply_to"}},
                "description": "request/reply: answered with a Reply",
            }
    schemas = {
        m.type_name.replace(".", "_"): m.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for m in models
    }
    for schema in list(schemas.values()):
        schemas.update(schema.pop("$defs", {}))
    schemas["Envelope"] = Envelope.model_json_schema(by_alias=True)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Voco",
            "version": "1",
            "description": "Presence and presence-driven call routing. Events travel in the "
            "Envelope (schemas/Envelope); PBX messages are flat JSON with `type` and `v`; "
            "commands are answered with a Reply {ok, result | error{code, message, field}}.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def rendered() -> dict[str, str]:
    return {
        "asyncapi.json": json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n",
        "json-schema.json": json.dumps(json_schemas(), indent=2, sort_keys=True) + "\n",
    }


if __name__ == "__main__":
    if "--write" in sys.argv:
        SCHEMAS_DIR.mkdir(exist_ok=True)
        for file_name, text in rendered().items():
            (SCHEMAS_DIR / file_name).write_text(text)
        print(f"wrote {', '.join(rendered())} to {SCHEMAS_DIR}")
    else:
        print(rendered()["asyncapi.json"])
