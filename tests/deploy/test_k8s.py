"""deploy/k8s builds and is valid: every overlay rendered by kustomize and every object
checked offline against the Kubernetes schemas (kubernetes-validate, strict: unknown
fields fail), then what the schemas cannot say: non-root read-only containers with
limits and probes, a PDB per service, credentials only from Secrets, the NATS cluster,
the network flows of the architecture and no others, and a dashboard whose queries name
metrics the services export."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import kubernetes_validate
import pytest
import yaml

from runtime import metrics as runtime_metrics
from services.routing import metrics as routing_metrics
from tests.deploy.manifests import (
    K8S,
    OVERLAYS,
    Pod,
    allowed,
    by_kind,
    containers,
    pod_labels,
    render,
    workloads,
)

KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SERVICES = ("presence", "routing", "scheduler", "visibility", "gateway")
WITH_SCHEMA = SERVICES  # the edge keeps its sessions in schema `gateway`


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    return render(overlay)


@pytest.fixture(params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return rendered(request.param)


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(overlay: str, version: str) -> None:
    failures = []
    for obj in rendered(overlay):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message}")
    assert not failures, "\n".join(failures)


def test_the_validator_refuses_a_misspelt_field() -> None:
    deployment = copy.deepcopy(by_kind(rendered("dev"), "Deployment")["voco-routing"])
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


def test_every_object_is_in_the_voco_namespace(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "voco", obj["metadata"]["name"]
    namespace = by_kind(objects, "Namespace")["voco"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_container_is_non_root_read_only_and_limited(objects: list[dict[str, Any]]) -> None:
    for name, workload in workloads(objects).items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in containers(workload):
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
        for container in containers(workload, init=False):
            assert "livenessProbe" in container, name
            assert "readinessProbe" in container or "startupProbe" in container, name


def test_each_service_runs_with_its_own_credentials(objects: list[dict[str, Any]]) -> None:
    deployments = by_kind(objects, "Deployment")
    for service in SERVICES:
        deployment = deployments[f"voco-{service}"]
        (main,) = containers(deployment, init=False)
        secrets = [e["secretRef"]["name"] for e in main["envFrom"] if "secretRef" in e]
        assert secrets == [f"voco-{service}-credentials"]
        assert main["args"] == ["python", "-m", f"services.{service}"]
        inits = deployment["spec"]["template"]["spec"].get("initContainers", [])
        if service in WITH_SCHEMA:
            (migrate,) = inits
            assert migrate["args"] == ["python", "-m", "launcher.migrate", service]
            owner = {e["name"]: e for e in migrate["env"]}["VOCO_DATABASE_OWNER_URL"]
            assert owner["valueFrom"]["secretKeyRef"]["key"] == "VOCO_DATABASE_OWNER_URL"


def test_nothing_secret_is_in_a_configmap_or_the_manifests(objects: list[dict[str, Any]]) -> None:
    assert not by_kind(objects, "Secret"), "Secrets are made at install time, not kept here"
    credentials_in_url = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
    for obj in objects:
        text = yaml.safe_dump(obj)
        assert not credentials_in_url.search(text), obj["metadata"]["name"]
        if obj["kind"] == "ConfigMap":
            for key in obj.get("data", {}):
                assert not re.search("PASSWORD|SECRET|TOKEN|DATABASE_URL|NATS_URL", key), key


def test_every_service_has_a_disruption_budget(objects: list[dict[str, Any]]) -> None:
    budgets = by_kind(objects, "PodDisruptionBudget").values()
    for name, workload in workloads(objects).items():
        if workload["spec"].get("replicas", 1) < 2 and name != "voco-pbxsim":
            continue  # one replica (PostgreSQL, the observability stack): a budget would
            # only block node drains
        labels = pod_labels(workload)
        assert any(
            all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
            for b in budgets
        ), name


def test_nats_is_a_three_server_jetstream_cluster_with_auth_from_a_secret(
    objects: list[dict[str, Any]],
) -> None:
    nats = by_kind(objects, "StatefulSet")["nats"]
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    volumes = {v["name"]: v for v in nats["spec"]["template"]["spec"]["volumes"]}
    assert volumes["auth"]["secret"]["secretName"] == "voco-nats-auth"
    config_map = volumes["config"]["configMap"]["name"]
    config = by_kind(objects, "ConfigMap")[config_map]["data"]["nats.conf"]
    assert "store_dir: /data/jetstream" in config
    for ordinal in range(3):
        assert f"nats://nats-{ordinal}.nats-cluster:6222" in config
    assert 'include "auth/auth.conf"' in config
    (server,) = containers(nats)
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    assert mounts["auth"] == "/etc/nats/auth"  # beside nats.conf, where `include` looks
    assert mounts["data"] == "/data"
    assert by_kind(objects, "ConfigMap")["voco-config"]["data"]["VOCO_STREAM_REPLICAS"] == "3"


def voco_pods(objects: list[dict[str, Any]]) -> dict[str, Pod]:
    return {name: Pod(pod_labels(w)) for name, w in workloads(objects).items()}


INGRESS_CONTROLLER = Pod(
    {"app.kubernetes.io/name": "ingress-nginx"},
    {"kubernetes.io/metadata.name": "ingress-nginx"},
)

ALLOWED_FLOWS = [
    *[(f"voco-{s}", "nats", 4222) for s in SERVICES],
    *[(f"voco-{s}", "postgres", 5432) for s in SERVICES],
    *[(f"voco-{s}", "otel-collector", 4318) for s in SERVICES],
    ("nats", "nats", 6222),
    ("otel-collector", "tempo", 4317),
    ("prometheus", "otel-collector", 8889),
    ("grafana", "prometheus", 9090),
    ("grafana", "tempo", 3200),
]
DENIED_FLOWS = [
    ("voco-routing", "voco-presence", 8080),
    ("voco-presence", "voco-gateway", 8080),
    ("voco-gateway", "tempo", 4317),
    ("voco-routing", "prometheus", 9090),
    ("voco-scheduler", "nats", 6222),  # the cluster routes are the servers' own
    ("voco-visibility", "postgres", 5433),
    ("postgres", "nats", 4222),
    ("nats", "postgres", 5432),
    ("grafana", "postgres", 5432),
    ("otel-collector", "postgres", 5432),
    ("tempo", "nats", 4222),
]


def test_the_network_allows_the_architectures_flows(objects: list[dict[str, Any]]) -> None:
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = voco_pods(objects)
    for source, destination, port in ALLOWED_FLOWS:
        assert allowed(policies, pods[source], pods[destination], port), (source, destination)
    assert allowed(policies, INGRESS_CONTROLLER, pods["voco-gateway"], 8080)
    assert allowed(policies, INGRESS_CONTROLLER, pods["grafana"], 3000)


def test_the_network_denies_every_other_flow(objects: list[dict[str, Any]]) -> None:
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = voco_pods(objects)
    for source, destination, port in DENIED_FLOWS:
        assert not allowed(policies, pods[source], pods[destination], port), (source, destination)
    for name in ("voco-routing", "voco-presence", "nats", "postgres", "prometheus"):
        assert not allowed(policies, INGRESS_CONTROLLER, pods[name], 8080), name
    stranger = Pod({"app": "nats"}, {"kubernetes.io/metadata.name": "elsewhere"})
    assert not allowed(policies, stranger, pods["nats"], 4222)


def test_the_pbx_adapter_reaches_nats_only() -> None:
    objects = rendered("dev")
    policies = list(by_kind(objects, "NetworkPolicy").values())
    pods = voco_pods(objects)
    adapter = pods["voco-pbxsim"]
    assert allowed(policies, adapter, pods["nats"], 4222)
    assert allowed(policies, adapter, pods["otel-collector"], 4318)
    assert not allowed(policies, adapter, pods["postgres"], 5432)
    assert not allowed(policies, adapter, pods["voco-routing"], 8080)
    assert not allowed(policies, adapter, pods["voco-gateway"], 8080)
    assert "voco-pbxsim" not in workloads(rendered("production"))


def prometheus_names() -> set[str]:
    """What the collector's Prometheus exporter calls each instrument the code makes."""
    names = set()
    instruments = [
        runtime_metrics.events_stored,
        runtime_metrics.outbox_backlog,
        runtime_metrics.consumer_lag,
        routing_metrics.calls,
        routing_metrics.decision_duration,
    ]
    for instrument in instruments:
        base = instrument._name.replace(".", "_")  # type: ignore[attr-defined]
        unit = instrument._unit  # type: ignore[attr-defined]
        base += {"s": "_seconds"}.get(unit, "")
        kind = type(instrument).__name__.lower()
        if "counter" in kind:
            names.add(base + "_total")
        elif "histogram" in kind:
            names |= {base + "_bucket", base + "_sum", base + "_count"}
        else:
            names.add(base)
    return names


