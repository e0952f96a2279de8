"""`fundledger files …`: upload, download (checksum verified), verify, list."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from fundledger.storage.v1 import storage_pb2, storage_pb2_grpc
from rich.markup import escape
from rich.table import Table

from fundledger_cli.context import cli_context
from fundledger_cli.errors import CliError, ExitCode, reports_errors
from fundledger_cli.output import (
    counting_progress,
    stderr_console,
    stdout_console,
    transfer_progress,
)
from fundledger_cli.render import file_table

app = typer.Typer(no_args_is_help=True, help="Upload, download and verify documents.")

CHUNK_BYTES = 256 * 1024
TransferTimeout = Annotated[
    float, typer.Option("--transfer-timeout", min=1.0, help="Deadline of the whole transfer (s).")
]
MAX_PAGES = 1000


def _entity(text: str) -> tuple[str, str]:
    """`fund-<id>` (any `<type>-<id>`) -> (type, id); a bare UUID is a fund."""
    try:
        return "fund", str(uuid.UUID(text))
    except ValueError:
        pass
    entity_type, sep, entity_id = text.partition("-")
    if not sep or not entity_type or not entity_id:
        raise CliError(
            f"--entity: expected '<type>-<id>' such as fund-<uuid>, got {text!r}", ExitCode.USAGE
        )
    return entity_type, entity_id


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@app.command("upload")
@reports_errors
def upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The file to upload.", exists=True, dir_okay=False)],
    entity: Annotated[str, typer.Option(help="Owning entity's stream, e.g. fund-<uuid>.")],
    user: Annotated[str, typer.Option("--user", help="Owner user id.")],
    content_type: Annotated[str, typer.Option(help="MIME type (default: from the name).")] = "",
    name: Annotated[str, typer.Option(help="File name to record (default: the path's).")] = "",
    transfer_timeout: TransferTimeout = 600.0,
) -> None:
    """Upload a file (streamed in chunks); records FILE_ATTACHED on the entity's stream."""
    cli = cli_context(ctx)
    entity_type, entity_id = _entity(entity)
    sha256, size = _sha256(path)
    file_name = name or path.name
    mime = content_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    with transfer_progress(stderr_console()) as progress:
        task = progress.add_task(f"uploading {file_name}", total=size)

        def requests() -> Iterator[storage_pb2.UploadFileRequest]:
            yield storage_pb2.UploadFileRequest(
                metadata=storage_pb2.FileMetadata(
                    owner_user_id=user,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    file_name=file_name,
                    content_type=mime,
                    expected_sha256=sha256,
                )
            )
            with path.open("rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    yield storage_pb2.UploadFileRequest(chunk=chunk)
                    progress.advance(task, len(chunk))

        with cli.connect("storage", transfer_timeout) as channel:
            response = storage_pb2_grpc.StorageServiceStub(channel).UploadFile(
                requests(), timeout=transfer_timeout
            )
    out = stdout_console()
    out.print(file_table([response.file], "Uploaded"))
    out.print(f"file id: {response.file.file_id}  sha256: {response.file.sha256}")


@app.command("download")
@reports_errors
def download(
    ctx: typer.Context,
    file_id: Annotated[str, typer.Argument(help="The file's id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write (default: its name).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    transfer_timeout: TransferTimeout = 600.0,
) -> None:
    """Download a file and verify its SHA-256 against the record; exit 1 on mismatch."""
    cli = cli_context(ctx)
    digest = hashlib.sha256()
    size = 0
    record: storage_pb2.FileRecord | None = None
    target: Path | None = output
    part: Path | None = None
    try:
        with (
            cli.connect("storage", transfer_timeout) as channel,
            transfer_progress(stderr_console()) as progress,
        ):
            task = progress.add_task(f"downloading {file_id}", total=None)
            stream = storage_pb2_grpc.StorageServiceStub(channel).DownloadFile(
                storage_pb2.DownloadFileRequest(file_id=file_id), timeout=transfer_timeout
            )
            sink = None
            for message in stream:
                if record is None:
                    record = message.file
                    target = target or Path(Path(record.file_name).name or file_id)
                    if target.exists() and not force:
                        stream.cancel()  # type: ignore[no-untyped-call]
                        raise CliError(f"{target} exists; --force overwrites it", ExitCode.USAGE)
                    part = target.with_name(target.name + ".part")
                    sink = part.open("wb")
                    progress.update(task, total=record.size_bytes)
                assert sink is not None
                sink.write(message.chunk)
                digest.update(message.chunk)
                size += len(message.chunk)
                progress.advance(task, len(message.chunk))
            if sink is not None:
                sink.close()
    except BaseException:
        if part is not None:
            part.unlink(missing_ok=True)
        raise
    if record is None or part is None or target is None:
        raise CliError(f"storage sent nothing for {file_id}", ExitCode.FAILURE)
    actual = digest.hexdigest()
    if actual != record.sha256 or size != record.size_bytes:
        part.unlink(missing_ok=True)
        raise CliError(
            f"checksum mismatch for {file_id}; nothing kept",
            ExitCode.FAILURE,
            [
                f"recorded: sha256 {record.sha256}, {record.size_bytes} bytes",
                f"received: sha256 {actual}, {size} bytes",
            ],
        )
    os.replace(part, target)
    stdout_console().print(
        f"Downloaded {file_id} to {target}: {size:,} bytes, sha256 {actual} (verified)"
    )


@app.command("verify")
@reports_errors
def verify(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="Only this owner's files.")] = "",
    transfer_timeout: TransferTimeout = 600.0,
) -> None:
    """Re-hash stored files against their records; exit 1 if any is missing or mismatched."""
    cli = cli_context(ctx)
    findings: list[storage_pb2.VerifyFinding] = []
    summary: storage_pb2.VerifyFilesResponse | None = None
    with (
        cli.connect("storage", transfer_timeout) as channel,
        counting_progress(stderr_console()) as progress,
    ):
        task = progress.add_task("verifying", total=None)
        for message in storage_pb2_grpc.StorageServiceStub(channel).VerifyFiles(
            storage_pb2.VerifyFilesRequest(owner_user_id=user), timeout=transfer_timeout
        ):
            progress.update(task, completed=message.checked, total=message.total or None)
            if message.HasField("finding"):
                findings.append(message.finding)
            if message.done:
                summary = message
    out = stdout_console()
    if findings:
        table = Table(title="Findings", title_justify="left")
        for column in ("kind", "file id", "object key", "detail"):
            table.add_column(column)
        for f in findings:
            kind = storage_pb2.FindingKind.Name(f.kind).removeprefix("FINDING_KIND_")
            table.add_row(kind, f.file_id or "-", escape(f.object_key), escape(f.detail))
        out.print(table)
    if summary is None:
        raise CliError("storage ended the verification without a summary", ExitCode.FAILURE)
    out.print(
        f"Checked {summary.checked} file(s): {summary.missing} missing, "
        f"{summary.mismatched} mismatched, {summary.orphaned} orphaned object(s)."
    )
    if summary.missing or summary.mismatched:
        raise CliError("verification found missing or mismatched files", ExitCode.FAILURE)


@app.command("list")
@reports_errors
def list_files(
    ctx: typer.Context,
    entity: Annotated[str, typer.Option(help="Files of this entity, e.g. fund-<uuid>.")] = "",
    user: Annotated[str, typer.Option("--user", help="Files of this owner.")] = "",
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
) -> None:
    """List files by entity or by owner."""
    cli = cli_context(ctx)
    if bool(entity) == bool(user):
        raise CliError("give exactly one of --entity or --user", ExitCode.USAGE)
    entity_type, entity_id = _entity(entity) if entity else ("", "")
    files: list[storage_pb2.FileRecord] = []
    with cli.connect("storage") as channel:
        stub = storage_pb2_grpc.StorageServiceStub(channel)
        token = ""
        for _ in range(MAX_PAGES):
            page = stub.ListFiles(
                storage_pb2.ListFilesRequest(
                    owner_user_id=user,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    page_size=min(limit - len(files), 1000),
                    page_token=token,
                ),
                timeout=cli.timeout,
            )
            files.extend(page.files)
            token = page.next_page_token
            if not token or len(files) >= limit:
                break
    stdout_console().print(file_table(files[:limit], f"{len(files[:limit])} file(s)"))
