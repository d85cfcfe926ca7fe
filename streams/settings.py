"""Every Miroir setting: typed, documented, read from ``MIROIR_*`` variables at start-up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from streams.core.redact import check_webhook_url, redact_url
from streams.errors import ConfigError

DEFAULT_STORE_DIR = Path(".miroir")
DEFAULT_WINDOW_SECONDS = 86_400.0
DEFAULT_ALLOWED_LATENESS_SECONDS = 3_600.0
K_ANONYMITY_FLOOR = 3
# Episode events (streams.core.episodes); kept here so settings need no import of the core.
EPISODE_EVENTS = ("opened", "updated", "escalated", "resolved", "acknowledged")


# The public defaults of the two secrets: fine for `miroir demo`, refused by `miroir worker`.
DEMO_HMAC_SECRET: Final = "miroir-demo-secret-change-me"
DEMO_WEBHOOK_SECRET: Final = "miroir-demo-webhook-secret"


# Secrets that may also come from a file, ``MIROIR_<NAME>_FILE`` (a mounted Kubernetes secret).
_SECRET_FILE_SETTINGS: Final = (
    "hmac_secret",
    "webhook_secret",
    "kafka_sasl_password",
    "clickhouse_password",
    "web_token",
    "schema_registry_password",
    "web_users",
)


class Settings(BaseSettings):
    """Miroir's configuration. Each field is read from ``MIROIR_<FIELD NAME IN CAPITALS>``."""

    model_config = SettingsConfigDict(env_prefix="MIROIR_", extra="ignore", frozen=True)

    # -- Kafka -----------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers, host:port[,host:port]. Unset: `miroir demo` starts "
        "its embedded broker; `miroir worker` refuses to start.",
    )
    app_id: str = Field(
        "miroir",
        description="Faust app id: the consumer group and the prefix of its changelog topics.",
    )
    topic_customer: str = Field("customer-feedback", description="Topic of customer feedback.")
    topic_employee: str = Field("employee-pulse", description="Topic of employee pulses.")
    topic_alerts: str = Field("mirror-alerts", description="Topic the alerts are written to.")
    topic_dead_letters: str = Field(
        "miroir-dead-letters", description="Topic of records that could not be used."
    )
    topic_teams: str = Field(
        "miroir-teams",
        description="Compacted topic of the organisation (key team_id, schemas/team_info.avsc); "
        "load it with miroir teams load.",
    )
    topic_pages: str | None = Field(
        None,
        description="Topic of what pages (the webhooks follow it): team episode events no "
        "incident covers, and incidents; empty: the alerts topic's name + '-pages'.",
    )
    topic_actions: str | None = Field(
        None,
        description="Topic of acknowledgements and resolutions by hand (miroir ack, the live "
        "page), key team_id; empty: the alerts topic's name + '-actions'.",
    )
    topic_partitions: int = Field(
        4,
        ge=1,
        le=1024,
        description="Partitions of every Miroir topic (the source topics must "
        "share it: they are co-partitioned by team_id).",
    )
    create_topics: bool = Field(True, description="Create missing topics at start-up.")
    session_timeout_seconds: float = Field(
        30.0,
        ge=6,
        le=300,
        description="Consumer-group session timeout: how long a worker that "
        "died without leaving holds its partitions before the group gives them to another.",
    )

    # -- Kafka security (one client configuration: streams.kafka_config) ----------
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How every Kafka client connects: PLAINTEXT, SSL (TLS, optionally with a "
        "client certificate), SASL_PLAINTEXT or SASL_SSL (username and password over TLS).",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None,
        description="SASL mechanism; required with SASL_PLAINTEXT and SASL_SSL.",
    )
    kafka_sasl_username: str | None = Field(None, description="SASL username.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_sasl_password_file: Path | None = Field(
        None,
        description="A file holding MIROIR_KAFKA_SASL_PASSWORD (e.g. a mounted secret).",
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        description="PEM bundle of the CAs that sign the brokers' certificates; unset: the "
        "system's trust store.",
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate for mutual TLS (with MIROIR_KAFKA_SSL_KEYFILE)."
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM private key of that certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        None, description="Password of MIROIR_KAFKA_SSL_KEYFILE, if it is encrypted."
    )
    kafka_ssl_check_hostname: bool = Field(
        True,
        description="Check that a broker's certificate names the host connected to. Turn off "
        "only for brokers reached by an address their certificate does not list.",
    )

    # -- ClickHouse ----------------------------------------------------------------------
    clickhouse_dsn: str = Field(
        default_factory=lambda: "chdb://" + str((DEFAULT_STORE_DIR / "clickhouse").resolve()),
        description="Default: the embedded store under ./.miroir/clickhouse. "
        "chdb:///abs/path for the embedded engine, or http(s)://user@host:8443 for a server "
        "(its password in MIROIR_CLICKHOUSE_PASSWORD rather than in the DSN).",
    )
    clickhouse_password: SecretStr | None = Field(
        None,
        description="Password of the DSN's ClickHouse user (overrides one in the DSN).",
    )
    clickhouse_password_file: Path | None = Field(
        None, description="A file holding MIROIR_CLICKHOUSE_PASSWORD (e.g. a mounted secret)."
    )
    clickhouse_ca_file: Path | None = Field(
        None,
        description="PEM bundle of the CAs that sign the ClickHouse server's certificate "
        "(https DSNs); unset: the system's trust store.",
    )
    clickhouse_client_cert: Path | None = Field(
        None, description="PEM client certificate for mutual TLS to ClickHouse."
    )
    clickhouse_client_key: Path | None = Field(
        None, description="PEM private key of MIROIR_CLICKHOUSE_CLIENT_CERT."
    )
    clickhouse_verify: bool = Field(
        True,
        description="Verify the ClickHouse server's certificate (https). Turning it off "
        "allows anyone on the path to read and change the data: for local tests only.",
    )
    clickhouse_database: str = Field("miroir", description="ClickHouse database of the tables.")
    clickhouse_cluster: str | None = Field(
        None,
        description="A ClickHouse cluster name (remote_servers): the tables are created ON "
        "CLUSTER as Replicated*MergeTree <table>_local plus Distributed tables of the usual "
        "names (docs/clickhouse-cluster.md). Unset: single-node tables.",
    )
    raw_retention_days: int | None = Field(
        None,
        ge=1,
        description="Days raw rows are kept: customer_feedback (by occurred_at), dead_letters "
        "(by seen_at) and employee_comments (by window_start) get a ClickHouse TTL; the "
        "aggregates are kept. The GDPR lever (docs/bi.md). Unset: kept until deleted.",
    )
    clickhouse_fault_file: Path | None = Field(
        None,
        description="Testing aid: while this file exists, every ClickHouse insert fails "
        "as if the server were unreachable (rehearse outages on the embedded engine).",
    )
    writer_schemas_dir: Path | None = Field(
        None,
        description="Directory of writer schemas named <Confluent schema id>.avsc: records "
        "framed with those ids are read with their writer's schema and resolved to Miroir's "
        "(schema evolution). Unknown ids are read with Miroir's own schema (without a "
        "registry) or fetched from MIROIR_SCHEMA_REGISTRY_URL.",
    )
    schema_registry_url: str | None = Field(
        None,
        description="Confluent-compatible Schema Registry (http(s)://host:port): writer schemas "
        "of framed records are fetched by id on first sight and cached; while it is down the "
        "batch waits (nothing is lost); an id it does not have makes a dead letter.",
    )
    schema_registry_username: str | None = Field(
        None, description="Basic-auth user of the Schema Registry."
    )
    schema_registry_password: SecretStr | None = Field(
        None, description="Basic-auth password of the Schema Registry."
    )
    schema_registry_password_file: Path | None = Field(
        None, description="A file holding MIROIR_SCHEMA_REGISTRY_PASSWORD."
    )
    schema_registry_ca_file: Path | None = Field(
        None, description="PEM bundle of the CAs of an https Schema Registry."
    )
    schema_registry_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Timeout of one request to the Schema Registry."
    )

    # -- Windows -------------------------------------------------------------------------
    window_seconds: float = Field(
        DEFAULT_WINDOW_SECONDS, gt=0, description="Tumbling window size in event time."
    )
    allowed_lateness_seconds: float = Field(
        DEFAULT_ALLOWED_LATENESS_SECONDS,
        ge=0,
        description="How far behind the partition's max event time an event may arrive and still "
        "count; the watermark is max event time minus this.",
    )
    idle_close_seconds: float = Field(
        30.0,
        gt=0,
        description="After this much wall-clock time without events, a partition's "
        "watermark advances with the wall clock so its open windows still close.",
    )
    max_future_seconds: float = Field(
        86_400.0,
        gt=0,
        description="Events dated further than this in the future are dead letters.",
    )
    max_age_days: float = Field(
        3_650.0,
        gt=0,
        description="Events dated further than this in the past (from now, by the wall clock) "
        "are dead letters, in the worker and in `replay` alike. Generous by default (ten "
        "years): raise it to backfill older history.",
    )
    batch_size: int = Field(
        5_000,
        ge=1,
        description="Max events per processing batch (and per fetch). A batch writes each "
        "team it touched once, so larger batches cost less per event when a backlog is read; "
        "a live stream's batches stay small.",
    )
    batch_seconds: float = Field(0.2, gt=0, description="Max wait to fill a batch.")

    # -- Detection -----------------------------------------------------------------------
    detectors: Annotated[tuple[str, ...], NoDecode] = Field(
        ("mirror_change", "symmetry_gap"),
        description="Enabled detectors by name (built-in or from the miroir.detectors entry "
        "points), comma-separated in the environment.",
    )
    baseline_mode: Literal["ewma", "last_k"] = Field("ewma", description="Baseline of a team.")
    baseline_windows: int = Field(6, ge=1, description="K: closed windows kept for the baseline.")
    ewma_alpha: float = Field(0.3, gt=0, le=1, description="EWMA weight of the newest window.")
    min_effect: float = Field(5.0, ge=0, description="Minimum |Δ| in index points to count.")
    z_crit: float = Field(
        3.5,
        gt=0,
        description="Minimum |z| of the window test to count a change as significant; with "
        "MIROIR_SEQUENTIAL_Z_CRIT it bounds the false alerts of a steady team-window at "
        "2·(Φ(−z) + Φ(−z_seq)) = 0.48% (docs/statistics.md, 'Many teams at once').",
    )
    min_customer_n: int = Field(10, ge=1, description="Customer responses a window needs.")
    min_history: int = Field(2, ge=1, description="Closed windows needed before any change alert.")
    baseline_max_age_windows: int = Field(
        8,
        ge=1,
        description="Baseline windows older than this many windows are ignored, so a "
        "lasting shift becomes the team's new normal after this many windows of alerts.",
    )
    between_window_sd: float = Field(
        3.0,
        ge=0,
        description="τ₀, index points: the normal week-to-week spread of a team's index that "
        "the tests assume until the team's own quiet history says otherwise (docs/statistics.md).",
    )
    prior_windows: float = Field(
        4.0,
        ge=0,
        description="ν₀: how many windows of a team's own history the prior spread is worth.",
    )
    sequential_windows: int = Field(
        3, ge=1, description="r: windows the EWMA chart of a side looks back over (1: off)."
    )
    sequential_lambda: float = Field(
        0.5, gt=0, le=1, description="λ: weight of the newest window in the EWMA chart."
    )
    confirm_z_crit: float = Field(
        1.28,
        gt=0,
        description="Once one side of a team passed the full bar, the |z| at which the other "
        "side's move in the same direction confirms a mirror (decline or rise) rather than a "
        "one-sided warning.",
    )
    sequential_z_crit: float = Field(
        2.85, gt=0, description="Minimum |z| of the EWMA chart to count a sustained change."
    )
    symmetry_gap_threshold: float = Field(25.0, gt=0, description="|E − C| that counts as a gap.")
    symmetry_gap_windows: int = Field(3, ge=1, description="M: consecutive gap windows to alert.")
    incident_team_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Share of a unit's reporting teams that must open episodes of one family "
        "in the same window for an incident at the unit.",
    )
    incident_min_teams: int = Field(
        3, ge=2, description="Teams that must open episodes together for an incident."
    )
    incident_span_windows: int = Field(
        2,
        ge=1,
        le=8,
        description="Windows over which teams opening episodes count as one shared shock; a "
        "team's 'opened' page waits this many windows minus one for an incident to cover it "
        "(1: page at once, and only teams opening in the same window form an incident).",
    )
    episode_resolve_after: int = Field(
        2,
        ge=1,
        le=100,
        description="Windows in a row without an alert of its family after which a team's "
        "episode resolves (the team is back in its normal range).",
    )

    # -- Privacy -------------------------------------------------------------------------
    k_anonymity: int = Field(
        5,
        description="Employee aggregates of fewer respondents are suppressed "
        f"(floor {K_ANONYMITY_FLOOR}).",
    )
    store_employee_comments: bool = Field(
        False,
        description="Store employee comments (off by default); only ever for team-windows "
        "with at least 10 respondents, never linked to a respondent.",
    )
    hmac_secret: SecretStr = Field(
        SecretStr(DEMO_HMAC_SECRET),
        description="Key of the HMAC that re-keys every stored reference. `miroir worker` "
        "refuses the public demo default: generate one with `openssl rand -hex 32`.",
    )
    hmac_secret_file: Path | None = Field(
        None,
        description="A file holding MIROIR_HMAC_SECRET (e.g. a mounted Kubernetes secret); "
        "its trailing newline is ignored. Set this or MIROIR_HMAC_SECRET, not both.",
    )
    allow_demo_secrets: bool = Field(
        False,
        description="Let `miroir worker` run with the public demo secrets (`miroir demo` and "
        "the tests set it). Never in production: anyone can reverse stored pseudonyms and "
        "forge webhook signatures with them.",
    )

    # -- Web, webhooks / misc --------------------------------------------------------------
    web_port: int = Field(
        6066,
        ge=0,
        le=65535,
        description="Port of the worker's web server (live page, /metrics); 0 turns it off.",
    )
    web_bind: str = Field("127.0.0.1", description="Address the web server listens on.")
    web_auth: Literal["none", "token", "basic", "proxy"] = Field(
        "none",
        description="Who may use the web server: none (loopback only), token (a bearer token, "
        "or once in the page's ?token= for a browser), basic (users of MIROIR_WEB_USERS), proxy "
        "(a user header set by a trusted SSO proxy). Anything but loopback needs one.",
    )
    web_token: SecretStr | None = Field(
        None, description="The bearer token of MIROIR_WEB_AUTH=token (32+ characters)."
    )
    web_token_file: Path | None = Field(None, description="A file holding MIROIR_WEB_TOKEN.")
    web_users: SecretStr | None = Field(
        None,
        description="Users of MIROIR_WEB_AUTH=basic: name:hash entries, comma- or "
        "line-separated; make each with `miroir web-user NAME`.",
    )
    web_users_file: Path | None = Field(None, description="A file holding MIROIR_WEB_USERS.")
    web_proxy_user_header: str = Field(
        "X-Forwarded-User",
        description="Header naming the signed-in user (MIROIR_WEB_AUTH=proxy).",
    )
    web_trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        ("127.0.0.1/32", "::1/128"),
        description="Addresses (CIDR) of the proxies in front: allowed to set "
        "MIROIR_WEB_PROXY_USER_HEADER (proxy mode refuses requests from elsewhere), and believed "
        "about the client's address (X-Forwarded-For) for the per-client stream cap.",
    )
    web_metrics_public: bool = Field(
        False, description="Serve /metrics without authentication (e.g. for a Prometheus scrape)."
    )
    web_healthz_public: bool = Field(
        True, description="Serve /healthz without authentication (for liveness probes)."
    )
    web_max_streams: int = Field(
        200,
        ge=1,
        le=100_000,
        description="Concurrent live event streams (browser tabs) one worker serves; the next "
        "is refused with 503.",
    )
    web_max_streams_per_client: int = Field(
        8,
        ge=1,
        le=100_000,
        description="Of them, per client: per signed-in user in basic and proxy modes, else per "
        "address (429 beyond), so one client cannot take them all.",
    )
    web_allow_anonymous: bool = Field(
        False,
        description="Let MIROIR_WEB_AUTH=none listen beyond loopback (behind a network policy "
        "you trust). Everyone who reaches the port sees employee-derived team metrics.",
    )
    webhook_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Webhook endpoints (Slack-compatible JSON), comma-separated; empty: none.",
    )
    webhook_events: Annotated[tuple[str, ...], NoDecode] = Field(
        ("opened", "escalated", "resolved"),
        description="Episode events that page the webhooks, comma-separated: opened, updated, "
        "escalated, resolved, acknowledged (records of older writers, event 'alert', always do).",
    )
    webhook_min_severity: Literal["info", "warning", "critical"] = Field(
        "warning",
        description="Alerts at or above this severity go to the webhooks.",
    )
    webhook_secret: SecretStr = Field(
        SecretStr(DEMO_WEBHOOK_SECRET),
        description="Key of the HMAC-SHA256 signature header of webhook requests. With "
        "MIROIR_WEBHOOK_URLS set, `miroir worker` refuses the public demo default.",
    )
    webhook_secret_file: Path | None = Field(
        None,
        description="A file holding MIROIR_WEBHOOK_SECRET; its trailing newline is ignored. "
        "Set this or MIROIR_WEBHOOK_SECRET, not both.",
    )
    webhook_attempts: int = Field(
        5,
        ge=1,
        le=50,
        description="Delivery attempts per alert and endpoint before it becomes a dead letter.",
    )
    webhook_backoff_seconds: float = Field(
        0.5,
        gt=0,
        description="Wait before the first retry; doubles each time (capped at 60 s).",
    )
    webhook_timeout_seconds: float = Field(5.0, gt=0, description="HTTP timeout of one attempt.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )
    data_dir: Path = Field(DEFAULT_STORE_DIR / "worker", description="Worker's local state dir.")

    @field_validator("web_trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("web_trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an address or CIDR network") from None
        return value

    @model_validator(mode="after")
    def _web_access(self) -> Settings:
        from streams.web.access import check_web_access

        check_web_access(self)
        return self

    @field_validator("schema_registry_url")
    @classmethod
    def _registry_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        if any(char.isspace() or not char.isprintable() for char in value):
            raise ValueError("contains whitespace or control characters")
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
            raise ValueError("must be http(s)://host[:port][/path]")
        if parts.username or parts.password:
            raise ValueError(
                "put the credentials in MIROIR_SCHEMA_REGISTRY_USERNAME/PASSWORD, not the URL"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _schema_registry_access(self) -> Settings:
        # Settings that would be silently ignored are refused, so a typo is found at start-up.
        url = self.schema_registry_url
        if self.schema_registry_password is not None and self.schema_registry_username is None:
            raise ValueError(
                "MIROIR_SCHEMA_REGISTRY_PASSWORD is set without MIROIR_SCHEMA_REGISTRY_USERNAME"
            )
        ca_file = self.schema_registry_ca_file
        if ca_file is not None:
            if not (url or "").startswith("https://"):
                raise ValueError(
                    "MIROIR_SCHEMA_REGISTRY_CA_FILE only applies to an https:// "
                    "MIROIR_SCHEMA_REGISTRY_URL"
                )
            if not ca_file.is_file():
                raise ValueError(
                    f"MIROIR_SCHEMA_REGISTRY_CA_FILE: {str(ca_file)!r} is not a readable file"
                )
        return self

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(url.strip() for url in value.split(",") if url.strip())
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            check_webhook_url(url)  # errors stop start-up; the webhook sink logs the warnings
        return value

    @field_validator("webhook_events", mode="before")
    @classmethod
    def _split_events(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("webhook_events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(EPISODE_EVENTS))
        if unknown:
            raise ValueError(
                f"unknown episode events {unknown}; choose from {', '.join(EPISODE_EVENTS)}"
            )
        return value

    @field_validator("detectors", mode="before")
    @classmethod
    def _split_detectors(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("k_anonymity")
    @classmethod
    def _k_floor(cls, value: int) -> int:
        if value < K_ANONYMITY_FLOOR:
            raise ValueError(
                f"must be at least {K_ANONYMITY_FLOOR} (the privacy floor), got {value}"
            )
        return value

    @field_validator("clickhouse_cluster", "clickhouse_database")
    @classmethod
    def _clickhouse_name(cls, value: str | None) -> str | None:
        # Spliced into DDL: a plain identifier only.
        if value is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value):
            raise ValueError("must be letters, digits and _, not starting with a digit")
        return value

    @field_validator("clickhouse_dsn")
    @classmethod
    def _dsn_scheme(cls, value: str) -> str:
        if not value.startswith(("chdb://", "http://", "https://")):
            raise ValueError("must start with chdb://, http:// or https://")
        return value

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        """``MIROIR_*_SECRET_FILE``: the secret read from a file (a mounted Kubernetes secret)."""
        if not isinstance(data, dict):
            return data
        for name in _SECRET_FILE_SETTINGS:
            path = data.get(f"{name}_file")
            if path in (None, ""):
                continue
            if data.get(name) not in (None, ""):
                raise ValueError(
                    f"MIROIR_{name.upper()} and MIROIR_{name.upper()}_FILE are both set: keep one"
                )
            try:
                secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except (OSError, UnicodeDecodeError) as e:
                raise ValueError(
                    f"MIROIR_{name.upper()}_FILE: cannot read {str(path)!r} ({type(e).__name__})"
                ) from None
            if not secret:
                raise ValueError(f"MIROIR_{name.upper()}_FILE: {str(path)!r} is empty")
            data = {**data, name: secret}
        return data

    def demo_secrets_in_use(self) -> list[str]:
        """The secret settings still at their public demo value (the webhook secret only
        matters when webhooks are set)."""
        found = []
        if self.hmac_secret.get_secret_value() == DEMO_HMAC_SECRET:
            found.append("MIROIR_HMAC_SECRET")
        if self.webhook_urls and self.webhook_secret.get_secret_value() == DEMO_WEBHOOK_SECRET:
            found.append("MIROIR_WEBHOOK_SECRET")
        return found

    @model_validator(mode="after")
    def _clickhouse_tls(self) -> Settings:
        tls_files = {
            "MIROIR_CLICKHOUSE_CA_FILE": self.clickhouse_ca_file,
            "MIROIR_CLICKHOUSE_CLIENT_CERT": self.clickhouse_client_cert,
            "MIROIR_CLICKHOUSE_CLIENT_KEY": self.clickhouse_client_key,
        }
        given = [name for name, path in tls_files.items() if path is not None]
        if (given or not self.clickhouse_verify) and not self.clickhouse_dsn.startswith("https://"):
            shown = given or ["MIROIR_CLICKHOUSE_VERIFY"]
            raise ValueError(f"{', '.join(shown)} only apply to an https:// MIROIR_CLICKHOUSE_DSN")
        for name, path in tls_files.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {str(path)!r} is not a readable file")
        if (self.clickhouse_client_cert is None) != (self.clickhouse_client_key is None):
            raise ValueError(
                "MIROIR_CLICKHOUSE_CLIENT_CERT and MIROIR_CLICKHOUSE_CLIENT_KEY go together"
            )
        return self

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_"):
            missing = [
                f"MIROIR_KAFKA_SASL_{name.upper()}"
                for name, value in (
                    ("mechanism", self.kafka_sasl_mechanism),
                    ("username", self.kafka_sasl_username),
                    ("password", self.kafka_sasl_password),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"MIROIR_KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}"
                )
        elif self.kafka_sasl_username or self.kafka_sasl_password:
            raise ValueError(
                "MIROIR_KAFKA_SASL_USERNAME/PASSWORD are set but MIROIR_KAFKA_SECURITY_PROTOCOL "
                f"is {protocol}: set it to SASL_SSL (or SASL_PLAINTEXT) to use them"
            )
        tls_files = {
            "MIROIR_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "MIROIR_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "MIROIR_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        given = [name for name, path in tls_files.items() if path is not None]
        if given and not protocol.endswith("SSL"):
            raise ValueError(
                f"{', '.join(given)} set but MIROIR_KAFKA_SECURITY_PROTOCOL is {protocol}: "
                "set it to SSL or SASL_SSL to use TLS"
            )
        for name, path in tls_files.items():
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {str(path)!r} is not a readable file")
        if self.kafka_ssl_keyfile is not None and self.kafka_ssl_certfile is None:
            raise ValueError("MIROIR_KAFKA_SSL_KEYFILE needs MIROIR_KAFKA_SSL_CERTFILE")
        return self

    @model_validator(mode="after")
    def _distinct_topics(self) -> Settings:
        names = [
            self.topic_customer,
            self.topic_employee,
            self.topic_alerts,
            self.topic_dead_letters,
            self.actions_topic,
            self.pages_topic,
            self.topic_teams,
        ]
        if len(set(names)) != len(names):
            raise ValueError(f"topic names must be distinct, got {names}")
        if self.min_history > self.baseline_windows:
            raise ValueError(
                f"MIROIR_MIN_HISTORY ({self.min_history}) cannot exceed MIROIR_BASELINE_WINDOWS "
                f"({self.baseline_windows}): no baseline could ever be formed"
            )
        return self

    @property
    def actions_topic(self) -> str:
        """The topic of episode actions (``topic_actions``, or the alerts topic + '-actions')."""
        return self.topic_actions or f"{self.topic_alerts}-actions"

    @property
    def pages_topic(self) -> str:
        """The topic the webhooks follow (``topic_pages``, or the alerts topic + '-pages')."""
        return self.topic_pages or f"{self.topic_alerts}-pages"

    @property
    def unit_inputs_topic(self) -> str:
        """Internal: closed team-windows and partition heartbeats for the unit stage."""
        return f"{self.app_id}-unit-inputs"

    @property
    def unit_state_topic(self) -> str:
        """Internal, compacted: the unit stage's saved state."""
        return f"{self.app_id}-unit-state"

    @property
    def window_ms(self) -> int:
        return int(self.window_seconds * 1000)

    @property
    def allowed_lateness_ms(self) -> int:
        return int(self.allowed_lateness_seconds * 1000)


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment (plus explicit overrides), or stop with a clear error.

    Raises ConfigError naming each bad setting, its environment variable and why. A secret's
    value is never shown.
    """
    return load_settings_labelled(overrides, {})


def load_settings_labelled(overrides: Mapping[str, object], labels: Mapping[str, str]) -> Settings:
    """``load_settings``, with errors about the settings in ``labels`` naming them by their
    label instead (e.g. the command-line flag an override came from)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        problems = []
        for error in e.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            name = labels.get(field, f"MIROIR_{field.upper()}" if field else "MIROIR_*")
            got = _shown_input(field, error.get("input"))
            problems.append(f"  {name}: {error['msg']}{got}")
        raise ConfigError("invalid settings:\n" + "\n".join(problems)) from e


# Settings whose values are never shown, whole or in part.
_SECRET_SETTINGS: Final = frozenset({"hmac_secret", "webhook_secret"})
# Settings holding URLs, shown without credentials or query.
_URL_SETTINGS: Final = frozenset({"clickhouse_dsn", "webhook_urls", "schema_registry_url"})


def _shown_input(field: str, value: object) -> str:
    """What an error may say the value was: nothing for a whole-settings check (its input is
    every setting, secrets included), ``(hidden)`` for a secret, URLs without credentials."""
    if not field:
        return ""
    if field in _SECRET_SETTINGS or "secret" in field or "password" in field:
        return " (got (hidden))"
    if field in _URL_SETTINGS:
        urls = value.split(",") if isinstance(value, str) else value
        if isinstance(urls, list | tuple):
            return f" (got {', '.join(redact_url(str(u)) for u in urls)!r})"
        return " (got (hidden))"
    return f" (got {value!r})"


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ``MIROIR_*`` environment variables (to start a worker process with them)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, tuple | list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"MIROIR_{name.upper()}"] = str(value)
    return env
