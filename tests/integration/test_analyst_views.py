"""The analyst views and the retention TTL on the real engine (chDB): what a BI user reads."""

from __future__ import annotations

import dataclasses
import time

import pytest

from schemas.records import CustomerFeedback
from sinks.clickhouse import ClickHouseSink
from sinks.schema import RETAINED_TABLES, VIEWS
from streams.core.model import DeadLetter, DuplicateEvent, LateEvent, SideMetrics, SinkBatch
from streams.core.org import TeamInfo
from streams.errors import ConfigError
from tests.integration.conftest import SinkFactory
from tests.integration.sample_rows import WINDOW_END, WINDOW_START, employee, full_batch

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def rows(sink: ClickHouseSink, sql: str) -> list[dict[str, object]]:
    names, values = sink.query(sql)
    return [dict(zip(names, row, strict=True)) for row in values]


def test_every_view_and_column_explains_itself(sink: ClickHouseSink) -> None:
    _, views = sink.query(
        "SELECT name, comment FROM system.tables WHERE database = currentDatabase() "
        "AND engine = 'View'"
    )
    assert sorted(name for name, _ in views) == sorted(VIEWS)
    assert all(comment.strip() for _, comment in views), views
    _, columns = sink.query(
        "SELECT table, name FROM system.columns WHERE database = currentDatabase() AND comment = ''"
    )
    assert columns == []  # every column of every table and view has a COMMENT


def test_views_show_the_current_state_with_names_and_plain_times(sink: ClickHouseSink) -> None:
    batch = full_batch()
    stranger = dataclasses.replace(batch.alerts[0], alert_id="a-2", team_id="team-x")
    batch.alerts.append(stranger)
    sink.write(batch)
    # A later write of the same team-window replaces it; views never show both.
    newer = dataclasses.replace(batch.team_windows[0], customer=SideMetrics(41, 70.0, 2.4))
    sink.write(SinkBatch(token="second", team_windows=[newer]))
    sink.write(
        SinkBatch(
            token="more",
            late_events=[
                LateEvent("team-a", WINDOW_START, "customer", "customer-feedback", 0, offset)
                for offset in (500, 501)
            ],
            duplicate_events=[
                DuplicateEvent(
                    "team-a", WINDOW_START, "customer", "event", "customer-feedback", 0, 502
                )
            ],
        )
    )

    alerts = {a["alert_id"]: a for a in rows(sink, "SELECT * FROM v_alerts")}
    assert alerts["a-1"]["team_name"] == "Support Paris"
    assert alerts["a-1"]["unit_id"] == "acme/emea/paris"
    assert alerts["a-2"]["team_name"] == "team-x"  # not in the teams topic
    assert alerts["a-2"]["unit_id"] == "unassigned"
    start = alerts["a-1"]["window_start"]
    assert int(start.timestamp() * 1000) == WINDOW_START  # type: ignore[attr-defined]

    (window,) = rows(sink, "SELECT * FROM v_team_windows WHERE team_id = 'team-a'")
    assert window["customer_n"] == 41
    assert window["customer_index"] == 70.0
    assert window["employee_index"] == employee().index
    assert window["mirror_gap"] == pytest.approx(employee().index - 70.0)  # type: ignore[operator]

    def of_team_a(events: list[LateEvent] | list[DuplicateEvent]) -> int:
        return sum(e.team_id == "team-a" and e.window_start == WINDOW_START for e in events)

    assert window["late_events"] == 2 + of_team_a(batch.late_events)
    assert window["duplicate_events"] == 1 + of_team_a(batch.duplicate_events)
    assert window["team_name"] == "Support Paris"

    (tag,) = rows(sink, "SELECT * FROM v_customer_tags")
    assert (tag["tag"], tag["customer_n"], tag["nps"]) == ("billing", 4, -25.0)
    late = rows(sink, "SELECT team_id, window_start, side, events FROM v_late_events")
    assert {
        "team_id": "team-a",
        "window_start": window["window_start"],
        "side": "customer",
        "events": 2 + of_team_a(batch.late_events),
    } in late
    assert [i["team_count"] for i in rows(sink, "SELECT * FROM v_incidents")] == [3]
    assert [u["unit_id"] for u in rows(sink, "SELECT * FROM v_unit_windows")] == ["acme"]


