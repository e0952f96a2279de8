"""Offline checks of the Kubernetes manifests (deploy/k8s) and the image build (deploy/Dockerfile).

Nothing here needs a cluster, a registry or a Docker engine:

- every resource is validated with kubernetes-validate in strict mode (unknown
  fields are errors) against the newest Kubernetes version it ships;
- the base is checked as it is, and each overlay twice: its patch files are
  merged into the base here, in Python (a strategic merge: maps merge, lists of
  named items merge by name, null deletes), so the patches are validated even
  where kustomize is missing; and, when `kustomize` or `kubectl` (which embeds
  kustomize) is on PATH, the overlay is also rendered by the real tool and that
  output is validated and checked. Without either tool those renderings are
  skipped, not failed;
- the invariants a platform team relies on: gRPC probes on the standard health
  service, non-root and read-only containers, resources, drain time, PDBs,
  HPAs, NetworkPolicies matching the data-flow picture, a ConfigMap or Secret
  for every setting a service reads, migrations before each service starts,
  and a non-root, HEALTHCHECK-free image target per service.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = ("dev", "prod")
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCS = ROOT / "docs" / "deploy.md"
ARCHITECTURE = ROOT.parent / "shared" / "ARCHITECTURE.md"  # outside the repository, if present

# The newest Kubernetes version kubernetes-validate ships schemas for.
K8S_VERSION = kv_utils.latest_version()

Resource = dict[str, Any]

# service name -> (python module / image target, gRPC port, metrics port, proto service)
SERVICES: dict[str, tuple[str, int, int, str]] = {
    "event-store": ("eventstore", 50051, 9101, "fundledger.eventstore.v1.EventStoreService"),
    "projector": ("projector", 50052, 9102, "fundledger.projector.v1.ProjectorService"),
    "snapshotter": ("snapshotter", 50053, 9103, "fundledger.snapshotter.v1.SnapshotterService"),
    "allocation": ("allocation", 50054, 9104, "fundledger.allocation.v1.AllocationService"),
    "storage": ("storage", 50055, 9105, "fundledger.storage.v1.StorageService"),
}
# The data-flow picture: what each workload may reach (besides DNS), as (app, port).
EGRESS: dict[str, set[tuple[str, int]]] = {
    "event-store": {("timescaledb", 5432), ("nats", 4222)},
    "projector": {("event-store", 50051), ("timescaledb", 5432), ("nats", 4222)},
    "snapshotter": {("event-store", 50051), ("timescaledb", 5432), ("nats", 4222)},
    "allocation": {("event-store", 50051)},
    "storage": {("event-store", 50051), ("timescaledb", 5432), ("s3", 443)},
    "timescaledb": set(),
    "nats": set(),
}
# ... and who may reach the in-namespace workloads (clients come from outside).
INGRESS_FROM: dict[str, set[str]] = {
    "event-store": {"client", "projector", "snapshotter", "allocation", "storage"},
    "projector": {"client"},
    "snapshotter": {"client"},
    "allocation": {"client"},
    "storage": {"client"},
    "timescaledb": {"event-store", "projector", "snapshotter", "storage"},
    "nats": {"event-store", "projector", "snapshotter"},
}
SECRET_SETTINGS = {"DATABASE_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"}
MIN_TERMINATION_GRACE = 30


# --------------------------------------------------------------------------- loading


def load_yaml(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


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
        for i, resource in enumerate(resources):
            if resource["kind"] != target["kind"]:
                continue
            if "name" in target and resource["metadata"]["name"] != target["name"]:
                continue
            body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "metadata")}
            resources[i] = strategic_merge(resource, body)
            hits += 1
        assert hits, f"{overlay}: patch {entry['path']} matches no resource"
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


@pytest.fixture(params=VARIANTS)
def manifests(request: pytest.FixtureRequest) -> tuple[Resource, ...]:
    return resources_of(request.param)


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


# --------------------------------------------------------------------------- schema validation


def test_kubernetes_validate_is_current() -> None:
    major, minor = (int(x) for x in K8S_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 37)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_resource_validates_strictly(variant: str) -> None:
    resources = resources_of(variant)
    assert resources
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path)
            pytest.fail(f"{variant} {key(resource)}: {where}: {err.message}")


def test_overlay_patch_files_are_partial_resources_of_the_base() -> None:
    """Each patch names a real apiVersion/kind of the base and only fields the schema knows.

    The merged overlays above are validated strictly, so an unknown field in a
    patch fails there; this one catches a patch aimed at a kind that is not in
    the base (which kustomize would reject only at build time).
    """
    kinds = {(r["apiVersion"], r["kind"]) for r in base_resources()}
    for overlay in OVERLAYS:
        directory = K8S / "overlays" / overlay
        for entry in kustomization(directory)["patches"]:
            (patch,) = load_yaml(directory / entry["path"])
            assert (patch["apiVersion"], patch["kind"]) in kinds, entry["path"]


# --------------------------------------------------------------------------- kustomizations


def kustomization_dirs() -> list[Path]:
    return [BASE, *(K8S / "overlays" / o for o in OVERLAYS)]


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: p.name)
def test_kustomization_lists_only_existing_files(directory: Path) -> None:
    spec = kustomization(directory)
    listed = [*spec.get("resources", []), *(p["path"] for p in spec.get("patches", []))]
    assert listed
    for entry in listed:
        path = directory / entry
        assert path.exists(), f"{directory.name}/kustomization.yaml lists missing {entry}"
        if path.is_dir():
            assert (path / "kustomization.yaml").is_file(), f"{entry} is not a kustomization"


def test_base_kustomization_lists_every_base_file() -> None:
    listed = set(kustomization(BASE)["resources"])
    on_disk = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_overlays_use_the_base_and_their_own_namespace() -> None:
    namespaces = set()
    for overlay in OVERLAYS:
        spec = kustomization(K8S / "overlays" / overlay)
        assert "../../base" in spec["resources"]
        namespaces.add(spec["namespace"])
        (namespace,) = of_kind(merged_overlay(overlay), "Namespace").values()
        assert namespace["metadata"]["name"] == spec["namespace"]
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert len(namespaces) == len(OVERLAYS)


# --------------------------------------------------------------------------- services


def architecture_services() -> set[str]:
    names = {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file()}
    if ARCHITECTURE.is_file():
        names |= set(re.findall(r"^services/([\w-]+)/", ARCHITECTURE.read_text(), re.M))
    return names


def test_every_architecture_service_is_deployed(manifests: tuple[Resource, ...]) -> None:
    expected = architecture_services()
    assert expected == set(SERVICES)
    deployments = of_kind(manifests, "Deployment")
    services = of_kind(manifests, "Service")
    for name, (module, grpc_port, metrics_port, _) in SERVICES.items():
        assert name in deployments, name
        ports = {p["name"]: p["port"] for p in services[name]["spec"]["ports"]}
        assert ports == {"grpc": grpc_port, "metrics": metrics_port}
        assert selects(
            {"matchLabels": services[name]["spec"]["selector"]}, pod_labels(deployments[name])
        )
        image = server(deployments[name])["image"]
        assert image.split(":")[0] == f"fundledger/{module}"


def pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def test_deployments_probe_grpc_health(manifests: tuple[Resource, ...]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        _, grpc_port, _, proto = SERVICES[name]
        container = server(deployment)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert container[probe]["grpc"]["port"] == grpc_port, (name, probe)
        assert container["readinessProbe"]["grpc"]["service"] == proto
        assert {p["containerPort"] for p in container["ports"]} == {grpc_port, SERVICES[name][2]}


def test_deployments_are_locked_down(manifests: tuple[Resource, ...]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(deployment):
            where = (name, container["name"])
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert {"cpu", "memory"} <= set(resources["limits"]), where


def settings_value(manifests: tuple[Resource, ...], deployment: Resource, var: str) -> str | None:
    maps = of_kind(manifests, "ConfigMap")
    value = None
    for source in server(deployment).get("envFrom", []):
        value = maps[source["configMapRef"]["name"]]["data"].get(var, value)
    return value


def test_drain_time_covers_pre_stop_and_shutdown_grace(manifests: tuple[Resource, ...]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace >= MIN_TERMINATION_GRACE, name
        command = server(deployment)["lifecycle"]["preStop"]["exec"]["command"]
        assert Path(command[0]).name == "sleep", name
        drain = settings_value(manifests, deployment, "FUNDLEDGER_SHUTDOWN_GRACE_SECONDS")
        assert drain is not None, name
        assert grace >= int(command[1]) + float(drain), name


def test_every_deployment_has_a_pdb_and_an_hpa(manifests: tuple[Resource, ...]) -> None:
    pdbs = of_kind(manifests, "PodDisruptionBudget").values()
    hpas = of_kind(manifests, "HorizontalPodAutoscaler")
    for name, deployment in of_kind(manifests, "Deployment").items():
        labels = pod_labels(deployment)
        assert [p for p in pdbs if selects(p["spec"]["selector"], labels)], f"no PDB for {name}"
        target = hpas[name]["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert hpas[name]["spec"]["minReplicas"] <= hpas[name]["spec"]["maxReplicas"]
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
    # The event store scales, but modestly (one relay leader, one log head).
    assert hpas["event-store"]["spec"]["maxReplicas"] <= 4


def test_overlay_sizes() -> None:
    dev, prod = merged_overlay("dev"), merged_overlay("prod")
    for hpa in of_kind(dev, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] == hpa["spec"]["maxReplicas"] == 1
    for hpa in of_kind(prod, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 3
    for name, pdb in of_kind(prod, "PodDisruptionBudget").items():
        assert pdb["spec"]["minAvailable"] >= 2, name
        assert "maxUnavailable" not in pdb["spec"], name
        minimum = of_kind(prod, "HorizontalPodAutoscaler")[name]["spec"]["minReplicas"]
        assert pdb["spec"]["minAvailable"] < minimum, f"{name}: a PDB must allow one eviction"
    dev_deployments = of_kind(dev, "Deployment")
    for name, deployment in of_kind(prod, "Deployment").items():
        small = server(dev_deployments[name])["resources"]["limits"]["memory"]
        large = server(deployment)["resources"]["limits"]["memory"]
        assert quantity(large) > quantity(small), name


def quantity(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text.removesuffix(suffix)) * factor
    return float(text)


# --------------------------------------------------------------------------- settings


def settings_read_by(name: str) -> set[str]:
    """Every FUNDLEDGER_* variable the service reads: its config.py and ServerSettings."""
    module = SERVICES[name][0]
    sources = [
        ROOT / "services" / name / "src" / module / "config.py",
        ROOT / "libs" / "platform" / "src" / "fundledger_platform" / "settings.py",
    ]
    found: set[str] = set()
    for source in sources:
        found |= set(
            re.findall(r"env_(?:str|int|float|bool)\(\s*\"([A-Z0-9_]+)\"", source.read_text())
        )
    return {f"FUNDLEDGER_{n}" for n in found}


def test_every_setting_comes_from_a_configmap_or_secret(manifests: tuple[Resource, ...]) -> None:
    maps = of_kind(manifests, "ConfigMap")
    for name, deployment in of_kind(manifests, "Deployment").items():
        container = server(deployment)
        provided: dict[str, str] = {}
        for source in container["envFrom"]:
            for var in maps[source["configMapRef"]["name"]]["data"]:
                provided[var] = "configmap"
        for env in container.get("env", []):
            assert "secretKeyRef" in env.get("valueFrom", {}), f"{name}: {env['name']} inline"
            provided[env["name"]] = "secret"
        wanted = settings_read_by(name)
        assert len(wanted) > 6, name  # the regex still finds the settings
        missing = wanted - set(provided)
        assert not missing, f"{name} has no ConfigMap/Secret entry for {sorted(missing)}"
        for var in wanted:
            source = "secret" if var.removeprefix("FUNDLEDGER_") in SECRET_SETTINGS else "configmap"
            assert provided[var] == source, f"{name}: {var} must come from a {source}"
        _, grpc_port, metrics_port, _ = SERVICES[name]
        assert settings_value(manifests, deployment, "FUNDLEDGER_GRPC_PORT") == str(grpc_port)
        assert settings_value(manifests, deployment, "FUNDLEDGER_METRICS_PORT") == str(metrics_port)
        assert settings_value(manifests, deployment, "FUNDLEDGER_GRPC_HOST") == "0.0.0.0"


def test_no_credentials_are_committed_and_secrets_are_documented(
    manifests: tuple[Resource, ...],
) -> None:
    assert not of_kind(manifests, "Secret"), "Secrets are created out of band (docs/deploy.md)"
    docs = DOCS.read_text()
    referenced = set()
    for resource in manifests:
        if resource["kind"] in ("Deployment", "StatefulSet"):
            for container in containers(resource):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        referenced.add((ref["name"], ref["key"]))
    assert referenced
    for secret, secret_key in referenced:
        assert secret in docs, f"Secret {secret} not in docs/deploy.md"
        assert secret_key in docs, f"key {secret_key} of {secret} not in docs/deploy.md"


def test_migrations_run_before_each_database_service(manifests: tuple[Resource, ...]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        env = {e["name"] for e in server(deployment).get("env", [])}
        init = pod_spec(deployment).get("initContainers", [])
        if "FUNDLEDGER_DATABASE_URL" not in env:
            assert name == "allocation"  # no database, `migrate` is a no-op
            continue
        (migrate,) = [c for c in init if c["name"] == "migrate"]
        assert migrate["args"] == ["migrate"], name
        assert migrate["image"] == server(deployment)["image"], name
        assert "FUNDLEDGER_DATABASE_URL" in {e["name"] for e in migrate["env"]}, name


# --------------------------------------------------------------------------- dependencies


def test_nats_jetstream_and_timescaledb(manifests: tuple[Resource, ...]) -> None:
    sets = of_kind(manifests, "StatefulSet")
    nats, db = sets["nats"], sets["timescaledb"]
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = of_kind(manifests, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert re.search(r"jetstream\s*\{[^}]*store_dir:\s*/data/", conf)
    assert "4222" in {
        str(p["port"]) for p in of_kind(manifests, "Service")["nats"]["spec"]["ports"]
    }
    (container,) = pod_spec(db)["containers"]
    assert container["image"].startswith("timescale/timescaledb:")
    assert "shared_preload_libraries=timescaledb" in container["args"]
    assert db["spec"]["volumeClaimTemplates"]
    for workload in (nats, db):
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True
        for c in containers(workload):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


# --------------------------------------------------------------------------- network policies


def peer_apps(peer: Resource) -> set[str]:
    """The app names a NetworkPolicy peer admits ('client', 's3' for the special peers)."""
    if "ipBlock" in peer:
        return {"s3"}
    pods = peer.get("podSelector", {})
    if pods.get("matchLabels", {}).get("fundledger.io/client") == "true":
        return {"client"}
    if "namespaceSelector" in peer and not pods:
        return {"monitoring"}
    apps = set()
    if "app.kubernetes.io/name" in pods.get("matchLabels", {}):
        apps.add(pods["matchLabels"]["app.kubernetes.io/name"])
    for expr in pods.get("matchExpressions", []):
        assert expr["key"] == "app.kubernetes.io/name"
        assert expr["operator"] == "In"
        apps |= set(expr["values"])
    return apps


def test_default_deny_and_dns(manifests: tuple[Resource, ...]) -> None:
    policies = of_kind(manifests, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny.get("ingress")
    assert not deny.get("egress")
    dns = policies["allow-dns-egress"]["spec"]
    assert dns["podSelector"] == {}
    assert {(p["protocol"], p["port"]) for p in dns["egress"][0]["ports"]} == {
        ("UDP", 53),
        ("TCP", 53),
    }


def test_network_policies_follow_the_data_flow(manifests: tuple[Resource, ...]) -> None:
    policies = [p for p in of_kind(manifests, "NetworkPolicy").values() if p["spec"]["podSelector"]]
    workloads = {**of_kind(manifests, "Deployment"), **of_kind(manifests, "StatefulSet")}
    assert set(workloads) == set(EGRESS)
    for name, workload in workloads.items():
        mine = [p for p in policies if selects(p["spec"]["podSelector"], pod_labels(workload))]
        assert mine, f"no NetworkPolicy selects {name}"
        egress: set[tuple[str, int]] = set()
        ingress: set[str] = set()
        for policy in mine:
            assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            for rule in policy["spec"].get("egress", []):
                for peer in rule["to"]:
                    for port in rule["ports"]:
                        egress |= {(app, port["port"]) for app in peer_apps(peer)}
            for rule in policy["spec"].get("ingress", []):
                for peer in rule["from"]:
                    ingress |= peer_apps(peer) - {"monitoring"}
        assert egress == EGRESS[name], name
        assert ingress == INGRESS_FROM[name], name
    # The ports the policies open are the ports the workloads listen on.
    for name in SERVICES:
        for app, port in EGRESS[name]:
            if app in SERVICES:
                assert port == SERVICES[app][1]


# --------------------------------------------------------------------------- image build


def dockerfile_stages() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """stage name -> (FROM image or parent stage, [(instruction, arguments)])."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            assert match, line
            current = []
            stages[(match.group(2) or f"stage{len(stages)}").lower()] = (match.group(1), current)
        elif current is not None:
            current.append((instruction, rest.strip()))
    return stages


