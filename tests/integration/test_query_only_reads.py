"""`miroir query` only reads: files, the network and output files are refused on the real engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sinks import clickhouse
from sinks.clickhouse import ClickHouseSink
from streams.errors import SinkError
from tests.integration.conftest import SinkFactory
from tests.integration.sample_rows import full_batch

pytestmark = pytest.mark.integration


def miroir_query(store: Path, sql: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MIROIR_CLICKHOUSE_DSN": f"chdb://{store}"}
    return subprocess.run(
        [sys.executable, "-m", "streams", "query", sql],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_miroir_query_never_prints_a_file_or_writes_one(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with ClickHouseSink(f"chdb://{store}") as sink:
        sink.write(full_batch())
    target = tmp_path / "dropped.sh"
    for sql in (
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT file('/etc/passwd')",
        "SELECT * FROM `file`('/etc/passwd', 'LineAsString')",
        f"SELECT 'touch {tmp_path}/pwned' INTO OUTFILE '{target}' APPEND FORMAT TSVRaw",
        "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    ):
        done = miroir_query(store, sql)
        assert done.returncode != 0, sql
        assert "root:" not in done.stdout + done.stderr
        assert "only reads Miroir's tables" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not target.exists()
    ok = miroir_query(store, "SELECT alert_id FROM v_alerts")
    assert ok.returncode == 0, ok.stderr
    assert "a-1" in ok.stdout


def test_the_engines_parse_refuses_what_the_tokens_let_through(
    sink: ClickHouseSink, sink_factory: SinkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the token check switched off, the EXPLAIN AST check still
    refuses a file read and an output file before anything runs."""
    monkeypatch.setattr(clickhouse, "check_read_only", lambda sql: None)
    with sink_factory(read_only=True) as reader:
        for sql in (
            "SELECT * FROM file('/etc/passwd', 'LineAsString')",
            "SELECT 1 INTO OUTFILE '/tmp/miroir-never-written.txt'",
        ):
            with pytest.raises(SinkError, match="only reads Miroir's tables"):
                reader.query(sql)
        assert reader.query("SELECT count() FROM mirror_alerts")[1] == [(0,)]
    assert not Path("/tmp/miroir-never-written.txt").exists()
