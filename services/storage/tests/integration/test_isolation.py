"""Users and tenants see only their own files, against the real secure stack (TLS, tokens, the
policy, the event store, S3).

People (SecureEnv tokens): alice is an admin of tenant "dev" (``users.act_for``: may name and
see other users), bob and carol are fund managers of "dev" (files.read/write/delete, their own
files only), erin is an admin of tenant "other", vic a fund viewer of "dev" (no files.write or
files.delete).
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from storage_stack import Stack
from storage_support import (
    assert_nothing_stored,
    metadata,
    object_exists,
    object_keys,
    reason_of,
    requests_for,
    stream_events,
)

OTHER_TENANT = "other"


async def upload_as(api: Any, meta: pb.FileMetadata, data: bytes) -> pb.FileRecord:
    response: pb.UploadFileResponse = await api.UploadFile(requests_for(meta, data))
    return response.file


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def download_all(api: Any, file_id: str) -> bytes:
    request = pb.DownloadFileRequest(file_id=file_id)
    return b"".join([m.chunk async for m in api.DownloadFile(request)])


async def assert_not_found_everywhere(api: Any, record: pb.FileRecord) -> None:
    """Every single-file RPC answers as for a file that does not exist."""
    file_id = record.file_id
    calls = {
        "GetFileMetadata": api.GetFileMetadata(pb.GetFileMetadataRequest(file_id=file_id)),
        "GetSignedUrl": api.GetSignedUrl(pb.GetSignedUrlRequest(file_id=file_id)),
        "DownloadFile": download_all(api, file_id),
        "DeleteFile": api.DeleteFile(pb.DeleteFileRequest(file_id=file_id)),
    }
    for name, call in calls.items():
        err = await refused(call)
        assert (err.code(), reason_of(err)) == (grpc.StatusCode.NOT_FOUND, "FILE_NOT_FOUND"), name
    exists = await api.FileExists(pb.FileExistsRequest(file_id=file_id))
    assert not exists.exists


async def assert_reachable(stack: Stack, api: Any, record: pb.FileRecord, data: bytes) -> None:
    file_id = record.file_id
    got = await api.GetFileMetadata(pb.GetFileMetadataRequest(file_id=file_id))
    assert got.file == record
    assert (await api.FileExists(pb.FileExistsRequest(file_id=file_id))).exists
    assert await download_all(api, file_id) == data
    signed = await api.GetSignedUrl(pb.GetSignedUrlRequest(file_id=file_id))
    assert record.object_key in signed.url
    assert await object_exists(stack, record.object_key)


async def verify_all(api: Any) -> list[pb.VerifyFilesResponse]:
    return [m async for m in api.VerifyFiles(pb.VerifyFilesRequest())]


async def listed(api: Any, **request: str) -> list[str]:
    response = await api.ListFiles(pb.ListFilesRequest(**request))
    return [f.file_id for f in response.files]


async def row(stack: Stack, file_id: str) -> Any:
    return await stack.storage.pool.fetchrow(
        "SELECT owner_user_id, tenant, created_by, deleted_at FROM storage.files "
        "WHERE file_id = $1::uuid",
        file_id,
    )


async def test_upload_records_the_caller_as_owner_and_their_tenant(stack: Stack) -> None:
    bob = stack.api_as("bob")
    meta = metadata(owner_user_id="")  # empty: the caller
    record = await upload_as(bob, meta, b"bob's report")

    assert record.owner_user_id == "bob"
    assert record.object_key.startswith("users/bob/")
    stored = await row(stack, record.file_id)
    assert (stored["owner_user_id"], stored["tenant"], stored["created_by"]) == (
        "bob",
        "dev",
        "bob",
    )
    head = await stack.s3.head_object(Bucket=stack.bucket, Key=record.object_key)
    assert head["Metadata"].get("tenant") == "dev"
    # The event names the verified person (the event store's own tests cover its tenant).
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [(e.event_type, e.user_id) for e in events] == [("FILE_ATTACHED", "bob")]
    # Listing without an owner or an entity lists the caller's own files.
    assert await listed(bob) == [record.file_id]


async def test_a_spoofed_owner_is_refused_and_nothing_is_written(stack: Stack) -> None:
    bob = stack.api_as("bob")
    meta = metadata(owner_user_id="carol")
    err = await refused(upload_as(bob, meta, b"pretending to be carol"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert reason_of(err) == "PERMISSION_MISSING"
    assert "users.act_for" in (err.details() or "")
    await assert_nothing_stored(stack, "carol", f"fund-{meta.entity_id}")
    await assert_nothing_stored(stack, "bob", None)


async def test_an_admin_may_store_a_file_for_another_user(stack: Stack) -> None:
    meta = metadata(owner_user_id="bob")
    record = await upload_as(stack.api, meta, b"stored by alice for bob")
    assert record.owner_user_id == "bob"
    stored = await row(stack, record.file_id)
    assert (stored["tenant"], stored["created_by"]) == ("dev", "alice")
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [e.user_id for e in events] == ["alice"]
    # It is bob's: he reaches it like his own.
    await assert_reachable(stack, stack.api_as("bob"), record, b"stored by alice for bob")


async def test_a_user_cannot_reach_another_users_file(stack: Stack) -> None:
    bob, carol = stack.api_as("bob"), stack.api_as("carol")
    meta = metadata(owner_user_id="bob")
    data = b"bob's eyes only"
    record = await upload_as(bob, meta, data)

    await assert_not_found_everywhere(carol, record)
    # Naming bob is refused outright: the field must name the caller.
    for call in (
        carol.ListFiles(pb.ListFilesRequest(owner_user_id="bob")),
        carol.DeleteFile(pb.DeleteFileRequest(file_id=record.file_id, user_id="bob")),
    ):
        err = await refused(call)
        assert (err.code(), reason_of(err)) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "PERMISSION_MISSING",
        )
    # By entity, carol lists only her own files of the fund (none).
    assert await listed(carol, entity_type="fund", entity_id=meta.entity_id) == []
    assert await listed(carol) == []
    # Nothing happened to bob's file.
    assert (await row(stack, record.file_id))["deleted_at"] is None
    await assert_reachable(stack, bob, record, data)
    assert await listed(bob, entity_type="fund", entity_id=meta.entity_id) == [record.file_id]


async def test_an_admin_of_the_tenant_reaches_every_users_file(stack: Stack) -> None:
    bob = stack.api_as("bob")
    meta = metadata(owner_user_id="bob")
    data = b"bob's, readable by his tenant's admin"
    record = await upload_as(bob, meta, data)

    await assert_reachable(stack, stack.api, record, data)
    assert await listed(stack.api, owner_user_id="bob") == [record.file_id]
    assert await listed(stack.api, entity_type="fund", entity_id=meta.entity_id) == [record.file_id]
    verified = [m async for m in stack.api.VerifyFiles(pb.VerifyFilesRequest(owner_user_id="bob"))]
    assert (verified[-1].done, verified[-1].checked) == (True, 1)
    deleted = await stack.api.DeleteFile(
        pb.DeleteFileRequest(file_id=record.file_id, user_id="bob")
    )
    assert deleted.file.file_id == record.file_id
    assert not await object_exists(stack, record.object_key)
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    # Each event names who did it: bob attached, alice detached (whatever user_id said).
    assert [(e.event_type, e.user_id) for e in events] == [
        ("FILE_ATTACHED", "bob"),
        ("FILE_DETACHED", "alice"),
    ]


async def test_another_tenant_gets_not_found_in_every_rpc(stack: Stack) -> None:
    bob = stack.api_as("bob")
    erin = stack.api_as("erin", roles=("admin",), tenant=OTHER_TENANT)
    meta = metadata(owner_user_id="bob")
    data = b"tenant dev's document"
    record = await upload_as(bob, meta, data)
    erins = await upload_as(erin, metadata(owner_user_id="erin"), b"tenant other's document")

    await assert_not_found_everywhere(erin, record)
    # Listings: an admin may name bob, but sees nothing of another tenant.
    assert await listed(erin, owner_user_id="bob") == []
    assert await listed(erin, entity_type="fund", entity_id=meta.entity_id) == []
    verified = [m async for m in erin.VerifyFiles(pb.VerifyFilesRequest())]
    assert (verified[-1].checked, verified[-1].total) == (1, 1)  # erin's file only
    # And the other way round.
    await assert_not_found_everywhere(bob, erins)
    assert await listed(stack.api, owner_user_id="erin") == []
    # Tenant dev's file is untouched.
    await assert_reachable(stack, bob, record, data)


async def test_verify_reports_only_orphans_of_the_callers_tenant(stack: Stack) -> None:
    owner = f"user-{uuid.uuid4().hex[:8]}"
    keys = {
        tenant: f"users/{owner}/funds/{uuid.uuid4()}/{uuid.uuid4()}.pdf"
        for tenant in ("dev", OTHER_TENANT, "")
    }
    for tenant, key in keys.items():
        extra = {"Metadata": {"tenant": tenant}} if tenant else {}
        await stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"left behind", **extra)

    async def orphans(api: Any) -> set[str]:
        request = pb.VerifyFilesRequest(owner_user_id=owner)
        return {
            m.finding.object_key async for m in api.VerifyFiles(request) if m.finding.object_key
        }

    assert await orphans(stack.api) == {keys["dev"]}
    erin = stack.api_as("erin", roles=("admin",), tenant=OTHER_TENANT)
    assert await orphans(erin) == {keys[OTHER_TENANT]}
    # Without a tenant, only a caller who sees every tenant is told (here: none of them).


async def test_permissions_are_checked_both_ways(stack: Stack) -> None:
    bob = stack.api_as("bob")
    vic = stack.api_as("vic", roles=("fund-viewer",))
    meta = metadata(owner_user_id="")
    err = await refused(upload_as(vic, meta, b"a viewer may not write"))
    assert (err.code(), reason_of(err)) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    assert "files.write" in (err.details() or "")
    await assert_nothing_stored(stack, "vic", f"fund-{meta.entity_id}")

    # The same upload by a fund manager (files.write) works; vic can read only her own files.
    record = await upload_as(bob, metadata(owner_user_id=""), b"a manager may")
    err = await refused(vic.DeleteFile(pb.DeleteFileRequest(file_id=record.file_id)))
    assert (err.code(), reason_of(err)) == (grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_MISSING")
    assert "files.delete" in (err.details() or "")
    assert (await row(stack, record.file_id))["deleted_at"] is None
    assert await listed(vic) == []

    # Fund managers may not verify (files.verify is the admins').
    err = await refused(verify_all(bob))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    # With files.delete, bob deletes his own file.
    await bob.DeleteFile(pb.DeleteFileRequest(file_id=record.file_id))
    assert not await object_exists(stack, record.object_key)


async def test_a_person_without_a_tenant_is_refused(stack: Stack) -> None:
    nobody = stack.api_as("nomad", tenant=None)
    meta = metadata(owner_user_id="")
    err = await refused(upload_as(nobody, meta, b"whose tenant?"))
    assert (err.code(), reason_of(err)) == (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISSING")
    await assert_nothing_stored(stack, "nomad", f"fund-{meta.entity_id}")
    assert await object_keys(stack, "users/nomad/") == []
    err = await refused(nobody.ListFiles(pb.ListFilesRequest()))
    assert (err.code(), reason_of(err)) == (grpc.StatusCode.PERMISSION_DENIED, "TENANT_MISSING")


async def test_no_token_is_unauthenticated(stack: Stack) -> None:
    anonymous = stack.api_with(None)
    meta = metadata()
    err = await refused(upload_as(anonymous, meta, b"who are you?"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    await assert_nothing_stored(stack, meta.owner_user_id, f"fund-{meta.entity_id}")


async def test_a_file_cannot_be_attached_to_another_tenants_fund(stack: Stack) -> None:
    bob = stack.api_as("bob")
    meta = metadata(owner_user_id="")
    await upload_as(bob, meta, b"creates fund stream in tenant dev")
    events = await stream_events(stack, f"fund-{meta.entity_id}")
    assert [(e.user_id, e.tenant, e.actor) for e in events] == [("bob", "dev", events[0].actor)]
    assert events[0].actor  # the storage service, acting for bob

    erin = stack.api_as("erin", roles=("admin",), tenant=OTHER_TENANT)
    intruding = metadata(owner_user_id="", entity_id=meta.entity_id)
    err = await refused(upload_as(erin, intruding, b"into tenant dev's fund"))
    # To erin, tenant dev's fund stream does not exist: refused, nothing written or compensated.
    assert (err.code(), reason_of(err)) == (grpc.StatusCode.NOT_FOUND, "STREAM_NOT_FOUND")
    await assert_nothing_stored(stack, "erin", None)
    assert len(await stream_events(stack, f"fund-{meta.entity_id}")) == 1
