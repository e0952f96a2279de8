"""Identity in the manifests: every service authenticates, authorizes, serves TLS and has its own
ServiceAccount; the callers of the event store carry a short-lived projected token for it; every
file that rotates (policy, issuers, keys, certificates, tokens) is mounted so that updates arrive.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
import yaml
from fundledger_platform.auth.policy import Policy
from fundledger_platform.auth.principal import PrincipalKind
from fundledger_platform.auth.settings import load_issuers

from tests.deploy.manifest_support import (
    K8S,
    OVERLAYS,
    SERVICES,
    Resource,
    containers,
    kustomization,
    merged_overlay,
    of_kind,
    pod_spec,
    server,
)
from tests.deploy.test_manifest_workloads import settings_value

# The services that call the event store with their own identity.
CALLERS = {"projector", "snapshotter", "allocation", "storage"}
EVENT_STORE_AUDIENCE = "fundledger-event-store"
MAX_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600  # the API server refuses a shorter projected token
ROTATING = ("configMap", "secret", "projected")


def volumes(deployment: Resource) -> dict[str, Resource]:
    return {v["name"]: v for v in pod_spec(deployment)["volumes"]}


def mount_of(container: Resource, volume: str) -> Resource:
    mounts: list[Resource] = container.get("volumeMounts", [])
    (mount,) = [m for m in mounts if m["name"] == volume]
    return mount


def config_maps_of(volume: Resource) -> set[str]:
    """The ConfigMaps a configMap or projected volume brings in."""
    if "configMap" in volume:
        return {volume["configMap"]["name"]}
    sources = volume.get("projected", {}).get("sources", [])
    return {s["configMap"]["name"] for s in sources if "configMap" in s}


def file_in(mount: Resource, name: str) -> str:
    return str(PurePosixPath(mount["mountPath"]) / name)


# --------------------------------------------------------------------------- every service


def test_every_deployment_mounts_the_policy_and_issuers(manifests: tuple[Resource, ...]) -> None:
    maps = of_kind(manifests, "ConfigMap")
    for name, deployment in of_kind(manifests, "Deployment").items():
        by_name = volumes(deployment)
        policy = [v for v in by_name.values() if config_maps_of(v) == {"fundledger-policy"}]
        issuers = [v for v in by_name.values() if "fundledger-auth-issuers" in config_maps_of(v)]
        assert len(policy) == len(issuers) == 1, name
        assert config_maps_of(issuers[0]) == {"fundledger-auth-issuers", "fundledger-cluster-jwks"}
        # The server and the migrate step read the same settings, so both have the files.
        for container in containers(deployment):
            where = (name, container["name"])
            policy_mount = mount_of(container, policy[0]["name"])
            issuers_mount = mount_of(container, issuers[0]["name"])
            assert policy_mount["readOnly"] is True, where
            assert issuers_mount["readOnly"] is True, where
        assert settings_value(manifests, deployment, "FUNDLEDGER_AUTH_ENABLED") == "true", name
        assert settings_value(manifests, deployment, "FUNDLEDGER_AUTH_POLICY_FILE") == file_in(
            mount_of(server(deployment), policy[0]["name"]), "policy.yaml"
        )
        assert settings_value(manifests, deployment, "FUNDLEDGER_AUTH_ISSUERS_FILE") == file_in(
            mount_of(server(deployment), issuers[0]["name"]), "issuers.yaml"
        )
        audience = settings_value(manifests, deployment, "FUNDLEDGER_AUTH_AUDIENCE")
        assert audience == f"fundledger-{name}", name
        assert "policy.yaml" in maps["fundledger-policy"]["data"]


def test_rotating_files_are_never_mounted_by_sub_path(manifests: tuple[Resource, ...]) -> None:
    """A subPath mount keeps the file it started with: policy edits, key and certificate
    rotations and token refreshes would never reach the running service."""
    for name, deployment in of_kind(manifests, "Deployment").items():
        by_name = volumes(deployment)
        for container in containers(deployment):
            for mount in container.get("volumeMounts", []):
                volume = by_name[mount["name"]]
                if any(kind in volume for kind in ROTATING):
                    where = (name, container["name"], mount["name"])
                    assert "subPath" not in mount, where
                    assert "subPathExpr" not in mount, where
                    assert mount.get("readOnly") is True, where


def test_the_issuers_file_loads_and_names_the_cluster_and_a_person_issuer(
    manifests: tuple[Resource, ...], tmp_path: Path
) -> None:
    """The mounted directory, rebuilt here, is accepted by the services' own loader."""
    maps = of_kind(manifests, "ConfigMap")
    for source in ("fundledger-auth-issuers", "fundledger-cluster-jwks"):
        for key, text in maps[source]["data"].items():
            (tmp_path / key).write_text(text)
    issuers = load_issuers(tmp_path / "issuers.yaml")
    kinds = {issuer.kind for issuer in issuers}
    assert kinds == {PrincipalKind.SERVICE, PrincipalKind.PERSON}
    (cluster,) = [i for i in issuers if i.kind is PrincipalKind.SERVICE]
    # The cluster's keys come from the mounted ConfigMap (the API server's JWKS needs a token
    # and a route to the API server; a file needs neither).
    assert cluster.jwks_file == tmp_path / "cluster-jwks.json"
    assert isinstance(json.loads(cluster.jwks_file.read_text())["keys"], list)
    (person,) = [i for i in issuers if i.kind is PrincipalKind.PERSON]
    assert person.jwks_url is not None
    assert person.jwks_url.startswith("https://")
    assert person.tenant_claim
    # The policy binds the services under the same cluster issuer.
    policy = yaml.safe_load(maps["fundledger-policy"]["data"]["policy.yaml"])
    service_issuers = {b["issuer"] for b in policy["bindings"] if "subject" in b}
    assert service_issuers == {cluster.issuer}


