"""Object keys cannot escape their prefix: every caller-given part is checked."""

from __future__ import annotations

import uuid

import grpc
import pytest
from fundledger_platform.errors import InvalidArgument
from storage.domain.keys import check_meta, object_key
from storage_stack import Stack
from storage_support import assert_nothing_stored, field_of, metadata, object_keys, upload

GOOD = {
    "owner_user_id": "alice@example.com",
    "entity_type": "fund",
    "entity_id": "3f2c9a1e-0000-4000-8000-000000000001",
    "file_name": "Term Sheet (final).PDF",
    "content_type": "application/pdf; charset=binary",
    "expected_sha256": "",
}

# (field, value): each must be refused, naming the field.
ESCAPES = [
    ("owner_user_id", "../bob"),
    ("owner_user_id", "alice/../bob"),
    ("owner_user_id", "alice/x"),
    ("owner_user_id", "alice\\bob"),
    ("owner_user_id", ".."),
    ("owner_user_id", ".hidden"),
    ("owner_user_id", "ali\x00ce"),
    ("owner_user_id", "ali\nce"),
    ("owner_user_id", "ali\u202ece"),  # right-to-left override
    ("owner_user_id", "a" * 129),
    ("owner_user_id", "alice bob"),
    ("owner_user_id", ""),
    ("entity_type", "Fund"),
    ("entity_type", "fund/../x"),
    ("entity_type", "../fund"),
    ("entity_type", "f" * 51),
    ("entity_type", ""),
    ("entity_id", ".."),
    ("entity_id", "x/../y"),
    ("entity_id", "x/y"),
    ("entity_id", "a..b"),
    ("entity_id", "id\ttab"),
    ("entity_id", "e" * 129),
    ("entity_id", "%2e%2e"),
    ("file_name", "../report.pdf"),
    ("file_name", "dir/report.pdf"),
    ("file_name", "dir\\report.pdf"),
    ("file_name", "report.p/df"),
    ("file_name", "report\x07.pdf"),
    ("file_name", "report.toolongextension12"),
    ("file_name", "report.pd f"),
    ("file_name", "n" * 256),
    ("file_name", ""),
    ("content_type", "text/plain\r\nX-Injected: 1"),
    ("content_type", "not a mime type"),
    ("expected_sha256", "abc"),
]


@pytest.mark.parametrize(("field", "value"), ESCAPES)
def test_unsafe_parts_are_refused_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_meta(**{**GOOD, field: value})
    assert caught.value.field == f"metadata.{field}"


def test_key_layout() -> None:
    meta = check_meta(**GOOD)
    file_id = uuid.UUID(int=7)
    assert object_key(meta, file_id) == (
        f"users/alice@example.com/funds/3f2c9a1e-0000-4000-8000-000000000001/{file_id}.pdf"
    )
    assert meta.extension == "pdf"
    assert meta.file_name == GOOD["file_name"]
    assert check_meta(**{**GOOD, "file_name": ".bashrc"}).extension == ""
    assert check_meta(**{**GOOD, "file_name": "a.tar.gz"}).extension == "gz"


async def test_upload_with_unsafe_key_parts_is_invalid_argument(stack: Stack) -> None:
    cases = [
        ("owner_user_id", "../victim"),
        ("owner_user_id", "a/b"),
        ("entity_id", "x\x01y"),
        ("entity_type", "fund" * 20),
        ("file_name", "..\\..\\evil.exe"),
    ]
    for field, value in cases:
        meta = metadata(**{field: value})
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await upload(stack, meta, b"payload")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(caught.value) == f"metadata.{field}"
        if field != "owner_user_id":
            stream = None if field.startswith("entity") else f"fund-{meta.entity_id}"
            await assert_nothing_stored(stack, meta.owner_user_id, stream)
    assert await object_keys(stack) == []
