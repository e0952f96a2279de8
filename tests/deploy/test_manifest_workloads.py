"""Workload invariants: services, probes, lockdown, scaling, settings, dependencies, policies."""

from __future__ import annotations

import re
from pathlib import Path

from tests.deploy.manifest_support import (
    ROOT,
    SERVICES,
    Resource,
    containers,
    merged_overlay,
    of_kind,
    pod_spec,
    selects,
    server,
)
from tests.deploy.service_settings import settings_read_by

DOCS = ROOT / "docs" / "deploy.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# The data-flow picture: what each workload may reach (besides DNS), as (app, port).
# ("https", 443) is a public address: the identity provider's keys, which every service
# verifies people's tokens with, and for storage the S3 endpoint too.
IDP = ("https", 443)
EGRESS: dict[str, set[tuple[str, int]]] = {
    "event-store": {("timescaledb", 5432), ("nats", 4222), IDP},
    "projector": {("event-store", 50051), ("timescaledb", 5432), ("nats", 4222), IDP},
    "snapshotter": {("event-store", 50051), ("timescaledb", 5432), ("nats", 4222), IDP},
    "allocation": {("event-store", 50051), IDP},
    "storage": {("event-store", 50051), ("timescaledb", 5432), IDP},
    "timescaledb": set(),
    # prod: the CloudNativePG instances (postgres-cluster.yaml, pods labelled timescaledb)
    # replicate from each other and their managers' 8000, reach the API server (443/6443)
    # and ship backups to the object store (443)
    "fundledger-pg": {("timescaledb", 5432), ("timescaledb", 8000), IDP, ("https", 6443)},
    "nats": set(),
    # The Job creating the database roles (timescaledb-roles.yaml)
    "timescaledb-roles": {("timescaledb", 5432)},
}
# ... and who may reach the in-namespace workloads (clients come from outside).
INGRESS_FROM: dict[str, set[str]] = {
    "event-store": {"client", "projector", "snapshotter", "allocation", "storage"},
    "projector": {"client"},
    "snapshotter": {"client"},
    "allocation": {"client"},
    "storage": {"client"},
    "timescaledb": {"event-store", "projector", "snapshotter", "storage", "timescaledb-roles"},
    # ... and the other instances, and the operator (its pods: app.kubernetes.io/name
    # cloudnative-pg)
    "fundledger-pg": {
        "event-store",
        "projector",
        "snapshotter",
        "storage",
        "timescaledb-roles",
        "timescaledb",
        "cloudnative-pg",
    },
    "nats": {"event-store", "projector", "snapshotter"},
    "timescaledb-roles": set(),
}
# Settings holding credentials: from each service's own Secrets (test_manifest_least_privilege)
# The database is one of these: the base's StatefulSet, or prod's CloudNativePG Cluster
DATABASES = {"timescaledb", "fundledger-pg"}
SECRET_SETTINGS = {"DATABASE_URL", "NATS_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY"}
MIN_TERMINATION_GRACE = 30


# --------------------------------------------------------------------------- services


