"""Object keys cannot escape their prefix: every caller-given part is checked."""

from __future__ import annotations

import uuid

import pytest
from fundledger_kernel.streams import category_of
from fundledger_platform.errors import InvalidArgument
from storage.domain.keys import (
    FILES_PREFIX,
    MAX_ENTITY_ID_LENGTH,
    extension_of,
    object_key,
    owner_prefix,
)
from storage.domain.model import FileRecord
from storage.entrypoints.requests import check_meta

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


# (field, value, reason): an empty part is a missing field; a bad key part is KEY_PART_INVALID.
KEY_PART_REASONS = [
    ("owner_user_id", "", "FIELD_REQUIRED"),
    ("entity_type", "", "FIELD_REQUIRED"),
    ("entity_id", "", "FIELD_REQUIRED"),
    ("owner_user_id", "a" * 129, "KEY_PART_INVALID"),
    ("owner_user_id", "alice/../bob", "KEY_PART_INVALID"),
    ("owner_user_id", "ali\u202ece", "KEY_PART_INVALID"),
    ("entity_type", "Fund", "KEY_PART_INVALID"),
    ("entity_type", "f" * 51, "KEY_PART_INVALID"),
    ("entity_id", "%2e%2e", "KEY_PART_INVALID"),
    ("file_name", "report.toolongextension12", "KEY_PART_INVALID"),
    ("file_name", "report.pd f", "KEY_PART_INVALID"),
]


@pytest.mark.parametrize(("field", "value", "reason"), KEY_PART_REASONS)
def test_key_parts_are_refused_with_their_reason(field: str, value: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_meta(**{**GOOD, field: value})
    assert caught.value.reason == reason
    assert caught.value.field == f"metadata.{field}"


def test_extension_is_the_last_suffix_lower_cased() -> None:
    assert extension_of("Report.PDF") == "pdf"
    assert extension_of("archive.tar.GZ") == "gz"
    assert extension_of("README") == ""
    assert extension_of(".bashrc") == ""
    with pytest.raises(InvalidArgument) as caught:
        extension_of("x.p-f", field="name")
    assert (caught.value.reason, caught.value.field) == ("KEY_PART_INVALID", "name")


def test_owner_prefix_holds_every_key_of_the_owner() -> None:
    meta = check_meta(**GOOD)
    assert owner_prefix("alice@example.com") == "users/alice@example.com/"
    assert object_key(meta, uuid.uuid4()).startswith(owner_prefix(meta.owner_user_id))
    assert object_key(meta, uuid.uuid4()).startswith(FILES_PREFIX)


def test_the_longest_entity_still_names_a_valid_stream() -> None:
    # FILE_ATTACHED goes to `<entity_type>-<entity_id>`: parts that pass here must never make
    # a stream id the event store refuses.
    entity_type, entity_id = "t" * 50, "I" * MAX_ENTITY_ID_LENGTH
    meta = check_meta(**{**GOOD, "entity_type": entity_type, "entity_id": entity_id})
    record = FileRecord(
        file_id=uuid.UUID(int=1),
        object_key=object_key(meta, uuid.UUID(int=1)),
        size=0,
        content_type=meta.content_type,
        sha256="0" * 64,
        owner_user_id=meta.owner_user_id,
        entity_type=meta.entity_type,
        entity_id=meta.entity_id,
        file_name=meta.file_name,
    )
    assert category_of(record.stream_id) == entity_type
