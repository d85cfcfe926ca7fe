"""Credentials never reach logs, errors or output: a ClickHouse password, in the DSN or in its own
setting, is sent to the server and nowhere else, even when the server refuses it.

The server is a real HTTP server started by the test that answers the way ClickHouse does when a
password is wrong (HTTP 516 with ``Code: 516 ... AUTHENTICATION_FAILED``) and records what it
received.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

from sinks.clickhouse import ClickHouseSink, ServerAccess
from streams.errors import MiroirError
from streams.tools.certificates import make_test_pki

pytestmark = pytest.mark.integration

DSN_SECRET = "dsn-Secret-4711"
PASSWORD_SECRET = "setting-Secret-0815"


class RefusingClickHouse(ThreadingHTTPServer):
    """Answers every request as a ClickHouse server refusing the password; keeps the
    credentials it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.credentials: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: RefusingClickHouse

    def _refuse(self) -> None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            self.server.credentials.append(base64.b64decode(auth[6:]).decode())
        elif self.headers.get("X-ClickHouse-Key"):
            user = self.headers.get("X-ClickHouse-User", "")
            self.server.credentials.append(f"{user}:{self.headers['X-ClickHouse-Key']}")
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = (
            b"Code: 516. DB::Exception: miroir: Authentication failed: password is incorrect, "
            b"or there is no user with such name. (AUTHENTICATION_FAILED)\n"
        )
        self.send_response(516)
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _refuse
    do_POST = _refuse

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        pass


@pytest.fixture
def refusing_server() -> Iterator[RefusingClickHouse]:
    server = RefusingClickHouse()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_refused_password_is_sent_but_never_shown(
    refusing_server: RefusingClickHouse, caplog: pytest.LogCaptureFixture
) -> None:
    dsn = f"http://miroir:{DSN_SECRET}@{refusing_server.url.removeprefix('http://')}"
    sink = ClickHouseSink(
        dsn,
        insert_retries=1,
        retry_backoff=0.01,
        retry_backoff_max=0.02,
        access=ServerAccess(password=SecretStr(PASSWORD_SECRET)),
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MiroirError) as caught:
        sink.open()
    # The setting's password overrides the DSN's, and is what the server got.
    assert refusing_server.credentials
    assert set(refusing_server.credentials) == {f"miroir:{PASSWORD_SECRET}"}
    shown = "\n".join([str(caught.value), repr(caught.value), repr(sink), caplog.text])
    assert "AUTHENTICATION_FAILED" in str(caught.value)
    assert "MIROIR_CLICKHOUSE_PASSWORD" in str(caught.value)
    assert DSN_SECRET not in shown
    assert PASSWORD_SECRET not in shown


def test_the_worker_stops_on_refused_credentials_without_printing_them(
    refusing_server: RefusingClickHouse, kafka_broker: object, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap  # type: ignore[attr-defined]
    address = refusing_server.url.removeprefix("http://")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MIROIR_")},
        "MIROIR_KAFKA_BOOTSTRAP": bootstrap,
        "MIROIR_CLICKHOUSE_DSN": f"http://miroir:{DSN_SECRET}@{address}",
        "MIROIR_CLICKHOUSE_PASSWORD": PASSWORD_SECRET,
        "MIROIR_HMAC_SECRET": "a-real-secret-for-this-test-0123456789",
        "MIROIR_APP_ID": f"secret-hygiene-{os.getpid()}",
        "MIROIR_CREATE_TOPICS": "false",
        "MIROIR_WEB_PORT": "0",
        "MIROIR_DATA_DIR": str(tmp_path / "worker"),
        "MIROIR_LOG_LEVEL": "debug",
    }
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "ClickHouse" in output, output[-2000:]
    assert refusing_server.credentials, "the worker never reached the server"
    assert DSN_SECRET not in output
    assert PASSWORD_SECRET not in output


def test_https_trusts_the_configured_ca_and_no_other(tmp_path: Path) -> None:
    """An https DSN speaks TLS on any port (clickhouse-connect alone would use plain http on a
    port other than 443/8443), and MIROIR_CLICKHOUSE_CA_FILE reaches the client: with the CA
    that signed the server's certificate the handshake succeeds (and the server's refusal
    comes back); with another CA the connection is refused before any password is sent."""
    pki = make_test_pki(tmp_path / "pki")
    server = RefusingClickHouse()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki.broker_cert), str(pki.broker_key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dsn = f"https://miroir@127.0.0.1:{server.server_address[1]}"
    try:
        trusted = ClickHouseSink(
            dsn,
            insert_retries=0,
            access=ServerAccess(password=SecretStr(PASSWORD_SECRET), ca_file=pki.ca_cert),
        )
        with pytest.raises(MiroirError, match="AUTHENTICATION_FAILED"):
            trusted.open()
        assert server.credentials == [f"miroir:{PASSWORD_SECRET}"]
        other = ClickHouseSink(
            dsn,
            insert_retries=0,
            access=ServerAccess(password=SecretStr(PASSWORD_SECRET), ca_file=pki.rogue_ca_cert),
        )
        with pytest.raises(MiroirError) as caught:
            other.open()
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) or "certificate" in str(
            caught.value
        )
        assert server.credentials == [f"miroir:{PASSWORD_SECRET}"]  # nothing sent to it
        assert PASSWORD_SECRET not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()
