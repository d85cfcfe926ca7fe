"""The detector contract and the shared statistics every detector uses (pure, no I/O).

A detector looks at one closed team-window and the team's previous closed windows and returns
alerts. The helpers here define the one notion of "a significant change" (DOMAIN.md,
"Detection"): the baseline is the team's own recent history (EWMA or last-K mean of the
index), Δ = current − baseline, z = Δ / √(se_current² + se_baseline²), and a change counts
when |Δ| ≥ ``min_effect`` and |z| ≥ ``z_crit``.

Alert rules every detector follows (``Detector.make_alert`` enforces the privacy one):

- an alert never reveals an employee value, n or component of a suppressed team-window;
- ``created_at`` is the window end, not the wall clock, so replaying the same events yields
  byte-identical alerts (and ``alert_id`` is derived from team, window, kind and version);
- the sentence states evidence and never claims causality.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from schemas.records import MirrorAlert
from streams.core.model import SideMetrics, TeamWindowMetrics

Side = Literal["customer", "employee"]
BaselineMode = Literal["ewma", "last_k"]
Direction = Literal["up", "down", "flat"]

K_ANONYMITY_FLOOR: Final = 3

# (employee component, customer component) of each mirrored pair, DOMAIN.md order.
MIRRORED_PAIRS: Final[tuple[tuple[str, str], ...]] = (
    ("trust", "trust"),
    ("recognition", "listened"),
    ("ambiance", "courtesy"),
    ("empowerment", "ces"),
    ("enps", "nps"),
)


def pair_name(employee_component: str, customer_component: str) -> str:
    """The name an alert gives a mirrored pair: ``"trust"`` when both sides share the name,
    else ``"employee/customer"`` such as ``"recognition/listened"`` or ``"enps/nps"``."""
    if employee_component == customer_component:
        return employee_component
    return f"{employee_component}/{customer_component}"


@dataclass(frozen=True)
class DetectionSettings:
    """How detectors decide; the defaults match ``streams.settings`` (MIROIR_* variables).

    ``min_employee_n`` is a bar on top of k-anonymity: employee sides under k never reach a
    detector (they are suppressed upstream), so the default — the privacy floor — adds none.
    ``se_floor`` is the smallest denominator the z-test uses (index points): Wald standard
    errors are 0 when every respondent gave the same answer, and z must stay finite (alerts
    are JSON). With the defaults a zero-SE change of ``min_effect`` still gives z = 5.
    """

    baseline_mode: BaselineMode = "ewma"
    baseline_windows: int = 6  # K: the newest usable windows a baseline looks at
    ewma_alpha: float = 0.3  # weight of the newest window in the EWMA
    min_effect: float = 5.0  # index points
    z_crit: float = 3.5
    min_customer_n: int = 10
    min_employee_n: int = K_ANONYMITY_FLOOR
    symmetry_gap_threshold: float = 25.0  # index points
    symmetry_gap_windows: int = 3  # M
    min_history: int = 2  # usable baseline windows before any change detection
    baseline_max_age_windows: int = 8  # baseline windows older than this many windows are ignored
    se_floor: float = 1.0
    # Control-chart evidence (streams.detectors.control, docs/statistics.md):
    between_window_sd: float = 3.0  # τ₀: the prior normal week-to-week spread of an index
    prior_windows: float = 4.0  # ν₀: how many windows of the team's own history τ₀ is worth
    sequential_windows: int = 3  # r: windows the EWMA chart looks back over (1: off)
    sequential_lambda: float = 0.5  # λ: weight of the newest window in that chart
    sequential_z_crit: float = 2.85  # |z| the chart needs
    # |z| that confirms the second side of a mirror once the first passed the full bar.
    confirm_z_crit: float = 1.28

    def __post_init__(self) -> None:
        if self.baseline_mode not in ("ewma", "last_k"):
            raise ValueError(
                f"baseline_mode must be 'ewma' or 'last_k', got {self.baseline_mode!r}"
            )
        if not 0 < self.ewma_alpha <= 1:
            raise ValueError(f"ewma_alpha must be in (0, 1], got {self.ewma_alpha}")
        for name in (
            "baseline_windows",
            "min_customer_n",
            "symmetry_gap_windows",
            "min_history",
            "baseline_max_age_windows",
            "sequential_windows",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.min_employee_n < K_ANONYMITY_FLOOR:
            raise ValueError(
                f"min_employee_n must be at least {K_ANONYMITY_FLOOR}, got {self.min_employee_n}"
            )
        if self.min_history > self.baseline_windows:
            raise ValueError(
                f"min_history ({self.min_history}) cannot exceed baseline_windows "
                f"({self.baseline_windows}): no baseline could ever form"
            )
        if not 0 < self.sequential_lambda <= 1:
            raise ValueError(f"sequential_lambda must be in (0, 1], got {self.sequential_lambda}")
        for name in (
            "min_effect",
            "z_crit",
            "symmetry_gap_threshold",
            "between_window_sd",
            "prior_windows",
            "sequential_z_crit",
            "confirm_z_crit",
        ):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")
        if not (math.isfinite(self.se_floor) and self.se_floor > 0):
            raise ValueError(f"se_floor must be a finite number > 0, got {self.se_floor}")

    @property
    def history_windows(self) -> int:
        """How many previous closed windows a caller must keep per team for the built-ins:
        K for the baseline, M for a symmetry-gap run (M − 1 in the run plus one to see it start),
        and the history the control chart learns a team's normal spread from."""
        # The control chart learns a team's normal spread from one-step errors of windows
        # before its guard band, each of which needs a baseline of its own: a few more.
        spread = self.baseline_max_age_windows + self.sequential_windows + self.min_history + 2
        return max(self.baseline_windows, self.symmetry_gap_windows, spread)


