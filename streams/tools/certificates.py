"""A throw-away PKI for tests: a CA, a broker certificate for 127.0.0.1, a client certificate,
and an unrelated "rogue" CA, made with the ``openssl`` command in a few hundred milliseconds.

Used to start the Apache Kafka broker with TLS listeners (``streams.tools.kafka_broker``) and to
prove that clients trusting the wrong CA are refused. Keys are unencrypted PEM files, readable
only by their owner; nothing here is fit for production.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from streams.errors import BrokerError

__all__ = ["PkiFiles", "make_test_pki"]

VALID_DAYS: Final = 2
_KEY: Final = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class PkiFiles:
    """Paths of the PEM files :func:`make_test_pki` wrote."""

    ca_cert: Path
    broker_cert: Path
    broker_key: Path
    client_cert: Path
    client_key: Path
    rogue_ca_cert: Path  # signs nothing the broker uses: trusting only it must fail


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerError("the openssl command is needed to make test certificates; install it")
    result = subprocess.run(
        [openssl, *args], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise BrokerError(f"openssl {args[0]} failed: {result.stderr.strip()[-1000:]}")


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *_KEY, "-keyout", str(key), "-out", str(cert),
        "-days", str(VALID_DAYS), "-subj", f"/CN=Miroir test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def _signed(
    directory: Path, name: str, ca: tuple[Path, Path], extensions: str
) -> tuple[Path, Path]:
    cert, key, request = (directory / f"{name}{ext}" for ext in (".pem", ".key", ".csr"))
    config = directory / f"{name}.ext"
    # Explicit key identifiers: OpenSSL 1.1 omits them, and Python 3.13's default TLS context
    # (VERIFY_X509_STRICT) refuses a certificate without an authority key identifier.
    config.write_text(
        f"{extensions}subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n"
    )
    _openssl("req", "-new", *_KEY, "-keyout", str(key), "-out", str(request),
             "-subj", f"/CN={name}")  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", str(cert), "-days", str(VALID_DAYS), "-sha256",
        "-extfile", str(config),
    )  # fmt: skip
    request.unlink()
    return cert, key


def make_test_pki(directory: Path) -> PkiFiles:
    """Write a CA, a broker certificate for 127.0.0.1 and localhost, a client certificate and
    a rogue CA into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "ca")
    rogue = _ca(directory, "rogue-ca")
    broker = _signed(
        directory,
        "broker",
        ca,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    client = _signed(directory, "client", ca, "extendedKeyUsage=clientAuth\n")
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return PkiFiles(
        ca_cert=ca[0],
        broker_cert=broker[0],
        broker_key=broker[1],
        client_cert=client[0],
        client_key=client[1],
        rogue_ca_cert=rogue[0],
    )
