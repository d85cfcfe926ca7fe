"""The Avro codec: round trips, framing, schema evolution and every way a message is refused."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codec import (
    CUSTOMER_FEEDBACK_SCHEMA,
    EMPLOYEE_PULSE_SCHEMA,
    MIRROR_ALERT_SCHEMA,
    SCHEMA_DIR,
    SignalCodec,
    alert_to_json,
    decode_alert,
    encode,
    encode_alert,
    record_from_json,
    record_to_json,
    topic_of,
)
from schemas.records import (
    CHANNELS,
    CUSTOMER_FEEDBACK_TOPIC,
    CUSTOMER_SCORES,
    EMPLOYEE_PULSE_TOPIC,
    EMPLOYEE_SCORES,
    MAX_COMMENT_CHARS,
    MAX_IDENTIFIER_CHARS,
    CustomerFeedback,
    EmployeePulse,
    MirrorAlert,
)
from streams.errors import ConfigError, DecodeError
from tests.samples import sample_alert

FEEDBACK = CustomerFeedback(
    event_id="cf-0001",
    occurred_at=1_700_000_000_123,
    team_id="team-lyon",
    channel="chat",
    source="qualtrics",
    customer_ref="c-9f2",
    tags=("billing", "sustainability"),
    language="fr",
    comment="Très à l'écoute, merci !",
    nps=9,
    csat=5,
    ces=6,
    listened=4,
    trust=5,
    courtesy=5,
)
PULSE = EmployeePulse(
    event_id="ep-0001",
    occurred_at=1_700_000_000_456,
    team_id="team-lyon",
    source="pulse-tool",
    respondent_ref="r-77",
    comment="On manque de temps.",
    enps=7,
    vision=4,
    meaning=5,
    belonging=4,
    recognition=2,
    trust=4,
    ambiance=5,
    empowerment=3,
    customer_proximity=4,
    workload=2,
)
ALERT = sample_alert(detector="mirror", detector_version="1.0")


def feedback(**changes: Any) -> CustomerFeedback:
    values = record_to_json(FEEDBACK) | changes
    values["tags"] = tuple(values["tags"])
    return CustomerFeedback(**values)


def write_with(schema: dict[str, Any], values: dict[str, Any], schema_id: int) -> bytes:
    """A Confluent-framed message as a producer with ``schema`` would write it."""
    buffer = io.BytesIO()
    buffer.write(b"\x00" + schema_id.to_bytes(4, "big"))
    schemaless_writer(buffer, parse_schema(copy.deepcopy(schema)), values)
    return buffer.getvalue()


def refused(topic: str, data: bytes, codec: SignalCodec | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        (codec or SignalCodec()).decode(topic, data)
    return caught.value


# --- the schema files ------------------------------------------------------------------------


def test_schema_files_live_in_schema_dir() -> None:
    assert sorted(path.name for path in SCHEMA_DIR.glob("*.avsc")) == [
        "customer_feedback.avsc",
        "employee_pulse.avsc",
        "episode_action.avsc",
        "mirror_alert.avsc",
        "team_info.avsc",
    ]


@pytest.mark.parametrize(
    "schema", [CUSTOMER_FEEDBACK_SCHEMA, EMPLOYEE_PULSE_SCHEMA, MIRROR_ALERT_SCHEMA]
)
def test_schemas_are_documented_in_the_miroir_namespace(schema: dict[str, Any]) -> None:
    assert schema["namespace"] == "miroir"
    assert schema["doc"]
    optional = [field for field in schema["fields"] if isinstance(field["type"], list)]
    assert all(field["type"][0] == "null" and field["default"] is None for field in optional)


def test_channel_enum_matches_records_and_defaults_to_other() -> None:
    channel = next(f for f in CUSTOMER_FEEDBACK_SCHEMA["fields"] if f["name"] == "channel")
    assert tuple(channel["type"]["symbols"]) == CHANNELS
    assert channel["type"]["default"] == "other"


def test_scores_are_optional_ints() -> None:
    for schema, scores in [
        (CUSTOMER_FEEDBACK_SCHEMA, CUSTOMER_SCORES),
        (EMPLOYEE_PULSE_SCHEMA, EMPLOYEE_SCORES),
    ]:
        types = {f["name"]: f["type"] for f in schema["fields"]}
        assert all(types[name] == ["null", "int"] for name in scores)


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("record", [FEEDBACK, PULSE], ids=["feedback", "pulse"])
@pytest.mark.parametrize("schema_id", [None, 1, 2**32 - 1])
def test_signal_round_trip(record: CustomerFeedback | EmployeePulse, schema_id: int | None) -> None:
    decoded = SignalCodec().decode(topic_of(record), encode(record, schema_id))
    assert decoded == record
    assert type(decoded.occurred_at) is int


def test_minimal_record_round_trip_takes_defaults() -> None:
    record = CustomerFeedback("e", 0, "t", "web", "s", csat=1)
    assert SignalCodec().decode(CUSTOMER_FEEDBACK_TOPIC, encode(record)) == record


def test_tags_come_back_as_a_tuple() -> None:
    decoded = SignalCodec().decode(CUSTOMER_FEEDBACK_TOPIC, encode(FEEDBACK))
    assert isinstance(decoded, CustomerFeedback)
    assert decoded.tags == ("billing", "sustainability")


def test_topic_of() -> None:
    assert topic_of(FEEDBACK) == CUSTOMER_FEEDBACK_TOPIC
    assert topic_of(PULSE) == EMPLOYEE_PULSE_TOPIC
    with pytest.raises(TypeError):
        topic_of(ALERT)  # type: ignore[arg-type]


def test_alert_round_trip() -> None:
    decoded = decode_alert(encode_alert(ALERT))
    assert decoded == ALERT
    assert type(decoded.window_start) is int
    assert type(decoded.created_at) is int


def test_alert_round_trip_under_k_anonymity() -> None:
    hidden = MirrorAlert(
        "a2" * 16, "t", 0, 1000, "outer_warning", "warning", "mirror", "1.0", "Customers.", 1001
    )
    assert decode_alert(encode_alert(hidden)) == hidden


def test_alert_to_json_is_plain_values() -> None:
    values = alert_to_json(ALERT)
    assert values["window_end"] == 1_700_086_400_000
    assert values["evidence"] == {"customer_se": 2.4, "employee_se": 5.0}
    assert values["evidence"] is not ALERT.evidence
    assert values["teams"] == []  # a JSON array
    assert MirrorAlert(**{**values, "teams": tuple(values["teams"])}) == ALERT


def test_decode_alert_refuses_trailing_bytes_and_garbage() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_alert(encode_alert(ALERT) + b"\x00")
    assert caught.value.kind == "undecodable"
    assert "trailing" in caught.value.reason
    with pytest.raises(DecodeError):
        decode_alert(b"")


@pytest.mark.parametrize("record", [FEEDBACK, PULSE], ids=["feedback", "pulse"])
def test_json_round_trip(record: CustomerFeedback | EmployeePulse) -> None:
    values = record_to_json(record)
    assert values["occurred_at"] == record.occurred_at
    assert record_from_json(topic_of(record), values) == record


def test_record_to_json_gives_tags_as_a_list() -> None:
    assert record_to_json(FEEDBACK)["tags"] == ["billing", "sustainability"]


def test_record_from_json_takes_defaults_ignores_unknown_keys_and_maps_new_channels() -> None:
    value = {
        "event_id": "e",
        "occurred_at": 5,
        "team_id": "t",
        "channel": "kiosk",
        "source": "s",
        "nps": 3,
        "added_later": True,
    }
    assert record_from_json(CUSTOMER_FEEDBACK_TOPIC, value) == CustomerFeedback(
        "e", 5, "t", "other", "s", nps=3
    )


def test_codec_instance_offers_the_stateless_operations() -> None:
    codec = SignalCodec()
    assert codec.decode_alert(codec.encode_alert(ALERT)) == ALERT
    assert codec.record_from_json(EMPLOYEE_PULSE_TOPIC, codec.record_to_json(PULSE)) == PULSE
    assert codec.topic_of(PULSE) == EMPLOYEE_PULSE_TOPIC
    assert codec.decode(CUSTOMER_FEEDBACK_TOPIC, codec.encode(FEEDBACK, 3)) == FEEDBACK


# --- framing ---------------------------------------------------------------------------------


def test_confluent_framing_layout() -> None:
    framed = encode(FEEDBACK, schema_id=42)
    assert framed[:5] == b"\x00\x00\x00\x00\x2a"
    assert framed[5:] == encode(FEEDBACK)


def test_encode_refuses_a_schema_id_that_does_not_fit() -> None:
    with pytest.raises(ValueError, match="schema_id"):
        encode(FEEDBACK, schema_id=2**32)


def test_encode_refuses_a_non_signal() -> None:
    with pytest.raises(TypeError):
        encode(ALERT)  # type: ignore[arg-type]


def test_encode_does_not_gate_domain_rules() -> None:
    # The simulator produces bad records on purpose; the reader is the gate.
    data = encode(feedback(nps=42))
    assert refused(CUSTOMER_FEEDBACK_TOPIC, data).kind == "range"


def test_plain_body_starting_with_zero_is_read_as_plain() -> None:
    # An empty event_id encodes as 0x00: the first byte of a plain body can be the magic byte.
    data = encode(feedback(event_id=""))
    assert data[0] == 0 and len(data) >= 5
    error = refused(CUSTOMER_FEEDBACK_TOPIC, data)
    assert error.kind == "invalid"
    assert error.reason == "event_id is empty: every signal needs one"


def test_short_message_starting_with_zero_is_read_as_plain() -> None:
    error = refused(CUSTOMER_FEEDBACK_TOPIC, b"\x00\x02")
    assert error.kind == "undecodable"


def test_framed_garbage_names_both_readings() -> None:
    error = refused(CUSTOMER_FEEDBACK_TOPIC, b"\x00\x00\x00\x00\x01\xff\xff\xff")
    assert error.kind == "undecodable"
    assert "Confluent" in error.reason and "plain" in error.reason


def test_framed_validation_error_wins_over_plain_garbage() -> None:
    error = refused(CUSTOMER_FEEDBACK_TOPIC, encode(feedback(csat=9), schema_id=7))
    assert (error.kind, error.reason) == ("range", "csat=9 is outside its range 1..5")


# --- every way a message is refused ----------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        encode(FEEDBACK)[:-3],
        encode(FEEDBACK) + b"\x00",
        encode(PULSE),  # an employee pulse on the customer topic
    ],
    ids=["empty", "garbage", "truncated", "trailing", "other-topic"],
)
def test_undecodable(data: bytes) -> None:
    assert refused(CUSTOMER_FEEDBACK_TOPIC, data).kind == "undecodable"


def test_undecodable_reason_counts_trailing_bytes() -> None:
    error = refused(CUSTOMER_FEEDBACK_TOPIC, encode(FEEDBACK) + b"\x01\x02")
    assert error.reason.startswith("2 trailing bytes after a")


def test_none_message_is_undecodable() -> None:
    assert refused(CUSTOMER_FEEDBACK_TOPIC, None).kind == "undecodable"  # type: ignore[arg-type]


def test_schema_when_writer_lacks_a_required_field() -> None:
    writer = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    writer["fields"] = [f for f in writer["fields"] if f["name"] != "source"]
    values = record_to_json(FEEDBACK)
    del values["source"]
    error = refused(
        CUSTOMER_FEEDBACK_TOPIC, write_with(writer, values, 9), SignalCodec({9: writer})
    )
    assert error.kind == "schema"
    assert "does not resolve" in error.reason


def test_schema_when_writer_is_another_record() -> None:
    codec = SignalCodec({4: EMPLOYEE_PULSE_SCHEMA})
    error = refused(CUSTOMER_FEEDBACK_TOPIC, encode(PULSE, schema_id=4), codec)
    assert error.kind == "schema"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"nps": "9"}, "nps must be an integer, got str"),
        ({"nps": True}, "nps must be an integer, got bool"),
        ({"occurred_at": 1.5}, "occurred_at must be an integer, got float"),
        ({"tags": "billing"}, "tags must be a list, got str"),
        ({"tags": [1]}, "tags[0] must be a string, got int"),
        ({"source": None}, "source must not be null"),
        ({"channel": 3}, "channel must be a string, got int"),
        ({"csat": 2**40}, "csat=1099511627776 does not fit an Avro int"),
    ],
)
def test_schema_from_json(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        record_from_json(CUSTOMER_FEEDBACK_TOPIC, record_to_json(FEEDBACK) | changes)
    assert (caught.value.kind, caught.value.reason) == ("schema", reason)


def test_schema_from_json_missing_field_and_not_an_object() -> None:
    values = record_to_json(PULSE)
    del values["event_id"]
    with pytest.raises(DecodeError, match="missing field event_id") as caught:
        record_from_json(EMPLOYEE_PULSE_TOPIC, values)
    assert caught.value.kind == "schema"
    with pytest.raises(DecodeError) as caught:
        record_from_json(EMPLOYEE_PULSE_TOPIC, [1, 2])  # type: ignore[arg-type]
    assert caught.value.kind == "schema"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (feedback(nps=11), "nps=11 is outside its range 0..10"),
        (feedback(nps=-1), "nps=-1 is outside its range 0..10"),
        (feedback(csat=0), "csat=0 is outside its range 1..5"),
        (feedback(ces=8), "ces=8 is outside its range 1..7"),
        (feedback(courtesy=6), "courtesy=6 is outside its range 1..5"),
        (EmployeePulse("e", 1, "t", "s", enps=11), "enps=11 is outside its range 0..10"),
        (EmployeePulse("e", 1, "t", "s", workload=0), "workload=0 is outside its range 1..5"),
    ],
)
def test_range(record: CustomerFeedback | EmployeePulse, reason: str) -> None:
    error = refused(topic_of(record), encode(record))
    assert (error.kind, error.reason) == ("range", reason)
    with pytest.raises(DecodeError, match=reason):
        record_from_json(topic_of(record), record_to_json(record))


def test_score_bounds_are_inclusive() -> None:
    for record in [feedback(nps=0, ces=7), feedback(nps=10, ces=1)]:
        assert SignalCodec().decode(CUSTOMER_FEEDBACK_TOPIC, encode(record)) == record


@pytest.mark.parametrize(
    "record",
    [
        CustomerFeedback("e", 1, "t", "web", "s"),
        EmployeePulse("e", 1, "t", "s", comment="Nothing to score."),
    ],
)
def test_no_score(record: CustomerFeedback | EmployeePulse) -> None:
    error = refused(topic_of(record), encode(record))
    assert error.kind == "no_score"
    assert error.reason.startswith(f"no score present: a {topic_of(record)} record needs")
    with pytest.raises(DecodeError) as caught:
        record_from_json(topic_of(record), record_to_json(record))
    assert caught.value.kind == "no_score"


def test_oversize_message() -> None:
    data = encode(FEEDBACK)
    error = refused(CUSTOMER_FEEDBACK_TOPIC, data, SignalCodec(max_record_bytes=len(data) - 1))
    assert error.kind == "oversize"
    assert error.reason == f"the message is {len(data)} bytes, over the {len(data) - 1}-byte limit"
    assert SignalCodec(max_record_bytes=len(data)).decode(CUSTOMER_FEEDBACK_TOPIC, data)


def test_default_max_record_bytes_is_64_kib() -> None:
    data = encode(feedback(tags=("x" * 70_000,)))
    assert refused(CUSTOMER_FEEDBACK_TOPIC, data).kind == "oversize"


def test_oversize_comment() -> None:
    long_comment = "é" * (MAX_COMMENT_CHARS + 1)
    error = refused(CUSTOMER_FEEDBACK_TOPIC, encode(feedback(comment=long_comment)))
    assert error.kind == "oversize"
    assert error.reason == f"comment is 2001 characters, over the {MAX_COMMENT_CHARS} limit"
    at_limit = feedback(comment="é" * MAX_COMMENT_CHARS)
    assert SignalCodec().decode(CUSTOMER_FEEDBACK_TOPIC, encode(at_limit)) == at_limit


@pytest.mark.parametrize("name", ["event_id", "team_id", "customer_ref"])
def test_oversize_identifier(name: str) -> None:
    error = refused(CUSTOMER_FEEDBACK_TOPIC, encode(feedback(**{name: "t" * 257})))
    assert (error.kind, error.reason) == (
        "oversize",
        f"{name} is 257 characters, over the {MAX_IDENTIFIER_CHARS} limit",
    )
    at_limit = feedback(**{name: "t" * MAX_IDENTIFIER_CHARS})
    assert SignalCodec().decode(CUSTOMER_FEEDBACK_TOPIC, encode(at_limit)) == at_limit


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (feedback(team_id=""), "team_id is empty: every signal needs one"),
        (feedback(team_id="  "), "team_id is empty: every signal needs one"),
        (EmployeePulse("", 1, "t", "s", enps=5), "event_id is empty: every signal needs one"),
    ],
)
def test_invalid_identifiers(record: CustomerFeedback | EmployeePulse, reason: str) -> None:
    for schema_id in (None, 12):
        error = refused(topic_of(record), encode(record, schema_id))
        assert (error.kind, error.reason) == ("invalid", reason)


def test_invalid_topic() -> None:
    error = refused("customer_feedback", encode(FEEDBACK))
    assert error.kind == "invalid"
    assert error.reason.startswith("unknown topic 'customer_feedback'")
    with pytest.raises(DecodeError) as caught:
        record_from_json("alerts", record_to_json(FEEDBACK))
    assert caught.value.kind == "invalid"


def test_bad_writer_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="writer schema id 3"):
        SignalCodec({3: {"type": "record", "name": "X", "fields": [{"name": "a"}]}})


def test_non_positive_max_record_bytes_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SignalCodec(max_record_bytes=0)


# --- schema evolution ------------------------------------------------------------------------


def test_newer_writer_with_an_extra_field() -> None:
    newer = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    newer["fields"].append({"name": "region", "type": "string", "default": "eu"})
    values = record_to_json(FEEDBACK) | {"region": "apac"}
    data = write_with(newer, values, 21)
    assert SignalCodec({21: newer}).decode(CUSTOMER_FEEDBACK_TOPIC, data) == FEEDBACK


def test_older_writer_missing_newer_optional_fields() -> None:
    older = copy.deepcopy(EMPLOYEE_PULSE_SCHEMA)
    dropped = {"customer_proximity", "workload"}
    older["fields"] = [f for f in older["fields"] if f["name"] not in dropped]
    values = {k: v for k, v in record_to_json(PULSE).items() if k not in dropped}
    decoded = SignalCodec({3: older}).decode(EMPLOYEE_PULSE_TOPIC, write_with(older, values, 3))
    assert isinstance(decoded, EmployeePulse)
    assert decoded.customer_proximity is None and decoded.workload is None
    assert decoded.enps == PULSE.enps and decoded.occurred_at == PULSE.occurred_at


def test_unknown_channel_symbol_resolves_to_other() -> None:
    newer = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    channel = next(f for f in newer["fields"] if f["name"] == "channel")
    channel["type"]["symbols"].append("kiosk")
    data = write_with(newer, record_to_json(FEEDBACK) | {"channel": "kiosk"}, 8)
    decoded = SignalCodec({8: newer}).decode(CUSTOMER_FEEDBACK_TOPIC, data)
    assert decoded == feedback(channel="other")


def test_writer_without_logical_type_reads_the_same() -> None:
    writer = copy.deepcopy(CUSTOMER_FEEDBACK_SCHEMA)
    occurred_at = next(f for f in writer["fields"] if f["name"] == "occurred_at")
    occurred_at["type"] = "long"
    data = write_with(writer, record_to_json(FEEDBACK), 2)
    assert SignalCodec({2: writer}).decode(CUSTOMER_FEEDBACK_TOPIC, data) == FEEDBACK


def test_unknown_schema_id_is_read_with_our_schema() -> None:
    codec = SignalCodec({1: EMPLOYEE_PULSE_SCHEMA})
    assert codec.decode(CUSTOMER_FEEDBACK_TOPIC, encode(FEEDBACK, schema_id=99)) == FEEDBACK


# --- nothing but DecodeError ------------------------------------------------------------------

_EVOLVING_CODEC = SignalCodec({1: CUSTOMER_FEEDBACK_SCHEMA, 2: EMPLOYEE_PULSE_SCHEMA})


def _decode_or_refuse(topic: str, data: bytes) -> None:
    for codec in (SignalCodec(), _EVOLVING_CODEC):
        try:
            codec.decode(topic, data)
        except DecodeError as error:
            assert error.kind in {
                "undecodable",
                "schema",
                "range",
                "no_score",
                "oversize",
                "invalid",
            }
            assert error.reason


@settings(max_examples=400, deadline=None)
@given(
    topic=st.sampled_from([CUSTOMER_FEEDBACK_TOPIC, EMPLOYEE_PULSE_TOPIC]),
    data=st.binary(max_size=200),
)
def test_random_bytes_only_raise_decode_error(topic: str, data: bytes) -> None:
    _decode_or_refuse(topic, data)


@settings(max_examples=300, deadline=None)
@given(
    topic=st.sampled_from([CUSTOMER_FEEDBACK_TOPIC, EMPLOYEE_PULSE_TOPIC]),
    schema_id=st.integers(0, 3),
    data=st.binary(max_size=120),
)
def test_random_framed_bytes_only_raise_decode_error(
    topic: str, schema_id: int, data: bytes
) -> None:
    _decode_or_refuse(topic, b"\x00" + schema_id.to_bytes(4, "big") + data)


@settings(max_examples=300, deadline=None)
@given(
    record=st.sampled_from([FEEDBACK, PULSE]),
    position=st.integers(0, 10_000),
    replacement=st.binary(min_size=1, max_size=4),
)
def test_corrupted_records_only_raise_decode_error(
    record: CustomerFeedback | EmployeePulse, position: int, replacement: bytes
) -> None:
    data = encode(record, schema_id=1)
    position %= len(data)
    _decode_or_refuse(topic_of(record), data[:position] + replacement + data[position + 1 :])


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_as_alert_only_raise_decode_error(data: bytes) -> None:
    try:
        decode_alert(data)
    except DecodeError as error:
        assert error.kind == "undecodable"
