"""Identifiers from producers and alerts from the topic: bounded, not blank, no control
characters, and alerts that Miroir could not have written refused (issue 15's hostile findings:
a newline in a team id forged log lines, ESC reached terminals, a 60 KB team id was stored, a
forged alert was signed and posted, an alert id with a newline injected SSE events)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, ClassVar

import pytest

from schemas.codec import SignalCodec, check_alert, decode_alert, encode, encode_alert
from schemas.records import (
    CUSTOMER_FEEDBACK_TOPIC,
    EMPLOYEE_PULSE_TOPIC,
    MAX_IDENTIFIER_CHARS,
    CustomerFeedback,
    EmployeePulse,
    Signal,
    forbidden_character,
    identifier_fault,
)
from streams.core.org import TeamInfo
from streams.core.redact import printable
from streams.detectors import Detector
from streams.detectors.registry import known_alert_kinds
from streams.errors import DecodeError
from tests.samples import sample_alert

NEWLINE = "team-a\nINFO miroir: all clear"
ANSI = "team-a\x1b[31m"
BIDI = "team-\u202eadmin"
HUGE = "t" * 60_000


# -- the rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("team-lyon", None),
        ("équipe ☕ 東京", None),
        ("nbsp\u00a0inside", None),  # not printable for Python, but no control character
        ("a\nb", "U+000A at position 1"),
        ("\x1b[31mred", "U+001B at position 0"),
        ("abc\u202edcba", "U+202E at position 3"),
        ("x\u2028y", "U+2028 at position 1"),
        ("x\u2029y", "U+2029 at position 1"),
        ("zero\u200bwidth", "U+200B at position 4"),
        ("\x7f", "U+007F at position 0"),
        ("\x85", "U+0085 at position 0"),  # NEL: a line break to some terminals
    ],
)
def test_forbidden_characters_are_found_and_named(text: str, found: str | None) -> None:
    assert forbidden_character(text) == found


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("t" * MAX_IDENTIFIER_CHARS, None),
        ("t" * (MAX_IDENTIFIER_CHARS + 1), f"is 257 characters, over the {MAX_IDENTIFIER_CHARS}"),
        (HUGE, f"is 60000 characters, over the {MAX_IDENTIFIER_CHARS} limit"),
        ("", "is empty or blank"),
        ("   ", "is empty or blank"),
        ("\u3000", "is empty or blank"),
        (NEWLINE, "holds a control or format character (U+000A at position 6)"),
        (ANSI, "holds a control or format character (U+001B at position 6)"),
        (BIDI, "holds a control or format character (U+202E at position 5)"),
    ],
)
def test_identifier_fault_names_what_is_wrong(value: str, fault: str | None) -> None:
    found = identifier_fault(value)
    assert found == fault if fault is None else found is not None and found.startswith(fault)


def test_a_label_may_be_empty_or_blank_but_still_holds_no_control_character() -> None:
    assert identifier_fault("", may_be_blank=True) is None
    assert identifier_fault(" \u3000", may_be_blank=True) is None
    assert identifier_fault("", may_be_blank=False) == "is empty or blank"
    assert identifier_fault(" \n", may_be_blank=True) == (
        "holds a control or format character (U+000A at position 1)"
    )


# -- signals: dead letters naming the field -----------------------------------------------------


def _with(record: Signal, field: str, value: str) -> Signal:
    changes: dict[str, Any] = {field: value}
    return dataclasses.replace(record, **changes)


def _decode(record: Signal) -> Signal:
    topic = (
        CUSTOMER_FEEDBACK_TOPIC if isinstance(record, CustomerFeedback) else EMPLOYEE_PULSE_TOPIC
    )
    return SignalCodec().decode(topic, encode(record))


FEEDBACK = CustomerFeedback("e1", 1, "team", "web", "survey", customer_ref="c1", csat=4)
PULSE = EmployeePulse("e2", 1, "team", "survey", respondent_ref="r1", enps=9)


@pytest.mark.parametrize(
    ("record", "field", "value", "kind", "reason"),
    [
        (
            FEEDBACK,
            "team_id",
            NEWLINE,
            "invalid",
            "team_id holds a control or format character (U+000A at position 6)",
        ),
        (
            FEEDBACK,
            "team_id",
            ANSI,
            "invalid",
            "team_id holds a control or format character (U+001B at position 6)",
        ),
        (FEEDBACK, "team_id", BIDI, "invalid", "U+202E at position 5"),
        (FEEDBACK, "team_id", HUGE, "oversize", "team_id is 60000 characters, over the 256 limit"),
        (FEEDBACK, "team_id", "", "invalid", "team_id is empty"),
        (FEEDBACK, "team_id", " \t ", "invalid", "team_id is empty"),
        (FEEDBACK, "event_id", "e\u20281", "invalid", "event_id holds a control"),
        (FEEDBACK, "customer_ref", "c\r\n9", "invalid", "customer_ref holds a control"),
        (FEEDBACK, "customer_ref", " ", "invalid", "customer_ref is empty or blank; leave it out"),
        (FEEDBACK, "source", "crm\x1b]0;owned\x07", "invalid", "source holds a control"),
        (FEEDBACK, "source", "s" * 300, "oversize", "source is 300 characters"),
        (FEEDBACK, "language", "fr\n", "invalid", "language holds a control"),
        (PULSE, "team_id", NEWLINE, "invalid", "team_id holds a control"),
        (PULSE, "respondent_ref", "", "invalid", "respondent_ref is empty or blank"),
        (PULSE, "respondent_ref", "r\u202e1", "invalid", "respondent_ref holds a control"),
        (PULSE, "source", "x" * 257, "oversize", "source is 257 characters"),
    ],
)
def test_a_hostile_identifier_is_a_dead_letter_naming_the_field(
    record: Signal, field: str, value: str, kind: str, reason: str
) -> None:
    with pytest.raises(DecodeError, match=re.escape(reason)) as caught:
        _decode(_with(record, field, value))
    assert caught.value.kind == kind


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (FEEDBACK, "event_id"),
        (FEEDBACK, "team_id"),
        (FEEDBACK, "customer_ref"),
        (FEEDBACK, "source"),
        (FEEDBACK, "language"),
        (PULSE, "respondent_ref"),
    ],
)
def test_an_identifier_exactly_at_the_limit_is_accepted(record: Signal, field: str) -> None:
    at_limit = "é" * MAX_IDENTIFIER_CHARS  # characters, not bytes
    assert getattr(_decode(_with(record, field, at_limit)), field) == at_limit


def test_empty_labels_and_any_script_are_accepted() -> None:
    decoded = _decode(dataclasses.replace(FEEDBACK, source="", language="", team_id="équipe 東京"))
    assert isinstance(decoded, CustomerFeedback)
    assert (decoded.source, decoded.language, decoded.team_id) == ("", "", "équipe 東京")


def test_free_text_comments_keep_their_line_breaks() -> None:
    assert _decode(dataclasses.replace(FEEDBACK, comment="one\ntwo")).comment == "one\ntwo"


# -- the teams topic ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("team_id", "name", "path", "levels", "reason"),
    [
        (NEWLINE, "x", ("acme",), (), "team_id 'team-a\\nINFO"),
        ("t1", "x", ("acme", "par\x1bis"), (), "unit name 'par\\x1bis' holds a control"),
        ("t1", "x", ("acme", " "), (), "unit name ' ' is empty or blank"),
        ("t1", "x", ("acme",), ("comp\u202eany",), "level 'comp\\u202eany' holds a control"),
        ("t1", "Support\r\nLyon", ("acme",), (), "display_name 'Support\\r\\nLyon' holds"),
        ("t1", "n" * 300, ("acme",), (), "display_name 'nnnn"),
    ],
)
def test_the_teams_topic_obeys_the_same_rules(
    team_id: str, name: str, path: tuple[str, ...], levels: tuple[str, ...], reason: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        TeamInfo(team_id, name, path, levels)
    assert TeamInfo("t1", "Équipe Lyon", ("acme", "lyon"), ("company", "site")).team_id == "t1"


# -- alerts read back from the topic ------------------------------------------------------------

KINDS = known_alert_kinds()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"alert_id": "abc\nevent: alert"}, "alert_id 'abc\\nevent: alert' is not 32 lowercase"),
        ({"alert_id": "A" * 32}, "alert_id"),
        ({"alert_id": "a" * 33}, "alert_id"),
        ({"episode_id": "not-hex"}, "episode_id"),
        ({"incident_id": "0" * 31}, "incident_id"),
        ({"kind": "page_everyone"}, "kind 'page_everyone' is not emitted by any installed"),
        ({"kind": "Mirror Decline"}, "kind"),
        ({"event": "opened\n"}, "event"),
        ({"severity": "page-everyone"}, "severity"),
        ({"team_id": "team\x1b[2J"}, "team_id 'team\\x1b[2J' holds a control"),
        ({"team_id": HUGE}, "team_id 'tttt"),
        ({"teams": ("t1", "t\n2")}, "teams 't\\n2' holds"),
        ({"actor": "dana\u202e"}, "actor"),
        ({"customer_z": float("nan")}, "finite"),
        ({"evidence": {"customer_se": float("inf")}}, "finite"),
    ],
)
def test_an_alert_miroir_could_not_have_written_is_refused(
    changes: dict[str, object], reason: str
) -> None:
    forged = sample_alert(**changes)
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_alert(forged, KINDS)
    with pytest.raises(DecodeError, match="not a well-formed alert") as caught:
        decode_alert(encode_alert(forged), KINDS)
    assert caught.value.kind == "invalid"


def test_real_alerts_pass_and_incidents_have_no_team() -> None:
    alert = sample_alert(episode_id="0f" * 16)
    assert decode_alert(encode_alert(alert), KINDS) == alert
    incident = sample_alert(
        kind="incident_fall",
        team_id="",
        scope="department",
        unit_id="acme/lyon",
        incident_id="1e" * 16,
        teams=("t1", "t2"),
    )
    assert decode_alert(encode_alert(incident), KINDS) == incident


def test_the_kinds_come_from_the_detectors_not_a_list() -> None:
    assert {"mirror_decline", "mirror_rise", "inner_warning", "outer_warning"} <= KINDS
    assert {"symmetry_gap", "incident_fall", "incident_rise", "incident_gap"} <= KINDS
    assert "page_everyone" not in KINDS

    class Plugin(Detector):
        name: ClassVar[str] = "customer_trust_drop"
        version: ClassVar[str] = "1"

        def detect(self, current: Any, history: Any, settings: Any) -> list[Any]:
            return []

    class Declared(Plugin):
        kinds: ClassVar[tuple[str, ...]] = ("trust_drop", "trust_gap")

    # A plug-in that declares nothing emits its own name; one that declares, those kinds.
    assert Plugin.alert_kinds() == ("customer_trust_drop",)
    assert Declared.alert_kinds() == ("trust_drop", "trust_gap")
    # Without kinds (a reader that cannot know the plug-ins) only the form is checked.
    plugin_alert = sample_alert(kind="customer_trust_drop", detector="customer_trust_drop")
    assert decode_alert(encode_alert(plugin_alert)) == plugin_alert
    with pytest.raises(DecodeError, match="not emitted by any installed detector"):
        decode_alert(encode_alert(plugin_alert), KINDS)


# -- what is shown ------------------------------------------------------------------------------


def test_printable_escapes_what_would_drive_a_terminal() -> None:
    assert printable("team-lyon") == "team-lyon"
    assert printable("équipe ☕") == "équipe ☕"
    assert printable("a\nb\x1b[31m\u202e\u2028") == "a\\nb\\x1b[31m\\u202e\\u2028"