@dataclass(frozen=True, slots=True)
class Baseline:
    """Where a side (or one of its components) usually sits, from ``n_windows`` past windows."""

    value: float
    se: float
    n_windows: int


@dataclass(frozen=True, slots=True)
class Change:
    """The current window against a baseline. ``direction`` is the sign of ``delta``."""

    delta: float
    z: float
    significant: bool
    direction: Direction

    @property
    def fell(self) -> bool:
        return self.significant and self.direction == "down"

    @property
    def rose(self) -> bool:
        return self.significant and self.direction == "up"


# -- window access -----------------------------------------------------------------------------
def usable_side(
    window: TeamWindowMetrics, side: Side, settings: DetectionSettings
) -> SideMetrics | None:
    """The side of a window if a detector may use it: present (never a suppressed employee
    side), with an index, and with at least the minimum respondents for that side."""
    if side == "customer":
        metrics: SideMetrics | None = window.customer
        min_n = settings.min_customer_n
    elif side == "employee":
        metrics = None if window.employee_suppressed else window.employee
        min_n = settings.min_employee_n
    else:
        raise ValueError(f"side must be 'customer' or 'employee', got {side!r}")
    if metrics is None or metrics.index is None or metrics.index_se is None or metrics.n < min_n:
        return None
    return metrics


def _value_and_se(metrics: SideMetrics, component: str | None) -> tuple[float, float] | None:
    if component is None:
        if metrics.index is None or metrics.index_se is None:
            return None
        return metrics.index, metrics.index_se
    value = metrics.components.get(component)
    se = metrics.component_se.get(component)
    if value is None or se is None:
        return None
    return value, se


CHANGE_KINDS: Final = frozenset({"mirror_decline", "mirror_rise", "inner_warning", "outer_warning"})


def _oldest_baseline_start(
    history: Sequence[TeamWindowMetrics], settings: DetectionSettings
) -> int:
    if not history:
        return 0
    newest = history[-1]
    size = newest.window_end - newest.window_start
    return newest.window_end - settings.baseline_max_age_windows * size


