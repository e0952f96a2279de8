"""Request fields: each malformed one is refused with its reason, naming the field."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fundledger.storage.v1 import storage_pb2 as pb
from fundledger_platform.errors import InvalidArgument
from fundledger_platform.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from storage.domain.model import FileRecord, ListScope
from storage.entrypoints.mappers import next_page_token
from storage.entrypoints.requests import (
    DEFAULT_CONTENT_TYPE,
    DEFAULT_EXPIRY_SECONDS,
    MAX_EXPIRY_SECONDS,
    check_content_type,
    check_expected_sha256,
    check_expiry,
    check_file_id,
    check_file_name,
    check_scope,
    check_user_id,
    files_query,
    upload_meta,
)

OWNER = "alice@example.com"


def refusal(call: object, *args: object) -> tuple[str, str | None]:
    assert callable(call)
    with pytest.raises(InvalidArgument) as caught:
        call(*args)
    return caught.value.reason, caught.value.field


def record(created_at: datetime, file_id: uuid.UUID) -> FileRecord:
    return FileRecord(
        file_id=file_id,
        object_key=f"users/{OWNER}/funds/f/{file_id}.pdf",
        size=1,
        content_type="application/pdf",
        sha256="0" * 64,
        owner_user_id=OWNER,
        entity_type="fund",
        entity_id="f",
        file_name="a.pdf",
        created_at=created_at,
    )


def test_file_ids() -> None:
    file_id = uuid.uuid4()
    assert check_file_id(str(file_id)) == file_id
    assert refusal(check_file_id, "") == ("FIELD_REQUIRED", "file_id")
    assert refusal(check_file_id, "../etc/passwd") == ("FIELD_MALFORMED", "file_id")


def test_expiry_bounds() -> None:
    assert check_expiry(0) == DEFAULT_EXPIRY_SECONDS
    assert check_expiry(1) == 1
    assert check_expiry(MAX_EXPIRY_SECONDS) == MAX_EXPIRY_SECONDS
    for seconds in (-1, MAX_EXPIRY_SECONDS + 1):
        assert refusal(check_expiry, seconds) == ("EXPIRY_OUT_OF_RANGE", "expires_in_seconds")


def test_user_id() -> None:
    assert check_user_id("") == ""
    assert check_user_id("bob@example.com") == "bob@example.com"
    assert refusal(check_user_id, "u" * 201) == ("FIELD_TOO_LONG", "user_id")
    assert refusal(check_user_id, "bob\x00") == ("FIELD_MALFORMED", "user_id")
    assert refusal(check_user_id, "bob\x7f") == ("FIELD_MALFORMED", "user_id")


def test_file_name_content_type_and_checksum() -> None:
    assert check_file_name("Q3 report.pdf") == "Q3 report.pdf"
    assert refusal(check_file_name, "") == ("FIELD_REQUIRED", "file_name")
    assert refusal(check_file_name, "n" * 256) == ("FIELD_TOO_LONG", "file_name")
    for name in ("dir/a.pdf", "dir\\a.pdf", "a\x07.pdf", "a\u200b.pdf", ".."):
        assert refusal(check_file_name, name) == ("FIELD_MALFORMED", "file_name")

    assert check_content_type("") == DEFAULT_CONTENT_TYPE
    assert check_content_type("text/plain; charset=utf-8") == "text/plain; charset=utf-8"
    assert refusal(check_content_type, "a/" + "b" * 300) == ("FIELD_TOO_LONG", "content_type")
    assert refusal(check_content_type, "pdf") == ("FIELD_MALFORMED", "content_type")

    assert check_expected_sha256("") is None
    assert check_expected_sha256("AB" * 32) == "ab" * 32
    assert refusal(check_expected_sha256, "ab" * 31) == ("FIELD_MALFORMED", "expected_sha256")


def test_upload_metadata_names_fields_under_metadata() -> None:
    message = pb.FileMetadata(
        owner_user_id=OWNER, entity_type="fund", entity_id="f-1", file_name="Deck.PPTX"
    )
    meta = upload_meta(message)
    assert (meta.owner_user_id, meta.entity_type, meta.entity_id) == (OWNER, "fund", "f-1")
    assert (meta.file_name, meta.extension) == ("Deck.PPTX", "pptx")
    assert (meta.content_type, meta.expected_sha256) == (DEFAULT_CONTENT_TYPE, None)
    message.file_name = ""
    assert refusal(upload_meta, message) == ("FIELD_REQUIRED", "metadata.file_name")


def test_scope() -> None:
    assert check_scope(OWNER, "", "") == ListScope(owner_user_id=OWNER)
    assert check_scope("", "fund", "f-1") == ListScope(entity_type="fund", entity_id="f-1")
    assert refusal(check_scope, "", "", "") == ("SCOPE_REQUIRED", "owner_user_id")
    assert refusal(check_scope, OWNER, "fund", "") == ("SCOPE_AMBIGUOUS", "owner_user_id")
    assert refusal(check_scope, "", "fund", "") == ("FIELD_REQUIRED", "entity_id")
    assert refusal(check_scope, "", "", "f-1") == ("FIELD_REQUIRED", "entity_type")
    assert refusal(check_scope, "../x", "", "") == ("KEY_PART_INVALID", "owner_user_id")


def test_page_size_follows_the_platform_rule() -> None:
    assert files_query(pb.ListFilesRequest(owner_user_id=OWNER)).size == DEFAULT_PAGE_SIZE
    capped = files_query(pb.ListFilesRequest(owner_user_id=OWNER, page_size=MAX_PAGE_SIZE + 1))
    assert capped.size == MAX_PAGE_SIZE
    negative = pb.ListFilesRequest(owner_user_id=OWNER, page_size=-1)
    assert refusal(files_query, negative) == ("PAGE_SIZE_INVALID", "page_size")


def test_page_token_round_trip_keeps_the_cursor_to_the_microsecond() -> None:
    created_at = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    file_id = uuid.uuid4()
    scope = ListScope(entity_type="fund", entity_id="f-1")
    token = next_page_token(scope, record(created_at, file_id))
    query = files_query(
        pb.ListFilesRequest(entity_type="fund", entity_id="f-1", page_token=token, page_size=5)
    )
    assert (query.scope, query.size, query.after) == (scope, 5, (created_at, file_id))
    assert files_query(pb.ListFilesRequest(owner_user_id=OWNER)).after is None


def test_page_token_of_another_listing_or_garbage_is_refused() -> None:
    token = next_page_token(ListScope(owner_user_id=OWNER), record(datetime.now(UTC), uuid.uuid4()))
    others = [
        pb.ListFilesRequest(owner_user_id="bob", page_token=token),
        pb.ListFilesRequest(entity_type="fund", entity_id="alice", page_token=token),
        pb.ListFilesRequest(owner_user_id=OWNER, page_token="garbage"),
        pb.ListFilesRequest(owner_user_id=OWNER, page_token=token[:-4]),
    ]
    for request in others:
        assert refusal(files_query, request) == ("INVALID_PAGE_TOKEN", "page_token")
