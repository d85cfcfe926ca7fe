"""The demo sums a lasting problem up as one episode, not one alert per window."""

from __future__ import annotations

from schemas.records import MirrorAlert
from streams.tools.demo import episode_summary


def record(event: str, window: int, episode: str = "abcdef0123") -> MirrorAlert:
    return MirrorAlert(
        f"{event}-{window}",
        "team-01",
        window,
        window + 1,
        "mirror_decline",
        "critical",
        "mirror_change",
        "2",
        "...",
        0,
        event=event,
        episode_id=episode,
    )


def test_a_lasting_decline_is_one_episode_with_its_updates() -> None:
    seen = [record("opened", 4), *(record("updated", w) for w in range(5, 10))]
    assert episode_summary(seen) == [
        "episode abcdef01 team team-01 mirror_decline: one page when it opened, 5 update(s) "
        "without paging, 0 escalation(s), still open"
    ]
    assert episode_summary([*seen, record("resolved", 12)])[0].endswith("resolved")
