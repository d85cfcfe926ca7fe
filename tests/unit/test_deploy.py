"""deploy/ works as written, checked by reading its files (no Docker, no cluster): every YAML file
parses; every ``MIROIR_*`` variable is a setting or a listed deployment-only variable; the
kustomization is complete; the worker's web port is bound to all interfaces, exposed by a Service,
probed on ``/healthz`` and scraped on ``/metrics``; the BI password comes from the deployment, one
variable shared by ClickHouse's init and Grafana, and the BI profile pins every limit."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from streams.settings import Settings

REPO: Final = Path(__file__).resolve().parents[2]
DEPLOY: Final = REPO / "deploy"
KUBERNETES: Final = DEPLOY / "kubernetes"
COMPOSE: Final = DEPLOY / "docker-compose.yml"
BI_SQL: Final = DEPLOY / "clickhouse" / "bi_readonly_role.sql"
BI_SCRIPT: Final = DEPLOY / "clickhouse" / "bi_readonly_role.sh"
DATASOURCE: Final = DEPLOY / "grafana" / "provisioning" / "datasources" / "clickhouse.yaml"
DEPLOY_DOC: Final = REPO / "docs" / "deploy.md"

# MIROIR_* names in deploy/ that are not Miroir settings: each is read by something else.
DEPLOYMENT_ONLY: Final = {
    # The BI user's password: compose hands it to ClickHouse's init script
    # (clickhouse/bi_readonly_role.sh) and to Grafana's datasource; a Secret on Kubernetes.
    "MIROIR_BI_PASSWORD",
    # Grafana's datasource (grafana/provisioning/datasources/clickhouse.yaml): ClickHouse's host.
    "MIROIR_CLICKHOUSE_HOST",
    # kafka/fetch-broker.sh: which Apache Kafka release to fetch, and where to cache it.
    "MIROIR_KAFKA_VERSION",
    "MIROIR_CACHE_DIR",
}
# Manifests deliberately left out of kustomization.yaml (each says why, and the README how to
# apply it).
OPTIONAL_MANIFESTS: Final = {"secret.example.yaml", "servicemonitor.yaml", "bi-role-job.yaml"}

_VARIABLE = re.compile(r"\bMIROIR_[A-Z][A-Z0-9_]*")
_PLACEHOLDER = re.compile(r"@[A-Z0-9_]+@")


def _deploy_files() -> list[Path]:
    return sorted(path for path in DEPLOY.rglob("*") if path.is_file())


def _text_files() -> Iterator[tuple[Path, str]]:
    for path in _deploy_files():
        try:
            yield path, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # a binary file names no variable


def _yaml_files() -> list[Path]:
    return [path for path in _deploy_files() if path.suffix in {".yml", ".yaml"}]


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _manifest(name: str) -> dict[str, Any]:
    document = _load(KUBERNETES / name)
    assert isinstance(document, dict), name
    return document


def _manifests_of_kind(kind: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict) and document.get("kind") == kind:
                found.append((path.name, document))
    return found


def _worker_deployment() -> dict[str, Any]:
    [(_, deployment)] = [
        (name, doc)
        for name, doc in _manifests_of_kind("Deployment")
        if doc["metadata"]["name"] == "miroir-worker"
    ]
    return deployment


def _worker_container(deployment: Mapping[str, Any]) -> dict[str, Any]:
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"]]
    return dict(container)


def _worker_configmap() -> dict[str, str]:
    [(_, configmap)] = _manifests_of_kind("ConfigMap")
    return dict(configmap["data"])


def _container_port(container: Mapping[str, Any], port: int | str) -> int:
    """The container port number a probe or Service port refers to (by name or number)."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return int(declared["containerPort"])
    raise AssertionError(f"container {container['name']} declares no port {port!r}")


def _compose() -> dict[str, Any]:
    compose = _load(COMPOSE)
    assert isinstance(compose, dict)
    return compose


def _bind_mount(volume: str) -> tuple[str, str]:
    """(source, target) of a compose short-syntax volume, its :ro / :rw mode dropped."""
    source, _, target = re.sub(r":(ro|rw)$", "", volume).partition(":")
    return source, target


