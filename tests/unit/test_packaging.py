"""Every data file the code reads at run time is shipped in the wheel (package-data globs)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Files read through importlib.resources or next to a module, by package.
DATA_FILES = {
    "schemas": ["*.avsc"],
    "sinks": ["ddl/**/*.sql"],
    "streams.web": ["static/*"],
}


def test_every_data_file_is_in_the_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    missing = []
    for package, patterns in DATA_FILES.items():
        root = REPO / package.replace(".", "/")
        shipped = {path for glob in package_data.get(package, []) for path in root.glob(glob)}
        for pattern in patterns:
            missing += [str(p.relative_to(REPO)) for p in root.glob(pattern) if p not in shipped]
    assert missing == [], f"add globs to [tool.setuptools.package-data] for {missing}"
