"""The Kubernetes manifests (deploy/k8s) as the deploy tests see them: base, overlays, helpers."""

# Nothing in tests/deploy needs a cluster, a registry or a Docker engine. The
# invariants are checked for the base as it is and for each overlay twice: its
# patch files are merged into the base here, in Python (a strategic merge: maps
# merge, lists of named items merge by name, null deletes, a patch of
# `$patch: delete` removes the resource it names), so the patches are
# validated even where kustomize is missing; and, when `kustomize` or `kubectl`
# (which embeds kustomize) is on PATH, the overlay is also rendered by the real
# tool and that output is validated and checked. Without either tool those
# renderings are skipped, not failed.

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")

Resource = dict[str, Any]

# service name -> (python module / image target, gRPC port, metrics port, proto service)
SERVICES: dict[str, tuple[str, int, int, str]] = {
    "event-store": ("eventstore", 50051, 9101, "fundledger.eventstore.v1.EventStoreService"),
    "projector": ("projector", 50052, 9102, "fundledger.projector.v1.ProjectorService"),
    "snapshotter": ("snapshotter", 50053, 9103, "fundledger.snapshotter.v1.SnapshotterService"),
    "allocation": ("allocation", 50054, 9104, "fundledger.allocation.v1.AllocationService"),
    "storage": ("storage", 50055, 9105, "fundledger.storage.v1.StorageService"),
}


# --------------------------------------------------------------------------- loading


def load_yaml(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def strategic_merge(base: Any, patch: Any) -> Any:
    """kustomize's strategic merge, as far as these patches need it."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for name, value in patch.items():
            if value is None:
                merged.pop(name, None)
            elif name in merged:
                merged[name] = strategic_merge(merged[name], value)
            else:
                merged[name] = value
        return merged
    named = isinstance(base, list) and isinstance(patch, list)
    if named and all(isinstance(item, dict) and "name" in item for item in [*base, *patch]):
        merged_list = list(base)
        for item in patch:
            index = next(
                (i for i, old in enumerate(merged_list) if old["name"] == item["name"]), -1
            )
            if index < 0:
                merged_list.append(item)
            else:
                merged_list[index] = strategic_merge(merged_list[index], item)
        return merged_list
    return patch


def kustomization(directory: Path) -> Resource:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


@functools.cache
def base_resources() -> tuple[Resource, ...]:
    files = sorted(p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml")
    return tuple(doc for path in files for doc in load_yaml(path))


@functools.cache
def merged_overlay(overlay: str) -> tuple[Resource, ...]:
    """The base with the overlay's own resources and patch files applied, in Python."""
    directory = K8S / "overlays" / overlay
    spec = kustomization(directory)
    resources = list(base_resources())
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_file():
            resources.extend(load_yaml(path))
    for entry in spec.get("patches", []):
        (patch,) = load_yaml(directory / entry["path"])
        target = entry.get("target", {"kind": patch["kind"], "name": patch["metadata"]["name"]})
        hits = 0
        kept: list[Resource] = []
        for resource in resources:
            if resource["kind"] != target["kind"] or (
                "name" in target and resource["metadata"]["name"] != target["name"]
            ):
                kept.append(resource)
                continue
            hits += 1
            if patch.get("$patch") == "delete":
                continue  # kustomize drops the resource the patch names
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
            kept.append(strategic_merge(resource, body))
        assert hits, f"{overlay}: patch {entry['path']} matches no resource"
        resources = kept
    return tuple(resources)


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@functools.cache
def rendered(target: str) -> tuple[Resource, ...]:
    """`kustomize build` of deploy/k8s/<target>; skips the test when no kustomize exists."""
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl on PATH: overlays checked as merged patches")
    done = subprocess.run(
        [*command, str(K8S / target)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


# Every variant the invariants must hold for: the base, each overlay as merged
# here, and each overlay as kustomize renders it (skipped without kustomize).
VARIANTS = [
    "base",
    *(f"merged:{o}" for o in OVERLAYS),
    "kustomize:base",
    *(f"kustomize:overlays/{o}" for o in OVERLAYS),
]


def resources_of(variant: str) -> tuple[Resource, ...]:
    if variant == "base":
        return base_resources()
    if variant.startswith("merged:"):
        return merged_overlay(variant.removeprefix("merged:"))
    return rendered(variant.removeprefix("kustomize:"))


def of_kind(resources: tuple[Resource, ...], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def pod_spec(workload: Resource) -> Resource:
    spec: Resource = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Resource) -> Iterator[Resource]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def server(deployment: Resource) -> Resource:
    (container,) = [c for c in pod_spec(deployment)["containers"] if c["name"] == "server"]
    return container


def selects(selector: Resource, labels: dict[str, str]) -> bool:
    match = selector.get("matchLabels", {})
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        if expr["operator"] == "In" and value not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and value in expr["values"]:
            return False
    return True
