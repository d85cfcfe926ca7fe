"""Find detectors by name: the built-ins plus third-party plug-ins from entry points.

A plug-in is any installed distribution declaring, in its pyproject.toml::

    [project.entry-points."miroir.detectors"]
    my_detector = "my_package.my_module:MyDetector"

The entry point's name is the detector's name (what ``MIROIR_DETECTORS`` lists); its value
points at a ``Detector`` subclass, instantiated with no arguments. A built-in name always
wins over a plug-in of the same name.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Final

from streams.core.episodes import family_of
from streams.detectors.base import Detector
from streams.detectors.mirror import MirrorChangeDetector
from streams.detectors.symmetry_gap import SymmetryGapDetector
from streams.errors import ConfigError

ENTRY_POINT_GROUP: Final = "miroir.detectors"
# The unit stage's incident records carry ``incident_<family>`` (streams.core.unit_stage).
INCIDENT_KIND_PREFIX: Final = "incident_"

log = logging.getLogger("miroir.detectors")

BUILTIN_DETECTORS: Final[dict[str, type[Detector]]] = {
    MirrorChangeDetector.name: MirrorChangeDetector,
    SymmetryGapDetector.name: SymmetryGapDetector,
}


class UnknownDetectorError(ConfigError, ValueError):
    """A configured detector name is neither built in nor installed as a plug-in."""


class DetectorLoadError(ConfigError, ValueError):
    """A plug-in entry point could not be imported, or is not a Detector subclass."""


def _plugins() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in BUILTIN_DETECTORS:
            found.setdefault(entry_point.name, entry_point)
    return found


def available_detectors() -> dict[str, str]:
    """Every detector name that ``load_detectors`` accepts → ``"module:Class"``."""
    names = {
        name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in BUILTIN_DETECTORS.items()
    }
    for name, entry_point in sorted(_plugins().items()):
        names[name] = entry_point.value
    return names


def _load_plugin(name: str, entry_point: EntryPoint) -> type[Detector]:
    try:
        loaded = entry_point.load()
    except Exception as e:
        raise DetectorLoadError(
            f"detector plug-in {name!r} ({entry_point.value}) failed to import: {e}; "
            "fix or uninstall the package that provides it"
        ) from e
    if not (isinstance(loaded, type) and issubclass(loaded, Detector)):
        raise DetectorLoadError(
            f"detector plug-in {name!r} points at {entry_point.value}, which is not a "
            "subclass of streams.detectors.Detector"
        )
    return loaded


def load_detectors(names: Sequence[str]) -> list[Detector]:
    """Instances of the named detectors, in the given order.

    Raises UnknownDetectorError (a ValueError) naming the available detectors for an unknown
    or repeated name, DetectorLoadError (also a ValueError) for a broken plug-in.
    """
    if isinstance(names, str):
        raise TypeError("load_detectors takes a sequence of names, not a single string")
    plugins: dict[str, EntryPoint] | None = None
    detectors: list[Detector] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UnknownDetectorError(f"detector {name!r} is listed twice; list each once")
        seen.add(name)
        cls = BUILTIN_DETECTORS.get(name)
        if cls is None:
            if plugins is None:
                plugins = _plugins()
            entry_point = plugins.get(name)
            if entry_point is None:
                available = ", ".join(sorted({*BUILTIN_DETECTORS, *plugins}))
                raise UnknownDetectorError(
                    f"unknown detector {name!r}; available: {available} (third-party detectors "
                    f"register under the {ENTRY_POINT_GROUP!r} entry-point group)"
                )
            cls = _load_plugin(name, entry_point)
        detectors.append(cls())
    return detectors


@functools.cache
def known_alert_kinds() -> frozenset[str]:
    """Every alert kind a record on the alerts topics may carry: the kinds the built-in and
    installed plug-in detectors declare (``Detector.alert_kinds``), and the incident kind of
    each one's family. What the readers of the topics (live page, webhook relay, ``miroir
    alerts -f``) accept; a plug-in that cannot be imported is logged and its kinds refused.
    """
    kinds: set[str] = set()
    for cls in BUILTIN_DETECTORS.values():
        kinds.update(cls.alert_kinds())
    for name, entry_point in sorted(_plugins().items()):
        try:
            kinds.update(_load_plugin(name, entry_point).alert_kinds())
        except DetectorLoadError as e:
            log.warning("alert kinds: %s", e)
    kinds.update({INCIDENT_KIND_PREFIX + family_of(kind) for kind in kinds})
    return frozenset(kinds)


__all__ = [
    "BUILTIN_DETECTORS",
    "ENTRY_POINT_GROUP",
    "INCIDENT_KIND_PREFIX",
    "DetectorLoadError",
    "UnknownDetectorError",
    "available_detectors",
    "known_alert_kinds",
    "load_detectors",
]
