"""`miroir worker` refuses the public demo secrets, before it touches anything."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({}, "MIROIR_HMAC_SECRET"),
        (
            {"MIROIR_HMAC_SECRET": "x" * 32, "MIROIR_WEBHOOK_URLS": "https://hooks.example/a"},
            "MIROIR_WEBHOOK_SECRET",
        ),
    ],
)
def test_the_worker_refuses_a_demo_secret_naming_it(extra: dict[str, str], named: str) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MIROIR_") or key == "MIROIR_DATA_DIR"
    }
    # Nothing listens there: the refusal must come before any connection is tried.
    env |= {"MIROIR_KAFKA_BOOTSTRAP": "127.0.0.1:9", **extra}
    done = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert named in done.stderr, done.stderr
    assert "openssl rand -hex 32" in done.stderr
    assert "Traceback" not in done.stderr