def test_every_service_has_its_own_service_account(manifests: tuple[Resource, ...]) -> None:
    accounts = of_kind(manifests, "ServiceAccount")
    for name, deployment in of_kind(manifests, "Deployment").items():
        spec = pod_spec(deployment)
        assert spec["serviceAccountName"] == name
        assert accounts[name]["automountServiceAccountToken"] is False, name
        assert spec["automountServiceAccountToken"] is False, name


def test_callers_send_a_short_lived_token_for_the_event_store(
    manifests: tuple[Resource, ...],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    event_store = deployments["event-store"]
    assert settings_value(manifests, event_store, "FUNDLEDGER_AUTH_AUDIENCE") == (
        EVENT_STORE_AUDIENCE
    )
    for name, deployment in deployments.items():
        tokens = [
            (volume["name"], source["serviceAccountToken"])
            for volume in volumes(deployment).values()
            for source in volume.get("projected", {}).get("sources", [])
            if "serviceAccountToken" in source
        ]
        token_file = settings_value(manifests, deployment, "FUNDLEDGER_AUTH_TOKEN_FILE")
        if name not in CALLERS:
            assert not tokens, f"{name} calls no one: no token"
            assert not token_file, name
            continue
        ((volume, token),) = tokens
        assert token["audience"] == EVENT_STORE_AUDIENCE, name
        assert MIN_TOKEN_SECONDS <= token["expirationSeconds"] <= MAX_TOKEN_SECONDS, name
        mount = mount_of(server(deployment), volume)
        assert mount["readOnly"] is True, name
        assert token_file == file_in(mount, token["path"]), name
        # Only the server calls the event store: the migrate step gets no token.
        for container in containers(deployment):
            if container["name"] != "server":
                assert volume not in {m["name"] for m in container["volumeMounts"]}, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_policy_binds_each_caller_in_the_overlays_namespace(overlay: str) -> None:
    resources = merged_overlay(overlay)
    namespace = kustomization(K8S / "overlays" / overlay)["namespace"]
    policy = Policy.from_mapping(
        yaml.safe_load(of_kind(resources, "ConfigMap")["fundledger-policy"]["data"]["policy.yaml"])
    )
    maps = of_kind(resources, "ConfigMap")
    issuers = yaml.safe_load(maps["fundledger-auth-issuers"]["data"]["issuers.yaml"])["issuers"]
    (cluster,) = [i["issuer"] for i in issuers if i["kind"] == "service"]
    for name in CALLERS:
        subject = f"system:serviceaccount:{namespace}:{name}"
        assert policy.roles_for({}, cluster, subject) == {f"svc-{name}"}, (overlay, name)
    for other in {o for o in OVERLAYS if o != overlay}:
        elsewhere = kustomization(K8S / "overlays" / other)["namespace"]
        subject = f"system:serviceaccount:{elsewhere}:projector"
        assert not policy.roles_for({}, cluster, subject), f"{overlay} trusts {other}"


# --------------------------------------------------------------------------- TLS


def test_every_service_serves_tls_from_its_secret(manifests: tuple[Resource, ...]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        secrets = [v for v in volumes(deployment).values() if "secret" in v]
        ((tls,),) = [[v for v in secrets if v["secret"]["secretName"] == f"{name}-tls"]]
        mount = mount_of(server(deployment), tls["name"])
        assert mount["readOnly"] is True, name
        for var, key in (("CERT_FILE", "tls.crt"), ("KEY_FILE", "tls.key"), ("CA_FILE", "ca.crt")):
            value = settings_value(manifests, deployment, f"FUNDLEDGER_TLS_{var}")
            assert value == file_in(mount, key), (name, var)
        # Nobody but the pod's user and group reads the key.
        assert tls["secret"]["defaultMode"] & 0o007 == 0, name


def test_prod_has_a_certificate_for_every_service_and_no_reflection() -> None:
    resources = merged_overlay("prod")
    namespace = kustomization(K8S / "overlays" / "prod")["namespace"]
    certificates = {
        c["spec"]["secretName"]: c
        for c in resources
        if c["kind"] == "Certificate" and c["apiVersion"] == "cert-manager.io/v1"
    }
    assert set(certificates) == {f"{name}-tls" for name in SERVICES}
    for name in SERVICES:
        spec = certificates[f"{name}-tls"]["spec"]
        assert set(spec["dnsNames"]) >= {
            name,
            f"{name}.{namespace}.svc",
            f"{name}.{namespace}.svc.cluster.local",
        }, name
        assert {"server auth", "client auth"} <= set(spec["usages"]), name
        assert spec["issuerRef"]["kind"] in ("Issuer", "ClusterIssuer"), name
        assert spec["issuerRef"]["name"], name
        # The exec probe checks the certificate for the Service's name.
        command = server(of_kind(resources, "Deployment")[name])["readinessProbe"]["exec"]
        assert command["command"][command["command"].index("--authority") + 1] in spec["dnsNames"]
    common = of_kind(resources, "ConfigMap")["fundledger-common"]["data"]
    assert common["FUNDLEDGER_REFLECTION"] == "false"


def test_dev_serves_reflection_without_a_token() -> None:
    common = of_kind(merged_overlay("dev"), "ConfigMap")["fundledger-common"]["data"]
    assert common["FUNDLEDGER_REFLECTION"] == "true"
    assert common["FUNDLEDGER_AUTH_ENABLED"] == "true"


def test_kustomize_renders_the_certificates_in_the_prod_namespace() -> None:
    from tests.deploy.manifest_support import rendered

    resources = rendered("overlays/prod")
    namespace = kustomization(K8S / "overlays" / "prod")["namespace"]
    certificates = [r for r in resources if r["kind"] == "Certificate"]
    assert len(certificates) == len(SERVICES)
    for certificate in certificates:
        assert certificate["metadata"]["namespace"] == namespace
