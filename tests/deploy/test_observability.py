"""Checks of the monitoring files (deploy/observability) against the code and docs/metrics.md.

- the rule files and the dashboard parse, and every PromQL expression in them
  parses (promql_parser) and names only metrics a service exports (or `up`);
- every alert has a severity, a summary and a `for`; each latency alert's
  threshold equals its load-test gate (tests/load/gates.toml); the
  PrometheusRule holds the same rules as the rule file;
- docs/metrics.md lists exactly the metrics the services define, with their
  type and labels, so the docs cannot drift;
- a running server serves every documented family on its scrape endpoint, its
  health gauge follows readiness, and a real event store times its appends.

All offline except the last test, which uses the in-process event store
(PostgreSQL and NATS started by the devstack pytest plugin).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import promql_parser
import pytest
import yaml
from fundledger_platform.echo import ECHO_METHOD, ECHO_SERVICE, register_echo
from fundledger_platform.interceptors import HANDLING_SECONDS_BUCKETS
from fundledger_platform.server import build_server
from fundledger_platform.settings import ServerSettings
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from tests.load.gates import load_gates
from tests.load.operations import OPERATION_OF_METHOD

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "prometheus-rules.yaml"
PROMETHEUS_RULE = OBSERVABILITY / "prometheus-rule.yaml"
SCRAPE_CONFIG = OBSERVABILITY / "scrape-config.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"

# Where the metrics are defined: each service's metrics module and the platform
# modules every server records with.
METRIC_MODULES = (
    "fundledger_platform.interceptors",
    "fundledger_platform.health",
    "eventstore.metrics",
    "projector.metrics",
    "snapshotter.metrics",
    "allocation.metrics",
    "storage.metrics",
)
# Series Prometheus makes itself, not any service.
PROMETHEUS_OWN = {"up"}
# Grafana's built-in variables, replaced by a sample value before parsing.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}

# RPCs with a load-test gate (tests/load/gates.toml) but no server-side alert, and why.
UNALERTED_GATES = {
    "/fundledger.storage.v1.StorageService/UploadFile": "server time grows with the file size;"
    " the gate is for 4 KiB files",
}
HANDLING_BUCKET = "fundledger_grpc_server_handling_seconds_bucket"

Rule = dict[str, Any]


# --------------------------------------------------------------------------- what the code exports


@dataclass(frozen=True)
class MetricDef:
    name: str  # as exported: counters with _total
    kind: str  # counter, gauge, histogram
    labels: tuple[str, ...]


def _metrics_of(module: ModuleType) -> Iterator[MetricDef]:
    for value in vars(module).values():
        if isinstance(value, MetricWrapperBase):
            # prometheus_client keeps the definition in these attributes; a
            # public describe() would lose the label names of unused metrics.
            kind = value._type
            name = value._name + ("_total" if kind == "counter" else "")
            yield MetricDef(name, kind, tuple(value._labelnames))


def defined_metrics() -> dict[str, MetricDef]:
    found: dict[str, MetricDef] = {}
    for module_name in METRIC_MODULES:
        for metric in _metrics_of(importlib.import_module(module_name)):
            assert metric.name not in found, f"{metric.name} defined twice"
            found[metric.name] = metric
    return found


def exported_series_names() -> set[str]:
    """Every series name the processes can export: definitions expanded, plus the registry's."""
    names = set(PROMETHEUS_OWN)
    for metric in defined_metrics().values():
        base = metric.name.removesuffix("_total")
        if metric.kind == "histogram":
            names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
        else:
            names.add(metric.name)
    # Default collectors (process_*, python_*) are exported too.
    for family in REGISTRY.collect():
        names |= {sample.name for sample in family.samples}
    return names


# --------------------------------------------------------------------------- the files


