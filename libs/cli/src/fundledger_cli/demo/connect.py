"""Finding a running stack: `<stack dir>/endpoints.json`, and every service SERVING."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fundledger_devstack.endpoints import FILE_NAME, read_endpoints
from fundledger_devstack.health import SERVING, check_health
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


async def check_serving(endpoints: dict[str, str], seconds: float = 3.0) -> None:
    """StackNotRunningError naming every service that does not answer SERVING."""
    statuses = await asyncio.gather(
        *(asyncio.to_thread(check_health, endpoints[name], seconds) for name in SERVICE_NAMES)
    )
    bad = [
        f"{name} ({endpoints[name]}): {status}"
        for name, status in zip(SERVICE_NAMES, statuses, strict=True)
        if status != SERVING
    ]
    if bad:
        raise StackNotRunningError("not SERVING: " + "; ".join(bad) + f". {_HINT}")
