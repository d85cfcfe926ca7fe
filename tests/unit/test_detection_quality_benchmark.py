"""benchmarks/detection_quality.py: which scenarios it runs, its report, its clear refusals."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "detection_quality.py"

TINY = """\
seed: 3
window_seconds: 86400
windows: 8
teams:
  - prefix: steady-
    count: 2
    employees: 30
    customers: 40
  - id: decline-01
    employees: 30
    customers: 40
    effects:
      - {kind: mirror_decline, start: 5, end: 7, magnitude: 0.35}
"""


@pytest.fixture
def benchmark(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script loaded as a module (benchmarks/ is not a package)."""
    name = "detection_quality_under_test"
    spec = importlib.util.spec_from_file_location(name, BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_default_runs_the_realistic_files_with_progress_and_the_report(
    benchmark: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "realistic-tiny.yaml").write_text(TINY, encoding="utf-8")
    (tmp_path / "declines.yaml").write_text(TINY, encoding="utf-8")  # not realistic: not run
    monkeypatch.setattr(benchmark, "SCENARIOS", tmp_path)
    code = benchmark.main(["--seeds", "2"])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert "realistic-tiny seed 1 (1/2)" in err and "realistic-tiny seed 2 (2/2)" in err
    assert "declines" not in err
    assert "== realistic-tiny (2 runs)" in out
    assert "== pooled over realistic-tiny" in out
    for section in ("false alerts on steady team-windows", "recall by effect size"):
        assert section in out
    assert "time to detection" in out and "acceptance (issue 11)" in out
    assert "per truth item" not in out  # pooled over runs: summaries only
    assert "(target <= 0.50%)" in out


def test_no_realistic_file_says_what_to_run_instead(
    benchmark: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(benchmark, "SCENARIOS", tmp_path)
    with pytest.raises(SystemExit, match=r"no realistic-\*\.yaml .*--generated N or --legacy"):
        benchmark.main([])


def test_generated_without_the_generator_module_is_a_clear_error(
    benchmark: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "streams.tools.realistic", None)  # import fails
    with pytest.raises(SystemExit, match=r"--generated needs streams\.tools\.realistic"):
        benchmark.main(["--generated", "1"])


def test_legacy_needs_the_old_scenarios(
    benchmark: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(benchmark, "SCENARIOS", tmp_path)
    with pytest.raises(SystemExit, match="missing in .*: declines, "):
        benchmark.main(["--legacy"])
