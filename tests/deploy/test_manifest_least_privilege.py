"""Least privilege in the manifests: each service holds only its own database, NATS and (storage
only) S3 credentials, and the roles and users those credentials name grant only its job."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from fundledger_devstack.access import ACCESS, BUS_SUBJECT_PREFIX
from fundledger_devstack.nats import find_nats_server

from tests.deploy.k8s_access import (
    bus_services,
    database_services,
    db_secret,
    nats_auth_conf,
    nats_password_env,
    nats_secret,
    parse_nats_auth,
    role_password_env,
    roles_of,
    roles_sql,
)
from tests.deploy.manifest_support import (
    Resource,
    containers,
    of_kind,
    pod_spec,
    server,
)

S3_SETTINGS = {"FUNDLEDGER_S3_ENDPOINT", "FUNDLEDGER_S3_ACCESS_KEY", "FUNDLEDGER_S3_SECRET_KEY"}


def secret_refs(container: Resource) -> dict[str, tuple[str, str]]:
    """env name -> (Secret, key) of every secretKeyRef of a container."""
    refs = {}
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            refs[env["name"]] = (ref["name"], ref["key"])
    assert not any("secretRef" in source for source in container.get("envFrom", []))
    return refs


def migrate(deployment: Resource) -> Resource | None:
    found = [c for c in pod_spec(deployment).get("initContainers", []) if c["name"] == "migrate"]
    return found[0] if found else None


def workloads(manifests: tuple[Resource, ...]) -> dict[str, Resource]:
    return {
        **of_kind(manifests, "Deployment"),
        **of_kind(manifests, "StatefulSet"),
        **of_kind(manifests, "Job"),
    }


def config_value(manifests: tuple[Resource, ...], container: Resource, name: str) -> str | None:
    maps = of_kind(manifests, "ConfigMap")
    value = None
    for source in container.get("envFrom", []):  # later sources win, as in Kubernetes
        value = maps[source["configMapRef"]["name"]]["data"].get(name, value)
    return value


# --------------------------------------------------------------------------- PostgreSQL


def test_migrations_log_in_as_the_owner_and_servers_as_the_service(
    manifests: tuple[Resource, ...],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    assert set(deployments) == set(ACCESS)
    for name, deployment in deployments.items():
        serving = secret_refs(server(deployment))
        init = migrate(deployment)
        if ACCESS[name].schema is None:
            # allocation keeps no database: no URL at all, in neither container
            assert "FUNDLEDGER_DATABASE_URL" not in serving, name
            assert init is None or "FUNDLEDGER_DATABASE_URL" not in secret_refs(init), name
            continue
        assert init is not None, name
        assert secret_refs(init)["FUNDLEDGER_DATABASE_URL"] == (db_secret(name, owner=True), "url")
        assert serving["FUNDLEDGER_DATABASE_URL"] == (db_secret(name, owner=False), "url")


def test_no_server_references_an_owner_secret(manifests: tuple[Resource, ...]) -> None:
    owner_secrets = {db_secret(name, owner=True) for name in database_services()}
    for name, deployment in of_kind(manifests, "Deployment").items():
        for env, (secret, _) in secret_refs(server(deployment)).items():
            assert secret not in owner_secrets, f"{name} server reads {secret} ({env})"
            assert not secret.endswith("-owner"), f"{name} server reads {secret} ({env})"
        init = migrate(deployment)
        if init is not None and ACCESS[name].schema is not None:
            assert {s for s, _ in secret_refs(init).values()} == {db_secret(name, owner=True)}


def test_no_pod_holds_another_services_credentials(manifests: tuple[Resource, ...]) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        for container in containers(deployment):
            for env, (secret, _) in secret_refs(container).items():
                owner = secret.removesuffix("-tls")
                for other in ACCESS:
                    if other != name and secret.startswith(f"{other}-"):
                        raise AssertionError(f"{name}/{container['name']}: {env} from {owner}")


def test_the_roles_job_creates_every_role_with_its_secrets_password(
    manifests: tuple[Resource, ...],
) -> None:
    job = of_kind(manifests, "Job")["timescaledb-roles"]
    (container,) = pod_spec(job)["containers"]
    refs = secret_refs(container)
    assert refs.pop("PGPASSWORD") == ("fundledger-postgres", "password")
    wanted = {}
    for name, access in database_services().items():
        owner, service = roles_of(access)
        wanted[role_password_env(owner)] = (db_secret(name, owner=True), "password")
        wanted[role_password_env(service)] = (db_secret(name, owner=False), "password")
    assert refs == wanted
    sql = of_kind(manifests, "ConfigMap")["timescaledb-roles"]["data"]["roles.sql"]
    assert set(re.findall(r"^\\getenv \w+ (\w+)$", sql, re.M)) == set(wanted)
    assert "-f" in container["command"]
    assert "ON_ERROR_STOP=1" in container["command"]
    # Its psql knows \getenv (PostgreSQL 15+) and is the database's own major version
    clusters = of_kind(manifests, "Cluster")
    if clusters:  # prod: CloudNativePG, its image tagged <major>-<timescaledb version>
        (cluster,) = clusters.values()
        major = cluster["spec"]["imageName"].rsplit(":", 1)[1].split("-")[0]
        assert re.fullmatch(r".*-pg(\d+)", container["image"].rsplit(":", 1)[1]), container
        assert container["image"].endswith(f"-pg{major}"), (container["image"], major)
        assert int(major) >= 15
    else:
        db = of_kind(manifests, "StatefulSet")["timescaledb"]
        (database,) = pod_spec(db)["containers"]
        assert container["image"] == database["image"]


def test_the_roles_sql_is_the_dev_stacks(manifests: tuple[Resource, ...]) -> None:
    sql = of_kind(manifests, "ConfigMap")["timescaledb-roles"]["data"]["roles.sql"]
    assert sql == roles_sql(), "run .venv/bin/python -m tests.deploy.k8s_access"
    # No role but the owners may create, and no plaintext or verifier is in the text.
    assert "SUPERUSER" not in sql.replace("NOSUPERUSER", "")
    assert "PASSWORD '" not in sql
    for access in database_services().values():
        owner, service = roles_of(access)
        assert f"GRANT USAGE ON SCHEMA {access.schema} TO {service};" in sql
        assert (f"GRANT {owner} TO {service};" in sql) == access.runtime_ddl


# --------------------------------------------------------------------------- S3


def test_only_storage_has_s3_keys(manifests: tuple[Resource, ...]) -> None:
    holders = set()
    for name, workload in workloads(manifests).items():
        for container in containers(workload):
            names = {e["name"] for e in container.get("env", [])}
            secrets = {s for s, _ in secret_refs(container).values()}
            if names & S3_SETTINGS or "fundledger-s3" in secrets:
                holders.add((name, container["name"]))
    assert holders == {("storage", "server")}
    for data in (m["data"] for m in of_kind(manifests, "ConfigMap").values()):
        assert not set(data) & S3_SETTINGS


# --------------------------------------------------------------------------- NATS


def users(manifests: tuple[Resource, ...]) -> dict[str, dict[str, Any]]:
    conf = of_kind(manifests, "ConfigMap")["nats-config"]["data"]
    assert re.search(r"^include \./auth\.conf$", conf["nats.conf"], re.M)
    assert "no_auth_user" not in conf["nats.conf"] + conf["auth.conf"]
    parsed = parse_nats_auth(conf["auth.conf"])
    found = parsed["authorization"]["users"]
    return {u["user"]: u for u in found}


def intersects(pattern: str, subject: str) -> bool:
    """Whether two NATS subjects with wildcards (`*` a token, `>` the rest) share a subject."""
    left, right = pattern.split("."), subject.split(".")
    for i in range(max(len(left), len(right))):
        if i >= len(left) or i >= len(right):
            return False  # one ended without a `>` covering the rest of the other
        a, b = left[i], right[i]
        if ">" in (a, b):
            return True
        if a != b and "*" not in (a, b):
            return False
    return True


def test_subject_intersection() -> None:
    assert intersects("fundledger.events.>", "fundledger.events.>")
    assert intersects(">", "fundledger.events.>")
    assert intersects("fundledger.*.fund", "fundledger.events.>")
    assert intersects("fundledger.events.fund.1", "fundledger.events.>")
    assert not intersects("fundledger.events", "fundledger.events.>")
    assert not intersects("$JS.API.CONSUMER.INFO.X.p", "fundledger.events.>")
    assert not intersects("fundledger.event.>", "fundledger.events.>")


def test_only_the_event_store_may_publish_events(manifests: tuple[Resource, ...]) -> None:
    events = f"{BUS_SUBJECT_PREFIX}.>"
    publishers = set()
    for name, user in users(manifests).items():
        allow = user["permissions"]["publish"]["allow"]
        if any(intersects(subject, events) for subject in allow):
            publishers.add(name)
        # and none may read the event subjects directly, or someone else's inbox
        for subject in user["permissions"]["subscribe"]["allow"]:
            assert not intersects(subject, events), name
            assert subject == f"_INBOX_{name}.>", name
    assert publishers == {"event_store"}


def test_every_bus_service_has_its_own_user_password_and_inbox(
    manifests: tuple[Resource, ...],
) -> None:
    found = users(manifests)
    grants = bus_services()
    assert set(found) == {g.user for g in grants.values()}
    nats = of_kind(manifests, "StatefulSet")["nats"]
    (container,) = pod_spec(nats)["containers"]
    nats_env = secret_refs(container)
    for name, deployment in of_kind(manifests, "Deployment").items():
        serving = server(deployment)
        refs = secret_refs(serving)
        url = config_value(manifests, serving, "FUNDLEDGER_NATS_URL")
        assert url is None, f"{name}: a NATS URL without credentials in a ConfigMap"
        if name not in grants:
            assert "FUNDLEDGER_NATS_URL" not in refs, name
            assert config_value(manifests, serving, "FUNDLEDGER_NATS_INBOX_PREFIX") is None
            continue
        grant = grants[name]
        assert refs["FUNDLEDGER_NATS_URL"] == (nats_secret(name), "url"), name
        prefix = config_value(manifests, serving, "FUNDLEDGER_NATS_INBOX_PREFIX")
        assert prefix == grant.inbox_prefix == f"_INBOX_{grant.user}", name
        user = found[grant.user]
        assert user["password"] == f"${nats_password_env(grant.user)}"
        assert nats_env[nats_password_env(grant.user)] == (nats_secret(name), "password")
        init = migrate(deployment)
        assert init is None or "FUNDLEDGER_NATS_URL" not in secret_refs(init), name
    # Every variable auth.conf names is in the NATS pod's environment, and nothing else.
    assert {str(u["password"]).removeprefix("$") for u in found.values()} == set(nats_env)


def test_the_nats_users_are_the_dev_stacks(manifests: tuple[Resource, ...]) -> None:
    conf = of_kind(manifests, "ConfigMap")["nats-config"]["data"]["auth.conf"]
    assert conf == nats_auth_conf(), "run .venv/bin/python -m tests.deploy.k8s_access"
    for grant in bus_services().values():
        user = users(manifests)[grant.user]
        assert user["permissions"] == {  # the same permissions as the local stack's
            "publish": {"allow": list(grant.publish)},
            "subscribe": {"allow": list(grant.subscribe)},
        }


def test_nats_server_accepts_the_config_and_needs_every_password(
    manifests: tuple[Resource, ...], tmp_path: Path
) -> None:
    """The real nats-server parses the ConfigMap's nats.conf and the auth.conf it includes,
    substituting the passwords from its environment, and refuses it when one is missing."""
    for name, text in of_kind(manifests, "ConfigMap")["nats-config"]["data"].items():
        (tmp_path / name).write_text(text)
    conf = tmp_path / "nats.conf"
    passwords = {nats_password_env(g.user): f"pw-{g.user}" for g in bus_services().values()}

    def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [find_nats_server(), "-c", str(conf), "-t"],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin", **env},
            check=False,
        )

    done = check(passwords)
    assert done.returncode == 0, done.stderr
    missing = dict(passwords)
    missing.pop(nats_password_env("projector"))
    done = check(missing)
    assert done.returncode != 0
    assert nats_password_env("projector") in done.stderr
