"""`python -m fundledger_devstack run|status`: the local stack behind `make run`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType

from fundledger_devstack.endpoints import FILE_NAME, format_table, healthy, probe, read_endpoints
from fundledger_devstack.errors import DevstackError
from fundledger_devstack.health import tls_credentials
from fundledger_devstack.security import StackSecurity
from fundledger_devstack.services import SERVICES, ServiceSpec
from fundledger_devstack.stack import Stack
from fundledger_devstack.stack_config import STACK_DIR_VAR, StackConfig, default_stack_dir


class _StopRequested(BaseException):
    """SIGINT or SIGTERM arrived.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way
    (in a library, or around one server's stop) can swallow the request to stop.
    """


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def _parse_service(text: str) -> ServiceSpec:
    # NAME=MODULE or NAME=MODULE:GRPC_PORT:METRICS_PORT (default 0 = any free port)
    name, sep, rest = text.partition("=")
    module, *ports = rest.split(":")
    if not sep or not name or not module or len(ports) not in (0, 2):
        raise argparse.ArgumentTypeError(f"expected NAME=MODULE[:GRPC_PORT:METRICS_PORT]: {text}")
    try:
        grpc_port, metrics_port = (int(p) for p in ports) if ports else (0, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"ports must be numbers: {text}") from None
    return ServiceSpec(name, module, grpc_port, metrics_port)


def run(args: argparse.Namespace) -> int:
    services = tuple(args.service) if args.service else SERVICES
    # From here on a signal becomes an exception in the main thread, wherever it is
    # (starting PostgreSQL, waiting): the `finally` below then stops what is up.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_stop)
    stack: Stack | None = None
    try:
        config = StackConfig.from_env(services=services)
        stack = Stack(config)
        print(f"FundLedger local stack (state and logs in {config.stack_dir})", flush=True)
        stack.start()
        print(f"\nReady:\n{stack.summary()}\n", flush=True)
        print(f"Endpoints written to {stack.endpoints_path}.", flush=True)
        print(f"\n{how_to_call(stack)}\n", flush=True)
        if args.exit_after_ready:
            return 0
        print("Press Ctrl+C to stop.", flush=True)
        stack.wait()
        return 0  # not reached: wait() returns only by raising
    except _StopRequested as stop:
        print(f"\n{stop}: stopping the stack", flush=True)
        return 0
    except DevstackError as exc:
        print(f"\nerror: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        # A second Ctrl+C must not cut the shutdown short and leave orphans: each
        # stop below is bounded (SIGTERM, wait, SIGKILL).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        if stack is not None:
            try:
                stack.stop()
            except DevstackError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
            print("Stack stopped.", flush=True)


def _shown(path: Path) -> str:
    """A path as short as it can be told from here (relative under the working directory)."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def how_to_call(stack: Stack) -> str:
    """How a developer calls the services: a token, the CA to trust, a grpcurl line. No token
    is printed here: `fundledger auth token` prints one when asked."""
    addresses = {svc.spec.name: svc.address for svc in stack.services}
    address = next(iter(addresses.values()), "127.0.0.1:50051")
    security = stack.security
    if security is None:
        return (
            "Plaintext stack (FUNDLEDGER_STACK_SECURE=false): no TLS, no tokens.\n"
            f"  grpcurl:  .venv/bin/grpcurl -plaintext {address} list"
        )
    ca = _shown(security.ca_file)
    stack_dir = _shown(stack.config.stack_dir)
    # The CLI finds .stack itself; elsewhere it needs --stack-dir.
    where = "" if stack_dir == ".stack" else f" --stack-dir {stack_dir}"
    grpcurl = f'.venv/bin/grpcurl -cacert {ca} -H "authorization: Bearer $TOKEN"'
    lines = [
        "Secure stack: every service wants TLS and a bearer token (health excepted).",
        f"  CA to trust:  {ca}",
        f"  a dev token:  TOKEN=$(.venv/bin/fundledger{where} auth token)"
        "   (fund-manager of tenant dev, 1 h; --role admin for everything)",
        f"  grpcurl:      {grpcurl} {address} list",
    ]
    if "projector" in addresses:
        lines.append(
            f"                {grpcurl} -d '{{}}' {addresses['projector']} "
            "fundledger.projector.v1.ProjectorService/ListFunds"
        )
    lines += [
        f"  the CLI:      .venv/bin/fundledger{where} stack status"
        "   (mints its own short-lived dev token)",
        "  (docs/security.md: how to authenticate as a developer)",
    ]
    return "\n".join(lines)


def status(args: argparse.Namespace) -> int:
    stack_dir = default_stack_dir()
    try:
        endpoints = read_endpoints(stack_dir)
    except FileNotFoundError:
        print(f"No stack is running here (no {stack_dir / FILE_NAME}); start one with `make run`.")
        return 1
    # A secure stack answers TLS only; health itself needs no token.
    security = StackSecurity.load(stack_dir)
    credentials = None if security is None else tls_credentials(security.ca_file)
    rows = [["name", "endpoint", "status"]]
    ok = True
    for name, endpoint in endpoints.items():
        state = probe(name, endpoint, credentials)
        ok = ok and healthy(state)
        rows.append([name, endpoint, state])
    print(format_table(rows))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fundledger_devstack",
        description=f"The FundLedger local stack. State directory: ${STACK_DIR_VAR} (.stack).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="start everything and wait for Ctrl+C")
    run_cmd.add_argument(
        "--exit-after-ready",
        action="store_true",
        help="stop everything and exit 0 once the whole stack is ready",
    )
    run_cmd.add_argument(
        "--service",
        action="append",
        type=_parse_service,
        metavar="NAME=MODULE[:GRPC:METRICS]",
        help="run this service instead of the registry (repeatable)",
    )
    run_cmd.set_defaults(handler=run)
    status_cmd = commands.add_parser("status", help="health-check the stack in endpoints.json")
    status_cmd.set_defaults(handler=status)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
