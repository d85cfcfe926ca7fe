"""Detection quality on the shipped scenarios, over several seeds: precision and recall per kind,
and the false-alert rate of steady teams, compared with the targets of issue 3.

    python benchmarks/detection_quality.py            # 5 seeds per scenario
    python benchmarks/detection_quality.py --seeds 10 --z-crit 3.0

Each scenario is regenerated with seeds 1..N (the file's other settings unchanged) and run
through the same replay path as `miroir replay`. Prints one table per scenario group and the
pooled table, then PASS/FAIL lines against the targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

from schemas.codec import record_to_json, topic_of
from streams.settings import load_settings
from streams.tools.evaluate import Evaluation, KindScore, evaluate, format_table
from streams.tools.replay import replay
from streams.tools.scenario import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
# Scenarios with >= 30 respondents per side per window, where the targets apply.
PRECISION_RECALL = ("declines", "inner-then-outer", "outer", "late-and-disorder")
TARGET_KINDS = ("mirror_decline", "inner_warning", "outer_warning")
TARGET = 0.9
MAX_STEADY_FALSE_RATE = 0.01


def run(scenario: Scenario, settings) -> tuple[Evaluation, int]:
    window_ms = scenario.window_ms(settings.window_ms)
    lateness_ms = scenario.allowed_lateness_ms(settings.allowed_lateness_ms)
    overrides = {"window_seconds": window_ms / 1000, "allowed_lateness_seconds": lateness_ms / 1000}
    run_settings = settings.model_copy(update=overrides)
    events = ((topic_of(r), record_to_json(r)) for r in scenario.events(window_ms, lateness_ms))
    result = replay(events, run_settings)
    return evaluate(result.alerts, scenario.truth(window_ms)), len(result.windows)


def pooled(evaluations: list[Evaluation]) -> Evaluation:
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    order: list[str] = []
    for evaluation in evaluations:
        for row in evaluation.rows:
            if row.kind not in sums:
                order.append(row.kind)
            values = (
                row.alerts,
                row.true_positives,
                row.false_positives,
                row.truth_items,
                row.detected,
                row.missed,
            )
            sums[row.kind] = [a + b for a, b in zip(sums[row.kind], values, strict=True)]
    return Evaluation(tuple(KindScore(kind, *sums[kind]) for kind in order))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--z-crit", type=float, default=None)
    args = parser.parse_args()
    settings = load_settings(**({"z_crit": args.z_crit} if args.z_crit else {}))
    print(
        f"detectors {settings.detectors}, z_crit {settings.z_crit}, min_effect "
        f"{settings.min_effect}, baseline {settings.baseline_mode} K={settings.baseline_windows}, "
        f"{args.seeds} seeds per scenario\n"
    )
    by_group: dict[str, list[Evaluation]] = defaultdict(list)
    steady_alerts = steady_windows = 0
    started = time.monotonic()
    for path in sorted(SCENARIOS.glob("*.yaml")):
        base = Scenario.load(path)
        for seed in range(1, args.seeds + 1):
            evaluation, windows = run(dataclasses.replace(base, seed=seed), settings)
            by_group[path.stem].append(evaluation)
            if path.stem == "steady":
                steady_alerts += evaluation.total.alerts
                steady_windows += windows
        print(
            f"{path.stem}: {base.team_windows} team-windows x {args.seeds} seeds", file=sys.stderr
        )
    for name, evaluations in by_group.items():
        print(f"== {name}\n{format_table(pooled(evaluations))}\n")
    targeted = pooled([e for name in PRECISION_RECALL for e in by_group.get(name, [])])
    print(f"== pooled over {', '.join(PRECISION_RECALL)}\n{format_table(targeted)}\n")

    ok = True
    for kind in TARGET_KINDS:
        row = targeted.row(kind)
        for label, value in (("precision", row.precision), ("recall", row.recall)):
            passed = value is not None and value >= TARGET
            ok &= passed
            shown = "n/a" if value is None else f"{value:.3f}"
            print(f"{'PASS' if passed else 'FAIL'} {kind} {label} {shown} (target >= {TARGET})")
    rate = steady_alerts / max(steady_windows, 1)
    passed = steady_windows >= 1000 and rate <= MAX_STEADY_FALSE_RATE
    ok &= passed
    print(
        f"{'PASS' if passed else 'FAIL'} steady false alerts {steady_alerts}/{steady_windows} "
        f"team-windows = {rate:.2%} (target <= {MAX_STEADY_FALSE_RATE:.0%})"
    )
    print(f"({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
