"""Reading a Schema Registry's answers, and what the codec does with them (no I/O)."""

from __future__ import annotations

import json

import pytest

from schemas.codec import CUSTOMER_FEEDBACK_SCHEMA, SignalCodec, encode
from schemas.records import CUSTOMER_FEEDBACK_TOPIC, CustomerFeedback
from streams.errors import DecodeError
from streams.runtime.schema_registry import RegistryUnavailable, read_answer

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
def test_answers_that_no_retry_can_change_make_the_id_unusable(
    status: int, body: bytes, reason: str
) -> None:
    answer = read_answer(7, status, body)
    assert answer.schema is None and answer.unusable is not None and reason in answer.unusable


@pytest.mark.parametrize("status", [401, 403, 408, 429, 500, 502, 503])
def test_answers_that_may_change_mean_wait(status: int) -> None:
    with pytest.raises(RegistryUnavailable):
        read_answer(7, status, b"")


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


def test_with_a_registry_an_id_never_fetched_is_not_read_with_our_own_schema() -> None:
    codec = SignalCodec()
    codec.strict_ids = True
    framed = encode(CustomerFeedback("e1", 1, "team", "web", "s", csat=4), schema_id=9)
    with pytest.raises(DecodeError, match="not fetched"):
        codec.decode(CUSTOMER_FEEDBACK_TOPIC, framed)
