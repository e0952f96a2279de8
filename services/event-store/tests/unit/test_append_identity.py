"""validate_append with the caller's identity: the server's identity replaces the request's user
and adds the actor and the tenant rule; the idempotency hash stays the request's. Pure."""

from __future__ import annotations

from eventstore.domain.append_request import Limits, RawEvent, validate_append
from eventstore.domain.model import AppendCommand, Expected, ExpectedKind, Identity

ANY = Expected(ExpectedKind.ANY)
BOB_VIA_STORAGE = Identity(user_id="bob", actor="fundledger-storage", tenant="acme")


def command(identity: Identity | None, user_id: str = "mallory") -> AppendCommand:
    raw = RawEvent(
        event_id="", event_type="NOTE_ADDED", schema_version=1, data=b"{}", user_id=user_id
    )
    return validate_append("fund-1", ANY, [raw], "key", Limits(), identity)


def test_the_identity_replaces_the_requests_user() -> None:
    stamped = command(BOB_VIA_STORAGE)
    [e] = stamped.events
    assert (e.user_id, e.actor, stamped.tenant) == ("bob", "fundledger-storage", "acme")


def test_a_service_for_itself_records_no_user() -> None:
    [e] = command(Identity(user_id=None, actor="fundledger-projector", tenant=None)).events
    assert (e.user_id, e.actor) == (None, "fundledger-projector")


def test_without_authentication_the_request_is_stored_as_sent() -> None:
    plain = command(None)
    [e] = plain.events
    assert (e.user_id, e.actor, plain.tenant) == ("mallory", None, None)


def test_the_idempotency_hash_is_the_requests_not_the_callers() -> None:
    """A service retrying, for itself, what it first sent for a person is the same request (the
    store checks the stream's tenant before it answers with a replay)."""
    for other in (
        Identity(user_id=None, actor="fundledger-storage", tenant=None),
        Identity(user_id="ann", actor=None, tenant="acme"),
        None,
    ):
        assert command(other).request_hash == command(BOB_VIA_STORAGE).request_hash
    assert command(BOB_VIA_STORAGE, "eve").request_hash != command(BOB_VIA_STORAGE).request_hash
