"""Detectors: the plug-in contract, the shared change statistics, the built-ins, the registry."""

from streams.detectors.base import (
    MIRRORED_PAIRS,
    Baseline,
    Change,
    DetectionSettings,
    Detector,
    baseline,
    change,
    make_alert_id,
    pair_name,
    paired_dimension,
    usable_side,
)
from streams.detectors.mirror import MirrorChangeDetector
from streams.detectors.registry import (
    BUILTIN_DETECTORS,
    ENTRY_POINT_GROUP,
    DetectorLoadError,
    UnknownDetectorError,
    available_detectors,
    load_detectors,
)
from streams.detectors.symmetry_gap import SymmetryGapDetector

__all__ = [
    "BUILTIN_DETECTORS",
    "ENTRY_POINT_GROUP",
    "MIRRORED_PAIRS",
    "Baseline",
    "Change",
    "DetectionSettings",
    "Detector",
    "DetectorLoadError",
    "MirrorChangeDetector",
    "SymmetryGapDetector",
    "UnknownDetectorError",
    "available_detectors",
    "baseline",
    "change",
    "load_detectors",
    "make_alert_id",
    "pair_name",
    "paired_dimension",
    "usable_side",
]