def load_rules(path: Path = RULES) -> list[Rule]:
    document = yaml.safe_load(path.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[Rule]:
    return [rule for rule in load_rules() if "alert" in rule]


def dashboard_targets() -> list[tuple[str, str]]:
    """(panel title, expr) for every query of every panel, rows included."""

    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels", []))

    return list(walk(json.loads(DASHBOARD.read_text())["panels"]))


def parse_promql(expr: str) -> promql_parser.Expr:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown template variable in {expr!r}"
    return promql_parser.parse(expr)


def selectors(expr: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)
        return True

    promql_parser.walk(expr, visit)
    return found


def matcher_values(selector: promql_parser.VectorSelector) -> dict[str, str]:
    return {m.name: m.value for m in selector.matchers.matchers}


def documented_metrics() -> dict[str, MetricDef]:
    """The rows of docs/metrics.md's tables: | `name` | type | labels | meaning | used by |."""
    row = re.compile(r"^\|\s*`(fundledger_\w+)`\s*\|\s*(\w+)\s*\|\s*([^|]*)\|", re.M)
    found: dict[str, MetricDef] = {}
    for name, kind, labels in row.findall(METRICS_DOC.read_text()):
        assert name not in found, f"{name} documented twice"
        label_names = tuple(x.strip() for x in labels.split(",") if x.strip() not in ("", "–"))
        found[name] = MetricDef(name, kind, label_names)
    return found


# --------------------------------------------------------------------------- tests: parsing


def test_files_parse() -> None:
    assert alerts()
    assert dashboard_targets()
    scrape = yaml.safe_load(SCRAPE_CONFIG.read_text())
    assert [job["job_name"] for job in scrape["scrape_configs"]] == ["fundledger"]


def test_every_expression_parses_and_names_only_exported_metrics() -> None:
    exported = exported_series_names()
    expressions = [(rule.get("alert") or rule["record"], rule["expr"]) for rule in load_rules()]
    expressions += dashboard_targets()
    referenced: set[str] = set()
    for where, expr in expressions:
        try:
            tree = parse_promql(expr)
        except Exception as err:  # promql_parser raises plain ValueError/RuntimeError
            pytest.fail(f"{where}: {expr!r} does not parse: {err}")
        names = [s.name for s in selectors(tree)]
        assert names, f"{where}: no metric in {expr!r}"
        for name in names:
            assert name, f"{where}: selector without a metric name in {expr!r}"
            assert name in exported, f"{where}: {name} is not exported by any service"
            referenced.add(name)
    # The rules and the dashboard between them watch every service.
    for prefix in ("eventstore", "projector", "snapshotter", "allocation", "storage"):
        assert any(n.startswith(f"fundledger_{prefix}_") for n in referenced), prefix
    assert "fundledger_health_serving" in referenced
    assert "up" in referenced


def test_dashboard_shape() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", panel["title"]


# --------------------------------------------------------------------------- tests: the alerts


def test_every_alert_has_severity_summary_for_and_a_hint() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), f"{name}: for {rule.get('for')!r}"
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"].get(annotation), f"{name}: no {annotation}"


def latency_gates_ms() -> dict[str, float]:
    """Full method -> the load test's p95 gate (ms), for every gated RPC that has an alert."""
    gates = load_gates().operations
    assert set(gates) <= set(OPERATION_OF_METHOD.values()), "a gate for an unknown operation"
    return {
        method: gates[operation].p95_ms
        for method, operation in OPERATION_OF_METHOD.items()
        if operation in gates and method not in UNALERTED_GATES
    }


def latency_thresholds() -> dict[str, float]:
    """Full method -> the threshold (seconds) an alert compares its p95 with."""
    found: dict[str, float] = {}
    for rule in alerts():

        def visit(node: Any, rule: Rule = rule) -> bool:
            if not (isinstance(node, promql_parser.BinaryExpr) and str(node.op) == ">"):
                return True
            lhs = node.lhs
            if not (isinstance(lhs, promql_parser.Call) and lhs.func.name == "histogram_quantile"):
                return True
            for selector in selectors(lhs):
                labels = matcher_values(selector)
                if selector.name != HANDLING_BUCKET or "method" not in labels:
                    continue
                if not re.fullmatch(r"\w+", labels["method"]):
                    continue  # a regex over several methods: the catch-all
                method = f"/{labels['service']}/{labels['method']}"
                assert method not in found, f"two latency alerts for {method}"
                assert isinstance(lhs.args[0], promql_parser.NumberLiteral)
                assert lhs.args[0].val == 0.95, f"{rule['alert']}: not a p95"
                assert isinstance(node.rhs, promql_parser.NumberLiteral), rule["alert"]
                found[method] = node.rhs.val
            return True

        promql_parser.walk(parse_promql(rule["expr"]), visit)
    return found


def test_latency_alerts_use_the_load_test_gates() -> None:
    gates = latency_gates_ms()
    # Issue 5's four gates are among them.
    by_rpc = {method.rsplit("/", 1)[1]: gate for method, gate in gates.items()}
    issue = {"GetFundState": 50, "GetFundStateAt": 200, "GetTimeline": 100, "CreateSnapshot": 500}
    assert {rpc: by_rpc.get(rpc) for rpc in issue} == issue
    thresholds = latency_thresholds()
    assert set(thresholds) == set(gates), "one p95 alert per gated RPC, and no other"
    for method, gate_ms in gates.items():
        assert thresholds[method] * 1000 == pytest.approx(gate_ms), method
    # Each gate is a bucket bound of the histogram, so the comparison is exact.
    for gate_ms in gates.values():
        assert gate_ms / 1000 in HANDLING_SECONDS_BUCKETS, gate_ms


