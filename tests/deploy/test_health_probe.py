"""The Deployments' exec probe against a real server with TLS (and mutual TLS) on.

The kubelet's native grpc probe speaks plaintext, so with TLS on the manifests run
`python -m fundledger_platform.health_probe` in the container instead. These tests run that
exact command, as the manifests write it, against a server built the way every service is
(build_server: TLS, authentication, authorization), with a certificate that carries only the
Service's DNS name, as the cert-manager Certificates do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from fundledger_devstack.local_ca import ensure_ca, issue_server_cert
from fundledger_platform.server import ServiceServer, build_server
from fundledger_platform.settings import TlsSettings
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.deploy.manifest_support import SERVICES, base_resources, of_kind, server
from tests.support.secure import SecureEnv
from tests.support.server_settings import loopback_server_settings

NAME = "projector"
PROTO_SERVICE = SERVICES[NAME][3]
PROBE_TIMEOUT = 20.0  # a bound on a hung probe, not a timing assertion


@dataclass
class Readiness:
    ready: bool = True

    async def __call__(self) -> bool:
        return self.ready


@dataclass
class Running:
    server: ServiceServer
    readiness: Readiness
    tls_dir: Path
    mutual: bool


def probe_commands() -> list[list[str]]:
    """Every probe command of the base's projector container, as the kubelet would run it."""
    container = server(of_kind(base_resources(), "Deployment")[NAME])
    return [
        container[probe]["exec"]["command"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    ]


async def run_probe(command: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    assert command[0] == "python"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command[1:],
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT)
    assert process.returncode is not None
    return process.returncode, output.decode().strip()


def container_env(running: Running, *, client_cert: bool = True) -> dict[str, str]:
    """The TLS settings the manifests give the server container (files under tls_dir)."""
    tls = running.tls_dir
    env = {
        "FUNDLEDGER_GRPC_PORT": str(running.server.port),
        "FUNDLEDGER_TLS_CERT_FILE": str(tls / "tls.crt"),
        "FUNDLEDGER_TLS_KEY_FILE": str(tls / "tls.key"),
        "FUNDLEDGER_TLS_CA_FILE": str(tls / "ca.crt"),
    }
    if running.mutual:
        env["FUNDLEDGER_TLS_CLIENT_CA_FILE"] = str(tls / "ca.crt")
        env["FUNDLEDGER_TLS_REQUIRE_CLIENT_CERT"] = "true"
        if client_cert:
            env["FUNDLEDGER_TLS_CLIENT_CERT_FILE"] = str(tls / "tls.crt")
            env["FUNDLEDGER_TLS_CLIENT_KEY_FILE"] = str(tls / "tls.key")
    return env


@contextlib.asynccontextmanager
async def serving(
    secure_env: SecureEnv, directory: Path, *, mutual: bool
) -> AsyncIterator[Running]:
    """A server built like every service (TLS, authentication, the policy), its certificate
    in a cert-manager-like Secret directory and naming only the Service."""
    ensure_ca(directory)
    issued = issue_server_cert(directory, [NAME, f"{NAME}.fundledger.svc"], stem="tls")
    assert issued.cert == directory / "tls.crt"
    secure = secure_env.server_settings(loopback_server_settings(NAME))
    tls = TlsSettings(
        cert_file=directory / "tls.crt",
        key_file=directory / "tls.key",
        ca_file=directory / "ca.crt",
        client_ca_file=directory / "ca.crt" if mutual else None,
        require_client_cert=mutual,
    )
    readiness = Readiness()
    service = build_server(
        replace(secure, tls=tls),
        register=lambda _server: None,
        service_names=[PROTO_SERVICE],
        readiness=readiness,
        readiness_interval_seconds=0.1,
    )
    await service.start()
    try:
        yield Running(service, readiness, directory, mutual)
    finally:
        await service.stop(0)


@pytest.fixture(params=[False, True], ids=["tls", "mtls"])
async def running(
    request: pytest.FixtureRequest, secure_env: SecureEnv, tmp_path: Path
) -> AsyncIterator[Running]:
    async with serving(secure_env, tmp_path, mutual=request.param) as started:
        yield started


@pytest.fixture
async def running_mtls(secure_env: SecureEnv, tmp_path: Path) -> AsyncIterator[Running]:
    async with serving(secure_env, tmp_path, mutual=True) as started:
        yield started


async def wait_for(running: Running, status: int) -> None:
    """Until the server's own health answers ``status`` for the service (bounded)."""
    tls = running.tls_dir
    credentials = grpc.ssl_channel_credentials(
        (tls / "ca.crt").read_bytes(),
        (tls / "tls.key").read_bytes(),
        (tls / "tls.crt").read_bytes(),
    )
    options = [("grpc.ssl_target_name_override", NAME)]
    async with grpc.aio.secure_channel(running.server.address, credentials, options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(200):
            request = health_pb2.HealthCheckRequest(service=PROTO_SERVICE)
            reply = await stub.Check(request, timeout=5)
            if reply.status == status:
                return
            await asyncio.sleep(0.05)
    pytest.fail(f"health never became {status}")


async def test_the_manifests_probe_passes_over_tls(running: Running) -> None:
    await wait_for(running, health_pb2.HealthCheckResponse.SERVING)
    for command in probe_commands():
        code, output = await run_probe(command, container_env(running))
        assert (code, output) == (0, "SERVING"), command


async def test_the_readiness_probe_fails_while_not_ready(running: Running) -> None:
    running.readiness.ready = False
    await wait_for(running, health_pb2.HealthCheckResponse.NOT_SERVING)
    *_, readiness = probe_commands()
    code, output = await run_probe(readiness, container_env(running))
    assert (code, output) == (1, "NOT_SERVING")
    running.readiness.ready = True
    await wait_for(running, health_pb2.HealthCheckResponse.SERVING)
    assert (await run_probe(readiness, container_env(running)))[0] == 0


async def test_a_plaintext_probe_cannot_reach_a_tls_server(running: Running) -> None:
    """What the kubelet's native grpc probe would do: why the manifests do not use it."""
    env = container_env(running)
    env["FUNDLEDGER_TLS_CA_FILE"] = ""
    env.pop("FUNDLEDGER_TLS_CLIENT_CERT_FILE", None)
    env.pop("FUNDLEDGER_TLS_CLIENT_KEY_FILE", None)
    *_, readiness = probe_commands()
    code, output = await run_probe(readiness, env)
    assert code == 1
    assert output == "error: UNAVAILABLE"


async def test_the_certificate_name_is_checked(running: Running) -> None:
    *_, readiness = probe_commands()
    wrong = list(readiness)
    wrong[wrong.index("--authority") + 1] = "allocation"
    code, output = await run_probe(wrong, container_env(running))
    assert code == 1
    assert output == "error: UNAVAILABLE"


async def test_mutual_tls_needs_the_client_certificate(running_mtls: Running) -> None:
    await wait_for(running_mtls, health_pb2.HealthCheckResponse.SERVING)
    *_, readiness = probe_commands()
    code, output = await run_probe(readiness, container_env(running_mtls, client_cert=False))
    assert code == 1
    assert output == "error: UNAVAILABLE"
    assert await run_probe(readiness, container_env(running_mtls)) == (0, "SERVING")
