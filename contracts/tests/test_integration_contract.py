"""The public integration contract: CloudEvents, the AsyncAPI 3.0 document, frozen versions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from peluit_contracts import asyncapi
from peluit_contracts.asyncapi_examples import envelope_example
from peluit_contracts.compat import breaking_changes
from peluit_contracts.events import DATA_SCHEMAS, INTEGRATION_TYPES, load_envelope
from peluit_contracts.integration import CLOUDEVENTS_CONTENT_TYPE, PUBLISHED, to_cloudevent
from peluit_contracts.schema_export import object_schema

CONTRACTS = Path(__file__).resolve().parents[1]
META_SCHEMA = json.loads((Path(__file__).parent / "vendor" / "asyncapi-3.0.0.schema.json").read_text())


def as_cloudevent(envelope: dict) -> CloudEvent:
    """What a subscriber's CloudEvents SDK makes of the message Peluit publishes."""
    message = rabbitmq.RabbitMQMessage(headers={}, content_type=CLOUDEVENTS_CONTENT_TYPE,
                                       body=json.dumps(envelope).encode())
    return rabbitmq.from_rabbitmq(message, JSONFormat())


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_every_published_integration_event_is_a_cloudevent_for_the_sdk(key):
    envelope = envelope_example(*key)
    event = as_cloudevent(envelope)
    assert isinstance(event, CloudEvent) and event.get_specversion() == "1.0"
    assert (event.get_type(), event.get_extension("dataversion")) == key
    assert event.get_source() == "peluit/cases" and event.get_id() == envelope["id"]
    assert event.get_datacontenttype() == "application/json"
    assert event.get_dataschema() == f"urn:peluit:schema:{key[0]}:v{key[1]}"
    assert event.get_data() == envelope["data"]
    # extension attributes are of the CloudEvents types (String, Integer) and round-trip through the SDK
    for name in ("tenant", "position", "dataversion"):
        assert type(event.get_extension(name)) in (str, int)
    again = json.loads(rabbitmq.to_structured_event(event).body)
    assert again["tenant"] == envelope["tenant"] and again["position"] == envelope["position"]
    assert load_envelope(again)["data"]  # and Peluit's own contract reads it back


def test_the_sdk_refuses_what_is_not_a_cloudevent():
    # proves the check above can fail: a bad extension name and a missing source are refused
    envelope = envelope_example("case.closed", 1)
    with pytest.raises(Exception):
        as_cloudevent({**envelope, "data_Version": 1})
    with pytest.raises(Exception):
        as_cloudevent({k: v for k, v in envelope.items() if k != "source"})


def test_only_published_integration_versions_become_cloudevents():
    assert {t for t, _ in PUBLISHED} == INTEGRATION_TYPES
    with pytest.raises(ValueError):
        to_cloudevent(envelope_example("case.registered", 1))


def test_the_asyncapi_file_is_the_generated_document():
    on_disk = yaml.safe_load((CONTRACTS / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert on_disk == asyncapi.build(), "regenerate: python -m peluit_contracts.asyncapi contracts/asyncapi.yaml"


def test_the_document_is_valid_asyncapi_3():
    doc = asyncapi.build()
    jsonschema.Draft7Validator(META_SCHEMA).validate(doc)
    broken = copy.deepcopy(doc)
    broken["operations"]["receiveCaseClosedV1"]["action"] = "publish"  # an AsyncAPI 2 word
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(META_SCHEMA).validate(broken)


def _message_validator(doc: dict, message: dict):
    # resolve the payload's $ref inside the document itself
    return jsonschema.Draft7Validator({**message["payload"], "components": doc["components"]},
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_every_message_has_an_example_that_its_schema_and_the_contract_accept():
    doc = asyncapi.build()
    messages = doc["components"]["messages"]
    assert len(messages) == len(DATA_SCHEMAS)
    for name, message in messages.items():
        validator = _message_validator(doc, message)
        assert message["examples"], name
        for example in message["examples"]:
            validator.validate(example["payload"])
            load_envelope(example["payload"])  # marshmallow agrees with the JSON Schema
            bad = copy.deepcopy(example["payload"])
            bad["data"]["reporter_ref"] = "x"  # closed: an extra field is refused
            assert not validator.is_valid(bad), name


def test_every_integration_channel_is_on_the_integration_exchange_and_the_stream():
    doc = asyncapi.build()
    stream = doc["channels"]["IntegrationStream"]
    assert stream["x-peluit-queue-arguments"]["x-queue-type"] == "stream"
    for (event_type, version) in PUBLISHED:
        name = asyncapi._name(event_type, version)
        assert doc["channels"][name]["bindings"]["amqp"]["exchange"]["name"] == "peluit.integration"
        assert name in stream["messages"]


# -- frozen versions ------------------------------------------------------------------------------


def frozen(event_type: str, version: int) -> dict:
    return json.loads((CONTRACTS / "published" / f"{event_type}.v{version}.json").read_text())


def test_every_published_version_is_frozen_and_no_frozen_version_disappears():
    files = {p.name for p in (CONTRACTS / "published").glob("*.json")}
    assert files == {f"{t}.v{v}.json" for t, v in PUBLISHED}  # a published version is never dropped silently
    for key in PUBLISHED:
        assert key in DATA_SCHEMAS, key


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_the_code_still_speaks_each_published_version(key):
    assert breaking_changes(frozen(*key), object_schema(DATA_SCHEMAS[key])) == []


def test_a_version_with_a_sunset_has_a_newer_successor():
    for (event_type, version), published in PUBLISHED.items():
        if published.sunset:
            assert (event_type, version + 1) in PUBLISHED and published.sunset > published.since


def _closed():
    return frozen("case.sanction_recommended", 1)


@pytest.mark.parametrize("change, expected", [
    (lambda s: s["properties"].pop("months"), "months: removed field"),
    (lambda s: (s["properties"].__setitem__("unit", {"type": "string"}), s["required"].append("unit")),
     "unit: new required field"),
    (lambda s: s["properties"].__setitem__("note", {"type": "string"}), "note: new field in a closed schema"),
    (lambda s: s["properties"]["months"].__setitem__("type", "integer"), "months: type narrowed"),
    (lambda s: s["properties"]["level"].__setitem__("maxLength", 4), "level: maxLength narrowed"),
    (lambda s: s["properties"]["level"].__setitem__("maxLength", 80), "level: maxLength widened"),
    (lambda s: s["properties"]["case_id"].__setitem__("format", None), "case_id: format changed"),
    (lambda s: s["required"].remove("tenant"), "tenant: required field became optional"),
])
def test_the_compatibility_check_names_each_breaking_change(change, expected):
    current = _closed()
    change(current)
    problems = breaking_changes(_closed(), current)
    assert any(p.startswith(expected) for p in problems), problems


def test_descriptions_may_change():
    current = _closed()
    current["properties"]["level"]["description"] = "PP 94/2021 level"
    current["title"] = "renamed"
    assert breaking_changes(_closed(), current) == []
