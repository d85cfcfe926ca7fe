"""Tags on simulated customer feedback, as survey tools and text classifiers attach them (pure).

Real tags are not uniform: most answers carry none or one, some carry two or three; which topics
come up depends on the channel (waiting time on the phone and in store, the app on web and
chat, delivery on web and field); and complaints attract problem topics, so a tag like
"billing" is commoner on an unhappy answer than on a happy one. That is what makes per-tag
metrics worth having — tagged feedback scores differently from the team's average — and what
the simulator reproduces. Each topic has a base rate per answer, a channel multiplier, and a
slope on the answer's dissatisfaction (0 for a delighted customer, 1 for the unhappiest):
``p = base × channel × (1 − slope/2 + slope × dissatisfaction)``, so an average answer keeps the
base rate. "sustainability" (packaging, paper receipts, travel) has no slope: customers raise
it whatever their mood.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["TOPICS", "Topic", "draw_tags"]


@dataclass(frozen=True, slots=True)
class Topic:
    tag: str
    base: float  # share of average answers carrying it
    slope: float  # 0: mood-free; 1: about three times commoner on the unhappiest answers
    channels: Mapping[str, float]  # multiplier per channel (1 when absent)


TOPICS: Final = (
    Topic("billing", 0.10, 0.9, {"phone": 1.4, "email": 1.3}),
    Topic("delivery", 0.08, 0.8, {"web": 1.6, "field": 1.5, "store": 0.3}),
    Topic("waiting_time", 0.09, 1.0, {"phone": 1.8, "store": 1.5, "email": 0.5, "web": 0.4}),
    Topic("product_quality", 0.08, 0.7, {}),
    Topic("app", 0.06, 0.8, {"web": 2.0, "chat": 1.8, "store": 0.2, "field": 0.2}),
    Topic("staff", 0.07, -0.6, {"store": 1.6, "field": 1.5, "phone": 1.2, "web": 0.3}),
    Topic("pricing", 0.06, 0.5, {}),
    Topic("sustainability", 0.05, 0.0, {"store": 1.4, "field": 1.3}),
)
_MAX_TAGS: Final = 3


def draw_tags(
    rng: random.Random, channel: str, scores: Mapping[str, int | None]
) -> tuple[str, ...]:
    """The tags of one answer: each topic independently, at most three (in catalogue order)."""
    dissatisfaction = _dissatisfaction(scores)
    tags = []
    for topic in TOPICS:
        mood = 1 - topic.slope / 2 + topic.slope * dissatisfaction
        chance = topic.base * topic.channels.get(channel, 1.0) * mood
        if rng.random() < chance:
            tags.append(topic.tag)
    return tuple(tags[:_MAX_TAGS])


def _dissatisfaction(scores: Mapping[str, int | None]) -> float:
    """1 − the answer's mean score scaled to 0…1 (0.5 when it has none we know)."""
    ranges = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "listened": (1, 5)}
    ranges |= {"trust": (1, 5), "courtesy": (1, 5)}
    scaled = [
        (value - low) / (high - low)
        for name, (low, high) in ranges.items()
        if (value := scores.get(name)) is not None
    ]
    return 1 - sum(scaled) / len(scaled) if scaled else 0.5
