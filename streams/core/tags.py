"""Customer metrics cut by tag: what one team-window's tagged feedback counted, per tag (pure).

A customer record carries free tags ("billing", "sustainability"); the analyst question is
"customer trust among sustainability-tagged feedback, by team". Each tag of a window keeps the
same exact state the window keeps for its whole customer side — a histogram per score and the
moments of the records' composites — so a tag's n, NPS, CSAT, C and every other customer
metric come from the very estimators the window's own row uses (``compute_side``).

Tags come from producers, so they are bounded: a tag is stripped and cut to
``MAX_TAG_CHARS``, a record counts each distinct tag once, and a window keeps at most
``MAX_TAGS_PER_WINDOW`` tags — records with tags beyond that count under ``OTHER_TAG``, so a
producer sending thousands of distinct tags cannot make a window's state grow without bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from schemas.records import CUSTOMER_SCORE_RANGES
from streams.core.index import Moments

MAX_TAGS_PER_WINDOW: Final = 32
MAX_TAG_CHARS: Final = 64
OTHER_TAG: Final = "(other)"  # the tags of a window past MAX_TAGS_PER_WINDOW, pooled

_FIELDS: Final = tuple((name, lo, hi) for name, (lo, hi) in CUSTOMER_SCORE_RANGES.items())


def clean_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """A record's distinct usable tags, in order: stripped, cut to ``MAX_TAG_CHARS``, no
    empty ones, no control characters."""
    seen: list[str] = []
    for tag in tags:
        text = "".join(c for c in tag.strip() if c.isprintable())[:MAX_TAG_CHARS]
        if text and text not in seen:
            seen.append(text)
    return tuple(seen)


# Records repeat a few tag combinations: each is cleaned once (bounded, for hostile producers).
_CLEANED: dict[tuple[str, ...], tuple[str, ...]] = {}
_CLEANED_MAX: Final = 4096


def _cleaned(tags: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = _CLEANED.get(tags)
    if cleaned is None:
        if len(_CLEANED) >= _CLEANED_MAX:
            _CLEANED.clear()
        cleaned = _CLEANED[tags] = clean_tags(tags)
    return cleaned


class TagTally:
    """The customer records of one window carrying one tag: count, histograms, composites."""

    __slots__ = ("n", "histograms", "composites", "_slots")

    def __init__(self) -> None:
        self.n = 0
        self.histograms: dict[str, list[int]] = {
            name: [0] * (hi - lo + 1) for name, lo, hi in _FIELDS
        }
        self.composites = Moments()
        # (low, bins) per score in schema order, bound once: add() is on the hot path.
        self._slots = tuple((lo, self.histograms[name]) for name, lo, _hi in _FIELDS)

    def add(self, scores: Sequence[int | None], composite: float | None) -> None:
        """Count one record: its checked scores in schema order and its composite (or None)."""
        self.n += 1
        for (lo, bins), value in zip(self._slots, scores, strict=True):
            if value is not None:
                bins[value - lo] += 1
        if composite is not None:
            self.composites.add(composite)

    def merge(self, other: TagTally) -> None:
        self.n += other.n
        for name, bins in self.histograms.items():
            for i, count in enumerate(other.histograms[name]):
                bins[i] += count
        self.composites.merge(other.composites)

    def to_list(self) -> list[Any]:
        """``[n, [bins per score in schema order, 0 for an unanswered score], moments]``:
        positional, because this is rewritten with every batch that touches the window."""
        bins = [list(b) if any(b) else 0 for b in self.histograms.values()]
        return [self.n, bins, self.composites.to_list()]

    @classmethod
    def from_list(cls, stored: object) -> TagTally:
        """Inverse of ``to_list``; ValueError on anything it cannot trust."""
        if not (isinstance(stored, list) and len(stored) == 3):
            raise ValueError("window state: a tag tally must be [n, histograms, moments]")
        n, histograms, moments = stored
        if not isinstance(n, int) or n < 0 or not isinstance(histograms, list):
            raise ValueError("window state: a tag tally needs a count and histograms")
        if len(histograms) != len(_FIELDS):
            raise ValueError(f"window state: a tag tally needs {len(_FIELDS)} histograms")
        tally = cls()
        tally.n = n
        for (name, target), bins in zip(tally.histograms.items(), histograms, strict=True):
            if bins == 0:
                continue
            if not (
                isinstance(bins, list)
                and len(bins) == len(target)
                and all(isinstance(c, int) and 0 <= c <= n for c in bins)
            ):
                raise ValueError(f"window state: tag histogram {name!r} is malformed")
            target[:] = bins
        tally.composites = Moments.from_list(moments)
        if tally.composites.n > n:
            raise ValueError("window state: tag composites do not fit the tag count")
        return tally


class WindowTags:
    """Every tag of one window, bounded (see the module docstring)."""

    __slots__ = ("tallies",)

    def __init__(self) -> None:
        self.tallies: dict[str, TagTally] = {}

    def add(
        self, tags: tuple[str, ...], scores: Sequence[int | None], composite: float | None
    ) -> None:
        for tag in _cleaned(tags):
            self._tally(tag).add(scores, composite)

    def _tally(self, tag: str) -> TagTally:
        tally = self.tallies.get(tag)
        if tally is None:
            if len(self.tallies) >= MAX_TAGS_PER_WINDOW - 1 and tag != OTHER_TAG:
                return self._tally(OTHER_TAG)
            tally = self.tallies[tag] = TagTally()
        return tally

    def merge(self, other: WindowTags) -> None:
        for tag, tally in other.tallies.items():
            self._tally(tag).merge(tally)

    def __bool__(self) -> bool:
        return bool(self.tallies)

    def to_dict(self) -> dict[str, list[Any]]:
        return {tag: tally.to_list() for tag, tally in sorted(self.tallies.items())}

    @classmethod
    def from_dict(cls, stored: object) -> WindowTags:
        if not isinstance(stored, Mapping) or len(stored) > MAX_TAGS_PER_WINDOW:
            raise ValueError(f"window state: tags must be a mapping of ≤ {MAX_TAGS_PER_WINDOW}")
        tags = cls()
        for tag, tally in stored.items():
            if not isinstance(tag, str) or not tag:
                raise ValueError("window state: a tag must be a non-empty string")
            tags.tallies[tag] = TagTally.from_list(tally)
        return tags

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WindowTags):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable


__all__ = [
    "MAX_TAGS_PER_WINDOW",
    "MAX_TAG_CHARS",
    "OTHER_TAG",
    "TagTally",
    "WindowTags",
    "clean_tags",
]
