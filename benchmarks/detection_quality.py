"""Detection quality over several seeds: the evaluation report of issue 11 (false alerts per
steady team-window, recall by effect and team size, time to detection) against its acceptance.

    python benchmarks/detection_quality.py                 # examples/scenarios/realistic-*.yaml
    python benchmarks/detection_quality.py --seeds 10 --z-crit 3.0
    python benchmarks/detection_quality.py --generated 20  # 20 generated companies
    python benchmarks/detection_quality.py --legacy        # the first scenarios, issue 3's targets

Each scenario file is regenerated with seeds 1..N (its other settings unchanged); generated
companies (``streams.tools.realistic``) take the seeds 9001, 9002, … so a run is repeatable.
Every run goes through the same replay path as `miroir replay`. Prints one table per scenario,
then the pooled report with its targets beside the figures; exits 1 when a target is missed.
Progress goes to stderr. docs/evaluation.md explains the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from schemas.codec import record_to_json, topic_of
from streams.settings import Settings, load_settings
from streams.tools.evaluate import format_table
from streams.tools.evaluation_report import (
    DEADLINE_WINDOWS,
    EvaluationReport,
    build_report,
    pool_evaluations,
    pool_reports,
)
from streams.tools.evaluation_text import format_report, format_steady, format_time_to_detection
from streams.tools.replay import replay
from streams.tools.scenario import Scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
REALISTIC_GLOB = "realistic-*.yaml"
GENERATED_SEED_BASE = 9001  # generated company i (from 0) uses seed 9001 + i

# --legacy: the scenarios shipped before the realistic ones, with the targets of issue 3.
LEGACY_SCENARIOS = (
    "declines",
    "inner-then-outer",
    "late-and-disorder",
    "outer",
    "small-teams",
    "steady",
    "symmetry-gap",
)
# Scenarios with >= 30 respondents per side per window, where the legacy targets apply.
PRECISION_RECALL = ("declines", "inner-then-outer", "outer", "late-and-disorder")
TARGET_KINDS = ("mirror_decline", "inner_warning", "outer_warning")
TARGET = 0.9
MAX_STEADY_FALSE_RATE = 0.01
MIN_STEADY_WINDOWS = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """One scenario run: its report, and what the legacy steady check counts."""

    report: EvaluationReport
    alerts: int
    windows: int


def run(scenario: Scenario, settings: Settings) -> Run:
    window_ms = scenario.window_ms(settings.window_ms)
    lateness_ms = scenario.allowed_lateness_ms(settings.allowed_lateness_ms)
    overrides = {"window_seconds": window_ms / 1000, "allowed_lateness_seconds": lateness_ms / 1000}
    run_settings = settings.model_copy(update=overrides)
    events = ((topic_of(r), record_to_json(r)) for r in scenario.events(window_ms, lateness_ms))
    result = replay(events, run_settings)
    report = build_report(result.alerts, scenario.truth(window_ms), result.windows, window_ms)
    return Run(report, report.evaluation.total.alerts, len(result.windows))


# --- what to run -------------------------------------------------------------------------------

# (group name, how many runs, the scenario of run i) — built lazily: a generated company is
# only made when its turn comes.
Plan = list[tuple[str, int, Callable[[int], Scenario]]]


def _reseeded(path: Path) -> Callable[[int], Scenario]:
    base = Scenario.load(path)
    return lambda index: dataclasses.replace(base, seed=index + 1)


def realistic_plan(seeds: int) -> Plan:
    paths = sorted(SCENARIOS.glob(REALISTIC_GLOB))
    if not paths:
        raise SystemExit(
            f"detection_quality: no {REALISTIC_GLOB} in {SCENARIOS}; run with --generated N "
            "or --legacy"
        )
    return [(path.stem, seeds, _reseeded(path)) for path in paths]


def generated_plan(companies: int) -> Plan:
    try:
        from streams.tools.realistic import realistic_scenario
    except ImportError as error:
        raise SystemExit(
            "detection_quality: --generated needs streams.tools.realistic "
            f"(realistic_scenario(seed, ...)), which cannot be imported here: {error}"
        ) from error

    def company(index: int) -> Scenario:
        return realistic_scenario(GENERATED_SEED_BASE + index)

    return [("generated", companies, company)]


def legacy_plan(seeds: int) -> Plan:
    missing = [name for name in LEGACY_SCENARIOS if not (SCENARIOS / f"{name}.yaml").exists()]
    if missing:
        raise SystemExit(f"detection_quality: missing in {SCENARIOS}: {', '.join(missing)}")
    return [(name, seeds, _reseeded(SCENARIOS / f"{name}.yaml")) for name in LEGACY_SCENARIOS]


def run_plan(plan: Plan, settings: Settings) -> Iterator[tuple[str, Run]]:
    started = time.monotonic()
    for name, count, scenario_of in plan:
        for index in range(count):
            scenario = scenario_of(index)
            print(
                f"{name} seed {scenario.seed} ({index + 1}/{count}): "
                f"{scenario.team_windows:,} team-windows … "
                f"({time.monotonic() - started:.0f} s so far)",
                file=sys.stderr,
                flush=True,
            )
            yield name, run(scenario, settings)


# --- output ------------------------------------------------------------------------------------


def _group_line(report: EvaluationReport) -> str:
    steady, acceptance = report.steady, report.acceptance
    rate = "-" if steady.rate is None else f"{steady.rate:.2%}"
    targeted = len(acceptance.targeted)
    in_time = targeted - len(acceptance.late_or_missed)
    return (
        f"false alerts on {steady.windows_with_alert:,}/{steady.steady_windows:,} steady "
        f"team-windows ({rate}); targeted items detected within {DEADLINE_WINDOWS} windows: "
        f"{in_time}/{targeted}"
    )


def report_realistic(by_group: dict[str, list[Run]]) -> bool:
    for name, runs in by_group.items():
        report = pool_reports(r.report for r in runs)
        print(f"== {name} ({len(runs)} runs)\n{format_table(report.evaluation)}")
        print(f"{_group_line(report)}\n")
    pooled = pool_reports(r.report for runs in by_group.values() for r in runs)
    print(f"== pooled over {', '.join(by_group)}\n{format_report(pooled, items=False)}")
    return pooled.acceptance.passed is True


def report_legacy(by_group: dict[str, list[Run]]) -> bool:
    for name, runs in by_group.items():
        print(f"== {name}\n{format_table(pool_evaluations(r.report.evaluation for r in runs))}\n")
    targeted = pool_evaluations(
        r.report.evaluation for name in PRECISION_RECALL for r in by_group.get(name, [])
    )
    print(f"== pooled over {', '.join(PRECISION_RECALL)}\n{format_table(targeted)}\n")
    everything = pool_reports(r.report for runs in by_group.values() for r in runs)
    print("== all legacy scenarios (their truth gives no effect or team sizes)")
    print(f"{format_steady(everything.steady)}\n")
    print(f"{format_time_to_detection(everything.delays)}\n")

    print("targets of issue 3")
    ok = True
    for kind in TARGET_KINDS:
        row = targeted.row(kind)
        for label, value in (("precision", row.precision), ("recall", row.recall)):
            passed = value is not None and value >= TARGET
            ok &= passed
            shown = "n/a" if value is None else f"{value:.3f}"
            print(f"{'PASS' if passed else 'FAIL'}  {kind} {label} {shown} (target >= {TARGET})")
    steady = by_group.get("steady", [])
    alerts = sum(r.alerts for r in steady)
    windows = sum(r.windows for r in steady)
    rate = alerts / max(windows, 1)
    passed = windows >= MIN_STEADY_WINDOWS and rate <= MAX_STEADY_FALSE_RATE
    ok &= passed
    print(
        f"{'PASS' if passed else 'FAIL'}  steady.yaml false alerts {alerts}/{windows} "
        f"team-windows = {rate:.2%} (target <= {MAX_STEADY_FALSE_RATE:.0%}, "
        f"over >= {MIN_STEADY_WINDOWS} team-windows)"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--generated",
        type=int,
        metavar="N",
        default=None,
        help=f"run N generated companies (seeds {GENERATED_SEED_BASE}, …) instead of the files",
    )
    source.add_argument(
        "--legacy",
        action="store_true",
        help="the first shipped scenarios with issue 3's targets (precision and recall >= 0.9, "
        "steady false alerts <= 1%%)",
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="seeds 1..N per scenario file (default 5)"
    )
    parser.add_argument("--z-crit", type=float, default=None, help="overrides MIROIR_Z_CRIT")
    args = parser.parse_args(argv)
    if args.seeds < 1 or (args.generated is not None and args.generated < 1):
        parser.error("--seeds and --generated take a count of at least 1")
    settings = load_settings(**({"z_crit": args.z_crit} if args.z_crit is not None else {}))
    if args.legacy:
        plan = legacy_plan(args.seeds)
    elif args.generated is not None:
        plan = generated_plan(args.generated)
    else:
        plan = realistic_plan(args.seeds)
    runs = (
        f"{args.generated} generated companies"
        if args.generated is not None
        else f"{args.seeds} seeds per scenario"
    )
    print(
        f"detectors {settings.detectors}, z_crit {settings.z_crit}, min_effect "
        f"{settings.min_effect}, baseline {settings.baseline_mode} K={settings.baseline_windows}, "
        f"{runs}\n"
    )
    started = time.monotonic()
    by_group: dict[str, list[Run]] = defaultdict(list)
    for name, result in run_plan(plan, settings):
        by_group[name].append(result)
    ok = report_legacy(by_group) if args.legacy else report_realistic(by_group)
    print(f"({time.monotonic() - started:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