def baseline(
    history: Sequence[TeamWindowMetrics],
    side: Side,
    settings: DetectionSettings,
    *,
    component: str | None = None,
) -> Baseline | None:
    """The baseline of a side's index (or of one component) from the team's previous windows.

    Only *quiet* windows count: a window that raised a change alert (``CHANGE_KINDS``) is part
    of an episode, not of the team's normal, so a sustained decline keeps being measured against
    the level before it (instead of an average that drifts into the decline and turns the alert
    into a different kind). Windows older than ``baseline_max_age_windows`` windows before the
    newest one are ignored, so a lasting shift ends its episode and becomes the new normal.
    Uses the newest ``baseline_windows`` such usable windows (``usable_side``; for a component,
    those that have it), oldest → newest. ``last_k``: their mean, SE = √(Σ seᵢ²) / m. ``ewma``:
    b₁ = x₁, bᵢ = α·xᵢ + (1 − α)·bᵢ₋₁, SE = √(Σ wᵢ² seᵢ²) with wᵢ each window's EWMA weight.
    Both treat windows as independent. None when fewer than ``min_history`` windows qualify.
    """
    points: list[tuple[float, float]] = []
    oldest_start = _oldest_baseline_start(history, settings)
    for window in history:
        if window.window_start < oldest_start or CHANGE_KINDS.intersection(window.alert_kinds):
            continue
        metrics = usable_side(window, side, settings)
        if metrics is None:
            continue
        point = _value_and_se(metrics, component)
        if point is not None:
            points.append(point)
    points = points[-settings.baseline_windows :]
    m = len(points)
    if m < settings.min_history or m == 0:
        return None
    weights = baseline_weights(m, settings)
    value = math.fsum(w * x for w, (x, _) in zip(weights, points, strict=True))
    se = math.sqrt(math.fsum((w * s) ** 2 for w, (_, s) in zip(weights, points, strict=True)))
    return Baseline(value=value, se=se, n_windows=m)


def baseline_weights(m: int, settings: DetectionSettings) -> list[float]:
    """The weight of each of m baseline windows, oldest first: 1/m each (``last_k``), or the
    weight of window i in the recursive EWMA seeded with the oldest value (``ewma``)."""
    if settings.baseline_mode == "last_k":
        return [1.0 / m] * m
    alpha = settings.ewma_alpha
    return [(1 - alpha) ** (m - 1)] + [alpha * (1 - alpha) ** (m - 1 - i) for i in range(1, m)]


def _test(value: float, se: float, base: Baseline, settings: DetectionSettings) -> Change:
    delta = value - base.value
    z = delta / max(math.sqrt(se**2 + base.se**2), settings.se_floor)
    significant = abs(delta) >= settings.min_effect and abs(z) >= settings.z_crit
    direction: Direction = "up" if delta > 0 else "down" if delta < 0 else "flat"
    return Change(delta=delta, z=z, significant=significant, direction=direction)


def change(
    current_side: SideMetrics,
    base: Baseline,
    settings: DetectionSettings,
    *,
    component: str | None = None,
) -> Change:
    """Test the current side's index (or one component) against its baseline.

    z = Δ / max(√(se_current² + se_baseline²), se_floor); significant iff |Δ| ≥ min_effect and
    |z| ≥ z_crit. Raises ValueError when the current side lacks the index or the component.
    """
    point = _value_and_se(current_side, component)
    if point is None:
        raise ValueError(f"current side has no {component or 'index'} to test")
    return _test(point[0], point[1], base, settings)


def paired_dimension(
    current: TeamWindowMetrics,
    history: Sequence[TeamWindowMetrics],
    settings: DetectionSettings,
    *,
    direction: Literal["down", "up"] = "down",
) -> str | None:
    """The mirrored pair that moved significantly on both sides (component test), or None.

    With ``direction="down"`` (the default): among the pairs whose employee component and
    customer component both fell significantly against their own baselines, the one with the
    largest combined fall (|Δ_employee| + |Δ_customer|); ties go to the DOMAIN.md pair order.
    ``direction="up"`` does the same for rises. Named by ``pair_name``. Always None when the
    employee side of the current window is suppressed or unusable.
    """
    employee = usable_side(current, "employee", settings)
    customer = usable_side(current, "customer", settings)
    if employee is None or customer is None:
        return None
    best: tuple[float, str] | None = None
    for employee_component, customer_component in MIRRORED_PAIRS:
        moves = []
        for side, metrics, component in (
            ("employee", employee, employee_component),
            ("customer", customer, customer_component),
        ):
            if component not in metrics.components:
                break
            base = baseline(history, side, settings, component=component)  # type: ignore[arg-type]
            if base is None:
                break
            moved = change(metrics, base, settings, component=component)
            if not moved.significant or moved.direction != direction:
                break
            moves.append(abs(moved.delta))
        else:
            combined = sum(moves)
            if best is None or combined > best[0]:
                best = (combined, pair_name(employee_component, customer_component))
    return None if best is None else best[1]


# -- alerts ------------------------------------------------------------------------------------
_ALERT_ID_NAMESPACE: Final = "miroir.alert.v1"


