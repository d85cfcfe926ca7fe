"""Avro codec: bytes on the signal topics to typed, validated records and back.

Every record crosses this boundary exactly once; whatever cannot be used becomes a
:class:`~streams.errors.DecodeError` whose ``kind`` files it in the dead letters:

    undecodable  not Avro for our schema: garbage, truncated, trailing bytes, empty message
    schema       wrong type or missing field; a writer schema that cannot resolve to ours;
                 a schema id the registry has no usable Avro schema for
    range        a score outside its range (the reason names the field and the value)
    no_score     not a single score present
    oversize     message over ``max_record_bytes``; comment over ``MAX_COMMENT_CHARS``;
                 an identifier over ``MAX_IDENTIFIER_CHARS``
    invalid      empty ``event_id`` or ``team_id``; a blank reference; an identifier holding
                 a control or format character (the reason names the field, the code point
                 and its position); unknown topic

Messages are read either as plain schemaless Avro bodies or in the Confluent wire format
(magic byte 0, a 4-byte big-endian schema id, then the body).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import struct
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import fields
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, cast

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from schemas.records import (
    CUSTOMER_FEEDBACK_TOPIC,
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_PULSE_TOPIC,
    EMPLOYEE_SCORE_RANGES,
    EPISODE_ACTIONS,
    MAX_COMMENT_CHARS,
    MAX_IDENTIFIER_CHARS,
    MAX_NOTE_CHARS,
    CustomerFeedback,
    EmployeePulse,
    EpisodeAction,
    MirrorAlert,
    Signal,
    forbidden_character,
    identifier_fault,
)
from streams.errors import ConfigError, DecodeError

__all__ = [
    "ALERT_ID_HEX_DIGITS",
    "ALERT_SEVERITIES",
    "CONFLUENT_MAGIC",
    "CUSTOMER_FEEDBACK_SCHEMA",
    "DEFAULT_MAX_RECORD_BYTES",
    "EMPLOYEE_PULSE_SCHEMA",
    "EPISODE_ACTION_SCHEMA",
    "MAX_UNUSABLE_IDS",
    "MIRROR_ALERT_SCHEMA",
    "SCHEMA_DIR",
    "SignalCodec",
    "alert_to_json",
    "check_action",
    "check_alert",
    "decode_action",
    "decode_alert",
    "decode_team_info",
    "encode",
    "encode_action",
    "encode_alert",
    "encode_team_info",
    "load_schema",
    "record_from_json",
    "record_to_json",
    "topic_of",
]

SCHEMA_DIR: Final = Path(__file__).resolve().parent
DEFAULT_MAX_RECORD_BYTES: Final = 64 * 1024
# Ids a schema registry said it has no usable schema for, remembered (see SignalCodec).
MAX_UNUSABLE_IDS: Final = 10_000
CONFLUENT_MAGIC: Final = 0
_CONFLUENT_HEADER: Final = struct.Struct(">BI")

_INT_BOUNDS: Final = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
# Identifier fields, in the order they are checked; each signal has a subset. The rules:
# schemas.records.identifier_fault.
_IDENTIFIERS: Final = (
    "event_id",
    "team_id",
    "respondent_ref",
    "customer_ref",
    "source",
    "language",
)
_REFERENCES: Final = frozenset({"respondent_ref", "customer_ref"})
_LABELS: Final = frozenset({"source", "language"})


def load_schema(file_name: str) -> dict[str, Any]:
    """The schema in ``SCHEMA_DIR/file_name`` as plain JSON (what a schema registry takes)."""
    with (SCHEMA_DIR / file_name).open(encoding="utf-8") as schema_file:
        schema: dict[str, Any] = json.load(schema_file)
    return schema


# As written in the .avsc files, logical types included: for registries and documentation.
CUSTOMER_FEEDBACK_SCHEMA: Final = load_schema("customer_feedback.avsc")
EMPLOYEE_PULSE_SCHEMA: Final = load_schema("employee_pulse.avsc")
MIRROR_ALERT_SCHEMA: Final = load_schema("mirror_alert.avsc")
EPISODE_ACTION_SCHEMA: Final = load_schema("episode_action.avsc")
TEAM_INFO_SCHEMA: Final = load_schema("team_info.avsc")


def _without_timestamp_logical_type(schema: Any) -> Any:
    """A copy of ``schema`` where timestamp-millis is a plain long.

    fastavro turns timestamp-millis into an aware datetime (and back) based on the writer
    schema; the records carry epoch milliseconds, so the conversion would be done and undone
    for every message. Reading the same bytes as a plain long skips both and is exact.
    """
    if isinstance(schema, list):
        return [_without_timestamp_logical_type(branch) for branch in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("logicalType") == "timestamp-millis" and schema.get("type") == "long":
        return "long"
    return {key: _without_timestamp_logical_type(value) for key, value in schema.items()}


def _wire_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], parse_schema(_without_timestamp_logical_type(schema)))


class _Signal:
    """Everything the codec knows about one signal topic."""

    def __init__(
        self,
        topic: str,
        record_type: type[CustomerFeedback] | type[EmployeePulse],
        schema: dict[str, Any],
        score_ranges: Mapping[str, tuple[int, int]],
    ) -> None:
        schema_field_names = {field["name"] for field in schema["fields"]}
        self.topic = topic
        self.record_type = record_type
        self.schema = schema
        self.wire_schema = _wire_schema(schema)
        self.full_name = f"{schema['namespace']}.{schema['name']}"
        self.score_ranges = score_ranges
        _check_fields_match(schema, record_type)
        # Decoded values in the record's field order, to build it with positional arguments:
        # matching fifteen keywords costs more than reading the record did.
        self.field_values = itemgetter(*(field.name for field in fields(record_type)))
        self.identifiers = tuple(name for name in _IDENTIFIERS if name in schema_field_names)
        self.has_tags = "tags" in schema_field_names


def _check_fields_match(schema: Mapping[str, Any], record_type: type) -> None:
    # The codec builds records from the schema's fields, in order: a field added to the .avsc
    # but not to records.py (or the reverse) must fail at import, not on the first message.
    schema_fields = [field["name"] for field in schema["fields"]]
    record_fields = [field.name for field in fields(record_type)]
    if schema_fields != record_fields:
        raise ConfigError(
            f"{schema['name']}: the Avro fields {schema_fields} and the dataclass fields "
            f"{record_fields} differ; keep schemas/*.avsc and schemas/records.py in step"
        )


_SIGNALS: Final = {
    CUSTOMER_FEEDBACK_TOPIC: _Signal(
        CUSTOMER_FEEDBACK_TOPIC, CustomerFeedback, CUSTOMER_FEEDBACK_SCHEMA, CUSTOMER_SCORE_RANGES
    ),
    EMPLOYEE_PULSE_TOPIC: _Signal(
        EMPLOYEE_PULSE_TOPIC, EmployeePulse, EMPLOYEE_PULSE_SCHEMA, EMPLOYEE_SCORE_RANGES
    ),
}
_SIGNAL_BY_TYPE: Final[dict[type, _Signal]] = {
    signal.record_type: signal for signal in _SIGNALS.values()
}
_ALERT_WIRE_SCHEMA: Final = _wire_schema(MIRROR_ALERT_SCHEMA)
_check_fields_match(MIRROR_ALERT_SCHEMA, MirrorAlert)
_ACTION_WIRE_SCHEMA: Final = _wire_schema(EPISODE_ACTION_SCHEMA)
_TEAM_INFO_WIRE_SCHEMA: Final = _wire_schema(TEAM_INFO_SCHEMA)
_check_fields_match(EPISODE_ACTION_SCHEMA, EpisodeAction)


def _signal_for_topic(topic: str) -> _Signal:
    signal = _SIGNALS.get(topic)
    if signal is None:
        raise DecodeError(
            f"unknown topic {topic!r}: expected one of {', '.join(_SIGNALS)}", "invalid"
        )
    return signal


def _signal_for_record(record: object) -> _Signal:
    signal = _SIGNAL_BY_TYPE.get(type(record))
    if signal is None:
        raise TypeError(f"expected CustomerFeedback or EmployeePulse, got {type(record).__name__}")
    return signal


def topic_of(record: Signal) -> str:
    """The topic a signal record belongs on."""
    return _signal_for_record(record).topic


# --- reading Avro ----------------------------------------------------------------------------


def _read_body(
    body: bytes, writer_schema: dict[str, Any], reader_schema: dict[str, Any] | None, what: str
) -> dict[str, Any]:
    """One Avro body to a dict, insisting that the whole buffer is the record."""
    buffer = io.BytesIO(body)
    try:
        values = schemaless_reader(buffer, writer_schema, reader_schema)
    except SchemaResolutionError as error:
        raise DecodeError(
            f"the writer schema does not resolve to {what}: {error}", "schema"
        ) from error
    except Exception as error:
        # Garbage drives fastavro's C reader into many exception types (EOFError, ValueError,
        # IndexError, UnicodeDecodeError, OverflowError, ...); all mean "not this record".
        raise DecodeError(
            f"not a valid Avro {what} body ({type(error).__name__}: {error})", "undecodable"
        ) from error
    if not isinstance(values, dict):  # a foreign writer schema that is not a record
        raise DecodeError(f"the writer schema is not the {what} record", "schema")
    consumed = buffer.tell()
    if consumed != len(body):
        raise DecodeError(
            f"{len(body) - consumed} trailing bytes after a {consumed}-byte {what} record: "
            "truncated framing, a wrong schema, or two records in one message",
            "undecodable",
        )
    return values


# --- validation ------------------------------------------------------------------------------


def _build_signal(signal: _Signal, values: dict[str, Any]) -> Signal:
    """The typed record for decoded values (every field of the signal, by name), after the
    domain rules Avro cannot express."""
    _check_identifiers(signal, values)
    _check_comment(values["comment"])
    _check_scores(signal, values)
    if signal.has_tags:
        values["tags"] = tuple(values["tags"])
    return signal.record_type(*signal.field_values(values))


def _check_identifiers(signal: _Signal, values: Mapping[str, Any]) -> None:
    for name in ("event_id", "team_id"):
        if not values[name].strip():
            raise DecodeError(f"{name} is empty: every signal needs one", "invalid")
    for name in signal.identifiers:
        value = values[name]
        if value is None:
            continue
        if len(value) > MAX_IDENTIFIER_CHARS:
            raise DecodeError(
                f"{name} is {len(value)} characters, over the {MAX_IDENTIFIER_CHARS} limit",
                "oversize",
            )
        # Labels (source, language) may be blank; a reference, when given, must say something.
        fault = identifier_fault(value, may_be_blank=name in _LABELS)
        if fault is not None:
            if name in _REFERENCES and not value.strip():
                fault += "; leave it out (null) when unknown"
            raise DecodeError(f"{name} {fault}", "invalid")


def _check_comment(comment: str | None) -> None:
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise DecodeError(
            f"comment is {len(comment)} characters, over the {MAX_COMMENT_CHARS} limit", "oversize"
        )


def _check_scores(signal: _Signal, values: Mapping[str, Any]) -> None:
    present = False
    for name, (low, high) in signal.score_ranges.items():
        score = values[name]
        if score is None:
            continue
        if not low <= score <= high:
            raise DecodeError(f"{name}={score} is outside its range {low}..{high}", "range")
        present = True
    if not present:
        raise DecodeError(
            f"no score present: a {signal.topic} record needs at least one of "
            f"{', '.join(signal.score_ranges)}",
            "no_score",
        )


# --- the JSON form ---------------------------------------------------------------------------


def record_to_json(record: Signal) -> dict[str, Any]:
    """The record as Avro-shaped plain values: occurred_at in epoch ms, tags as a list."""
    signal = _signal_for_record(record)
    values = {field["name"]: getattr(record, field["name"]) for field in signal.schema["fields"]}
    if "tags" in values:
        values["tags"] = list(values["tags"])
    return values


def record_from_json(topic: str, value: Mapping[str, Any]) -> Signal:
    """The validated record for the JSON form of a ``topic`` message; or DecodeError.

    Checked like a decoded message: the same kinds and reasons. Fields missing from ``value``
    take their schema defaults and unknown keys are ignored, as a reader does for an older or
    newer writer; an unknown channel becomes "other" for the same reason.
    """
    signal = _signal_for_topic(topic)
    if not isinstance(value, Mapping):
        raise DecodeError(
            f"a {signal.topic} record must be a JSON object, got {type(value).__name__}", "schema"
        )
    values = {field["name"]: _json_field(field, value) for field in signal.schema["fields"]}
    return _build_signal(signal, values)


def _json_field(field: Mapping[str, Any], record: Mapping[str, Any]) -> Any:
    name = field["name"]
    if name in record:
        return _json_value(name, field["type"], record[name])
    if "default" in field:
        return _json_value(name, field["type"], field["default"])
    raise DecodeError(f"missing field {name}", "schema")


def _json_value(name: str, schema: Any, value: Any) -> Any:
    """``value`` checked against ``schema`` (the types our .avsc files use), as Avro would."""
    if isinstance(schema, list):
        return _json_union(name, schema, value)
    if value is None:
        raise DecodeError(f"{name} must not be null", "schema")
    kind = schema["type"] if isinstance(schema, dict) else schema
    checker = _JSON_CHECKERS.get(kind)
    if checker is None:
        raise DecodeError(f"{name}: Avro type {kind!r} is not supported in JSON", "schema")
    return checker(name, schema, value)


def _json_union(name: str, branches: list[Any], value: Any) -> Any:
    if value is None:
        if "null" in branches:
            return None
        raise DecodeError(f"{name} must not be null", "schema")
    errors = []
    for branch in branches:
        if branch == "null":
            continue
        try:
            return _json_value(name, branch, value)
        except DecodeError as error:
            errors.append(error.reason)
    raise DecodeError("; ".join(errors), "schema")


def _json_string(name: str, schema: Any, value: Any) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{name} must be a string, got {type(value).__name__}", "schema")
    return value


def _json_integer(name: str, schema: Any, value: Any) -> int:
    kind = schema["type"] if isinstance(schema, dict) else schema
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"{name} must be an integer, got {type(value).__name__}", "schema")
    low, high = _INT_BOUNDS[kind]
    if not low <= value <= high:
        raise DecodeError(f"{name}={value} does not fit an Avro {kind}", "schema")
    return value


def _json_double(name: str, schema: Any, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(f"{name} must be a number, got {type(value).__name__}", "schema")
    return float(value)


def _json_enum(name: str, schema: Mapping[str, Any], value: Any) -> str:
    symbol = _json_string(name, schema, value)
    if symbol in schema["symbols"]:
        return symbol
    if "default" in schema:
        return str(schema["default"])
    raise DecodeError(f"{name}={symbol!r} is not one of {', '.join(schema['symbols'])}", "schema")


def _json_array(name: str, schema: Mapping[str, Any], value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise DecodeError(f"{name} must be a list, got {type(value).__name__}", "schema")
    return [
        _json_value(f"{name}[{index}]", schema["items"], item) for index, item in enumerate(value)
    ]


def _json_map(name: str, schema: Mapping[str, Any], value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise DecodeError(f"{name} must be an object, got {type(value).__name__}", "schema")
    return {
        _json_string(f"{name} key", "string", key): _json_value(
            f"{name}[{key!r}]", schema["values"], item
        )
        for key, item in value.items()
    }


_JSON_CHECKERS: Final[dict[str, Callable[[str, Any, Any], Any]]] = {
    "string": _json_string,
    "int": _json_integer,
    "long": _json_integer,
    "double": _json_double,
    "enum": _json_enum,
    "array": _json_array,
    "map": _json_map,
}


# --- writing ---------------------------------------------------------------------------------


def encode(record: Signal, schema_id: int | None = None) -> bytes:
    """The record as a plain Avro body, or Confluent-framed with ``schema_id`` when given.

    A serializer, not a gate: domain rules (ranges, at least one score, ...) are the reader's
    to enforce, and the simulator and the tests rely on producing bad records on purpose. The
    body is always written with our schema, whatever id frames it.
    """
    signal = _signal_for_record(record)
    buffer = io.BytesIO()
    if schema_id is not None:
        buffer.write(_confluent_header(schema_id))
    _write(buffer, signal.wire_schema, record_to_json(record), signal.full_name)
    return buffer.getvalue()


def _confluent_header(schema_id: int) -> bytes:
    try:
        return _CONFLUENT_HEADER.pack(CONFLUENT_MAGIC, schema_id)
    except struct.error as error:
        raise ValueError(f"schema_id must fit 4 unsigned bytes, got {schema_id}") from error


def _write(buffer: io.BytesIO, schema: dict[str, Any], values: dict[str, Any], what: str) -> None:
    try:
        schemaless_writer(buffer, schema, values)
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise ValueError(f"cannot encode this {what}: {error}") from error


# --- alerts ----------------------------------------------------------------------------------


def alert_to_json(alert: MirrorAlert) -> dict[str, Any]:
    """The alert as plain values (times in epoch ms), ready for JSON or a webhook."""
    values = {
        field["name"]: getattr(alert, field["name"]) for field in MIRROR_ALERT_SCHEMA["fields"]
    }
    values["evidence"] = dict(values["evidence"])
    values["teams"] = list(values["teams"])
    return values


def encode_alert(alert: MirrorAlert) -> bytes:
    """The alert as a plain Avro body."""
    buffer = io.BytesIO()
    _write(buffer, _ALERT_WIRE_SCHEMA, alert_to_json(alert), "miroir.MirrorAlert")
    return buffer.getvalue()


def decode_alert(data: bytes, kinds: Container[str] | None = None) -> MirrorAlert:
    """The alert in a plain Avro body, checked (``check_alert``); DecodeError if it is not one.

    Everything that reads the alerts topics (the live page, the webhook relay, ``miroir alerts
    -f``, acknowledgements) comes through here with ``kinds`` from the detector registry
    (``streams.detectors.registry.known_alert_kinds``): a record someone else wrote there is
    refused unless it is well-formed, so it cannot inject lines into logs, the live stream or
    a terminal, nor page anyone with a kind no detector emits.
    """
    if not data:
        raise DecodeError("the message is empty (a tombstone?)", "undecodable")
    values = _read_body(data, _ALERT_WIRE_SCHEMA, None, "miroir.MirrorAlert")
    values["teams"] = tuple(values.get("teams") or ())
    alert = MirrorAlert(**values)
    try:
        check_alert(alert, kinds)
    except ValueError as error:
        raise DecodeError(f"not a well-formed alert: {error}", "invalid") from error
    return alert


# Deterministic ids are the first 32 hex digits of a sha256 (streams.detectors.base,
# streams.core.episodes, streams.core.incidents, streams.core.unit_stage).
ALERT_ID_HEX_DIGITS: Final = 32
_HEX_ID: Final = re.compile(f"[0-9a-f]{{{ALERT_ID_HEX_DIGITS}}}")
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
ALERT_SEVERITIES: Final = ("info", "warning", "critical")


def check_alert(alert: MirrorAlert, kinds: Container[str] | None = None) -> None:
    """ValueError naming what makes ``alert`` one Miroir cannot have written: ids that are not
    32 lowercase hex digits; a kind not in ``kinds`` (the registered detectors' kinds; None:
    any lowercase name); an event or scope that is not a lowercase name; an unknown severity;
    identifiers that break the identifier rules; numbers that are not finite."""
    for name in ("alert_id", "episode_id", "incident_id"):
        value = getattr(alert, name)
        if value is not None and not _HEX_ID.fullmatch(value):
            raise ValueError(
                f"{name} {value[:40]!r} is not {ALERT_ID_HEX_DIGITS} lowercase hex digits"
            )
    if kinds is not None and alert.kind not in kinds:
        raise ValueError(f"kind {alert.kind[:40]!r} is not emitted by any installed detector")
    for name in ("kind", "event", "scope"):
        value = getattr(alert, name)
        if not _NAME.fullmatch(value):
            raise ValueError(f"{name} {value[:40]!r} is not a lowercase name")
    if alert.severity not in ALERT_SEVERITIES:
        raise ValueError(f"severity {alert.severity[:40]!r} is not one of {ALERT_SEVERITIES}")
    # An incident's record has no team (team_id ""); everything else names one.
    named = [("team_id", alert.team_id, True), ("detector", alert.detector, False)]
    named += [("detector_version", alert.detector_version, False)]
    named += [("teams", team, False) for team in alert.teams]
    named += [
        (name, value, False)
        for name in ("unit_id", "dimension", "actor")
        if (value := getattr(alert, name)) is not None
    ]
    for name, value, may_be_blank in named:
        fault = identifier_fault(value, may_be_blank=may_be_blank)
        if fault is not None:
            raise ValueError(f"{name} {value[:40]!r} {fault}")
    numbers = [getattr(alert, f.name) for f in fields(alert)]
    numbers = [n for n in numbers if isinstance(n, float)] + list(alert.evidence.values())
    if not all(math.isfinite(n) for n in numbers):
        raise ValueError("a figure is not a finite number")


# --- episode actions -------------------------------------------------------------------------


def encode_action(action: EpisodeAction) -> bytes:
    """An acknowledgement or a resolution by hand as a plain Avro body."""
    check_action(action)
    values = {
        field["name"]: getattr(action, field["name"]) for field in EPISODE_ACTION_SCHEMA["fields"]
    }
    buffer = io.BytesIO()
    _write(buffer, _ACTION_WIRE_SCHEMA, values, "miroir.EpisodeAction")
    return buffer.getvalue()


def decode_action(data: bytes | None) -> EpisodeAction:
    """The action in a plain Avro body; DecodeError if it is not one, or not a valid one."""
    if not data:
        raise DecodeError("the message is empty (a tombstone?)", "undecodable")
    action = EpisodeAction(**_read_body(data, _ACTION_WIRE_SCHEMA, None, "miroir.EpisodeAction"))
    try:
        check_action(action)
    except ValueError as error:
        raise DecodeError(str(error), "invalid") from error
    return action


def check_action(action: EpisodeAction) -> None:
    """ValueError naming what is wrong with an action (unknown verb, empty or oversized text)."""
    if action.action not in EPISODE_ACTIONS:
        raise ValueError(
            f"action must be one of {', '.join(EPISODE_ACTIONS)}, got {action.action!r}"
        )
    for name in ("action_id", "team_id", "episode_id", "actor"):
        value = getattr(action, name)
        if not value.strip() or len(value) > MAX_IDENTIFIER_CHARS:
            raise ValueError(f"{name} must be 1 to {MAX_IDENTIFIER_CHARS} characters")
        bad = forbidden_character(value)
        if bad is not None:
            raise ValueError(f"{name} holds a control or format character ({bad})")
    if action.note is not None and len(action.note) > MAX_NOTE_CHARS:
        raise ValueError(f"note must be at most {MAX_NOTE_CHARS} characters")


# --- the organisation ------------------------------------------------------------------------


def encode_team_info(
    team_id: str, display_name: str, path: Sequence[str], levels: Sequence[str]
) -> bytes:
    """One record of the teams topic as a plain Avro body."""
    values = {
        "team_id": team_id,
        "display_name": display_name,
        "path": list(path),
        "levels": list(levels),
    }
    buffer = io.BytesIO()
    _write(buffer, _TEAM_INFO_WIRE_SCHEMA, values, "miroir.TeamInfo")
    return buffer.getvalue()


def decode_team_info(data: bytes) -> dict[str, Any]:
    """The fields of a teams-topic record (team_id, display_name, path, levels); DecodeError
    if it is not one. Checking the path is the organisation's job (``streams.core.org``)."""
    if not data:
        raise DecodeError("the message is empty (a tombstone?)", "undecodable")
    return _read_body(data, _TEAM_INFO_WIRE_SCHEMA, None, "miroir.TeamInfo")


