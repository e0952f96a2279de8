"""The command line every service shares: `python -m <service>` serves,
`python -m <service> migrate [up | down N]` migrates and exits.

Serving with FUNDLEDGER_WORKERS > 1 (the default on a machine or pod with more than one
core) migrates once, then supervises that many worker processes on the one port
(fundledger_platform.workers); each worker is `python -m <service>` again, told its index.
With one worker the service serves in this process, as it always has."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from fundledger_platform.event_loop import run_on_event_loop
from fundledger_platform.logs import configure_logging
from fundledger_platform.server import ServiceServer, serve_until_signal
from fundledger_platform.settings import ServerSettings
from fundledger_platform.telemetry import setup_telemetry
from fundledger_platform.worker_process import become_worker, tag_log_records
from fundledger_platform.workers import supervise


def service_main(
    argv: Sequence[str],
    *,
    module: str,
    server: ServerSettings,
    migrate: Callable[[int | None], Coroutine[Any, Any, object]] | None,
    serve: Callable[[], Coroutine[Any, Any, None]],
) -> int:
    """Runs the command in argv; returns the process exit code (2 = usage)."""
    configure_logging(server.service_name, server.log_level)
    usage = f"usage: python -m {module} [migrate [up | down N]]  (N >= 0)"
    if argv and argv[0] == "migrate":
        if len(argv) == 3 and argv[1] == "down" and argv[2].isdigit():
            down_to: int | None = int(argv[2])
        elif len(argv) == 1 or list(argv[1:]) == ["up"]:
            down_to = None
        else:
            print(usage, file=sys.stderr)
            return 2
        if migrate is not None:  # a service without a database has nothing to do
            run_on_event_loop(migrate(down_to), server.event_loop)
        return 0
    if argv:
        print(usage, file=sys.stderr)
        return 2
    worker = server.worker
    if worker.count > 1 and not worker.supervised:
        tag_log_records("supervisor")
        if migrate is not None:  # once, before any worker serves (they skip it)
            run_on_event_loop(migrate(None), server.event_loop)
        return run_on_event_loop(supervise(module, server), server.event_loop)
    become_worker(worker)
    setup_telemetry(server.service_name, server.otlp_endpoint)
    run_on_event_loop(serve(), server.event_loop)
    return 0


class DatabaseServiceSettings(Protocol):
    @property
    def server(self) -> ServerSettings: ...
    @property
    def database_url(self) -> str: ...


class BuiltService(Protocol):
    @property
    def server(self) -> ServiceServer: ...


S = TypeVar("S", bound=DatabaseServiceSettings)


def database_service_main(
    argv: Sequence[str],
    *,
    module: str,
    settings: S,
    migrate: Callable[[str, int | None], Coroutine[Any, Any, object]],
    build: Callable[[S], Coroutine[Any, Any, BuiltService]],
) -> int:
    """service_main for a service with its own schema: serving migrates up first (a worker
    does not: its supervisor did, once for all of them)."""

    async def serve() -> None:
        if not settings.server.worker.supervised:
            await migrate(settings.database_url, None)
        service = await build(settings)
        await serve_until_signal(service.server)

    return service_main(
        argv,
        module=module,
        server=settings.server,
        migrate=lambda down_to: migrate(settings.database_url, down_to),
        serve=serve,
    )
