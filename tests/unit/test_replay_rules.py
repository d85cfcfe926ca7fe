"""Offline replay refuses and de-duplicates records exactly as the worker does."""

from __future__ import annotations

import time

from schemas.codec import record_to_json
from schemas.records import CustomerFeedback, EmployeePulse, Signal
from streams.settings import load_settings
from streams.tools.replay import replay

NOW = int(time.time() * 1000)
DAY = 86_400_000


def test_replay_applies_the_time_bounds_size_limit_and_counting_rules() -> None:
    settings = load_settings(window_seconds=60, max_age_days=30, max_future_seconds=3600)
    start = NOW - 10 * DAY
    events: list[Signal] = [
        CustomerFeedback("c1", start, "t", "chat", "s", csat=5),
        CustomerFeedback("c1", start, "t", "chat", "s", csat=5),  # re-sent
        CustomerFeedback("c2", NOW - 40 * DAY, "t", "chat", "s", csat=5),  # too old
        CustomerFeedback("c3", NOW + 2 * DAY, "t", "chat", "s", csat=5),  # too far ahead
        CustomerFeedback("c4", start, "t", "chat", "s", tags=("x" * 1000,) * 80, csat=5),
        EmployeePulse("e1", start, "t", "s", respondent_ref="ann", trust=3),
        EmployeePulse("e2", start + 1, "t", "s", respondent_ref="ann", trust=4),  # ann again
    ]
    result = replay(
        [
            (
                "customer-feedback" if isinstance(e, CustomerFeedback) else "employee-pulse",
                record_to_json(e),
            )
            for e in events
        ],
        settings,
    )
    reasons = dict(result.invalid)
    assert sorted(reasons) == [3, 4, 5]
    assert "MIROIR_MAX_AGE_DAYS" in reasons[3]
    assert "future" in reasons[4]
    assert "byte limit" in reasons[5]
    assert result.duplicates == 2  # c1 once more, ann's second pulse
    (window,) = result.windows
    assert window.customer.n == 1
