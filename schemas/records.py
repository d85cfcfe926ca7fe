"""Typed signal records: what the codec turns Avro bodies into, and what agents pass around."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Final

CUSTOMER_FEEDBACK_TOPIC: Final = "customer-feedback"
EMPLOYEE_PULSE_TOPIC: Final = "employee-pulse"

CHANNELS: Final = ("phone", "email", "chat", "store", "field", "web", "other")

# Inclusive (low, high) of every score; the codec rejects anything outside.
CUSTOMER_SCORE_RANGES: Final[dict[str, tuple[int, int]]] = {
    "nps": (0, 10),
    "csat": (1, 5),
    "ces": (1, 7),
    "listened": (1, 5),
    "trust": (1, 5),
    "courtesy": (1, 5),
}
EMPLOYEE_SCORE_RANGES: Final[dict[str, tuple[int, int]]] = {
    "enps": (0, 10),
    "vision": (1, 5),
    "meaning": (1, 5),
    "belonging": (1, 5),
    "recognition": (1, 5),
    "trust": (1, 5),
    "ambiance": (1, 5),
    "empowerment": (1, 5),
    "customer_proximity": (1, 5),
    "workload": (1, 5),
}
CUSTOMER_SCORES: Final = tuple(CUSTOMER_SCORE_RANGES)
EMPLOYEE_SCORES: Final = tuple(EMPLOYEE_SCORE_RANGES)

MAX_COMMENT_CHARS: Final = 2000
# Identifiers (event_id, team_id, customer_ref, respondent_ref, source, language; the teams
# topic's team_id, unit names and levels; episode actions' ids and actors) are keys everywhere
# downstream (state keys, ClickHouse sort keys, URLs of the team pages, log lines): longer ones
# are refused. Real ones are far shorter (the simulator's longest is about 20 characters).
MAX_IDENTIFIER_CHARS: Final = 256


def forbidden_character(text: str) -> str | None:
    """The first character an identifier may not hold, described (``U+000A at position 4``), or
    None. Refused: control characters (a newline forges log lines, ESC drives terminals), format
    characters such as the bidirectional overrides (U+202E shows text reversed) and the line and
    paragraph separators."""
    if text.isprintable():  # the common case, in C: none of the refused categories is printable
        return None
    for position, char in enumerate(text):
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return f"U+{ord(char):04X} at position {position}"
    return None


# Cc control, Cf format (bidi overrides, zero-width), Zl/Zp line and paragraph separators,
# Cs lone surrogates, Co private use.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co"})


def identifier_fault(value: str, *, may_be_blank: bool = False) -> str | None:
    """What makes ``value`` unusable as an identifier, as the end of a sentence that starts
    with the field's name (``"is 60000 characters, over the 256 limit"``), or None.

    The rules (docs/guarantees.md, guarantee 6): at most ``MAX_IDENTIFIER_CHARS`` characters,
    not blank (unless ``may_be_blank``: labels such as a record's source say nothing about who
    or which team, so an empty or blank one is harmless), no control or format character
    (``forbidden_character``)."""
    if len(value) > MAX_IDENTIFIER_CHARS:
        return f"is {len(value)} characters, over the {MAX_IDENTIFIER_CHARS} limit"
    if not may_be_blank and not value.strip():
        return "is empty or blank"
    bad = forbidden_character(value)
    if bad is not None:
        return f"holds a control or format character ({bad})"
    return None


@dataclass(frozen=True, slots=True)
class CustomerFeedback:
    """One answered customer survey or interaction rating."""

    event_id: str
    occurred_at: int  # epoch milliseconds, event time
    team_id: str
    channel: str
    source: str
    customer_ref: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    comment: str | None = None
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    listened: int | None = None
    trust: int | None = None
    courtesy: int | None = None

    def scores(self) -> dict[str, int]:
        """The scores present on this record, by name."""
        return {
            name: value for name in CUSTOMER_SCORES if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True, slots=True)
class EmployeePulse:
    """One answered employee pulse survey. Personal data: never stored row by row."""

    event_id: str
    occurred_at: int  # epoch milliseconds, event time
    team_id: str
    source: str
    respondent_ref: str | None = None
    comment: str | None = None
    enps: int | None = None
    vision: int | None = None
    meaning: int | None = None
    belonging: int | None = None
    recognition: int | None = None
    trust: int | None = None
    ambiance: int | None = None
    empowerment: int | None = None
    customer_proximity: int | None = None
    workload: int | None = None

    def scores(self) -> dict[str, int]:
        """The scores present on this record, by name."""
        return {
            name: value for name in EMPLOYEE_SCORES if (value := getattr(self, name)) is not None
        }


Signal = CustomerFeedback | EmployeePulse

EPISODE_ACTIONS: Final = ("ack", "resolve")
MAX_NOTE_CHARS: Final = 1000


@dataclass(frozen=True, slots=True)
class EpisodeAction:
    """A person acknowledging (``ack``) or resolving by hand (``resolve``) a team's episode."""

    action_id: str
    team_id: str
    episode_id: str
    action: str  # ack | resolve
    actor: str
    at: int  # epoch ms, wall clock
    note: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorAlert:
    """One mirror-effect alert: what fired, for which team-window, and the evidence behind it.

    Employee-side values are None whenever the team-window is under the k-anonymity threshold
    (detectors never fire on such windows, but the type keeps the rule explicit).
    """

    alert_id: str  # deterministic: team, window, kind, detector version
    team_id: str
    window_start: int  # epoch ms, inclusive
    window_end: int  # epoch ms, exclusive
    kind: (
        str  # mirror_decline | mirror_rise | inner_warning | outer_warning | symmetry_gap | custom
    )
    severity: str  # critical | warning | info
    detector: str
    detector_version: str
    message: str  # one plain sentence a team lead understands; never claims causality
    created_at: int  # epoch ms, wall clock when the alert was produced
    dimension: str | None = None  # the paired dimension that moved on both sides, e.g. "trust"
    customer_n: int = 0
    employee_n: int | None = None
    customer_index: float | None = None
    employee_index: float | None = None
    customer_baseline: float | None = None
    employee_baseline: float | None = None
    customer_delta: float | None = None
    employee_delta: float | None = None
    customer_z: float | None = None
    employee_z: float | None = None
    evidence: dict[str, float] = field(default_factory=dict)  # extra named figures
    # Its place in the life of a problem (streams.core.episodes, streams.core.incidents):
    # opened | updated | escalated | resolved | acknowledged ("alert": a writer before episodes).
    event: str = "alert"
    episode_id: str | None = None
    scope: str = "team"  # "team", or an incident's unit level (e.g. "department")
    unit_id: str | None = None  # an incident's unit path, "/"-joined
    incident_id: str | None = None
    teams: tuple[str, ...] = ()  # an incident's affected teams
    actor: str | None = None  # who acknowledged or resolved by hand
    note: str | None = None