def test_open_episodes_leave_out_resolved_ones_and_show_acknowledgement(
    sink: ClickHouseSink,
) -> None:
    batch = full_batch()
    (episode,) = batch.episodes
    acknowledged = dataclasses.replace(
        episode,
        revision=episode.revision + 1,
        acknowledged_by="ops@acme",
        acknowledged_at=WINDOW_END,
    )
    gone = dataclasses.replace(episode, episode_id="ep-gone", state="resolved")
    sink.write(dataclasses.replace(batch, episodes=[episode, acknowledged, gone]))
    (open_episode,) = rows(sink, "SELECT * FROM v_open_episodes")
    assert open_episode["episode_id"] == episode.episode_id
    assert open_episode["acknowledged"] == 1
    assert open_episode["acknowledged_by"] == "ops@acme"


def test_removed_teams_leave_the_teams_view(sink: ClickHouseSink) -> None:
    paris = TeamInfo(
        "team-a", "Support Paris", ("acme", "emea", "paris"), ("company", "region", "site")
    )
    lyon = TeamInfo("team-b", "Sales Lyon", ("acme", "emea", "lyon"))
    sink.write(SinkBatch(teams=[("team-a", paris), ("team-b", lyon)]))
    time.sleep(0.002)  # the row version is the write time in ms: the removal must be newer
    sink.write(SinkBatch(teams=[("team-b", None)]))
    assert rows(sink, "SELECT team_id, team_name, company, levels FROM v_teams") == [
        {
            "team_id": "team-a",
            "team_name": "Support Paris",
            "company": "acme",
            "levels": ["company", "region", "site"],
        }
    ]


def test_dead_letters_view_shows_no_contents_and_counts_a_record_once(
    sink: ClickHouseSink,
) -> None:
    letter = DeadLetter("customer-feedback", 3, 42, "not Avro: 'secret'", b"x", "ab", b"k", 7)
    sink.write(SinkBatch(token="one", dead_letters=[letter]))
    sink.write(SinkBatch(token="two", dead_letters=[letter]))  # written again (a replay)
    (shown,) = rows(sink, "SELECT * FROM v_dead_letters")
    assert set(shown) == {"seen_at", "topic", "partition", "offset", "error_kind"}
    assert (shown["topic"], shown["partition"], shown["offset"]) == ("customer-feedback", 3, 42)


def _ttls(sink: ClickHouseSink) -> dict[str, bool]:
    _, created = sink.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase() "
        "AND name IN ('customer_feedback', 'dead_letters', 'employee_comments')"
    )
    return {name: " TTL " in query for name, query in created}


def test_retention_is_applied_once_changed_and_removed(
    sink_factory: SinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    with sink_factory(retention_days=30) as sink:
        assert _ttls(sink) == dict.fromkeys(RETAINED_TABLES, True)
        now = int(time.time() * 1000)
        old, recent = (
            CustomerFeedback(event_id, at, "team-a", "web", "survey", nps=9)
            for event_id, at in (("old", now - 90 * DAY_MS), ("recent", now - DAY_MS))
        )
        sink.write(SinkBatch(customer_feedback=[(old, False), (recent, False)]))
        sink.query("OPTIMIZE TABLE customer_feedback FINAL")  # TTLs are applied on merges
        assert sink.query("SELECT event_id FROM customer_feedback")[1] == [("recent",)]

    caplog.set_level("INFO", logger="sinks.clickhouse")
    with sink_factory(retention_days=30):
        pass
    assert not [r for r in caplog.records if "keep " in r.getMessage()]  # unchanged: no ALTER
    with sink_factory(retention_days=60):
        pass
    assert len([r for r in caplog.records if "60 days" in r.getMessage()]) == len(RETAINED_TABLES)
    with sink_factory() as sink:
        assert _ttls(sink) == dict.fromkeys(RETAINED_TABLES, False)


def test_a_cluster_setting_on_a_single_node_store_is_refused(sink_factory: SinkFactory) -> None:
    """A cluster the server does not have stops start-up with a message naming the setting
    (chDB has no clusters; a single-node table in the way of a Distributed one is refused by
    cluster_table_problems, tested in tests/unit/test_cluster_ddl.py)."""
    with sink_factory():
        pass
    sink = sink_factory(cluster="miroir_cluster", insert_retries=0)
    with pytest.raises(ConfigError, match="MIROIR_CLICKHOUSE_CLUSTER=miroir_cluster"):
        sink.open()
