"""The mergeable in-memory state of one team-window: who counted, and score histograms (pure).

A histogram per score field is all the metrics need (every metric is a function of the counts
per integer value), it is exact, it merges by addition and it stays a few dozen integers
whatever the traffic. Beside it the window remembers what it has counted, so that every event
and every person counts once (docs/guarantees.md, "Each event counted once"):

- the keys of every ``event_id`` it has seen (both sides): a re-sent record is a duplicate;
- for the employee side, each respondent's latest pulse: one person answering twice in a
  window counts once, with the answers of their latest pulse by event time (ties broken by
  the event key, so the outcome never depends on arrival order). k-anonymity counts these
  people, never records.

Keys are 64-bit keyed hashes (``streams.core.identity``); the respondent table lives only in open
window state (the changelog) and is dropped when the window closes.

For the customer index the window also keeps the moments (count, sum, sum of squares) of its
records' composites (``streams.core.index``): a customer record is one respondent, so these are
what the index C and its standard error come from. The employee index is computed at close
from the respondent table itself, because which components count there depends on k.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from operator import attrgetter
from typing import Any, Final, Literal

from schemas.records import (
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_SCORE_RANGES,
    CustomerFeedback,
    EmployeePulse,
    Signal,
)
from streams.core.identity import KEY_BYTES, UNKEYED, IdentityKeys
from streams.core.index import DEFAULT_INDEX_CONFIG, IndexConfig, Moments, composite, scoring
from streams.core.tags import WindowTags

STATE_FORMAT_VERSION: Final = 3
# Version 1 (before de-duplication) had no keys and no respondents: its counts load as they
# were, and de-duplication covers what arrives after the upgrade. Versions 1 and 2 had no
# customer composite moments: their customer records count as untracked, and the index of such
# a window falls back to the component formula (streams.core.metrics).
_READABLE_FORMATS: Final = frozenset({1, 2, STATE_FORMAT_VERSION})

# What ``add`` did with a record: counted it, or recognised a duplicate of what the window
# holds — the same event again ("event"), or another pulse of a person already counted
# ("respondent"; the latest of their pulses by event time is the one that counts).
AddOutcome = Literal["counted", "event", "respondent"]

# (field, low, high) per side, in schema order; bin i of a histogram counts value low + i.
_CUSTOMER_FIELDS: Final = tuple((name, lo, hi) for name, (lo, hi) in CUSTOMER_SCORE_RANGES.items())
_EMPLOYEE_FIELDS: Final = tuple((name, lo, hi) for name, (lo, hi) in EMPLOYEE_SCORE_RANGES.items())

# The scores of one record in schema order, fetched in one call.
_customer_scores: Final = attrgetter(*(name for name, _lo, _hi in _CUSTOMER_FIELDS))
_employee_scores: Final = attrgetter(*(name for name, _lo, _hi in _EMPLOYEE_FIELDS))

_Slots = tuple[tuple[str, int, int, list[int]], ...]
Scores = tuple[int | None, ...]  # one record's scores in schema order
# A respondent's counted pulse: (occurred_at, event key, scores).
Answer = tuple[int, int, Scores]


def _empty_histograms(fields: tuple[tuple[str, int, int], ...]) -> dict[str, list[int]]:
    return {name: [0] * (hi - lo + 1) for name, lo, hi in fields}


def _slots(fields: tuple[tuple[str, int, int], ...], histograms: dict[str, list[int]]) -> _Slots:
    return tuple((name, lo, hi, histograms[name]) for name, lo, hi in fields)


def _checked(scores: Scores, slots: _Slots) -> Scores:
    """``scores`` (a record's, in slot order); ValueError on a value outside its range."""
    for (name, lo, hi, _bins), value in zip(slots, scores, strict=True):
        if value is not None and not lo <= value <= hi:
            raise ValueError(f"score {name}={value!r} outside {lo}..{hi}")
    return scores


def _count(slots: _Slots, scores: Scores, step: int) -> None:
    for (_name, lo, _hi, bins), value in zip(slots, scores, strict=True):
        if value is not None:
            bins[value - lo] += step


def pack_keys(keys: set[int]) -> str:
    """Keys as compact text for the changelog: sorted, 8 bytes each, base64."""
    return base64.b64encode(
        b"".join(key.to_bytes(KEY_BYTES, "big") for key in sorted(keys))
    ).decode("ascii")


def unpack_keys(text: str) -> set[int]:
    """Inverse of ``pack_keys``; ValueError on anything that is not such text."""
    return set(_unpack_in_order(text))


def _unpack_in_order(text: str) -> list[int]:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as e:
        raise ValueError(f"window state: event keys are not base64 ({e})") from e
    if len(raw) % KEY_BYTES:
        raise ValueError(f"window state: event keys are not a multiple of {KEY_BYTES} bytes")
    return [int.from_bytes(raw[i : i + KEY_BYTES], "big") for i in range(0, len(raw), KEY_BYTES)]


class WindowAggregate:
    """What one team-window counted: people per side, a histogram per score, and their keys.

    ``customer_histograms[field][i]`` is the number of counted customer records whose
    ``field`` was ``low + i`` (``low`` from ``schemas.records.CUSTOMER_SCORE_RANGES``); the
    employee histograms count each respondent's latest pulse once. ``customer_n`` counts
    distinct customer events, ``employee_n`` distinct respondents. Treat the histograms as
    read-only outside this class.
    """

    __slots__ = (
        "customer_n",
        "employee_n",
        "customer_histograms",
        "employee_histograms",
        "event_keys",
        "_packed_keys",
        "respondents",
        "customer_composites",
        "customer_untracked",
        "customer_tags",
        "index_version",
        "_customer_scoring",
        "_customer_slots",
        "_employee_slots",
    )

    def __init__(self, index_config: IndexConfig = DEFAULT_INDEX_CONFIG) -> None:
        self.customer_n = 0
        self.employee_n = 0
        self.customer_histograms: dict[str, list[int]] = _empty_histograms(_CUSTOMER_FIELDS)
        self.employee_histograms: dict[str, list[int]] = _empty_histograms(_EMPLOYEE_FIELDS)
        self.event_keys: set[int] = set()  # every event seen, both sides (superseded included)
        # The same keys in arrival order, 8 bytes each: the changelog form is kept up to date
        # as keys arrive, so writing the state does not sort and re-encode every key again.
        self._packed_keys = bytearray()
        self.respondents: dict[int, Answer] = {}  # respondent key → their counted pulse
        # Moments of the customer composites under ``index_version``, and how many counted
        # customer records they miss (state written before composites were kept).
        self.customer_composites = Moments()
        self.customer_untracked = 0
        self.customer_tags = WindowTags()  # the customer records again, by tag
        self.index_version = index_config.version
        self._customer_scoring = scoring(CUSTOMER_SCORE_RANGES, index_config.customer_weights)
        # Pre-bound (field, low, high, bins) so add() allocates little per call.
        self._customer_slots = _slots(_CUSTOMER_FIELDS, self.customer_histograms)
        self._employee_slots = _slots(_EMPLOYEE_FIELDS, self.employee_histograms)

    # -- the hot path ----------------------------------------------------------------------
    def add(
        self, record: Signal, keys: IdentityKeys = UNKEYED, *, event_key: int | None = None
    ) -> AddOutcome:
        """Count one record once. Raises ValueError (and changes nothing) on an out-of-range
        score; returns what was done with it (see ``AddOutcome``). ``event_key``: the
        record's ``keys.event(record.event_id)`` when the caller has it already."""
        customer: CustomerFeedback | None
        if isinstance(record, CustomerFeedback):
            customer = record
        elif isinstance(record, EmployeePulse):
            customer = None
        else:
            raise TypeError(
                f"expected CustomerFeedback or EmployeePulse, got {type(record).__name__}"
            )
        if event_key is None:
            event_key = keys.event(record.event_id)
        if event_key in self.event_keys:
            return "event"
        if customer is not None:
            slots = self._customer_slots
            scores = _checked(_customer_scores(customer), slots)
            _count(slots, scores, 1)
            value = composite(scores, self._customer_scoring)
            if value is not None:
                self.customer_composites.add(value)
            if customer.tags:
                self.customer_tags.add(customer.tags, scores, value)
            self._remember(event_key)
            self.customer_n += 1
            return "counted"
        assert isinstance(record, EmployeePulse)
        slots = self._employee_slots
        answer = (record.occurred_at, event_key, _checked(_employee_scores(record), slots))
        self._remember(event_key)
        return self._count_respondent(keys.respondent(record), answer)

    def _remember(self, event_key: int) -> None:
        self.event_keys.add(event_key)
        self._packed_keys += event_key.to_bytes(KEY_BYTES, "big")

    def _count_respondent(self, respondent: int, answer: Answer) -> AddOutcome:
        slots = self._employee_slots
        previous = self.respondents.get(respondent)
        if previous is None:
            _count(slots, answer[2], 1)
            self.respondents[respondent] = answer
            self.employee_n += 1
            return "counted"
        if answer[:2] > previous[:2]:  # the later pulse (event time, then key) is the one kept
            _count(slots, previous[2], -1)
            _count(slots, answer[2], 1)
            self.respondents[respondent] = answer
        return "respondent"

    def holds(self, event_key: int) -> bool:
        """Whether this window has seen the event with this key."""
        return event_key in self.event_keys

    # -- combining and storing -------------------------------------------------------------
    def merge(self, other: WindowAggregate) -> WindowAggregate:
        """Add ``other``'s counts into this aggregate (in place) and return self.

        Customer events are assumed disjoint (they are partial aggregates of different
        records); a respondent in both counts once, with their latest pulse.
        """
        self.customer_n += other.customer_n
        if other.index_version == self.index_version:
            self.customer_composites.merge(other.customer_composites)
            self.customer_untracked += other.customer_untracked
        else:  # moments under another index definition cannot be added to these
            self.customer_untracked += other.customer_n
        for name, bins in self.customer_histograms.items():
            for i, count in enumerate(other.customer_histograms[name]):
                bins[i] += count
        self.customer_tags.merge(other.customer_tags)
        # Employee counts other than its respondents' (state written before de-duplication).
        legacy = other.employee_n - len(other.respondents)
        if legacy:
            self.employee_n += legacy
            for name, bins in self.employee_histograms.items():
                for i, count in enumerate(other.employee_histograms[name]):
                    bins[i] += count
            for _t, _key, scores in other.respondents.values():
                _count(self._employee_slots, scores, -1)
        for respondent, answer in other.respondents.items():
            self._count_respondent(respondent, answer)
        for event_key in sorted(other.event_keys - self.event_keys):
            self._remember(event_key)
        return self

    def packed_keys(self) -> bytes | bytearray:
        """Every event key seen, 8 bytes each in arrival order (the changelog's form; read
        only: streams.core.state_log writes what was added since it last looked)."""
        return self._packed_keys

    def to_dict(self, *, with_keys: bool = True) -> dict[str, Any]:
        """JSON-safe, compact: a side with no records and all-zero histograms are left out.
        ``with_keys`` False leaves out the event keys (written separately, by difference).

        ``{"v": 2, "customer": {"n": 120, "h": {"nps": [0, 1, ...], ...}},
        "employee": {"n": 8, "h": {...}, "r": [[respondent key, occurred_at, event key,
        [scores in schema order]], ...]}, "ids": "<event keys, packed>"}``
        """
        data: dict[str, Any] = {"v": STATE_FORMAT_VERSION}
        for side, n, histograms in (
            ("customer", self.customer_n, self.customer_histograms),
            ("employee", self.employee_n, self.employee_histograms),
        ):
            nonzero = {name: list(bins) for name, bins in histograms.items() if any(bins)}
            if n or nonzero:
                data[side] = {"n": n, "h": nonzero}
        if self.customer_n:
            data["customer"]["m"] = self.customer_composites.to_list()
            data["customer"]["iv"] = self.index_version
            if self.customer_untracked:
                data["customer"]["u"] = self.customer_untracked
            if self.customer_tags:
                data["customer"]["t"] = self.customer_tags.to_dict()
        if self.respondents:
            data["employee"]["r"] = [
                [respondent, occurred_at, event_key, list(scores)]
                for respondent, (occurred_at, event_key, scores) in sorted(self.respondents.items())
            ]
        if with_keys and self._packed_keys:
            data["ids"] = base64.b64encode(self._packed_keys).decode("ascii")
        return data

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], index_config: IndexConfig = DEFAULT_INDEX_CONFIG
    ) -> WindowAggregate:
        """Rebuild from ``to_dict()`` output. Raises ValueError on anything it cannot trust."""
        version = data.get("v")
        if version not in _READABLE_FORMATS:
            raise ValueError(
                f"window state format {version!r} is not one of {sorted(_READABLE_FORMATS)}; "
                "was it written by another Miroir version?"
            )
        aggregate = cls(index_config)
        for side, histograms in (
            ("customer", aggregate.customer_histograms),
            ("employee", aggregate.employee_histograms),
        ):
            part = data.get(side)
            if part is None:
                continue
            n = part.get("n", 0)
            if not isinstance(n, int) or n < 0:
                raise ValueError(f"window state: {side} n must be a non-negative int, got {n!r}")
            for name, stored in part.get("h", {}).items():
                bins = histograms.get(name)
                if bins is None:
                    raise ValueError(
                        f"window state: unknown {side} score {name!r} (written by a newer Miroir?)"
                    )
                if len(stored) != len(bins) or not all(
                    isinstance(c, int) and c >= 0 for c in stored
                ):
                    raise ValueError(
                        f"window state: {side} {name} needs {len(bins)} non-negative int counts"
                    )
                bins[:] = stored
            if side == "customer":
                aggregate.customer_n = n
                _load_customer_composites(aggregate, part)
                if "t" in part:
                    aggregate.customer_tags = WindowTags.from_dict(part["t"])
            else:
                aggregate.employee_n = n
                aggregate.respondents = _respondents_from(part.get("r", []))
                if len(aggregate.respondents) > n:
                    raise ValueError("window state: more employee respondents than its n")
        for event_key in _unpack_in_order(data.get("ids", "")):
            if event_key not in aggregate.event_keys:
                aggregate._remember(event_key)
        return aggregate

    # -- conveniences ----------------------------------------------------------------------
    def is_empty(self) -> bool:
        return self.customer_n == 0 and self.employee_n == 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WindowAggregate):
            return NotImplemented
        return (
            self.customer_n == other.customer_n
            and self.employee_n == other.employee_n
            and self.customer_histograms == other.customer_histograms
            and self.employee_histograms == other.employee_histograms
            and self.event_keys == other.event_keys
            and self.respondents == other.respondents
            and self.customer_untracked == other.customer_untracked
            and self.customer_tags == other.customer_tags
            and self.customer_composites.n == other.customer_composites.n
            # Sums of floats added in another order differ in the last bits.
            and math.isclose(self.customer_composites.total, other.customer_composites.total)
            and math.isclose(self.customer_composites.total_sq, other.customer_composites.total_sq)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"WindowAggregate(customer_n={self.customer_n}, employee_n={self.employee_n})"


def _load_customer_composites(aggregate: WindowAggregate, part: Mapping[str, Any]) -> None:
    stored = part.get("m")
    untracked = part.get("u", 0)
    if stored is None or part.get("iv") != aggregate.index_version:
        # Older state, or moments under another index definition: none of its records count
        # towards the composites, and the window's index falls back to the component formula.
        aggregate.customer_untracked = aggregate.customer_n
        return
    moments = Moments.from_list(stored)
    fits = isinstance(untracked, int) and 0 <= untracked <= aggregate.customer_n - moments.n
    if not fits:
        raise ValueError("window state: customer composites do not fit the customer count")
    aggregate.customer_composites = moments
    aggregate.customer_untracked = untracked


def _respondents_from(stored: Any) -> dict[int, Answer]:
    respondents: dict[int, Answer] = {}
    width = len(_EMPLOYEE_FIELDS)
    for entry in stored:
        if not (isinstance(entry, list) and len(entry) == 4):
            raise ValueError("window state: a respondent entry must be [key, time, event, scores]")
        respondent, occurred_at, event_key, scores = entry
        if not (
            all(isinstance(v, int) for v in (respondent, occurred_at, event_key))
            and isinstance(scores, list)
            and len(scores) == width
            and all(v is None or isinstance(v, int) for v in scores)
        ):
            raise ValueError("window state: malformed respondent entry")
        respondents[respondent] = (occurred_at, event_key, tuple(scores))
    return respondents


__all__ = [
    "STATE_FORMAT_VERSION",
    "AddOutcome",
    "WindowAggregate",
    "pack_keys",
    "unpack_keys",
]
