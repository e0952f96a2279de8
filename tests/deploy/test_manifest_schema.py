"""Strict schema validation of every manifest variant, and the kustomization files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate import utils as kv_utils

from tests.deploy.manifest_support import (
    BASE,
    K8S,
    OVERLAYS,
    VARIANTS,
    Resource,
    base_resources,
    kustomization,
    load_yaml,
    merged_overlay,
    of_kind,
    resources_of,
)

# The newest Kubernetes version kubernetes-validate ships schemas for.
K8S_VERSION = kv_utils.latest_version()

# Custom resources: kubernetes-validate knows only the built-in kinds, so each CRD kind the
# overlays use is validated against a schema of our own (tests/deploy/schemas), strictly.
SCHEMAS = Path(__file__).parent / "schemas"
CUSTOM_KINDS = {
    ("cert-manager.io/v1", "Certificate"): SCHEMAS / "cert-manager-certificate-v1.json",
    # CloudNativePG (the prod database); test_manifest_postgres_cluster.py checks the values
    ("postgresql.cnpg.io/v1", "Cluster"): SCHEMAS / "cnpg-cluster-v1.json",
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): SCHEMAS / "cnpg-scheduledbackup-v1.json",
}


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


# --------------------------------------------------------------------------- schema validation


def test_kubernetes_validate_is_current() -> None:
    major, minor = (int(x) for x in K8S_VERSION.split(".")[:2])
    assert (major, minor) >= (1, 37)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_resource_validates_strictly(variant: str) -> None:
    resources = resources_of(variant)
    assert resources
    for resource in resources:
        custom = CUSTOM_KINDS.get((resource["apiVersion"], resource["kind"]))
        if custom is not None:
            schema = json.loads(custom.read_text())
            errors = list(jsonschema.Draft202012Validator(schema).iter_errors(resource))
            assert not errors, f"{variant} {key(resource)}: {[e.message for e in errors]}"
            continue
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


def test_custom_resource_schemas_refuse_what_is_wrong() -> None:
    """The hand-written schemas are strict: a typo, a missing issuer or a bad usage fails."""
    (certificate,) = [
        r
        for r in merged_overlay("prod")
        if r["kind"] == "Certificate" and r["metadata"]["name"] == "projector"
    ]
    validator = jsonschema.Draft202012Validator(
        json.loads(CUSTOM_KINDS[("cert-manager.io/v1", "Certificate")].read_text())
    )
    assert not list(validator.iter_errors(certificate))
    spec = certificate["spec"]
    wrong = [
        {**spec, "dnsName": spec["dnsNames"]},
        {k: v for k, v in spec.items() if k != "issuerRef"},
        {**spec, "usages": ["server-auth"]},
        {**spec, "duration": "90d"},
    ]
    for bad in wrong:
        assert list(validator.iter_errors({**certificate, "spec": bad})), bad


def custom_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads(CUSTOM_KINDS[(api_version, kind)].read_text())
    )


def test_the_cloudnativepg_schemas_refuse_what_is_wrong() -> None:
    """A typo, a wrong enum or a bad reference in the operator's resources fails."""
    prod = merged_overlay("prod")
    (cluster,) = of_kind(prod, "Cluster").values()
    (scheduled,) = of_kind(prod, "ScheduledBackup").values()
    validator = custom_validator("postgresql.cnpg.io/v1", "Cluster")
    assert not list(validator.iter_errors(cluster))
    spec = cluster["spec"]
    store = spec["backup"]["barmanObjectStore"]
    wrong = [
        {**spec, "instance": spec["instances"]},
        {**spec, "instances": 0},
        {
            **spec,
            "postgresql": {**spec["postgresql"], "synchronous": {"method": "all", "number": 1}},
        },
        {**spec, "affinity": {**spec["affinity"], "podAntiAffinityType": "require"}},
        {**spec, "backup": {**spec["backup"], "retentionPolicy": "30 days"}},
        {**spec, "backup": {**spec["backup"], "barmanObjectStore": {**store, "s3credentials": {}}}},
        {**spec, "superuserSecret": {"name": "fundledger-postgres", "key": "password"}},
        {k: v for k, v in spec.items() if k != "storage"},
    ]
    for bad in wrong:
        assert list(validator.iter_errors({**cluster, "spec": bad})), bad
    validator = custom_validator("postgresql.cnpg.io/v1", "ScheduledBackup")
    assert not list(validator.iter_errors(scheduled))
    spec = scheduled["spec"]
    wrong = [
        {**spec, "schedule": "0 2 * * *"},  # five fields: CloudNativePG's starts with seconds
        {**spec, "method": "barman"},
        {k: v for k, v in spec.items() if k != "cluster"},
    ]
    for bad in wrong:
        assert list(validator.iter_errors({**scheduled, "spec": bad})), bad