def stage_chain(stages: dict[str, tuple[str, list[tuple[str, str]]]], name: str) -> list[str]:
    chain = [name]
    while stages[chain[-1]][0].lower() in stages:
        chain.append(stages[chain[-1]][0].lower())
    return chain


@pytest.mark.parametrize("name", list(SERVICES))
def test_image_target_per_service(name: str) -> None:
    module = SERVICES[name][0]
    stages = dockerfile_stages()
    assert module in stages, f"no --target {module}"
    chain = stage_chain(stages, module)
    assert stages[chain[-1]][0] == "${PYTHON_IMAGE}"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE.read_text(), re.M)
    # The effective USER is the last one set along the stage chain: non-root.
    users = [args for stage in reversed(chain) for ins, args in stages[stage][1] if ins == "USER"]
    assert users, module
    assert users[-1].split(":")[0] not in ("0", "root"), module
    instructions = [ins for stage in chain for ins, _ in stages[stage][1]]
    assert "HEALTHCHECK" not in instructions
    entrypoint = [args for ins, args in stages[module][1] if ins == "ENTRYPOINT"]
    assert entrypoint == [f'["python", "-m", "{module}"]']
    # Installed from the lock by uv, in the build stage the target copies from.
    (copied,) = re.findall(
        r"--from=(\S+)", " ".join(a for i, a in stages[module][1] if i == "COPY")
    )
    build = " ".join(a for stage in stage_chain(stages, copied) for i, a in stages[stage][1])
    assert f"uv sync --frozen --no-dev --package fundledger-{module}" in build
    assert f"services/{name}/migrations" in build  # migrations ship with the sources
    assert "libs/api/src" in build  # the committed generated stubs


def test_no_healthcheck_anywhere_in_the_dockerfile() -> None:
    assert not any(
        ins == "HEALTHCHECK" for _, body in dockerfile_stages().values() for ins, _ in body
    )


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    required = {".venv", ".tools", ".stack", ".bench", "tests", "services/*/tests"}
    required |= {".mypy_cache", ".ruff_cache", ".pytest_cache", "**/__pycache__"}
    assert required <= entries, sorted(required - entries)
    assert not {"libs", "services", "uv.lock", "pyproject.toml"} & entries