def test_prometheus_rule_resource_holds_the_same_rules() -> None:
    (resource,) = [d for d in yaml.safe_load_all(PROMETHEUS_RULE.read_text()) if d]
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_observability_files_stay_out_of_the_kustomization() -> None:
    # kubernetes-validate cannot check CRDs (tests/deploy/test_manifests.py).
    for kustomization in (ROOT / "deploy" / "k8s").rglob("kustomization.yaml"):
        assert "observability" not in kustomization.read_text(), kustomization


# --------------------------------------------------------------------------- tests: the docs


def test_docs_list_exactly_the_defined_metrics() -> None:
    defined = defined_metrics()
    documented = documented_metrics()
    assert sorted(documented) == sorted(defined)
    for name, metric in defined.items():
        assert documented[name] == metric, name


def test_docs_list_every_alert() -> None:
    documented = re.findall(r"^\| (FundLedger\w+) \|", METRICS_DOC.read_text(), re.M)
    assert sorted(documented) == sorted(rule["alert"] for rule in alerts())


def test_no_unbounded_labels() -> None:
    forbidden = {"fund_id", "fund", "stream_id", "stream", "file_id", "user_id", "event_id"}
    for metric in defined_metrics().values():
        assert not forbidden & set(metric.labels), metric


# --------------------------------------------------------------------------- tests: live


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def _health(service: str) -> float | None:
    return REGISTRY.get_sample_value("fundledger_health_serving", {"service": service})


async def _eventually(check: Any, wanted: Any) -> None:
    for _ in range(200):
        if check() == wanted:
            return
        await asyncio.sleep(0.02)
    assert check() == wanted


async def test_a_running_server_serves_every_documented_family() -> None:
    for module_name in METRIC_MODULES:
        importlib.import_module(module_name)
    ready = {"value": False}

    async def readiness() -> bool:
        return ready["value"]

    settings = ServerSettings(
        service_name="observability-probe",
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        log_level="WARNING",
        otlp_endpoint=None,
        shutdown_grace_seconds=1.0,
    )
    server = build_server(
        settings,
        register=register_echo,
        service_names=[ECHO_SERVICE],
        readiness=readiness,
        readiness_interval_seconds=0.05,
    )
    await server.start()
    try:
        assert _health(ECHO_SERVICE) == 0  # not ready from the first check
        ready["value"] = True
        await _eventually(lambda: _health(ECHO_SERVICE), 1)
        async with grpc.aio.insecure_channel(server.address) as channel:
            echo = channel.unary_unary(ECHO_METHOD)
            assert await echo(b"hi", timeout=5) == b"hi"
        assert server.metrics_port is not None
        text = await asyncio.to_thread(_scrape, server.metrics_port)
    finally:
        await server.stop(1.0)
    assert _health(ECHO_SERVICE) == 0  # shutting down

    families = {f.name: f.type for f in text_string_to_metric_families(text)}
    for name, metric in documented_metrics().items():
        family = name.removesuffix("_total") if metric.kind == "counter" else name
        assert families.get(family) == metric.kind, f"{name} not served as a {metric.kind}"
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    ok = (("code", "OK"), ("method", "Echo"), ("service", ECHO_SERVICE))
    assert samples[("fundledger_grpc_server_handled_total", ok)] >= 1
    assert samples[("fundledger_health_serving", (("service", ECHO_SERVICE),))] == 1


async def test_the_event_store_times_appends_and_reports_health(event_store: Any) -> None:
    from fundledger.eventstore.v1 import events_pb2, eventstore_pb2, eventstore_pb2_grpc

    service = "fundledger.eventstore.v1.EventStoreService"

    def count(name: str, labels: dict[str, str] | None = None) -> float:
        return REGISTRY.get_sample_value(name, labels or {}) or 0.0

    appends = count("fundledger_eventstore_append_seconds_count")
    calls = count(
        "fundledger_grpc_server_handling_seconds_count",
        {"service": service, "method": "AppendToStream"},
    )
    assert _health(service) == 1
    async with grpc.aio.insecure_channel(event_store.server.address) as channel:
        stub = eventstore_pb2_grpc.EventStoreServiceStub(channel)
        request = eventstore_pb2.AppendToStreamRequest(
            stream_id=f"fund-{uuid.uuid4()}",
            events=[events_pb2.EventData(event_type="NOTE_ADDED", data=b'{"n": 1}')],
        )
        await stub.AppendToStream(request, timeout=10)
    assert count("fundledger_eventstore_append_seconds_count") == appends + 1
    assert count("fundledger_eventstore_append_seconds_sum") > 0
    handled = count(
        "fundledger_grpc_server_handling_seconds_count",
        {"service": service, "method": "AppendToStream"},
    )
    assert handled == calls + 1
