"""Simulated feedback tags: realistic shares, mood and channel effects, no other draw changed."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter

import pytest

from schemas.records import CustomerFeedback
from streams.tools import simulator as simulator_module
from streams.tools.feedback_tags import TOPICS, draw_tags
from streams.tools.realistic import realistic_scenario

HAPPY = {"nps": 10, "csat": 5, "ces": 7, "listened": 5, "trust": 5, "courtesy": 5}
UNHAPPY = {"nps": 0, "csat": 1, "ces": 1, "listened": 1, "trust": 1, "courtesy": 1}


def share(tag: str, channel: str, scores: dict[str, int], draws: int = 20_000) -> float:
    rng = random.Random(11)
    return sum(tag in draw_tags(rng, channel, scores) for _ in range(draws)) / draws


def test_most_answers_carry_no_tag_or_one_and_never_more_than_three() -> None:
    rng = random.Random(5)
    counts = Counter(len(draw_tags(rng, "web", {"nps": 7, "csat": 4})) for _ in range(20_000))
    assert max(counts) <= 3
    assert counts[0] / 20_000 > 0.4
    assert counts[0] > counts[1] > counts[2] > counts[3]


def test_complaints_attract_problem_topics_and_channels_shape_them() -> None:
    assert share("billing", "email", UNHAPPY) > 2 * share("billing", "email", HAPPY)
    assert share("waiting_time", "phone", UNHAPPY) > 2 * share("waiting_time", "web", UNHAPPY)
    # Mood-free: sustainability comes up as often from happy customers as from unhappy ones.
    assert share("sustainability", "web", HAPPY) == pytest.approx(
        share("sustainability", "web", UNHAPPY), abs=0.01
    )


def test_an_average_answer_keeps_each_topics_base_rate() -> None:
    middle = {"nps": 5, "csat": 3}  # dissatisfaction 0.5
    for topic in TOPICS:
        if "email" not in topic.channels:
            assert share(topic.tag, "email", middle) == pytest.approx(topic.base, abs=0.01)


def test_tags_change_no_other_draw_of_the_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    def events() -> list[CustomerFeedback]:
        scenario = realistic_scenario(8, teams=6, windows=11)
        return [e for e in scenario.events() if isinstance(e, CustomerFeedback)]

    tagged = events()
    monkeypatch.setattr(simulator_module, "draw_tags", lambda rng, channel, scores: ())
    untagged = events()
    assert any(e.tags for e in tagged)
    assert [dataclasses.replace(e, tags=()) for e in tagged] == untagged
