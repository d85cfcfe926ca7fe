"""Identifiers from producers and alerts from the topic: no control characters, bounded, and
alerts that Miroir could not have written refused (issue 15's hostile findings)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from schemas.codec import SignalCodec, check_alert, decode_alert, encode, encode_alert
from schemas.records import (
    CUSTOMER_FEEDBACK_TOPIC,
    MAX_IDENTIFIER_CHARS,
    CustomerFeedback,
    forbidden_character,
)
from streams.core.redact import printable
from streams.errors import DecodeError
from tests.samples import sample_alert


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("team-lyon", None),
        ("équipe ☕ 東京", None),
        ("a\nb", "U+000A at position 1"),
        ("\x1b[31mred", "U+001B at position 0"),
        ("abc\u202edcba", "U+202E at position 3"),
        ("x\u2028y", "U+2028 at position 1"),
        ("zero\u200bwidth", "U+200B at position 4"),
    ],
)
def test_forbidden_characters_are_found_and_named(text: str, found: str | None) -> None:
    assert forbidden_character(text) == found


def _decode(**changes: Any) -> CustomerFeedback:
    record = dataclasses.replace(CustomerFeedback("e1", 1, "team", "web", "s", csat=4), **changes)
    decoded = SignalCodec().decode(CUSTOMER_FEEDBACK_TOPIC, encode(record))
    assert isinstance(decoded, CustomerFeedback)
    return decoded


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("team_id", "team\nINFO forged log line", "team_id holds a control or format character"),
        ("team_id", "\x1b]0;owned\x07", "U+001B at position 0"),
        ("event_id", "e\u202e1", "event_id holds a control or format character"),
        ("customer_ref", "c\r\n9", "customer_ref holds a control"),
        ("team_id", "t" * 60_000, "60000 characters, over the 256 limit"),
    ],
)
def test_a_hostile_identifier_is_a_dead_letter_naming_the_field(
    field: str, value: str, reason: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(reason)) as caught:
        _decode(**{field: value})
    assert caught.value.kind in ("invalid", "oversize")


def test_an_identifier_exactly_at_the_limit_is_accepted() -> None:
    assert _decode(team_id="t" * MAX_IDENTIFIER_CHARS).team_id == "t" * MAX_IDENTIFIER_CHARS


def test_free_text_comments_keep_their_line_breaks() -> None:
    assert _decode(comment="line one\nline two").comment == "line one\nline two"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"alert_id": "abc\nevent: alert"}, "alert_id"),
        ({"alert_id": "A" * 32}, "alert_id"),
        ({"episode_id": "not-hex"}, "episode_id"),
        ({"kind": "Mirror Decline"}, "kind"),
        ({"severity": "page-everyone"}, "severity"),
        ({"team_id": "team\x1b[2J"}, "identifier"),
        ({"customer_z": float("nan")}, "finite"),
    ],
)
def test_an_alert_miroir_could_not_have_written_is_refused(
    changes: dict[str, object], reason: str
) -> None:
    forged = sample_alert(**changes)
    with pytest.raises(ValueError, match=reason):
        check_alert(forged)
    with pytest.raises(DecodeError, match="not a well-formed alert"):
        decode_alert(encode_alert(forged))


def test_a_plugin_kind_and_a_real_alert_pass() -> None:
    alert = sample_alert(kind="my_plugin_kind", episode_id="0f" * 16)
    assert decode_alert(encode_alert(alert)) == alert


def test_printable_escapes_what_would_drive_a_terminal() -> None:
    assert printable("team-lyon") == "team-lyon"
    assert printable("a\nb\x1b[31m\u202e") == "a\\nb\\x1b[31m\\u202e"
