"""Writer schemas from a Confluent-compatible Schema Registry, fetched by id on first sight.

Producers in the field frame their records in the Confluent wire format (magic byte, 4-byte
schema id, Avro body) and register their schemas in a registry. Before a batch is decoded, the
worker asks the registry (``GET /schemas/ids/{id}``) for every id it has not seen, and teaches
the codec the answer; ids never change meaning, so a schema is kept for the life of the process.

| the registry answers | what happens |
|---|---|
| the schema (Avro) | the codec reads that id's records with it (schema resolution) |
| 404 | that id's records are dead letters, with why; asked again after 5 minutes |
| a schema that is not Avro or not valid | that id's records are dead letters, with why |
| nothing, 5xx, 408, 429 | :class:`RegistryUnavailable`: the batch waits, nothing acked |
| 401/403, or a TLS certificate not trusted | :class:`RegistryRefused` (a RegistryUnavailable) |

A refused login or an untrusted certificate is waited on too (logged as an error naming the
settings to fix), because dead-lettering every framed record for a password typo would lose
them; start-up checks both first (:meth:`SchemaRegistry.check`) and stops on either, so a
wrong password or CA stops the worker before any record; a running worker refused again and
again stops too (``PipelineRunner._learn_writer_schemas``).
Writer schemas in ``MIROIR_WRITER_SCHEMAS_DIR`` are known from the start and never asked for:
the directory works offline and overrides the registry for its ids.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from schemas.codec import MAX_UNUSABLE_IDS, SignalCodec
from streams.core.redact import redact_url
from streams.errors import ConfigError, MiroirError

if TYPE_CHECKING:
    from streams.settings import Settings

__all__ = [
    "MAX_CONCURRENT_REQUESTS",
    "MAX_NEW_IDS_PER_BATCH",
    "NOT_FOUND_RETRY_SECONDS",
    "RegistryAnswer",
    "RegistryRefused",
    "RegistryUnavailable",
    "SchemaRegistry",
    "read_answer",
]

log = logging.getLogger("miroir.schema_registry")

#: Statuses that say "ask again later" rather than "this id has no usable schema".
_TRANSIENT: Final = frozenset({408, 425, 429})
_LOGIN_HINT: Final = "check MIROIR_SCHEMA_REGISTRY_USERNAME and MIROIR_SCHEMA_REGISTRY_PASSWORD"
MAX_RESPONSE_BYTES: Final = 1 << 20  # a schema is a few KB; a registry never sends a megabyte
MAX_NEW_IDS_PER_BATCH: Final = 64  # see SchemaRegistry.teach
MAX_CONCURRENT_REQUESTS: Final = 4
NOT_FOUND_RETRY_SECONDS: Final = 300.0  # an id the registry did not have is asked again after
_DEFERRED: Final = (
    f"not asked for: over {MAX_NEW_IDS_PER_BATCH} schema ids never seen before arrived in one "
    "batch (a producer framing records with random ids?); produce it again from the "
    "dead-letter topic to read it (docs/guarantees.md, 'Reading dead letters again')"
)


class RegistryUnavailable(MiroirError):
    """The registry could not answer now; the batch should wait and ask again."""


class RegistryRefused(RegistryUnavailable):
    """The registry refused our login, or its certificate is not trusted: only a change of
    settings (or of the registry) helps. Stops start-up; later, the batch waits."""


@dataclass(frozen=True)
class RegistryAnswer:
    """What the registry said of one id: a writer schema, or why there is none."""

    schema: dict[str, Any] | None = None
    unusable: str | None = None
    # A 404 may end: registries give ids as schemas are registered, so an id a producer used
    # before its schema reached this registry can exist later. What the registry holds under
    # an id never changes, so every other verdict is final.
    final: bool = True


def read_answer(
    schema_id: int, status: int, body: bytes, where: str = "the schema registry"
) -> RegistryAnswer:
    """Classify the registry's response to ``GET /schemas/ids/{schema_id}`` (pure).

    Raises RegistryUnavailable for answers that may change on asking again, its message
    starting with ``where`` (the registry's redacted URL, for the log)."""
    if status == 404:  # Confluent's error 40403, "Schema not found"
        return RegistryAnswer(
            unusable="the schema registry has no schema with this id", final=False
        )
    if status in (401, 403):
        raise RegistryRefused(
            f"{where} refused the login ({status}) for schema id {schema_id}: {_LOGIN_HINT}"
        )
    if status in _TRANSIENT or status >= 500:
        raise RegistryUnavailable(f"{where} answered {status} for schema id {schema_id}")
    if status != 200:
        return RegistryAnswer(unusable=f"the schema registry answered {status} for this id")
    try:
        answer = json.loads(body)
        schema_type = answer.get("schemaType", "AVRO")
        text = answer["schema"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return RegistryAnswer(unusable="the schema registry's answer is not a schema")
    if schema_type != "AVRO":
        return RegistryAnswer(unusable=f"the registered schema is {schema_type!r}, not Avro")
    try:
        schema = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        schema = None
    if not isinstance(schema, dict):
        return RegistryAnswer(unusable="the registered schema is not an Avro record schema")
    return RegistryAnswer(schema=schema)


class SchemaRegistry:
    """Fetches writer schemas by id into a codec (see the module doc)."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown_url = redact_url(self.url)
        self._headers = {"Accept": "application/vnd.schemaregistry.v1+json, application/json"}
        if username is not None:
            credentials = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {credentials}"
        self._ssl: ssl.SSLContext | bool = True  # the system's CAs
        if ca_file:
            try:  # only this bundle is trusted then: a private CA
                self._ssl = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as e:
                raise ConfigError(
                    f"MIROIR_SCHEMA_REGISTRY_CA_FILE: cannot load {ca_file!r} as PEM "
                    f"certificates ({type(e).__name__}: {e})"
                ) from e
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._clock = clock
        # Ids the registry did not have, and when it said so: asked again after
        # NOT_FOUND_RETRY_SECONDS (at most MAX_UNUSABLE_IDS kept, as in the codec).
        self._not_found: dict[int, float] = {}
        self.fetched = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> SchemaRegistry | None:
        if not settings.schema_registry_url:
            return None
        password = settings.schema_registry_password
        ca_file = settings.schema_registry_ca_file
        return cls(
            settings.schema_registry_url,
            username=settings.schema_registry_username,
            password=password.get_secret_value() if password else None,
            ca_file=str(ca_file) if ca_file else None,
            timeout=settings.schema_registry_timeout_seconds,
        )

    def _session(self) -> aiohttp.ClientSession:
        # At most MAX_CONCURRENT_REQUESTS connections to the registry at a time.
        connector = aiohttp.TCPConnector(limit=MAX_CONCURRENT_REQUESTS)
        return aiohttp.ClientSession(
            timeout=self._timeout, headers=self._headers, connector=connector
        )

    async def _get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, bytes]:
        try:
            async with session.get(
                self.url + path, ssl=self._ssl, allow_redirects=False
            ) as response:
                body = await response.content.read(MAX_RESPONSE_BYTES)
                return response.status, body
        except aiohttp.ClientConnectorCertificateError as e:
            raise RegistryRefused(
                f"the schema registry at {self.shown_url} presented a certificate that is not "
                f"trusted ({e.certificate_error}): set MIROIR_SCHEMA_REGISTRY_CA_FILE to the "
                "PEM bundle of the CA that signed it, and name the registry in the URL as its "
                "certificate does"
            ) from e
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise RegistryUnavailable(
                f"the schema registry at {self.shown_url} cannot be reached ({type(e).__name__})"
            ) from e

    async def check(self) -> None:
        """At start-up: ConfigError when the registry refuses our login or its certificate
        is not trusted; a registry that is down only gets a warning (records wait for it)."""
        try:
            async with self._session() as session:
                status, _ = await self._get(session, "/schemas/types")
        except RegistryRefused as e:
            raise ConfigError(str(e)) from e
        except RegistryUnavailable as e:
            log.warning("%s; framed records will wait for it", e)
            return
        if status in (401, 403):
            raise ConfigError(
                f"the schema registry at {self.shown_url} refused the login ({status}): "
                + _LOGIN_HINT
            )

    async def teach(
        self, codec: SignalCodec, values: Iterable[bytes | None]
    ) -> dict[int, RegistryAnswer]:
        """Fetch the writer schema of every id in ``values`` the codec does not know, and
        teach it to the codec; RegistryUnavailable when the registry cannot answer now (what
        was learnt so far is kept). What the registry said of each id learnt.

        At most ``MAX_NEW_IDS_PER_BATCH`` ids are asked for per call, the lowest first
        (registries number schemas from 1 up, so real ids are small); the records of the
        others are dead letters this time (``SignalCodec.defer``), and their ids are asked
        again when seen again. A real deployment meets a handful of ids; only a broken or
        hostile producer framing records with random ids meets more, and it must not hold the
        pipeline for thousands of requests."""
        self._forget_old_not_found(codec)
        unknown = sorted(codec.unknown_schema_ids(values))
        asked, left = unknown[:MAX_NEW_IDS_PER_BATCH], unknown[MAX_NEW_IDS_PER_BATCH:]
        codec.defer(dict.fromkeys(left, _DEFERRED))
        if left:
            log.warning(
                "%d schema ids never seen before in one batch, over the %d asked for at once: "
                "the records of %d of them (ids %d to %d) are dead letters",
                len(unknown),
                MAX_NEW_IDS_PER_BATCH,
                len(left),
                left[0],
                left[-1],
            )
        if not asked:
            return {}
        async with self._session() as session:
            responses = await asyncio.gather(
                *(self._get(session, f"/schemas/ids/{schema_id}") for schema_id in asked),
                return_exceptions=True,
            )
        learnt: dict[int, RegistryAnswer] = {}
        failures: list[RegistryUnavailable] = []
        for schema_id, response in zip(asked, responses, strict=True):
            if isinstance(response, BaseException):
                if not isinstance(response, RegistryUnavailable):
                    raise response
                failures.append(response)
                continue
            status, body = response
            try:
                answer = read_answer(
                    schema_id, status, body, where=f"the schema registry at {self.shown_url}"
                )
            except RegistryUnavailable as e:
                failures.append(e)
                continue
            learnt[schema_id] = self._learn(codec, schema_id, answer)
        self.fetched += len(learnt)
        if failures:  # a refusal says more than an outage: it is the one to report
            raise next((e for e in failures if isinstance(e, RegistryRefused)), failures[0])
        return learnt

    def _forget_old_not_found(self, codec: SignalCodec) -> None:
        now = self._clock()
        while self._not_found:
            schema_id, since = next(iter(self._not_found.items()))  # the oldest first
            if now - since < NOT_FOUND_RETRY_SECONDS and len(self._not_found) <= MAX_UNUSABLE_IDS:
                break
            del self._not_found[schema_id]
            codec.forget_unusable(schema_id)

    def _learn(self, codec: SignalCodec, schema_id: int, answer: RegistryAnswer) -> RegistryAnswer:
        if answer.schema is not None:
            try:
                codec.add_writer_schema(schema_id, answer.schema)
            except ConfigError as e:
                answer = RegistryAnswer(unusable=f"the registered schema is invalid ({e})")
        if answer.unusable is not None:
            log.warning("schema registry: id %d unusable: %s", schema_id, answer.unusable)
            codec.mark_unusable(schema_id, answer.unusable)
            if not answer.final:
                self._not_found.pop(schema_id, None)
                self._not_found[schema_id] = self._clock()
        else:
            log.info("schema registry: learnt writer schema id %d", schema_id)
        return answer
