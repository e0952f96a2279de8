"""The prod database as a CloudNativePG Cluster (deploy/k8s/overlays/prod/postgres-cluster.yaml):
the fields this deployment relies on. kubernetes-validate knows only built-in kinds, so these
operator resources are checked field by field (docs/operations.md, sections 2 and 6), and how the
prod overlay wires the Cluster in: in place of the base's TimescaleDB, the roles Job at its
read-write Service, the instances' network policy."""

from __future__ import annotations

import re

import pytest

from tests.deploy.manifest_support import (
    K8S,
    ROOT,
    Resource,
    load_yaml,
    of_kind,
    pod_spec,
    resources_of,
    selects,
)

CLUSTER_FILE = K8S / "overlays" / "prod" / "postgres-cluster.yaml"
CNPG = "postgresql.cnpg.io/v1"


def resources() -> tuple[Resource, ...]:
    return tuple(load_yaml(CLUSTER_FILE))


def cluster() -> Resource:
    (found,) = of_kind(resources(), "Cluster").values()
    assert found["apiVersion"] == CNPG
    return found


def test_three_instances_with_synchronous_replication_on_three_nodes() -> None:
    spec = cluster()["spec"]
    assert spec["instances"] == 3
    sync = spec["postgresql"]["synchronous"]
    # At least one standby confirms every commit, and a commit waits rather than
    # going on unconfirmed when none can
    assert sync["method"] in ("any", "first")
    assert 1 <= sync["number"] < spec["instances"]
    assert sync["dataDurability"] == "required"
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert spec["affinity"]["topologyKey"] == "kubernetes.io/hostname"
    assert spec["primaryUpdateMethod"] == "switchover"


def test_timescaledb_is_in_the_image_and_preloaded() -> None:
    spec = cluster()["spec"]
    assert "timescaledb" in spec["imageName"]
    assert spec["postgresql"]["shared_preload_libraries"] == ["timescaledb"]
    assert (
        "CREATE EXTENSION IF NOT EXISTS timescaledb"
        in spec["bootstrap"]["initdb"]["postInitApplicationSQL"]
    )
    assert int(spec["postgresql"]["parameters"]["max_connections"]) >= 500


IMAGE_RECIPE = ROOT / "deploy" / "images" / "postgres-timescaledb" / "Dockerfile"


def test_the_image_named_is_the_one_the_recipe_builds() -> None:
    # The Cluster's image is built from deploy/images/postgres-timescaledb: its tag
    # <PG major>-<TimescaleDB version> must be what the recipe installs, as uid 26.
    name, _, tag = cluster()["spec"]["imageName"].partition(":")
    assert name == "fundledger/postgres-timescaledb"
    recipe = IMAGE_RECIPE.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", recipe, re.M))
    assert tag == f"{args['PG_MAJOR']}-{args['TIMESCALEDB_VERSION']}"
    assert args["BASE"].startswith("ghcr.io/cloudnative-pg/postgresql:")
    assert "system" in args["BASE"]  # barman-cloud for WAL archiving and backups
    assert f"{name}:{tag}" in recipe  # the build command it documents
    for package in ("timescaledb-2-postgresql", "timescaledb-2-loader-postgresql"):
        assert f'"{package}-${{PG_MAJOR}}=${{TIMESCALEDB_VERSION}}~debian12"' in recipe
    assert recipe.rstrip().splitlines()[-1] == "USER 26"


def test_the_database_and_the_superuser_the_roles_job_needs() -> None:
    spec = cluster()["spec"]
    assert spec["bootstrap"]["initdb"]["database"] == "fundledger"
    assert spec["enableSuperuserAccess"] is True
    assert spec["superuserSecret"]["name"] == "fundledger-postgres"


def test_wal_archiving_and_backups_to_object_storage_with_credentials_from_a_secret() -> None:
    backup = cluster()["spec"]["backup"]
    store = backup["barmanObjectStore"]
    assert store["destinationPath"].startswith("s3://")
    credentials = store["s3Credentials"]
    for field in ("accessKeyId", "secretAccessKey"):
        assert set(credentials[field]) == {"name", "key"}, field
        assert credentials[field]["name"] == "fundledger-pg-backup"
    assert store["wal"]["compression"] == store["data"]["compression"] == "gzip"
    assert backup["retentionPolicy"].endswith("d")
    parameters = cluster()["spec"]["postgresql"]["parameters"]
    assert parameters["archive_timeout"] == "5min"


def test_a_daily_scheduled_backup_of_this_cluster() -> None:
    (scheduled,) = of_kind(resources(), "ScheduledBackup").values()
    assert scheduled["apiVersion"] == CNPG
    spec = scheduled["spec"]
    assert spec["cluster"]["name"] == cluster()["metadata"]["name"]
    fields = spec["schedule"].split()
    assert len(fields) == 6  # CloudNativePG's schedule starts with seconds
    assert fields[3:] == ["*", "*", "*"]  # every day
    assert spec["method"] == "barmanObjectStore"
    assert spec["backupOwnerReference"] == "self"


