"""The deploy files (deploy/): they parse, name only real settings and metrics, and agree with
each other and with the hub (ports, probes, grace period). No Docker engine or cluster is
needed: the files are checked by reading them, and against a running hub where that helps."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from hub import metrics as hub_metrics
from hub import settings as settings_module
from hub.settings import Settings
from tests import client
from tests.e2e.network import member
from tests.e2e.objects import location
from tests.hubproc import HubProcess
from tests.parties import free_port
from tests.waiting import wait_for

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "docker-compose.yml"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "ocpi-hub.json"
V = "/ocpi/2.2.1"
HUB_PARTY = ("NL", "HUB")
DEFAULTS = Settings()
# HUB_ + a name; not preceded by a word character, so OCPI_HUB_... is not a setting.
HUB_VARIABLE = re.compile(r"(?<![A-Za-z0-9_])HUB_[A-Z0-9_]+")
METRIC_NAME = re.compile(r"ocpi_hub_[a-z_]+")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")
PROBE_KINDS = ("startupProbe", "livenessProbe", "readinessProbe")


# --- reading the files --------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))


@cache
def load_yaml(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def one(path: Path) -> Any:
    (doc,) = load_yaml(path)
    return doc


@cache
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def dashboard_expressions() -> list[str]:
    found = [t["expr"] for p in panels() for t in p["targets"]]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in one(ALERTS)["groups"] for rule in group["rules"]]


def metric_names(text: str) -> set[str]:
    return {HISTOGRAM_SUFFIX.sub("", name) for name in METRIC_NAME.findall(text)}


def used_metric_names() -> set[str]:
    exprs = dashboard_expressions() + [rule["expr"] for rule in alert_rules()]
    return metric_names("\n".join(exprs))


def instructions(path: Path) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (KEYWORD, arguments), continuations joined, comments and
    parser directives left out."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        found.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    return found


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, args in instructions(DOCKERFILE):
        if keyword == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM"
        found[-1].append((keyword, args))
    return found


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in stages()[-1]:
        if keyword == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
    return env


def kubernetes_object(kind: str) -> dict[str, Any]:
    found = [doc for path in sorted(K8S.glob("*.yaml")) for doc in load_yaml(path)]
    (obj,) = [doc for doc in found if doc.get("kind") == kind]
    return dict(obj)


def hub_container() -> dict[str, Any]:
    (container,) = kubernetes_object("Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(container)


def configmap_settings() -> Settings:
    return settings_module.load(environ=kubernetes_object("ConfigMap")["data"])


def compose_environment(service: str) -> dict[str, str]:
    """A compose service's environment as the container sees it, with ${VAR:-default} taken as
    its default and ${VAR:?error} (a variable the operator must set) as a placeholder."""

    def interpolate(value: object) -> str:
        text = str(value)
        text = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", text)
        return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "set-by-the-operator", text)

    environment = one(COMPOSE)["services"][service].get("environment", {})
    return {key: interpolate(value) for key, value in environment.items()}


def healthcheck_code() -> str:
    (args,) = [args for keyword, args in stages()[-1] if keyword == "HEALTHCHECK"]
    command = json.loads(args[args.index("CMD") + len("CMD") :])
    assert command[:2] == ["python", "-c"], command
    return str(command[2])


# --- every file parses ------------------------------------------------------------------


def test_the_deploy_files_are_there() -> None:
    expected = [
        "Dockerfile",
        "docker-compose.yml",
        "prometheus/prometheus.yml",
        "prometheus/alerts.yml",
        "grafana/ocpi-hub.json",
        "grafana/provisioning/datasources/prometheus.yml",
        "grafana/provisioning/dashboards/ocpi-hub.yml",
        "kubernetes/deployment.yaml",
        "kubernetes/service.yaml",
        "kubernetes/configmap.yaml",
        "kubernetes/secret.yaml",
        "kubernetes/hpa.yaml",
        "kubernetes/pdb.yaml",
        "kubernetes/kustomization.yaml",
    ]
    assert [name for name in expected if not (DEPLOY / name).is_file()] == []


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    assert load_yaml(path), f"{path} is empty"


def test_the_dashboard_parses() -> None:
    board = dashboard()
    assert board["uid"] == "ocpi-hub"
    assert 36 <= board["schemaVersion"] <= 41
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


# --- settings -----------------------------------------------------------------------------


def test_every_hub_variable_in_deploy_is_a_real_setting() -> None:
    real = {"HUB_" + name.upper() for name in settings_module.FIELDS}
    used: dict[str, set[str]] = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in HUB_VARIABLE.findall(path.read_text()):
            used.setdefault(name, set()).add(str(path.relative_to(DEPLOY)))
    assert {"HUB_HOST", "HUB_DATA_DIR", "HUB_REDIS_URL", "HUB_ADMIN_TOKEN"} <= set(used)
    unknown = {name: sorted(paths) for name, paths in used.items() if name not in real}
    assert unknown == {}


def test_the_settings_in_compose_and_the_configmap_are_valid_values() -> None:
    compose = settings_module.load(environ=compose_environment("hub"))
    assert compose.redis_url == "redis://redis:6379/0"
    assert compose.log_format == "json"
    assert compose.admin_token
    configured = configmap_settings()
    assert configured.redis_url is not None
    assert configured.public_url is not None
    assert configured.log_format == "json"


# --- metrics ------------------------------------------------------------------------------


def defined_metric_names() -> set[str]:
    """The names hub.metrics defines: its counters (exposed with _total) and histograms, and
    the gauges of shared state its collector emits."""
    names = set()
    for value in vars(hub_metrics).values():
        if isinstance(value, MetricWrapperBase):
            suffix = "_total" if value._type == "counter" else ""
            names.add(value._name + suffix)
    state = hub_metrics.SharedState()
    state.queues = [("p-1", 3, 1.5, 1)]
    state.platforms = {"CONNECTED": 1}
    state.redis_up = True
    names |= {family.name for family in state.collect()}
    return names


def test_the_dashboard_and_the_alerts_use_metrics_the_hub_defines() -> None:
    used = used_metric_names()
    assert len(used) >= 10, used
    assert used - defined_metric_names() == set()


def test_the_dashboard_shows_every_metric_the_brief_asks_for() -> None:
    shown = metric_names("\n".join(dashboard_expressions()))
    assert {
        "ocpi_hub_requests_total",
        "ocpi_hub_request_duration_seconds",
        "ocpi_hub_forward_duration_seconds",
        "ocpi_hub_queue_depth",
        "ocpi_hub_queue_oldest_age_seconds",
        "ocpi_hub_platforms",
        "ocpi_hub_dead_letters",
        "ocpi_hub_deliveries_total",
        "ocpi_hub_handshakes_total",
    } <= shown


def test_the_dashboard_and_the_alerts_use_metrics_the_running_hub_serves(
    hub_factory: Callable[..., HubProcess], party_id: Callable[[], str]
) -> None:
    # A hub of its own: the broadcast below reaches only this test's eMSP.
    running = hub_factory().start()
    cpo_party, emsp_party = ("NL", party_id()), ("NL", party_id())
    with ExitStack() as stack:
        cpo = stack.enter_context(member(running, (*cpo_party, "CPO")))
        emsp = stack.enter_context(member(running, (*emsp_party, "EMSP")))
        owner = f"{cpo_party[0]}/{cpo_party[1]}"
        for location_id, to in (("LOC-DIRECT", emsp.party), ("LOC-ALL", HUB_PARTY)):
            status, _, answer = cpo.call(
                "PUT",
                f"{V}/receiver/locations/{owner}/{location_id}",
                body=location(cpo_party, location_id),
                to=to,
            )
            assert (status, answer["status_code"]) == (200, 1000), answer
        received = f"{V}/locations/receiver/{owner}/LOC-ALL"
        wait_for(lambda: emsp.received("PUT", received))
        assert emsp.received("PUT", f"{V}/locations/receiver/{owner}/LOC-DIRECT")
        status, _, text = client.request("GET", f"{running.url}/metrics")
    assert status == 200, text
    served = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ocpi_hub_")}
    assert "ocpi_hub_forward_duration_seconds_bucket{" in text  # the direct push was forwarded
    assert used_metric_names() - served == set()


# --- alerts -------------------------------------------------------------------------------


def test_every_alert_has_a_duration_a_severity_and_a_summary() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule
        assert rule["annotations"]["summary"].strip(), rule
        # increase(...[15m]) > 0 is its own window; every other alert waits before firing.
        assert "for" in rule or "increase(" in rule["expr"], rule["alert"]


def test_the_alerts_cover_receivers_queues_errors_dead_letters_and_redis() -> None:
    exprs = {rule["alert"]: " ".join(rule["expr"].split()) for rule in alert_rules()}
    wanted = [
        'ocpi_hub_platforms{status="OFFLINE"}',
        "ocpi_hub_queue_oldest_age_seconds",
        "ocpi_hub_requests_total",
        'ocpi_hub_deliveries_total{outcome="parked"}',
        "ocpi_hub_embedded_redis_up == 0",
        'up{job="ocpi-hub"} == 0',
    ]
    assert [w for w in wanted if not any(w in expr for expr in exprs.values())] == []


def test_the_alerts_name_the_scrape_job_of_prometheus_yml() -> None:
    jobs = {job["job_name"] for job in one(PROMETHEUS)["scrape_configs"]}
    assert "ocpi-hub" in jobs
    (hub_job,) = [j for j in one(PROMETHEUS)["scrape_configs"] if j["job_name"] == "ocpi-hub"]
    assert hub_job.get("metrics_path", "/metrics") == "/metrics"
    assert hub_job["static_configs"][0]["targets"] == [f"hub:{DEFAULTS.port}"]
    assert "/etc/prometheus/alerts.yml" in one(PROMETHEUS)["rule_files"]


# --- Grafana ------------------------------------------------------------------------------


def test_every_panel_uses_the_prometheus_datasource_variable() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    source = variables["DS_PROMETHEUS"]
    assert (source["type"], source["query"]) == ("datasource", "prometheus")
    provisioned = one(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")
    (datasource,) = provisioned["datasources"]
    assert datasource["uid"] == source["current"]["value"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    expected = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for panel in panels():
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
            assert target["expr"].strip(), panel["title"]
    for name in ("module", "platform"):
        assert variables[name]["datasource"] == expected


def test_the_panels_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


def test_grafana_provisioning_finds_the_dashboard_where_compose_mounts_it() -> None:
    (provider,) = one(DEPLOY / "grafana/provisioning/dashboards/ocpi-hub.yml")["providers"]
    mounts = one(COMPOSE)["services"]["grafana"]["volumes"]
    assert f"./grafana/ocpi-hub.json:{provider['options']['path']}/ocpi-hub.json:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


# --- docker compose -----------------------------------------------------------------------


def test_compose_runs_the_hub_redis_prometheus_and_grafana() -> None:
    compose = one(COMPOSE)
    services = compose["services"]
    assert set(services) == {"hub", "redis", "prometheus", "grafana"}
    build = services["hub"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE.resolve()
    assert "HUB_ADMIN_TOKEN" in services["hub"]["environment"]
    assert "HUB_PUBLIC_URL" in services["hub"]["environment"]
    assert "/readyz" in " ".join(services["hub"]["healthcheck"]["test"])
    assert services["hub"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["redis"]["image"].startswith("redis:")
    assert "--appendonly" in services["redis"]["command"]
    assert any(v.startswith("redis-data:") for v in services["redis"]["volumes"])
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    # every bind-mounted file or folder exists, relative to deploy/
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), volume
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert {n for n in named if not n.startswith(".")} <= set(compose["volumes"])


def test_compose_stops_the_hub_after_its_shutdown_timeout() -> None:
    hub = one(COMPOSE)["services"]["hub"]
    grace = int(hub["stop_grace_period"].removesuffix("s"))
    timeout = settings_module.load(environ=compose_environment("hub")).shutdown_timeout
    assert grace > timeout


# --- Dockerfile ---------------------------------------------------------------------------


def test_the_dockerfile_builds_a_wheel_and_installs_it_without_build_tools() -> None:
    build, final = stages()
    assert build[0] == ("FROM", "python:3.11-slim AS build")
    assert final[0] == ("FROM", "python:3.11-slim")
    build_text = " ".join(args for _, args in build)
    final_text = " ".join(args for _, args in final)
    assert "pip wheel" in build_text
    assert "from=build" in final_text and "--no-index" in final_text
    assert "apt-get" not in final_text and "build-essential" not in final_text
    # what the build stage copies is in the repository (the build context is its root)
    for keyword, args in build:
        if keyword == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), source
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert requires is not None and requires.group(1) == "3.11"


def test_the_image_runs_the_hub_as_a_user_that_is_not_root() -> None:
    final = stages()[-1]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # the same uid Kubernetes is told to run as
    pod = kubernetes_object("Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert user == str(pod["runAsUser"])
    assert ("ENTRYPOINT", '["ocpi-hub", "serve"]') in final
    assert ("VOLUME", '["/data"]') in final


def test_the_image_listens_on_the_port_it_exposes() -> None:
    env = dockerfile_env()
    assert env["HUB_HOST"] == "0.0.0.0"
    assert env["HUB_DATA_DIR"] == "/data"
    port = int(env.get("HUB_PORT", DEFAULTS.port))
    assert port == DEFAULTS.port
    exposed = [args for keyword, args in stages()[-1] if keyword == "EXPOSE"]
    assert exposed == [str(port)]
    assert "/healthz" in healthcheck_code()
    assert "curl" not in healthcheck_code() and "wget" not in healthcheck_code()


def test_the_image_healthcheck_passes_against_a_hub_and_fails_without_one(
    hub: HubProcess,
) -> None:
    code = healthcheck_code()

    def check(port: int) -> int:
        env = {"HUB_PORT": str(port), "PATH": ""}
        return subprocess.run([sys.executable, "-c", code], env=env, timeout=30).returncode

    assert check(hub.port) == 0
    assert check(free_port()) != 0


# --- Kubernetes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "api_version"),
    [
        ("deployment.yaml", "Deployment", "apps/v1"),
        ("service.yaml", "Service", "v1"),
        ("configmap.yaml", "ConfigMap", "v1"),
        ("secret.yaml", "Secret", "v1"),
        ("hpa.yaml", "HorizontalPodAutoscaler", "autoscaling/v2"),
        ("pdb.yaml", "PodDisruptionBudget", "policy/v1"),
    ],
)
def test_each_kubernetes_file_holds_one_object_of_its_kind(
    name: str, kind: str, api_version: str
) -> None:
    obj = one(K8S / name)
    assert (obj["kind"], obj["apiVersion"]) == (kind, api_version)
    assert obj["metadata"]["name"] == "ocpi-hub"


def test_the_kustomization_lists_every_manifest() -> None:
    listed = one(K8S / "kustomization.yaml")["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.stem != "kustomization")


def test_the_probes_call_healthz_and_readyz_on_the_container_port() -> None:
    container = hub_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    port = configmap_settings().port
    assert ports == {"http": port}
    paths = {}
    for kind in PROBE_KINDS:
        probe = container[kind]["httpGet"]
        assert ports.get(probe["port"], probe["port"]) == port, kind
        paths[kind] = probe["path"]
    assert paths == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }


def test_the_deployment_runs_two_locked_down_replicas_on_an_external_redis() -> None:
    deployment = kubernetes_object("Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = hub_container()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    # writable places on the read-only root: the data dir and /tmp, both emptyDir
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in (dockerfile_env()["HUB_DATA_DIR"], "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], path
    # settings from the ConfigMap, the admin token from the Secret
    (source,) = container["envFrom"]
    assert source["configMapRef"]["name"] == kubernetes_object("ConfigMap")["metadata"]["name"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["HUB_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = kubernetes_object("Secret")
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]
    redis_url = configmap_settings().redis_url
    assert redis_url is not None and redis_url.startswith(("redis://", "rediss://"))


def test_the_grace_period_covers_the_pre_stop_pause_and_the_shutdown_timeout() -> None:
    pod = kubernetes_object("Deployment")["spec"]["template"]["spec"]
    pre_stop = hub_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    budget = int(pre_stop[1]) + configmap_settings().shutdown_timeout
    assert pod["terminationGracePeriodSeconds"] > budget


def test_the_service_hpa_and_pdb_select_the_deployments_pods() -> None:
    deployment = kubernetes_object("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = kubernetes_object("Service")
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in [p["name"] for p in hub_container()["ports"]]
    pdb = kubernetes_object("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = kubernetes_object("HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == configmap_settings().port