def make_alert_id(team_id: str, window_start: int, kind: str, detector_version: str) -> str:
    """Deterministic alert id: sha256 hex (first 32 digits) of team, window, kind and version.

    The same team-window re-emitted (replay, restart) gets the same id, so sinks deduplicate.
    """
    key = "\x1f".join(
        (_ALERT_ID_NAMESPACE, team_id, str(int(window_start)), kind, detector_version)
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


_EMPLOYEE_FIELDS: Final = (
    "employee_n",
    "employee_index",
    "employee_baseline",
    "employee_delta",
    "employee_z",
)


class Detector(ABC):
    """A detector plug-in. Subclass, set ``name`` and ``version``, implement ``detect``.

    ``detect`` gets the closed window and the team's previous closed windows (oldest → newest,
    at least ``settings.history_windows`` of them when the team has that many) and returns
    zero or more alerts. It must be pure: same inputs, same alerts. Bump ``version`` when the
    logic changes: it is part of every ``alert_id``. Register third-party detectors under the
    ``miroir.detectors`` entry-point group (see ``streams.detectors.registry``).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    # The alert kinds it emits; empty means its name is its one kind. Readers of the alerts
    # topic refuse a kind no installed detector declares (a forged alert), so an alert of an
    # undeclared kind is refused here, where its author sees it first.
    kinds: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def alert_kinds(cls) -> tuple[str, ...]:
        """The kinds of the alerts this detector may emit (``kinds``, or its name)."""
        return cls.kinds or (cls.name,)

    @abstractmethod
    def detect(
        self,
        current: TeamWindowMetrics,
        history: Sequence[TeamWindowMetrics],
        settings: DetectionSettings,
    ) -> list[MirrorAlert]:
        """Alerts for ``current`` given the team's ``history``."""

    def make_alert(
        self,
        current: TeamWindowMetrics,
        *,
        kind: str,
        severity: str,
        message: str,
        dimension: str | None = None,
        customer_baseline: float | None = None,
        customer_delta: float | None = None,
        customer_z: float | None = None,
        employee_baseline: float | None = None,
        employee_delta: float | None = None,
        employee_z: float | None = None,
        evidence: Mapping[str, float] | None = None,
    ) -> MirrorAlert:
        """Build an alert for ``current``: id, bounds, both sides' n and index filled in.

        ``created_at`` is the window end (deterministic replays). Raises ValueError if
        employee figures are given for a suppressed window, so no detector can leak them, and
        for a ``kind`` the detector does not declare (``alert_kinds``).
        """
        if kind not in self.alert_kinds():
            raise ValueError(
                f"{self.name}: kind {kind!r} is not declared; list every kind the detector "
                f"emits in its kinds attribute (now {self.alert_kinds()})"
            )
        employee = None if current.employee_suppressed else current.employee
        evidence = dict(evidence or {})
        if employee is None:
            leaked = [
                name
                for name, value in (
                    ("employee_baseline", employee_baseline),
                    ("employee_delta", employee_delta),
                    ("employee_z", employee_z),
                )
                if value is not None
            ] + [key for key in evidence if key.startswith("employee")]
            if leaked or dimension is not None:
                raise ValueError(
                    f"{self.name}: team-window is employee-suppressed; an alert may not carry "
                    f"{leaked or ['dimension']}"
                )
        return MirrorAlert(
            alert_id=make_alert_id(current.team_id, current.window_start, kind, self.version),
            team_id=current.team_id,
            window_start=current.window_start,
            window_end=current.window_end,
            kind=kind,
            severity=severity,
            detector=self.name,
            detector_version=self.version,
            message=message,
            created_at=current.window_end,
            dimension=dimension,
            customer_n=current.customer.n,
            employee_n=None if employee is None else employee.n,
            customer_index=current.customer.index,
            employee_index=None if employee is None else employee.index,
            customer_baseline=customer_baseline,
            employee_baseline=employee_baseline,
            customer_delta=customer_delta,
            employee_delta=employee_delta,
            customer_z=customer_z,
            employee_z=employee_z,
            evidence={key: float(value) for key, value in evidence.items()},
        )


def signed(value: float, digits: int = 1) -> str:
    """``+1.2`` / ``-3.4``: explicit sign for sentences."""
    return f"{value:+.{digits}f}"


__all__ = [
    "MIRRORED_PAIRS",
    "Baseline",
    "BaselineMode",
    "Change",
    "DetectionSettings",
    "Detector",
    "Direction",
    "Side",
    "baseline",
    "baseline_weights",
    "change",
    "make_alert_id",
    "pair_name",
    "paired_dimension",
    "signed",
    "usable_side",
]
