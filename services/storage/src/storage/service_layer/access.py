"""Whose files a call may touch: the calling person's own, unless they may act for others.

The tenant half of the rule is applied in SQL by the repository (adapters.file_store); this is
the user half. A file of another user is answered like a missing one (NOT_FOUND, FileExists
false), never PERMISSION_DENIED, so a person cannot learn which file ids exist for others.
Request fields naming a user are checked with `named_user`: naming someone else needs
``users.act_for`` (PERMISSION_DENIED otherwise), an empty one means the caller.
"""

from __future__ import annotations

from fundledger_platform.auth.authorization import permitted
from fundledger_platform.auth.tenancy import (
    ACT_FOR_OTHERS,
    calling_user,
    may_act_for,
    require_self_or_act_for,
)

from storage.domain.model import FileRecord


def owner_limit() -> str | None:
    """The only owner whose files the caller may see or delete: the calling person, unless
    they hold ``users.act_for``; None (any owner) for them, for services and without
    authentication."""
    me = calling_user()
    if me is None or permitted(ACT_FOR_OTHERS):
        return None
    return me


def may_see(record: FileRecord) -> bool:
    """The user half of a single file's visibility (its tenant was checked by the query)."""
    return may_act_for(record.owner_user_id)


def named_user(value: str) -> str:
    """A request field naming a user, checked against the caller: "" means the caller ("" still
    when there is no calling person); naming anyone else needs ``users.act_for``."""
    if not value:
        return calling_user() or ""
    require_self_or_act_for(value)
    return value


def event_user(fallback: str) -> str:
    """The user id an appended event carries: the verified calling person; `fallback` (what
    the request or the record says) only when there is none, i.e. without authentication or
    for a service acting for itself."""
    return calling_user() or fallback
