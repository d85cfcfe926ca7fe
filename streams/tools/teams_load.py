"""``miroir teams load teams.csv``: check an organisation CSV, then write it to the teams topic."""

from __future__ import annotations

import sys
from pathlib import Path

from streams.core.org import read_teams_csv
from streams.errors import ConfigError
from streams.settings import Settings

MAX_PROBLEMS_SHOWN = 20


def load_teams(settings: Settings, path: Path, *, dry_run: bool = False) -> int:
    """Read and check ``path``; unless ``dry_run``, publish every team (key team_id) to
    ``MIROIR_TOPIC_TEAMS``. Nothing is written when any line is wrong: the file is fixed and
    loaded again, rather than half an organisation going live. Returns the teams written."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    teams, problems = read_teams_csv(text)
    if problems:
        lines = [f"  line {p.line}: {p.reason}" for p in problems[:MAX_PROBLEMS_SHOWN]]
        more = len(problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            lines.append(f"  ... and {more} more")
        raise ConfigError(
            f"{path}: {len(problems)} problem(s), nothing loaded:\n" + "\n".join(lines)
        )
    if not teams:
        raise ConfigError(f"{path}: no team in the file, nothing loaded")
    units = {unit for team in teams for unit in team.units()}
    print(f"{path}: {len(teams)} teams in {len(units)} units", file=sys.stderr)
    if dry_run:
        return 0
    if not settings.kafka_bootstrap:
        raise ConfigError("MIROIR_KAFKA_BOOTSTRAP is not set: no broker to write the teams to")
    from streams.kafka_config import KafkaConnection
    from streams.runtime.org_topic import publish_teams
    from streams.runtime.topics import ensure_topics
    from streams.runtime.worker import required_topics

    kafka = KafkaConnection.from_settings(settings)
    ensure_topics(
        kafka,
        [spec for spec in required_topics(settings) if spec.name == settings.topic_teams],
    )

    def progress(done: int) -> None:
        print(f"\r  {done}/{len(teams)} teams written", end="", file=sys.stderr, flush=True)

    written = publish_teams(kafka, settings.topic_teams, teams, progress)
    print(f"\n{written} teams written to {settings.topic_teams}", file=sys.stderr)
    return written