def _settings_variables() -> set[str]:
    # pydantic-settings matches MIROIR_<field> case-insensitively.
    return {f"MIROIR_{name}".upper() for name in Settings.model_fields}


# -- everything parses, every variable is real ------------------------------------------------


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_in_deploy_parses(path: Path) -> None:
    documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    assert documents, f"{path} is empty"
    assert all(isinstance(document, dict) for document in documents), path


def test_the_yaml_files_checked_include_compose_manifests_and_the_datasource() -> None:
    checked = set(_yaml_files())
    assert {COMPOSE, DATASOURCE, KUBERNETES / "kustomization.yaml"} <= checked
    assert len([path for path in checked if path.parent == KUBERNETES]) >= 8


def test_every_miroir_variable_in_deploy_is_a_setting_or_listed_as_deployment_only() -> None:
    known = _settings_variables() | DEPLOYMENT_ONLY
    unknown = {
        f"{name} in {path.relative_to(REPO)}"
        for path, text in _text_files()
        for name in _VARIABLE.findall(text)
        if name.upper() not in known
    }
    assert unknown == set(), "not a Miroir setting (streams/settings.py) nor deployment-only"


def test_deployment_only_variables_are_not_settings_and_are_all_used() -> None:
    assert DEPLOYMENT_ONLY & _settings_variables() == set()
    used = {name for _, text in _text_files() for name in _VARIABLE.findall(text)}
    assert DEPLOYMENT_ONLY - used == set(), "listed as deployment-only but no longer in deploy/"


# -- Kubernetes ----------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_that_exists_except_the_optional_ones() -> None:
    kustomization = _manifest("kustomization.yaml")
    resources = list(kustomization["resources"])
    assert len(resources) == len(set(resources))
    assert all((KUBERNETES / resource).is_file() for resource in resources), resources
    manifests = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests - set(resources) == OPTIONAL_MANIFESTS
    readme = (KUBERNETES / "README.md").read_text(encoding="utf-8")
    for optional in OPTIONAL_MANIFESTS:
        assert f"`{optional}`" in readme, f"README.md does not say what {optional} is for"


def test_the_worker_reads_its_configmap_and_secret_by_their_names() -> None:
    container = _worker_container(_worker_deployment())
    [(_, configmap)] = _manifests_of_kind("ConfigMap")
    [(_, secret)] = _manifests_of_kind("Secret")
    assert [ref["configMapRef"]["name"] for ref in container["envFrom"]] == [
        configmap["metadata"]["name"]
    ]
    for variable in container["env"]:
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            assert reference["name"] == secret["metadata"]["name"]
            assert reference["key"] in secret["stringData"]


def test_the_web_server_listens_on_all_interfaces_in_compose_kubernetes_and_the_image() -> None:
    assert _worker_configmap()["MIROIR_WEB_BIND"] == "0.0.0.0"
    assert _compose()["services"]["worker"]["environment"]["MIROIR_WEB_BIND"] == "0.0.0.0"
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ENV MIROIR_WEB_BIND=0\.0\.0\.0\b", dockerfile, re.MULTILINE)


def test_the_service_selects_the_worker_pods_and_targets_the_web_port() -> None:
    deployment = _worker_deployment()
    container = _worker_container(deployment)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    web_port = int(_worker_configmap()["MIROIR_WEB_PORT"])
    [(_, service)] = _manifests_of_kind("Service")
    selector = service["spec"]["selector"]
    assert selector and selector.items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert _container_port(container, port["targetPort"]) == web_port


def test_the_probes_check_healthz_on_the_web_port() -> None:
    container = _worker_container(_worker_deployment())
    web_port = int(_worker_configmap()["MIROIR_WEB_PORT"])
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container[kind]
        assert probe["httpGet"]["path"] == "/healthz", kind
        assert _container_port(container, probe["httpGet"]["port"]) == web_port, kind
    # Start-up (broker wait up to 30 s, topics, tables) gets far longer than a running worker.
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    patience = startup["periodSeconds"] * startup["failureThreshold"]
    assert patience >= 120
    assert patience > liveness["periodSeconds"] * liveness["failureThreshold"]


