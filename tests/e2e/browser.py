"""The browser the e2e tests drive: Debian's Chromium through Playwright, offline on purpose."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO / "test-artifacts"


def browser_or_skip() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - a dev dependency
        pytest.fail("the playwright package is missing: pip install -e '.[dev]'")
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI; .ci/run installs it with apt-get")
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
        )


@contextmanager
def offline_browser(base: str, profile: Path, **options: Any) -> Iterator[Any]:
    """A Chromium context with a fresh user-data dir in which anything not served under
    ``base`` (the worker on loopback) is refused; asserts at the end that nothing was asked.
    ``options`` go to Playwright's context (e.g. ``http_credentials``)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            **options,
        )
        external: list[str] = []

        def only_loopback(route: Any) -> None:
            if route.request.url.startswith(base):
                route.continue_()
            else:
                external.append(route.request.url)
                route.abort()

        context.route("**/*", only_loopback)
        try:
            yield context
        finally:
            context.close()
        assert not external, f"the pages asked for assets outside the worker: {external}"
