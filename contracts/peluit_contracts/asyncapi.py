"""The AsyncAPI 3.0 document of Peluit's events, built from the contracts.

``contracts/asyncapi.yaml`` is this document written out
(``python -m peluit_contracts.asyncapi contracts/asyncapi.yaml``); a test
fails when the file and the code differ, validates the document against the
AsyncAPI 3.0.0 JSON Schema and every example against its message's schema.
"""

from __future__ import annotations

import sys

from .asyncapi_examples import EXAMPLES, envelope_example
from .events import DATA_SCHEMAS, DOMAIN_EXCHANGE, routing_key
from .integration import CLOUDEVENTS_CONTENT_TYPE, PUBLISHED, STREAM, is_integration, stream_arguments
from .schema_export import object_schema
from .topology import INTEGRATION_EXCHANGE

DESCRIPTION = """\
Events Peluit's cases service publishes to RabbitMQ. The schemas are generated
from `peluit_contracts` (marshmallow); see docs/integration.md for a subscriber's guide.

**Public** integration events for other pemda systems are CloudEvents 1.0 in
structured JSON mode (content type `application/cloudevents+json`, with
`datacontenttype` `application/json` and `dataschema` naming the frozen
schema version) on the topic exchange `peluit.integration` (routing key
`<type>.v<version>`) and on the stream `peluit.integration.stream`, which keeps
them by size and age so a late subscriber replays from any offset or timestamp.
Every envelope has the extension attributes `dataversion`, `tenant` and
`position` (the cases notification id; order and exactly-once track it).

**Internal** events (`peluit.domain`) are Peluit's own, with no promise to others.

Versioning: a published version's data schema is frozen (`contracts/published/`,
closed: no field may be added, removed or retyped). A breaking change is a new
version with a new routing-key suffix, published beside the old one until the
old one's sunset date (`x-peluit-sunset` on its message).

Delivery: at-least-once, in `position` order from the relay; consumers dedupe
on `id`. Envelopes carry no identity, no reporter reference and no report text.
"""


def _name(event_type: str, version: int) -> str:
    return "".join(part.title() for part in event_type.replace(".", "_").split("_")) + f"V{version}"


def _exchange_binding(exchange: str) -> dict:
    return {"amqp": {"is": "routingKey", "bindingVersion": "0.3.0",
                     "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False,
                                  "vhost": "/"}}}


def _envelope_schema(event_type: str, version: int, data_ref: str, public: bool) -> dict:
    props = {
        "specversion": {"type": "string", "const": "1.0"},
        "id": {"type": "string", "minLength": 1, "maxLength": 100},
        "source": {"type": "string", "const": "peluit/cases"},
        "type": {"type": "string", "const": event_type},
        "dataversion": {"type": "integer", "const": version},
        "time": {"type": "string", "format": "date-time"},
        "subject": {"type": "string", "minLength": 1, "maxLength": 100},
        "tenant": {"type": "string", "pattern": r"^\d{2}(\.\d{2})?$"},
        "position": {"type": "integer", "minimum": 1},
        "data": {"$ref": data_ref},
    }
    if public:
        props["datacontenttype"] = {"type": "string", "const": "application/json"}
        props["dataschema"] = {"type": "string", "const": f"urn:peluit:schema:{event_type}:v{version}"}
    return {"type": "object", "additionalProperties": False, "required": list(props), "properties": props}


def build() -> dict:
    channels, operations, messages, schemas = {}, {}, {}, {}
    stream_messages = {}
    for (event_type, version), schema_cls in DATA_SCHEMAS.items():
        public = is_integration(event_type)
        name = _name(event_type, version)
        schemas[f"{name}Data"] = object_schema(schema_cls)
        schemas[name] = _envelope_schema(event_type, version, f"#/components/schemas/{name}Data", public)
        message = {
            "name": event_type, "title": f"{event_type} v{version}",
            "summary": (schema_cls.__doc__ or event_type).strip().splitlines()[0],
            "contentType": CLOUDEVENTS_CONTENT_TYPE if public else "application/json",
            "tags": [{"name": "public" if public else "internal"}],
            "payload": {"$ref": f"#/components/schemas/{name}"},
            "examples": [{"name": f"{name}Example", "payload": envelope_example(event_type, version)}],
        }
        if public and PUBLISHED[(event_type, version)].sunset:
            message["x-peluit-sunset"] = PUBLISHED[(event_type, version)].sunset
            message["deprecated"] = True
        messages[name] = message
        channels[name] = {
            "address": routing_key(event_type, version),
            "description": f"Routing key on `{INTEGRATION_EXCHANGE if public else DOMAIN_EXCHANGE}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": _exchange_binding(INTEGRATION_EXCHANGE if public else DOMAIN_EXCHANGE),
        }
        operations[f"receive{name}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
            "tags": [{"name": "public" if public else "internal"}],
        }
        if public:
            stream_messages[name] = {"$ref": f"#/components/messages/{name}"}
    channels["IntegrationStream"] = {
        "address": STREAM,
        "description": "Every integration event (the stream is bound to `peluit.integration` with `#`), kept by"
                       " size and age; consume with `x-stream-offset` (`first`, an offset, or a timestamp) and a"
                       " read-only user.",
        "messages": stream_messages,
        "bindings": {"amqp": {"is": "queue", "bindingVersion": "0.3.0",
                              "queue": {"name": STREAM, "durable": True, "exclusive": False, "autoDelete": False,
                                        "vhost": "/"}}},
        "x-peluit-queue-arguments": stream_arguments(),
    }
    operations["replayIntegrationStream"] = {
        "action": "receive", "channel": {"$ref": "#/channels/IntegrationStream"},
        "messages": [{"$ref": f"#/channels/IntegrationStream/messages/{n}"} for n in stream_messages],
        "tags": [{"name": "public"}],
    }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:peluit:cases:events",
        "info": {"title": "Peluit case events", "version": "2.0.0", "description": DESCRIPTION,
                 "tags": [{"name": "public", "description": "Integration events for other pemda systems."},
                          {"name": "internal", "description": "Peluit's own events; no promise to others."}]},
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": {"rabbitmq": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1",
                                 "description": "The province's RabbitMQ (virtual host `/` unless configured)."}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def dump() -> str:
    import yaml  # only for writing the file (the runtime contracts need marshmallow alone)

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))
    header = "# Generated by `python -m peluit_contracts.asyncapi contracts/asyncapi.yaml`: edit the contracts.\n"
    return header + yaml.dump(build(), Dumper=Dumper, sort_keys=False, allow_unicode=True, width=110)


if __name__ == "__main__":
    text = dump()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