def observability(name: str) -> Any:
    text = (K8S / "observability" / name).read_text()
    return json.loads(text) if name.endswith(".json") else yaml.safe_load(text)


def test_the_dashboard_queries_metrics_the_services_export() -> None:
    dashboard = observability("voco-dashboard.json")
    datasources = {d["uid"]: d for d in observability("grafana-datasources.yaml")["datasources"]}
    exported = prometheus_names()
    titles = set()
    for panel in dashboard["panels"]:
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] in datasources, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in datasources
            if panel["datasource"]["type"] == "prometheus":
                used = set(re.findall(r"\bvoco_[a-z_]+", target["expr"]))
                assert used, panel["title"]
                assert used <= exported, (panel["title"], used - exported)
    assert {
        "Calls per second",
        "Call outcomes per second",
        "Routing decision latency",
        "Outbox backlog",
        "Consumer lag",
        "Presence changes per second",
    } <= titles


def test_the_collector_sends_traces_to_tempo_and_metrics_to_prometheus() -> None:
    objects = rendered("production")
    services = by_kind(objects, "Service")
    collector = observability("collector.yaml")
    pipelines = collector["service"]["pipelines"]
    for pipeline in pipelines.values():
        for part in ("receivers", "processors", "exporters"):
            assert set(pipeline[part]) <= set(collector[part]), part
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"]
    tempo_host, tempo_port = collector["exporters"]["otlp/tempo"]["endpoint"].split(":")
    assert int(tempo_port) in {p["port"] for p in services[tempo_host]["spec"]["ports"]}
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    metrics_port = int(collector["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1])
    scrape = observability("prometheus.yml")["scrape_configs"][0]["static_configs"][0]
    assert scrape["targets"] == [f"otel-collector:{metrics_port}"]
    otlp = by_kind(objects, "ConfigMap")["voco-config"]["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert otlp == "http://otel-collector:4318"
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    for source in observability("grafana-datasources.yaml")["datasources"]:
        host, port = source["url"].removeprefix("http://").split(":")
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, host