# --- the codec -------------------------------------------------------------------------------


def load_writer_schemas(directory: str | os.PathLike[str] | None) -> dict[int, dict[str, Any]]:
    """Writer schemas by Confluent schema id, from files named ``<id>.avsc`` in ``directory``.

    This is how Miroir reads producers that write with an older or newer (compatible) schema
    without a schema registry client: give each writer schema its registry id.
    """
    if directory is None:
        return {}
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"MIROIR_WRITER_SCHEMAS_DIR: {folder} is not a directory")
    schemas: dict[int, dict[str, Any]] = {}
    for file in sorted(folder.glob("*.avsc")):
        if not file.stem.isdigit():
            raise ConfigError(
                f"MIROIR_WRITER_SCHEMAS_DIR: {file.name} must be named <schema id>.avsc, "
                "e.g. 7.avsc"
            )
        try:
            schemas[int(file.stem)] = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"MIROIR_WRITER_SCHEMAS_DIR: cannot read {file}: {e}") from e
    return schemas


class SignalCodec:
    """Decodes and validates signal messages; encodes records for producers and tests.

    ``writer_schemas`` maps Confluent schema ids to the schemas the producers wrote with, so
    records from older or newer writers resolve to our reader schema (Avro schema resolution:
    missing fields take their defaults, unknown fields are skipped, unknown channel symbols
    become "other"). A Confluent id not in the mapping is read with our own schema.
    """

    def __init__(
        self,
        writer_schemas: Mapping[int, Mapping[str, Any]] | None = None,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        if max_record_bytes <= 0:
            raise ConfigError(f"max_record_bytes must be positive, got {max_record_bytes}")
        self.max_record_bytes = max_record_bytes
        self._writer_schemas = {
            schema_id: _parse_writer_schema(schema_id, schema)
            for schema_id, schema in (writer_schemas or {}).items()
        }
        # Ids a schema registry does not have (or has as no usable Avro schema): their records
        # are dead letters with this reason instead of being read with our own schema. At most
        # MAX_UNUSABLE_IDS, the oldest forgotten first (asked again if seen again): a producer
        # framing records with random ids must not grow this without end.
        self._unusable_ids: dict[int, str] = {}
        # Ids of the current batch not asked for this time (see SchemaRegistry.teach), and why.
        self._deferred_ids: dict[int, str] = {}
        # With a registry, an id not yet fetched must be fetched before its records decode.
        self.strict_ids = False

    def unknown_schema_ids(self, values: Iterable[bytes | None]) -> set[int]:
        """The Confluent schema ids in ``values`` whose writer schema is neither known nor
        known to be unusable: what a registry must be asked before these records decode."""
        found: set[int] = set()
        for value in values:
            if value and value[0] == CONFLUENT_MAGIC and len(value) >= _CONFLUENT_HEADER.size:
                schema_id = _CONFLUENT_HEADER.unpack_from(value)[1]
                if schema_id not in self._writer_schemas and schema_id not in self._unusable_ids:
                    found.add(schema_id)
        return found

    def defer(self, reasons: Mapping[int, str]) -> None:
        """Records framed with these ids are dead letters for the given reasons until the next
        call (which replaces them): ids left unasked in one batch, asked again when seen again."""
        self._deferred_ids = dict(reasons)

    def add_writer_schema(self, schema_id: int, schema: Mapping[str, Any]) -> None:
        """Learn the writer schema of ``schema_id`` (from a registry); ConfigError if it is
        not a valid Avro schema."""
        self._writer_schemas[schema_id] = _parse_writer_schema(schema_id, schema)

    def mark_unusable(self, schema_id: int, reason: str) -> None:
        """Records framed with ``schema_id`` are dead letters for ``reason`` from now on (for
        the last ``MAX_UNUSABLE_IDS`` ids marked)."""
        self._unusable_ids.pop(schema_id, None)
        self._unusable_ids[schema_id] = reason
        while len(self._unusable_ids) > MAX_UNUSABLE_IDS:
            del self._unusable_ids[next(iter(self._unusable_ids))]

    def forget_unusable(self, schema_id: int) -> None:
        """Ask about ``schema_id`` again: its records wait for the registry's answer anew."""
        self._unusable_ids.pop(schema_id, None)

    def decode(self, topic: str, data: bytes) -> Signal:
        """The validated record in ``data``, a message value from ``topic``; or DecodeError."""
        signal = _signal_for_topic(topic)
        if not data:
            raise DecodeError("the message is empty (a tombstone?)", "undecodable")
        if len(data) > self.max_record_bytes:
            raise DecodeError(
                f"the message is {len(data)} bytes, over the {self.max_record_bytes}-byte limit",
                "oversize",
            )
        if data[0] == CONFLUENT_MAGIC and len(data) >= _CONFLUENT_HEADER.size:
            return self._decode_leading_zero(signal, data)
        return self._decode_plain(signal, data)

    def _decode_leading_zero(self, signal: _Signal, data: bytes) -> Signal:
        # Rule, deterministic: Confluent framing first; if that fails, the plain reading.
        # With our schemas a plain body starts with event_id's length, and 0x00 is the empty
        # string, which validation rejects; so a usable message starting with 0x00 is always
        # framed, and the plain reading is only there to name the real fault of a plain body
        # with an empty event_id. Of two failures the one that got past the Avro decoding wins,
        # the framed one first (the likelier intent); two undecodables are reported together.
        verdict = self._registry_verdict(data)
        if verdict is not None:
            # The registry (or its absence) has the last word on this id: the plain reading of
            # the same bytes would only bury that reason under an Avro error.
            raise verdict
        try:
            return self._decode_framed(signal, data)
        except DecodeError as error:
            framed_error = error
        try:
            return self._decode_plain(signal, data)
        except DecodeError as error:
            plain_error = error
        raise _more_telling(framed_error, plain_error)

    def _registry_verdict(self, data: bytes) -> DecodeError | None:
        """Why the writer schema of ``data``'s id cannot be had (the registry has no usable
        schema for it, or it was never fetched); None when it can."""
        _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
        unusable = self._unusable_ids.get(schema_id) or self._deferred_ids.get(schema_id)
        if unusable is not None:
            return DecodeError(f"writer schema id {schema_id}: {unusable}", "schema")
        if self.strict_ids and schema_id not in self._writer_schemas:
            return DecodeError(
                f"writer schema id {schema_id} was not fetched from the schema registry", "schema"
            )
        return None

    def _decode_framed(self, signal: _Signal, data: bytes) -> Signal:
        _, schema_id = _CONFLUENT_HEADER.unpack_from(data)
        writer_schema = self._writer_schemas.get(schema_id, signal.wire_schema)
        # Only a foreign writer schema needs resolution; our own is read directly (faster).
        reader_schema = None if writer_schema is signal.wire_schema else signal.wire_schema
        what = f"{signal.full_name} (schema id {schema_id})"
        body = data[_CONFLUENT_HEADER.size :]
        return _build_signal(signal, _read_body(body, writer_schema, reader_schema, what))

    def _decode_plain(self, signal: _Signal, data: bytes) -> Signal:
        return _build_signal(signal, _read_body(data, signal.wire_schema, None, signal.full_name))

    # The stateless operations, also reachable from a codec instance for convenience.
    encode = staticmethod(encode)
    encode_alert = staticmethod(encode_alert)
    decode_alert = staticmethod(decode_alert)
    record_to_json = staticmethod(record_to_json)
    record_from_json = staticmethod(record_from_json)
    alert_to_json = staticmethod(alert_to_json)
    topic_of = staticmethod(topic_of)


def _more_telling(framed_error: DecodeError, plain_error: DecodeError) -> DecodeError:
    """Of the two readings' failures, the one to report for a message starting with 0x00."""
    if framed_error.kind != "undecodable":
        return framed_error
    if plain_error.kind != "undecodable":
        return plain_error
    return DecodeError(
        f"neither Confluent-framed ({framed_error.reason}) nor a plain body ({plain_error.reason})",
        "undecodable",
    )


def _parse_writer_schema(schema_id: int, schema: Mapping[str, Any]) -> dict[str, Any]:
    try:
        parsed = _wire_schema(schema)
    except Exception as error:
        raise ConfigError(
            f"writer schema id {schema_id} is not a valid Avro schema: {error}"
        ) from error
    # A registry id for exactly our schema gets the fast path (no resolution).
    for signal in _SIGNALS.values():
        if parsed == signal.wire_schema:
            return signal.wire_schema
    return parsed