def test_the_pods_carry_the_label_the_network_policies_select() -> None:
    labels = cluster()["spec"]["inheritedMetadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "timescaledb"
    assert labels["app.kubernetes.io/part-of"] == "fundledger"


# --------------------------------------------------------------------------- wiring


PROD = ["merged:prod", "kustomize:overlays/prod"]
SINGLE = ["base", "merged:dev", "kustomize:base", "kustomize:overlays/dev"]


@pytest.mark.parametrize("variant", PROD)
def test_prod_runs_the_cluster_instead_of_the_single_instance(variant: str) -> None:
    resources = resources_of(variant)
    (found,) = of_kind(resources, "Cluster").values()
    assert found["spec"] == cluster()["spec"]
    assert found["metadata"]["name"] == cluster()["metadata"]["name"]
    assert set(of_kind(resources, "ScheduledBackup")) == {"fundledger-pg-daily"}
    assert "timescaledb" not in of_kind(resources, "StatefulSet")
    # The base's Services would select every instance by label, standbys included
    assert not {"timescaledb", "timescaledb-headless"} & set(of_kind(resources, "Service"))


@pytest.mark.parametrize("variant", SINGLE)
def test_base_and_dev_keep_the_single_instance(variant: str) -> None:
    resources = resources_of(variant)
    assert not of_kind(resources, "Cluster")
    assert not of_kind(resources, "ScheduledBackup")
    assert "timescaledb" in of_kind(resources, "StatefulSet")
    assert {"timescaledb", "timescaledb-headless"} <= set(of_kind(resources, "Service"))


def roles_job_env(resources: tuple[Resource, ...]) -> dict[str, str]:
    job = of_kind(resources, "Job")["timescaledb-roles"]
    (container,) = pod_spec(job)["containers"]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.mark.parametrize("variant", PROD)
def test_the_roles_job_reaches_the_primary_through_the_read_write_service(variant: str) -> None:
    env = roles_job_env(resources_of(variant))
    # CloudNativePG's <cluster>-rw Service always points at the current primary
    assert env["PGHOST"] == f"{cluster()['metadata']['name']}-rw" == "fundledger-pg-rw"
    assert env["PGUSER"] == "postgres"  # the superuser of fundledger-postgres
    assert env["PGDATABASE"] == cluster()["spec"]["bootstrap"]["initdb"]["database"]


@pytest.mark.parametrize("variant", SINGLE)
def test_elsewhere_the_roles_job_reaches_the_timescaledb_service(variant: str) -> None:
    resources = resources_of(variant)
    assert roles_job_env(resources)["PGHOST"] == "timescaledb"
    assert "timescaledb" in of_kind(resources, "Service")


def test_the_docs_put_the_service_urls_at_the_read_write_service() -> None:
    """The services' URLs are in Secrets (docs/deploy.md, "Create the Secrets")."""
    docs = (ROOT / "docs" / "deploy.md").read_text()
    section = docs[docs.index("## 2. Create the Secrets") : docs.index("## Identity in Kubernetes")]
    assert "DBHOST=fundledger-pg-rw" in section
    assert "@$DBHOST:5432/fundledger" in section
    assert "--type=kubernetes.io/basic-auth" in section
    assert "--from-literal=username=postgres" in section
    assert "fundledger-pg-backup" in section


def test_backups_use_their_own_key_pair_not_the_documents() -> None:
    credentials = cluster()["spec"]["backup"]["barmanObjectStore"]["s3Credentials"]
    assert {ref["name"] for ref in credentials.values()} == {"fundledger-pg-backup"}


# --------------------------------------------------------------------------- network policy


def rules(policy: Resource, direction: str) -> list[tuple[Resource, set[int]]]:
    peer = "from" if direction == "ingress" else "to"
    return [
        (p, {port["port"] for port in rule["ports"]})
        for rule in policy["spec"][direction]
        for p in rule[peer]
    ]


INSTANCES = {
    "podSelector": {
        "matchLabels": {
            "app.kubernetes.io/name": "timescaledb",
            "app.kubernetes.io/part-of": "fundledger",
        }
    }
}
OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
}


@pytest.mark.parametrize("variant", PROD)
def test_the_instances_policy_lets_the_cluster_work(variant: str) -> None:
    resources = resources_of(variant)
    policy = of_kind(resources, "NetworkPolicy")["timescaledb"]
    assert selects(policy["spec"]["podSelector"], cluster()["spec"]["inheritedMetadata"]["labels"])
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ingress, egress = rules(policy, "ingress"), rules(policy, "egress")
    # Replication between the instances, both ways
    assert (INSTANCES, {5432, 8000}) in ingress
    assert (INSTANCES, {5432, 8000}) in egress
    # The operator reaches the instance manager (8000) and PostgreSQL (5432)
    assert (OPERATOR, {8000, 5432}) in ingress
    # The services and the roles Job still reach 5432
    (services,) = [p for p, ports in ingress if "matchExpressions" in p.get("podSelector", {})]
    (expr,) = services["podSelector"]["matchExpressions"]
    assert set(expr["values"]) == {
        "event-store",
        "projector",
        "snapshotter",
        "storage",
        "timescaledb-roles",
    }
    # Out of the namespace: the object store (443) and the API server (443/6443) only
    outside = [ports for p, ports in egress if "ipBlock" in p]
    assert set().union(*outside) == {443, 6443}
    assert all(set(p) <= {"podSelector", "ipBlock"} for p, _ in egress)
