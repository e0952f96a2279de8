"""The rule files and the dashboard: PromQL that parses and names exported metrics, the alerts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import promql_parser
import pytest
import yaml
from fundledger_platform.interceptors import HANDLING_SECONDS_BUCKETS
from prometheus_client import REGISTRY

from tests.deploy.observability_support import (
    OBSERVABILITY,
    ROOT,
    RULES,
    Rule,
    alerts,
    defined_metrics,
    load_rules,
)
from tests.load.gates import load_gates
from tests.load.operations import OPERATION_OF_METHOD

PROMETHEUS_RULE = OBSERVABILITY / "prometheus-rule.yaml"
SCRAPE_CONFIG = OBSERVABILITY / "scrape-config.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"

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
    # kubernetes-validate cannot check CRDs (tests/deploy/test_manifest_schema.py).
    for kustomization in (ROOT / "deploy" / "k8s").rglob("kustomization.yaml"):
        assert "observability" not in kustomization.read_text(), kustomization
