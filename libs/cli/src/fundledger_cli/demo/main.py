"""The demo's entry point. Exit status: 0 every step worked, 2 no stack runs, 1 an RPC failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from fundledger_devstack.stack_config import default_stack_dir
from fundledger_platform.errors import error_info
from rich.console import Console
from rich.markup import escape

from fundledger_cli.demo.connect import StackNotRunningError
from fundledger_cli.demo.runner import run_demo

EXIT_RPC_ERROR = 1
EXIT_NO_STACK = 2
# Wide enough for the portfolio table when the output is not a terminal (a file, the docs).
_PIPE_WIDTH = 120


def main(stack_dir: Path | None = None) -> int:
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=_PIPE_WIDTH)
    errors = Console(stderr=True, highlight=False)
    where = default_stack_dir() if stack_dir is None else stack_dir
    try:
        asyncio.run(run_demo(where, console))
    except StackNotRunningError as err:
        errors.print(f"[bold red]demo:[/] {escape(str(err))}", soft_wrap=True)
        return EXIT_NO_STACK
    except grpc.aio.AioRpcError as err:
        info = error_info(err)
        # The reason says why a token was refused (TOKEN_EXPIRED, PERMISSION_MISSING, ...).
        reason = f" (reason {info.reason})" if info is not None else ""
        errors.print(
            f"[bold red]demo:[/] {err.code().name}: {escape(err.details() or '')}{reason}",
            soft_wrap=True,
        )
        return EXIT_RPC_ERROR
    return 0