def source_services() -> set[str]:
    return {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").is_file()}


def architecture_services() -> set[str]:
    """The services docs/architecture.md names, as `services/<name>/` paths."""
    return set(re.findall(r"(?<![\w/.-])services/([\w-]+)/", ARCHITECTURE.read_text()))


def test_every_architecture_service_is_deployed(manifests: tuple[Resource, ...]) -> None:
    assert source_services() == set(SERVICES)
    assert architecture_services() == set(SERVICES)
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
    if workload["kind"] == "Cluster":  # CloudNativePG labels its pods with inheritedMetadata
        inherited: dict[str, str] = workload["spec"]["inheritedMetadata"]["labels"]
        return inherited
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


HEALTH_PROBE = ["python", "-m", "fundledger_platform.health_probe"]


def probe_arguments(command: list[str]) -> dict[str, str]:
    assert command[:3] == HEALTH_PROBE, command
    flags = command[3:]
    assert len(flags) % 2 == 0, command
    return dict(zip(flags[::2], flags[1::2], strict=True))


def test_deployments_probe_grpc_health(manifests: tuple[Resource, ...]) -> None:
    """The gRPC health service, through the exec probe that speaks TLS (test_health_probe.py):
    the kubelet's own grpc probe is plaintext only. It asks the port of the settings."""
    for name, deployment in of_kind(manifests, "Deployment").items():
        _, grpc_port, _, proto = SERVICES[name]
        container = server(deployment)
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert "grpc" not in container[probe], (name, probe, "plaintext cannot reach TLS")
            arguments = probe_arguments(container[probe]["exec"]["command"])
            assert arguments["--authority"] == name, (name, probe)
            assert arguments.get("--service", "") == (proto if probe == "readinessProbe" else "")
            # The probe's own deadline (2 s) ends before the kubelet gives up on it.
            assert container[probe]["timeoutSeconds"] > 2, (name, probe)
        assert settings_value(manifests, deployment, "FUNDLEDGER_GRPC_PORT") == str(grpc_port)
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
    for cluster in of_kind(manifests, "Cluster").values():  # CloudNativePG: superuser, backups
        referenced.add((cluster["spec"]["superuserSecret"]["name"], "password"))
        credentials = cluster["spec"]["backup"]["barmanObjectStore"]["s3Credentials"]
        referenced |= {(ref["name"], ref["key"]) for ref in credentials.values()}
    for resource in manifests:
        if resource["kind"] in ("Deployment", "StatefulSet", "Job"):
            for container in containers(resource):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        referenced.add((ref["name"], ref["key"]))
    assert referenced
    for secret, secret_key in referenced:
        assert secret in docs, f"Secret {secret} not in docs/deploy.md"
        assert secret_key in docs, f"key {secret_key} of {secret} not in docs/deploy.md"
    # Secrets mounted as volumes (the TLS certificates): named, with their keys, too.
    for deployment in of_kind(manifests, "Deployment").values():
        for volume in pod_spec(deployment)["volumes"]:
            if "secret" in volume:
                secret = volume["secret"]["secretName"]
                assert f"`{secret}`" in docs, f"Secret {secret} not in docs/deploy.md"
    for secret_key in ("tls.crt", "tls.key", "ca.crt"):
        assert secret_key in docs


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
    nats = sets["nats"]
    assert nats["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    conf = of_kind(manifests, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    assert re.search(r"jetstream\s*\{[^}]*store_dir:\s*/data/", conf)
    assert "4222" in {
        str(p["port"]) for p in of_kind(manifests, "Service")["nats"]["spec"]["ports"]
    }
    locked = [nats]
    clusters = of_kind(manifests, "Cluster")
    if clusters:
        # prod: PostgreSQL is a CloudNativePG Cluster, which the operator locks down
        # (test_manifest_postgres_cluster.py checks it), and no StatefulSet of the base's
        assert "timescaledb" not in sets
        (cluster,) = clusters.values()
        assert cluster["spec"]["postgresql"]["shared_preload_libraries"] == ["timescaledb"]
    else:
        db = sets["timescaledb"]
        (container,) = pod_spec(db)["containers"]
        assert container["image"].startswith("timescale/timescaledb:")
        assert "shared_preload_libraries=timescaledb" in container["args"]
        assert db["spec"]["volumeClaimTemplates"]
        locked.append(db)
    for workload in locked:
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True
        for c in containers(workload):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]


# --------------------------------------------------------------------------- network policies


def peer_apps(peer: Resource) -> set[str]:
    """The app names a NetworkPolicy peer admits ('client', 'https' for the special peers)."""
    if "ipBlock" in peer:
        return {"https"}
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
    workloads = {
        **of_kind(manifests, "Deployment"),
        **of_kind(manifests, "StatefulSet"),
        **of_kind(manifests, "Job"),
        **of_kind(manifests, "Cluster"),
    }
    # One database: the base's StatefulSet, or prod's CloudNativePG Cluster
    (database,) = DATABASES & set(workloads)
    assert set(workloads) == set(EGRESS) - DATABASES | {database}
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
        expected_egress, expected_ingress = EGRESS[name], INGRESS_FROM[name]
        if name == "nats" and workload["spec"].get("replicas", 1) > 1:
            # A NATS cluster (the prod overlay): the servers' routes to each other
            expected_egress = {*expected_egress, ("nats", 6222)}
            expected_ingress = {*expected_ingress, "nats"}
        assert egress == expected_egress, name
        assert ingress == expected_ingress, name
    # The ports the policies open are the ports the workloads listen on.
    for name in SERVICES:
        for app, port in EGRESS[name]:
            if app in SERVICES:
                assert port == SERVICES[app][1]
