"""Customer metrics per tag: the same estimators as the window, hand-checked, bounded, durable."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from schemas.records import CustomerFeedback
from streams.core.aggregate import WindowAggregate
from streams.core.metrics import compute_team_window
from streams.core.tags import MAX_TAG_CHARS, MAX_TAGS_PER_WINDOW, OTHER_TAG, clean_tags

_ids = itertools.count()


def feedback(*tags: str, event_id: str | None = None, **scores: Any) -> CustomerFeedback:
    return CustomerFeedback(
        event_id or f"c-{next(_ids)}", 0, "team-a", "web", "survey", tags=tags, **scores
    )


def tags_of(agg: WindowAggregate) -> dict[str, Any]:
    metrics = compute_team_window("team-a", 0, 1, agg, k_anonymity=5)
    return dict(metrics.customer_tags)


def test_a_tags_metrics_are_computed_by_hand() -> None:
    agg = WindowAggregate()
    # Sustainability: NPS answers 10, 9, 3, 7 -> 2 promoters, 1 detractor of 4 -> NPS 25.
    # CSAT 5, 4, 2 -> 2 of 3 in the top two boxes -> 66.67. Trust 2, 3, 4, 5 -> mean 3.5.
    agg.add(feedback("sustainability", "billing", nps=10, csat=5, trust=2))
    agg.add(feedback("sustainability", nps=9, csat=4, trust=3))
    agg.add(feedback("sustainability", nps=3, csat=2, trust=4))
    agg.add(feedback("sustainability", nps=7, trust=5))
    agg.add(feedback(nps=0, csat=1, trust=1))  # untagged: in the window, under no tag
    tags = tags_of(agg)
    assert sorted(tags) == ["billing", "sustainability"]
    side = tags["sustainability"]
    assert side.n == 4
    assert side.raw["nps"] == pytest.approx(25.0)
    # SE of NPS: p = .5, d = .25, v = p + d - (p - d)^2 = .6875, SE = 100 * sqrt(v / n).
    assert side.raw["nps_se"] == pytest.approx(100 * math.sqrt(0.6875 / 4))
    assert side.raw["csat"] == pytest.approx(200 / 3)
    assert side.raw["trust_mean"] == pytest.approx(3.5)
    assert tags["billing"].n == 1
    assert tags["billing"].raw["nps"] == pytest.approx(100.0)


def test_a_tag_uses_the_windows_own_estimators() -> None:
    """A tag's metrics equal the metrics of a window holding only that tag's records."""
    tagged = [
        feedback("billing", nps=n, csat=c, ces=e, listened=s, trust=t, courtesy=k)
        for n, c, e, s, t, k in [
            (9, 5, 6, 4, 4, 5),
            (4, 2, 2, 2, 1, 3),
            (10, 4, None, 5, 5, 4),
            (6, None, 7, 3, 2, 2),
            (8, 3, 5, None, 4, None),
        ]
    ]
    agg, alone = WindowAggregate(), WindowAggregate()
    for record in tagged:
        agg.add(record)
        alone.add(record)
    agg.add(feedback("other-topic", nps=1, csat=1))
    tag = tags_of(agg)["billing"]
    window = compute_team_window("team-a", 0, 1, alone, k_anonymity=5).customer
    assert tag.n == window.n == 5
    assert tag.index == pytest.approx(window.index)
    assert tag.index_se == pytest.approx(window.index_se)
    assert tag.raw == pytest.approx(window.raw)


def test_a_resent_record_counts_once_under_its_tags() -> None:
    agg = WindowAggregate()
    agg.add(feedback("billing", event_id="same", nps=10))
    assert agg.add(feedback("billing", event_id="same", nps=10)) == "event"
    assert tags_of(agg)["billing"].n == 1


def test_tags_are_cleaned_and_counted_once_per_record() -> None:
    assert clean_tags([" billing ", "billing", "", "de\x1bliv\nery", "x" * 500]) == (
        "billing",
        "delivery",
        "x" * MAX_TAG_CHARS,
    )
    agg = WindowAggregate()
    agg.add(feedback("billing", "billing", " billing", nps=10))
    assert tags_of(agg)["billing"].n == 1


def test_a_window_keeps_a_bounded_number_of_tags() -> None:
    agg = WindowAggregate()
    for i in range(MAX_TAGS_PER_WINDOW * 3):
        agg.add(feedback(f"tag-{i}", nps=10))
    tags = tags_of(agg)
    assert len(tags) == MAX_TAGS_PER_WINDOW
    assert tags[OTHER_TAG].n == MAX_TAGS_PER_WINDOW * 3 - (MAX_TAGS_PER_WINDOW - 1)
    assert sum(side.n for side in tags.values()) == MAX_TAGS_PER_WINDOW * 3


def test_tags_survive_the_changelog_and_merge() -> None:
    first, second = WindowAggregate(), WindowAggregate()
    first.add(feedback("billing", nps=10, csat=5))
    second.add(feedback("billing", "delivery", nps=2, csat=1))
    restored = WindowAggregate.from_dict(first.to_dict())
    assert restored == first
    assert tags_of(restored)["billing"].raw == tags_of(first)["billing"].raw
    merged = restored.merge(second)
    assert tags_of(merged)["billing"].n == 2
    assert tags_of(merged)["delivery"].n == 1


@pytest.mark.parametrize(
    "stored",
    [
        {"billing": [1, [[0] * 10, 0, 0, 0, 0, 0], [1, 100.0, 10000.0]]},  # wrong bin count
        {"billing": [1, [[0] * 10 + [2], 0, 0, 0, 0, 0], [1, 100.0, 10000.0]]},  # bin above n
        {"billing": [1, [0] * 5, [0, 0.0, 0.0]]},  # a histogram missing
        {"billing": [1, [0] * 6, [2, 1.0, 1.0]]},  # more composites than records
        {"": [0, [0] * 6, [0, 0.0, 0.0]]},
        {f"t{i}": [0, [0] * 6, [0, 0.0, 0.0]] for i in range(MAX_TAGS_PER_WINDOW + 1)},
    ],
)
def test_untrustworthy_tag_state_is_refused(stored: dict[str, Any]) -> None:
    data = WindowAggregate().to_dict()
    data["customer"] = {"n": 1, "h": {}, "m": [0, 0.0, 0.0], "iv": "idx-v2", "t": stored}
    with pytest.raises(ValueError, match="window state"):
        WindowAggregate.from_dict(data)