def test_prometheus_scrapes_metrics_on_the_web_port_of_every_pod() -> None:
    deployment = _worker_deployment()
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    web_port = int(_worker_configmap()["MIROIR_WEB_PORT"])
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(web_port)
    assert annotations["prometheus.io/path"] == "/metrics"
    [(_, service)] = _manifests_of_kind("Service")
    [(_, monitor)] = _manifests_of_kind("ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


def test_the_disruption_budget_covers_the_worker_pods_and_lets_one_go_at_a_time() -> None:
    pod_labels = _worker_deployment()["spec"]["template"]["metadata"]["labels"]
    [(_, budget)] = _manifests_of_kind("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"]["maxUnavailable"] == 1


def test_replicas_stay_within_the_partitions_and_the_manifests_say_why() -> None:
    deployment = _worker_deployment()
    assert deployment["spec"]["replicas"] <= int(_worker_configmap()["MIROIR_TOPIC_PARTITIONS"])
    text = (KUBERNETES / "worker-deployment.yaml").read_text(encoding="utf-8")
    assert "MIROIR_TOPIC_PARTITIONS" in text and "idle" in text
    worker = _compose()["services"]["worker"]
    default = re.fullmatch(
        r"\$\{MIROIR_TOPIC_PARTITIONS:-(\d+)\}", worker["environment"]["MIROIR_TOPIC_PARTITIONS"]
    )
    assert default, "compose's worker needs a default partition count"
    assert worker["deploy"]["replicas"] <= int(default.group(1))


# -- compose -------------------------------------------------------------------------------


def test_compose_publishes_each_workers_web_port_on_the_hosts_loopback_only() -> None:
    worker = _compose()["services"]["worker"]
    web_port = worker["environment"]["MIROIR_WEB_PORT"]
    # HOST_IP::CONTAINER_PORT: an ephemeral host port per replica, on 127.0.0.1.
    assert f"127.0.0.1::{web_port}" in worker["ports"]
    assert "/healthz" in " ".join(worker["healthcheck"]["test"])
    for name, service in _compose()["services"].items():
        for published in service.get("ports", []):
            assert str(published).startswith("127.0.0.1:"), f"{name} publishes {published}"


# -- the BI password -----------------------------------------------------------------------

_REQUIRED_BI_PASSWORD = re.compile(r"\$\{MIROIR_BI_PASSWORD:\?[^}]+\}")


def test_the_bi_password_is_not_hard_coded_anywhere_in_deploy() -> None:
    for path, text in _text_files():
        # The password this file used to ship, as a quoted value anywhere.
        assert not re.search(r"""['"]change-me['"]""", text), path
        # A SQL password clause takes only a placeholder the deployment fills in.
        for literal in re.findall(r"IDENTIFIED\s+(?:WITH\s+\w+\s+)?BY\s+'([^']*)'", text):
            assert _PLACEHOLDER.fullmatch(literal), f"{path}: hard-coded password"
    compose = _compose()["services"]
    for service in ("clickhouse", "grafana"):
        value = compose[service]["environment"]["MIROIR_BI_PASSWORD"]
        assert _REQUIRED_BI_PASSWORD.fullmatch(value), f"{service}: required, with no default"
    datasource = _load(DATASOURCE)
    [source] = datasource["datasources"]
    assert source["secureJsonData"]["password"] == "${MIROIR_BI_PASSWORD}"
    bi_password_in_kubernetes = [
        (name, variable)
        for name, doc in _manifests_of_kind("Job") + _manifests_of_kind("Deployment")
        for container in doc["spec"]["template"]["spec"]["containers"]
        for variable in container.get("env", [])
        if variable["name"] == "MIROIR_BI_PASSWORD"
    ]
    assert bi_password_in_kubernetes, "no Kubernetes manifest creates the BI user"
    for name, variable in bi_password_in_kubernetes:
        assert "value" not in variable and variable["valueFrom"]["secretKeyRef"], name


def test_compose_gives_clickhouse_init_and_grafana_the_same_bi_password_variable() -> None:
    services = _compose()["services"]
    clickhouse, grafana = services["clickhouse"], services["grafana"]
    password = clickhouse["environment"]["MIROIR_BI_PASSWORD"]
    assert grafana["environment"]["MIROIR_BI_PASSWORD"] == password
    # ClickHouse's init runs the script (which reads the variable), never the raw template.
    mounts = dict(_bind_mount(volume) for volume in clickhouse["volumes"])
    init = {
        src: dst for src, dst in mounts.items() if dst.startswith("/docker-entrypoint-initdb.d/")
    }
    assert list(init) == ["./clickhouse/bi_readonly_role.sh"]
    assert mounts["./clickhouse/bi_readonly_role.sql"] == clickhouse["environment"]["BI_ROLE_SQL"]
    assert "MIROIR_BI_PASSWORD" in BI_SCRIPT.read_text(encoding="utf-8")
    # Grafana mounts the provisioning directory the datasource file is in.
    assert any(
        volume.startswith("./grafana/provisioning:/etc/grafana/provisioning")
        for volume in grafana["volumes"]
    )


def test_the_script_fills_in_every_placeholder_the_sql_has() -> None:
    sql = BI_SQL.read_text(encoding="utf-8")
    script = BI_SCRIPT.read_text(encoding="utf-8")
    placeholders = set(_PLACEHOLDER.findall(sql))
    assert placeholders == {"@BI_PASSWORD_SALT@", "@BI_PASSWORD_SHA256@"}
    for placeholder in placeholders:
        assert f"${{sql//{placeholder}/" in script, placeholder
    assert os.access(BI_SCRIPT, os.X_OK), "the ClickHouse image would source it, not run it"


def _profile_settings() -> dict[str, str]:
    match = re.search(r"CREATE SETTINGS PROFILE[^;]*?SETTINGS(.*?);", BI_SQL.read_text(), re.S)
    assert match, "bi_readonly_role.sql creates no settings profile"
    body = "\n".join(line.split("--")[0] for line in match.group(1).splitlines())
    settings = {}
    for item in body.split(","):
        name, _, rest = item.strip().partition("=")
        settings[name.strip()] = rest.strip()
    return settings


def test_the_bi_profile_is_read_only_and_pins_every_limit() -> None:
    settings = _profile_settings()
    assert settings.pop("readonly") == "1"
    for name, rest in settings.items():
        value, *constraint = rest.split(maxsplit=1)
        if constraint == ["CONST"]:
            continue
        bounds = re.fullmatch(r"MIN (\d+) MAX (\d+)(?: CHANGEABLE_IN_READONLY)?", constraint[0])
        assert bounds, f"{name}: pin it with MIN/MAX or CONST"
        low, high = int(bounds.group(1)), int(bounds.group(2))
        assert low >= 1, f"{name}: 0 means no limit, keep it out"
        assert high == int(value), f"{name}: the profile's value is the ceiling"
    changeable = {name for name, rest in settings.items() if "CHANGEABLE_IN_READONLY" in rest}
    # The one setting Grafana's ClickHouse plugin sends with every query.
    assert changeable == {"max_execution_time"}


def test_grafanas_query_timeout_fits_under_the_profiles_execution_ceiling() -> None:
    [source] = _load(DATASOURCE)["datasources"]
    ceiling = re.search(r"MAX (\d+)", _profile_settings()["max_execution_time"])
    assert ceiling
    # clickhouse-go sends max_execution_time = the query's deadline + 5 s.
    assert int(source["jsonData"]["queryTimeout"]) + 5 <= int(ceiling.group(1))


def test_the_deploy_doc_covers_what_users_must_know() -> None:
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for needle in (
        "MIROIR_BI_PASSWORD",
        "MIROIR_WEB_BIND",
        "MIROIR_TOPIC_PARTITIONS",
        "docker compose",
        "kubectl",
        "CHANGEABLE_IN_READONLY",
    ):
        assert needle in doc, needle
    for name in DEPLOYMENT_ONLY:
        assert f"`{name}`" in doc, f"docs/deploy.md does not explain {name}"
