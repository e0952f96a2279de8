"""The prod overlay's highly available bus: three NATS servers in one JetStream cluster and
the event stream on all three (docs/operations.md, section 6)."""

from __future__ import annotations

import re

import pytest

from tests.deploy.manifest_support import Resource, of_kind, pod_spec, resources_of

PROD = ["merged:prod", "kustomize:overlays/prod"]
ROUTE_PORT = 6222


def nats_conf(resources: tuple[Resource, ...]) -> str:
    conf: str = of_kind(resources, "ConfigMap")["nats-config"]["data"]["nats.conf"]
    return conf


@pytest.mark.parametrize("variant", PROD)
def test_nats_is_a_three_server_jetstream_cluster(variant: str) -> None:
    resources = resources_of(variant)
    nats = of_kind(resources, "StatefulSet")["nats"]
    replicas = nats["spec"]["replicas"]
    assert replicas == 3
    conf = nats_conf(resources)
    assert re.search(r"jetstream\s*\{[^}]*store_dir:\s*/data/", conf)
    assert "include ./auth.conf" in conf
    cluster = re.search(r"cluster\s*\{(.*?)\n\}", conf, re.S)
    assert cluster, "no cluster block"
    assert re.search(rf"port:\s*{ROUTE_PORT}\b", cluster.group(1))
    routes = set(re.findall(r"nats://([\w.-]+):(\d+)", cluster.group(1)))
    headless = nats["spec"]["serviceName"]
    assert routes == {(f"nats-{i}.{headless}", str(ROUTE_PORT)) for i in range(replicas)}
    (server,) = pod_spec(nats)["containers"]
    # JetStream's Raft needs a unique, stable server name: the pod's
    assert server["args"][-2:] == ["--name", "$(POD_NAME)"]
    env = {e["name"]: e for e in server["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert ROUTE_PORT in {p["containerPort"] for p in server["ports"]}
    service_ports = {p["port"] for p in of_kind(resources, "Service")[headless]["spec"]["ports"]}
    assert ROUTE_PORT in service_ports
    anti = pod_spec(nats)["affinity"]["podAntiAffinity"]
    assert anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == (
        "kubernetes.io/hostname"
    )


@pytest.mark.parametrize("variant", PROD)
def test_only_nats_servers_reach_the_route_port(variant: str) -> None:
    policy = of_kind(resources_of(variant), "NetworkPolicy")["nats"]["spec"]
    route_rules = [
        rule
        for direction in ("ingress", "egress")
        for rule in policy[direction]
        if any(p["port"] == ROUTE_PORT for p in rule["ports"])
    ]
    assert len(route_rules) == 2
    for rule in route_rules:
        (peer,) = rule.get("from", rule.get("to"))
        assert peer == {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "nats",
                    "app.kubernetes.io/part-of": "fundledger",
                }
            }
        }


@pytest.mark.parametrize("variant", PROD)
def test_the_event_stream_is_kept_on_every_nats_server(variant: str) -> None:
    resources = resources_of(variant)
    config = of_kind(resources, "ConfigMap")["event-store-config"]["data"]
    nats = of_kind(resources, "StatefulSet")["nats"]
    assert int(config["FUNDLEDGER_BUS_STREAM_REPLICAS"]) == nats["spec"]["replicas"] == 3


@pytest.mark.parametrize("variant", ["base", "merged:dev", "kustomize:overlays/dev"])
def test_a_single_nats_server_keeps_one_stream_replica(variant: str) -> None:
    """A single server refuses more than one replica (libs/platform test_bus)."""
    resources = resources_of(variant)
    assert of_kind(resources, "StatefulSet")["nats"]["spec"]["replicas"] == 1
    config = of_kind(resources, "ConfigMap")["event-store-config"]["data"]
    assert config.get("FUNDLEDGER_BUS_STREAM_REPLICAS", "1") == "1"
