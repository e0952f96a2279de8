"""validate_append with the caller's identity: the server's identity replaces the request's user,
adds the actor and the tenant rule, and is part of the idempotency hash. Pure: no servers."""

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


def test_the_idempotency_hash_covers_who_appends_not_what_they_claim() -> None:
    assert command(BOB_VIA_STORAGE).request_hash == command(BOB_VIA_STORAGE, "eve").request_hash
    others = [
        Identity(user_id="ann", actor="fundledger-storage", tenant="acme"),
        Identity(user_id="bob", actor=None, tenant="acme"),
        Identity(user_id="bob", actor="fundledger-storage", tenant="globex"),
    ]
    for other in others:
        assert command(other).request_hash != command(BOB_VIA_STORAGE).request_hash
    # Without authentication the hash is what it always was: the request's fields alone.
    assert command(None).request_hash != command(None, "eve").request_hash
