"""``miroir demo``: embedded broker, worker, simulated teams and live alerts, zero setup."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from schemas.records import MirrorAlert
from streams.runtime.follow import follow_alerts, format_alert
from streams.runtime.worker import required_topics
from streams.settings import Settings, load_settings, settings_env
from streams.tools.simulator import Simulator, demo_plans

# Seconds-long windows so that a demo shows baselines forming and alerts firing in a minute.
DEMO_DEFAULTS: dict[str, object] = {
    "window_seconds": 5.0,
    "allowed_lateness_seconds": 1.0,
    "idle_close_seconds": 3.0,
    "batch_seconds": 0.2,
}


def demo_settings() -> Settings:
    """Demo defaults, except where the user set the variable explicitly."""
    overrides = {k: v for k, v in DEMO_DEFAULTS.items() if f"MIROIR_{k.upper()}" not in os.environ}
    if "MIROIR_WEB_PORT" not in os.environ:
        from streams.tools.kafka_broker import free_port

        overrides["web_port"] = free_port()  # the default 6066 may be taken by a real worker
    return load_settings(**overrides)


def _embedded_store_path(settings: Settings) -> Path | None:
    if settings.clickhouse_dsn.startswith("chdb://"):
        return Path(settings.clickhouse_dsn[len("chdb://") :])
    return None


def run_demo(duration: float, teams: int, colour: bool) -> int:
    settings = demo_settings()
    say = _printer()
    with ExitStack() as stack:
        bootstrap = settings.kafka_bootstrap
        if bootstrap is None:
            from streams.tools.kafka_broker import TansuBroker

            broker = stack.enter_context(TansuBroker())
            bootstrap = broker.bootstrap
            say(f"demo: embedded Kafka-compatible broker (Tansu, in memory) at {bootstrap}")
            store = _embedded_store_path(settings)
            if store is not None and store.exists():
                # The embedded broker starts empty, so the embedded store does too: after the
                # demo, the store holds exactly what this demo printed.
                shutil.rmtree(store)
        else:
            say(f"demo: using the Kafka broker at {bootstrap} (MIROIR_KAFKA_BOOTSTRAP)")
        settings = settings.model_copy(update={"kafka_bootstrap": bootstrap})

        from streams.runtime.topics import ensure_topics

        ensure_topics(bootstrap, required_topics(settings))
        worker = stack.enter_context(_worker_process(settings, say))
        if settings.web_port:
            say(
                f"demo: live page http://{settings.web_bind}:{settings.web_port}/ "
                f"(metrics at /metrics)"
            )

        seen: list[MirrorAlert] = []
        stop = threading.Event()

        def on_alert(alert: MirrorAlert) -> None:
            seen.append(alert)
            say(format_alert(alert, colour))

        follower = threading.Thread(
            target=follow_alerts,
            args=(bootstrap, settings.topic_alerts, on_alert, stop),
            kwargs={"from_beginning": True},
            daemon=True,
        )
        follower.start()

        plans = demo_plans(teams)
        say(
            f"demo: {len(plans)} teams, {settings.window_seconds:g}s windows; planted: "
            + ", ".join(
                f"{p.team_id}={p.effect} from window {p.effect_from_window}"
                for p in plans
                if p.effect != "steady"
            )
        )
        say(
            f"demo: running for {duration:g}s (Ctrl-C to stop); "
            "alerts appear below as windows close"
        )
        from streams.runtime.publish import SignalPublisher
        from streams.tools.feed import publish_realtime

        simulator = Simulator(plans, settings.window_ms, int(time.time() * 1000))
        deadline = time.time() + duration
        interrupted = False
        try:
            with SignalPublisher(
                bootstrap, settings.topic_customer, settings.topic_employee
            ) as pub:
                producer = threading.Thread(
                    target=publish_realtime, args=(simulator, pub, stop, deadline), daemon=True
                )
                producer.start()
                while producer.is_alive():
                    producer.join(0.5)
                    if worker.poll() is not None:
                        say(
                            f"demo: the worker stopped unexpectedly (exit {worker.returncode}); "
                            f"see {settings.data_dir / 'worker.log'}"
                        )
                        return 1
        except KeyboardInterrupt:
            interrupted = True
            say("\ndemo: interrupted, stopping ...")
        finally:
            stop.set()
        follower.join(5)
        counts = Counter(alert.kind for alert in seen if alert.event in ALERT_EVENTS)
        summary = ", ".join(f"{kind}: {n}" for kind, n in sorted(counts.items())) or "none"
        say(f"demo: {'stopped' if interrupted else 'done'}; alerts seen: {summary}")
        for line in episode_summary(seen):
            say(f"demo: {line}")
    say(
        "demo: explore the stored results with: miroir alerts (open episodes first), or "
        'miroir query "SELECT team_name, kind, severity, alerts FROM v_open_episodes"; '
        "the analyst views are listed in docs/bi.md"
    )
    return 0


ALERT_EVENTS = frozenset({"alert", "opened", "updated", "escalated"})


def episode_summary(records: list[MirrorAlert]) -> list[str]:
    """One line per episode seen: one problem, however many windows it lasted."""
    lines = []
    by_episode: dict[str, list[MirrorAlert]] = {}
    for record in records:
        if record.episode_id:
            by_episode.setdefault(record.episode_id, []).append(record)
    for episode_id, events in by_episode.items():
        kinds = Counter(r.event for r in events)
        last = events[-1]
        state = "resolved" if kinds["resolved"] else "still open"
        lines.append(
            f"episode {episode_id[:8]} team {last.team_id} {last.kind}: one page when it opened, "
            f"{kinds['updated']} update(s) without paging, {kinds['escalated']} escalation(s), "
            f"{state}"
        )
    return lines


class _worker_process:  # noqa: N801 - used as a context manager, reads like one
    """The worker in its own process: it owns the embedded ClickHouse store while it runs."""

    def __init__(self, settings: Settings, say) -> None:  # type: ignore[no-untyped-def]
        self.settings = settings
        self.say = say
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> subprocess.Popen[bytes]:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.settings.data_dir / "worker.log"
        # The demo's secrets are the public defaults unless the user set their own.
        env = {**os.environ, **settings_env(self.settings), "MIROIR_ALLOW_DEMO_SECRETS": "true"}
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.say(f"demo: worker started (pid {self.process.pid}), log in {log_path}")
        return self.process

    def __exit__(self, *exc: object) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()


def _printer():  # type: ignore[no-untyped-def]
    lock = threading.Lock()

    def say(text: str) -> None:
        with lock:
            print(text, flush=True)

    return say
