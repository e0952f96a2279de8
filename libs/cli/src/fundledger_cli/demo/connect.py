"""Finding a running stack: `<stack dir>/endpoints.json`, every service SERVING, and how to call
it: TLS trusting the stack's CA with a dev token of the demo's user (a secure stack, the
default of `make run`), or plaintext (FUNDLEDGER_STACK_SECURE=false)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from fundledger_devstack.endpoints import FILE_NAME, read_endpoints
from fundledger_devstack.health import SERVING, check_health, tls_credentials
from fundledger_devstack.security import StackSecurity
from fundledger_devstack.services import SERVICES

# gRPC would route even 127.0.0.1 through an http_proxy from the environment.
CHANNEL_OPTIONS = (("grpc.enable_http_proxy", 0),)
SERVICE_NAMES = tuple(spec.name for spec in SERVICES)
_HINT = "Start the stack with `make run` (or point FUNDLEDGER_STACK_DIR at a running one)."


class StackNotRunningError(RuntimeError):
    """No stack at the stack dir, or one of its services is not SERVING."""


def stack_endpoints(stack_dir: Path) -> dict[str, str]:
    """The endpoints of the stack in `stack_dir`; StackNotRunningError when there is none."""
    path = stack_dir / FILE_NAME
    try:
        endpoints = read_endpoints(stack_dir)
    except FileNotFoundError:
        raise StackNotRunningError(f"{path} not found: no stack is running. {_HINT}") from None
    except ValueError as err:
        raise StackNotRunningError(f"{path} is unreadable ({err}). {_HINT}") from None
    missing = [name for name in SERVICE_NAMES if name not in endpoints]
    if missing:
        raise StackNotRunningError(f"{path} names no {', '.join(missing)}. {_HINT}")
    return endpoints


def demo_channels(
    stack_dir: Path, endpoints: dict[str, str], user: str
) -> dict[str, grpc.aio.Channel]:
    """A channel to every service. A secure stack: TLS trusting its CA, every call carrying a
    dev token of `user` (fund-manager of tenant "dev": the demo appends, reallocates and
    uploads, as a fund manager does)."""
    security = StackSecurity.load(stack_dir)
    if security is None:
        return {
            name: grpc.aio.insecure_channel(endpoints[name], options=CHANNEL_OPTIONS)
            for name in SERVICE_NAMES
        }
    credentials = security.channel_credentials(
        security.mint_person(user, roles=("fund-manager",), ttl_seconds=3600)
    )
    return {
        name: grpc.aio.secure_channel(endpoints[name], credentials, options=CHANNEL_OPTIONS)
        for name in SERVICE_NAMES
    }


def health_credentials(stack_dir: Path) -> grpc.ChannelCredentials | None:
    """TLS for the health checks of a secure stack (health needs no token); None: plaintext."""
    security = StackSecurity.load(stack_dir)
    return None if security is None else tls_credentials(security.ca_file)


async def check_serving(
    endpoints: dict[str, str],
    seconds: float = 3.0,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """StackNotRunningError naming every service that does not answer SERVING."""
    statuses = await asyncio.gather(
        *(
            asyncio.to_thread(check_health, endpoints[name], seconds, "", credentials)
            for name in SERVICE_NAMES
        )
    )
    bad = [
        f"{name} ({endpoints[name]}): {status}"
        for name, status in zip(SERVICE_NAMES, statuses, strict=True)
        if status != SERVING
    ]
    if bad:
        raise StackNotRunningError("not SERVING: " + "; ".join(bad) + f". {_HINT}")
