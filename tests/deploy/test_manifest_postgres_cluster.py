"""The prod database as a CloudNativePG Cluster (deploy/k8s/overlays/prod/postgres-cluster.yaml):
the fields this deployment relies on. kubernetes-validate knows only built-in kinds, so these
operator resources are checked field by field (docs/operations.md, sections 2 and 6)."""

from __future__ import annotations

from tests.deploy.manifest_support import K8S, Resource, load_yaml, of_kind

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
