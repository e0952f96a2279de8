"""docs/metrics.md against the defined metrics, and live servers serving every documented one."""

from __future__ import annotations

import asyncio
import importlib
import re
import urllib.request
import uuid
from typing import Any

import grpc
from fundledger_platform.server import build_server
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.observability_support import (
    METRIC_MODULES,
    ROOT,
    MetricDef,
    alerts,
    defined_metrics,
)
from tests.support.echo import ECHO_METHOD, ECHO_SERVICE, register_echo
from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings

METRICS_DOC = ROOT / "docs" / "metrics.md"


def documented_metrics() -> dict[str, MetricDef]:
    """The rows of docs/metrics.md's tables: | `name` | type | labels | meaning | used by |."""
    row = re.compile(r"^\|\s*`(fundledger_\w+)`\s*\|\s*(\w+)\s*\|\s*([^|]*)\|", re.M)
    found: dict[str, MetricDef] = {}
    for name, kind, labels in row.findall(METRICS_DOC.read_text()):
        assert name not in found, f"{name} documented twice"
        label_names = tuple(x.strip() for x in labels.split(",") if x.strip() not in ("", "–"))
        found[name] = MetricDef(name, kind, label_names)
    return found


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

# An echo server built here, and the in-process event store (PostgreSQL and NATS
# started by the devstack pytest plugin); every other deploy test is offline.


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

    settings = loopback_server_settings(
        "observability-probe", metrics_port=0, shutdown_grace_seconds=1.0
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


async def test_the_event_store_times_appends_and_reports_health(
    event_store: Any, secure_env: SecureEnv
) -> None:
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
    # The event store of the tests is secure (TLS, tokens, the policy): an admin appends.
    async with secure_env.channel(event_store.server.address) as channel:
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
