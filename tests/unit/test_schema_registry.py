"""Reading a Schema Registry's answers, and what the codec does with them (no I/O)."""

from __future__ import annotations

import json

import pytest

from schemas.codec import CUSTOMER_FEEDBACK_SCHEMA, MAX_UNUSABLE_IDS, SignalCodec, encode
from schemas.records import CUSTOMER_FEEDBACK_TOPIC, CustomerFeedback
from streams.errors import ConfigError, DecodeError
from streams.runtime.schema_registry import RegistryRefused, RegistryUnavailable, read_answer

SCHEMA = {"type": "record", "name": "X", "fields": [{"name": "a", "type": "int"}]}


def test_a_schema_is_read() -> None:
    answer = read_answer(7, 200, json.dumps({"schema": json.dumps(SCHEMA)}).encode())
    assert answer.schema == SCHEMA and answer.unusable is None


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (404, b'{"error_code":40403}', "no schema with this id"),
        (200, json.dumps({"schema": "{}", "schemaType": "PROTOBUF"}).encode(), "not Avro"),
        (200, b"<html>", "not a schema"),
        (200, json.dumps({"schema": "[1, 2"}).encode(), "not an Avro record schema"),
        (400, b"{}", "answered 400"),
    ],
)
def test_answers_that_no_immediate_retry_can_change_make_the_id_unusable(
    status: int, body: bytes, reason: str
) -> None:
    answer = read_answer(7, status, body)
    assert answer.schema is None and answer.unusable is not None and reason in answer.unusable
    # Only "not found" may end (the id registered later); what an id holds never changes.
    assert answer.final == (status != 404)


@pytest.mark.parametrize("status", [401, 403, 408, 429, 500, 502, 503])
def test_answers_that_may_change_mean_wait(status: int) -> None:
    where = "the schema registry at https://registry.internal:8081"
    with pytest.raises(RegistryUnavailable) as error:
        read_answer(7, status, b"", where=where)
    message = str(error.value)
    said = f"refused the login ({status})" if status in (401, 403) else f"answered {status}"
    assert message.startswith(f"{where} {said} for schema id 7"), message
    # A refused login is told apart (it stops start-up, and is logged as an error) and names
    # the settings to fix; nothing else does.
    refused = status in (401, 403)
    assert isinstance(error.value, RegistryRefused) == refused
    assert ("MIROIR_SCHEMA_REGISTRY_PASSWORD" in message) == refused


def test_a_schema_type_spelled_out_as_avro_is_read() -> None:
    body = json.dumps({"schema": json.dumps(SCHEMA), "schemaType": "AVRO"}).encode()
    assert read_answer(7, 200, body).schema == SCHEMA


def test_the_codec_asks_only_for_ids_it_does_not_know_and_dead_letters_unusable_ones() -> None:
    record = CustomerFeedback("e1", 1, "team", "web", "s", csat=4)
    codec = SignalCodec(writer_schemas={5: CUSTOMER_FEEDBACK_SCHEMA})
    framed = {i: encode(record, schema_id=i) for i in (5, 6, 7)}
    values = [*framed.values(), encode(record), None]
    assert codec.unknown_schema_ids(values) == {6, 7}
    codec.add_writer_schema(6, CUSTOMER_FEEDBACK_SCHEMA)
    codec.mark_unusable(7, "the schema registry has no schema with this id")
    assert codec.unknown_schema_ids(values) == set()
    assert codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed[6]) == record
    with pytest.raises(DecodeError, match="no schema with this id"):
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed[7])


def test_the_codec_remembers_a_bounded_number_of_unusable_ids_the_oldest_forgotten() -> None:
    codec = SignalCodec()
    for schema_id in range(MAX_UNUSABLE_IDS + 10):
        codec.mark_unusable(schema_id, "the schema registry has no schema with this id")
    values = [
        encode(CustomerFeedback("e1", 1, "team", "web", "s", csat=4), schema_id=i)
        for i in (0, 9, 10, MAX_UNUSABLE_IDS + 9)
    ]
    assert codec.unknown_schema_ids(values) == {0, 9}  # forgotten: asked again if seen again


def test_deferred_ids_are_dead_letters_for_one_batch_only() -> None:
    codec = SignalCodec()
    codec.strict_ids = True
    framed = encode(CustomerFeedback("e1", 1, "team", "web", "s", csat=4), schema_id=9)
    codec.defer({9: "not asked for this time"})
    with pytest.raises(DecodeError, match="writer schema id 9: not asked for this time"):
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed)
    assert codec.unknown_schema_ids([framed]) == {9}  # still to be asked
    codec.defer({})
    with pytest.raises(DecodeError, match="was not fetched"):
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed)


def test_with_a_registry_an_id_never_fetched_is_not_read_with_our_own_schema() -> None:
    codec = SignalCodec()
    codec.strict_ids = True
    framed = encode(CustomerFeedback("e1", 1, "team", "web", "s", csat=4), schema_id=9)
    with pytest.raises(DecodeError, match="not fetched"):
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed)


@pytest.mark.parametrize("schema_id", [1, 2, 3, 256, 512, 999, 65536, 2**31])
def test_an_unusable_id_is_a_dead_letter_with_the_registrys_reason_alone(schema_id: int) -> None:
    # A framed message with a small id reads, byte for byte, like a plain body with an empty
    # event_id; the registry's verdict must not be buried under that reading's Avro error.
    codec = SignalCodec()
    codec.strict_ids = True
    codec.mark_unusable(schema_id, "the schema registry has no schema with this id")
    framed = encode(CustomerFeedback("e1", 1, "team", "web", "s", csat=4), schema_id=schema_id)
    with pytest.raises(DecodeError) as error:
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed)
    assert error.value.kind == "schema"
    assert error.value.reason == (
        f"writer schema id {schema_id}: the schema registry has no schema with this id"
    )


def test_a_registered_schema_fastavro_refuses_is_a_config_error_the_client_makes_unusable() -> None:
    codec = SignalCodec()
    with pytest.raises(ConfigError, match="writer schema id 8 is not a valid Avro schema"):
        codec.add_writer_schema(8, {"type": "record", "name": "X", "fields": [{"name": "a"}]})
    assert codec.unknown_schema_ids([encode_framed_header(8)]) == {8}  # nothing half-learnt


def test_the_client_is_built_only_with_a_url() -> None:
    from streams.runtime.schema_registry import SchemaRegistry
    from streams.settings import load_settings

    assert SchemaRegistry.from_settings(load_settings()) is None
    registry = SchemaRegistry.from_settings(
        load_settings(
            schema_registry_url="https://registry.internal:8081/",
            schema_registry_username="miroir",
            schema_registry_password="reg-topsecret-9",
        )
    )
    assert registry is not None
    assert registry.url == registry.shown_url == "https://registry.internal:8081"


def encode_framed_header(schema_id: int) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + b"body"
