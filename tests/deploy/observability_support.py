"""What the services define as metrics, and the alert rules: shared by the observability tests."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from prometheus_client.metrics import MetricWrapperBase

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "prometheus-rules.yaml"

# Where the metrics are defined: each service's metrics module and the platform
# modules every server records with.
METRIC_MODULES = (
    "fundledger_platform.interceptors",
    "fundledger_platform.health",
    "fundledger_platform.consumer",
    "fundledger_platform.auth.denials",
    "eventstore.metrics",
    "projector.metrics",
    "snapshotter.metrics",
    "allocation.metrics",
    "storage.metrics",
)

Rule = dict[str, Any]


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


def load_rules(path: Path = RULES) -> list[Rule]:
    document = yaml.safe_load(path.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alerts() -> list[Rule]:
    return [rule for rule in load_rules() if "alert" in rule]
