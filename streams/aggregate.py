"""The mergeable in-memory state of one team-window: score histograms per side (pure, no I/O).

A histogram per score field is all the metrics need (every metric is a function of the counts
per integer value), it is exact, it merges by addition and it stays a few dozen integers
whatever the traffic, so a window's state is cheap to write to the changelog.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from schemas.records import (
    CUSTOMER_SCORE_RANGES,
    EMPLOYEE_SCORE_RANGES,
    CustomerFeedback,
    EmployeePulse,
    Signal,
)

STATE_FORMAT_VERSION: Final = 1

# (field, low, high) per side, in schema order; bin i of a histogram counts value low + i.
_CUSTOMER_FIELDS: Final = tuple((name, lo, hi) for name, (lo, hi) in CUSTOMER_SCORE_RANGES.items())
_EMPLOYEE_FIELDS: Final = tuple((name, lo, hi) for name, (lo, hi) in EMPLOYEE_SCORE_RANGES.items())

_Slots = tuple[tuple[str, int, int, list[int]], ...]


def _empty_histograms(fields: tuple[tuple[str, int, int], ...]) -> dict[str, list[int]]:
    return {name: [0] * (hi - lo + 1) for name, lo, hi in fields}


def _slots(fields: tuple[tuple[str, int, int], ...], histograms: dict[str, list[int]]) -> _Slots:
    return tuple((name, lo, hi, histograms[name]) for name, lo, hi in fields)


class WindowAggregate:
    """Counts of one team-window: respondents per side and a histogram per score field.

    ``customer_histograms[field][i]`` is the number of customer records whose ``field`` was
    ``low + i`` (``low`` from ``schemas.records.CUSTOMER_SCORE_RANGES``); the same for the
    employee side. ``customer_n`` / ``employee_n`` count records seen, whatever scores they had.
    Treat the histograms as read-only outside this class.
    """

    __slots__ = (
        "customer_n",
        "employee_n",
        "customer_histograms",
        "employee_histograms",
        "_customer_slots",
        "_employee_slots",
    )

    def __init__(self) -> None:
        self.customer_n = 0
        self.employee_n = 0
        self.customer_histograms: dict[str, list[int]] = _empty_histograms(_CUSTOMER_FIELDS)
        self.employee_histograms: dict[str, list[int]] = _empty_histograms(_EMPLOYEE_FIELDS)
        # Pre-bound (field, low, high, bins) so add() allocates nothing per call.
        self._customer_slots = _slots(_CUSTOMER_FIELDS, self.customer_histograms)
        self._employee_slots = _slots(_EMPLOYEE_FIELDS, self.employee_histograms)

    # -- the hot path ----------------------------------------------------------------------
    def add(self, record: Signal) -> None:
        """Count one record. Raises ValueError (and changes nothing) on an out-of-range score."""
        record_type = type(record)
        if record_type is CustomerFeedback:
            slots = self._customer_slots
        elif record_type is EmployeePulse:
            slots = self._employee_slots
        elif isinstance(record, CustomerFeedback):
            slots = self._customer_slots
        elif isinstance(record, EmployeePulse):
            slots = self._employee_slots
        else:
            raise TypeError(
                f"expected CustomerFeedback or EmployeePulse, got {record_type.__name__}"
            )
        for name, lo, hi, bins in slots:
            value = getattr(record, name)
            if value is not None:
                if lo <= value <= hi:
                    bins[value - lo] += 1
                else:
                    self._undo(record, slots, name)
                    raise ValueError(f"score {name}={value!r} outside {lo}..{hi}")
        if slots is self._customer_slots:
            self.customer_n += 1
        else:
            self.employee_n += 1

    @staticmethod
    def _undo(record: Signal, slots: _Slots, failed: str) -> None:
        # Rare path: roll back the fields counted before the bad one, keeping add() atomic.
        for name, lo, _hi, bins in slots:
            if name == failed:
                return
            value = getattr(record, name)
            if value is not None:
                bins[value - lo] -= 1

    # -- combining and storing -------------------------------------------------------------
    def merge(self, other: WindowAggregate) -> WindowAggregate:
        """Add ``other``'s counts into this aggregate (in place) and return self."""
        self.customer_n += other.customer_n
        self.employee_n += other.employee_n
        for mine, theirs in (
            (self.customer_histograms, other.customer_histograms),
            (self.employee_histograms, other.employee_histograms),
        ):
            for name, bins in mine.items():
                for i, count in enumerate(theirs[name]):
                    bins[i] += count
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, compact: a side with no records and all-zero histograms are left out.

        ``{"v": 1, "customer": {"n": 120, "h": {"nps": [0, 1, ...], ...}}, "employee": {...}}``
        """
        data: dict[str, Any] = {"v": STATE_FORMAT_VERSION}
        for side, n, histograms in (
            ("customer", self.customer_n, self.customer_histograms),
            ("employee", self.employee_n, self.employee_histograms),
        ):
            nonzero = {name: list(bins) for name, bins in histograms.items() if any(bins)}
            if n or nonzero:
                data[side] = {"n": n, "h": nonzero}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowAggregate:
        """Rebuild from ``to_dict()`` output. Raises ValueError on anything it cannot trust."""
        version = data.get("v")
        if version != STATE_FORMAT_VERSION:
            raise ValueError(
                f"window state format {version!r} is not {STATE_FORMAT_VERSION}; "
                "was it written by another Miroir version?"
            )
        aggregate = cls()
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
            else:
                aggregate.employee_n = n
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
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"WindowAggregate(customer_n={self.customer_n}, employee_n={self.employee_n})"


__all__ = ["STATE_FORMAT_VERSION", "WindowAggregate"]
