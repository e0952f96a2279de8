"""Every ``google.rpc.ErrorInfo.reason`` FundLedger returns, in one registry.

A reason names a *condition* (``WRONG_EXPECTED_VERSION``), never a status code: the code is
already in the status, and a caller branching on ``reason`` needs to know what happened. One
condition has one reason in every service, so a client written against one service reads the
others the same way. ``DomainError`` only takes a :class:`Reason`, so an unregistered reason is a
type error (mypy) and a ``ValueError`` at run time; ``docs/errors.md`` is checked against this
table by ``libs/platform/tests/test_reasons.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import grpc

_C = grpc.StatusCode


class Reason(StrEnum):
    # -- a request field, any service -----------------------------------------------------------
    FIELD_REQUIRED = "FIELD_REQUIRED"
    FIELD_NEGATIVE = "FIELD_NEGATIVE"
    FIELD_TOO_LONG = "FIELD_TOO_LONG"
    FIELD_MALFORMED = "FIELD_MALFORMED"
    TIME_RANGE_INVALID = "TIME_RANGE_INVALID"
    EFFECTIVE_AT_IN_FUTURE = "EFFECTIVE_AT_IN_FUTURE"
    PAGE_SIZE_INVALID = "PAGE_SIZE_INVALID"
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
    STREAM_ID_INVALID = "STREAM_ID_INVALID"
    FUND_ID_INVALID = "FUND_ID_INVALID"
    # -- appends --------------------------------------------------------------------------------
    EMPTY_APPEND = "EMPTY_APPEND"
    TOO_MANY_EVENTS = "TOO_MANY_EVENTS"
    APPEND_TOO_LARGE = "APPEND_TOO_LARGE"
    EVENT_TOO_LARGE = "EVENT_TOO_LARGE"
    DUPLICATE_EVENT_ID = "DUPLICATE_EVENT_ID"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    WRONG_EXPECTED_VERSION = "WRONG_EXPECTED_VERSION"
    EVENT_ID_EXISTS = "EVENT_ID_EXISTS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    APPEND_FAILED = "APPEND_FAILED"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    EVENT_STORE_REJECTED = "EVENT_STORE_REJECTED"
    # -- reads of the log and of fund state -----------------------------------------------------
    STREAM_NOT_FOUND = "STREAM_NOT_FOUND"
    FUND_NOT_FOUND = "FUND_NOT_FOUND"
    FUND_NOT_FOUND_AT_TIME = "FUND_NOT_FOUND_AT_TIME"
    VERSION_INVALID = "VERSION_INVALID"
    VERSION_BEYOND_CURRENT = "VERSION_BEYOND_CURRENT"
    TARGET_REQUIRED = "TARGET_REQUIRED"
    MIN_VERSION_NOT_REACHED = "MIN_VERSION_NOT_REACHED"
    FUND_LOG_GAP = "FUND_LOG_GAP"
    FUND_CHAIN_BROKEN = "FUND_CHAIN_BROKEN"
    FUND_EVENT_UNREADABLE = "FUND_EVENT_UNREADABLE"
    STORED_STATE_UNREADABLE = "STORED_STATE_UNREADABLE"
    FUND_STATE_OUT_OF_RANGE = "FUND_STATE_OUT_OF_RANGE"
    EVENT_STORE_UNAVAILABLE = "EVENT_STORE_UNAVAILABLE"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    # -- projections ----------------------------------------------------------------------------
    REBUILD_IN_PROGRESS = "REBUILD_IN_PROGRESS"
    REBUILD_SWAP_LOCK_TIMEOUT = "REBUILD_SWAP_LOCK_TIMEOUT"
    REBUILD_SWAP_TIMEOUT = "REBUILD_SWAP_TIMEOUT"
    # -- reallocation ---------------------------------------------------------------------------
    EXPECTED_VERSION_INVALID = "EXPECTED_VERSION_INVALID"
    TOO_MANY_PROPOSALS = "TOO_MANY_PROPOSALS"
    PROPOSAL_INVALID = "PROPOSAL_INVALID"
    REASON_INVALID = "REASON_INVALID"
    REALLOCATION_BLOCKED = "REALLOCATION_BLOCKED"
    # -- documents ------------------------------------------------------------------------------
    KEY_PART_INVALID = "KEY_PART_INVALID"
    EXPIRY_OUT_OF_RANGE = "EXPIRY_OUT_OF_RANGE"
    SCOPE_REQUIRED = "SCOPE_REQUIRED"
    SCOPE_AMBIGUOUS = "SCOPE_AMBIGUOUS"
    METADATA_REQUIRED = "METADATA_REQUIRED"
    METADATA_REPEATED = "METADATA_REPEATED"
    CONTENT_REQUIRED = "CONTENT_REQUIRED"
    FILE_TOO_LARGE = "FILE_TOO_LARGE"
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    CONTENT_MISMATCH = "CONTENT_MISMATCH"
    OBJECT_MISSING = "OBJECT_MISSING"
    OBJECT_STORE_UNAVAILABLE = "OBJECT_STORE_UNAVAILABLE"
    # -- identity and access --------------------------------------------------------------------
    TOKEN_MISSING = "TOKEN_MISSING"
    TOKEN_MALFORMED = "TOKEN_MALFORMED"
    TOKEN_TOO_LARGE = "TOKEN_TOO_LARGE"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_INVALID = "TOKEN_INVALID"
    PERMISSION_MISSING = "PERMISSION_MISSING"
    TENANT_MISSING = "TENANT_MISSING"


@dataclass(frozen=True, slots=True)
class ReasonDoc:
    """What a reason means to a caller: its status code, the condition, and what to do."""

    code: grpc.StatusCode
    meaning: str
    action: str


_FIX = "fix the request; retrying it unchanged fails the same way"
_RETRY = "retry with backoff; idempotent appends (key or event ids) are safe to resend"

REGISTRY: dict[Reason, ReasonDoc] = {
    Reason.FIELD_REQUIRED: ReasonDoc(
        _C.INVALID_ARGUMENT, "a required field is empty (named in `field`)", _FIX
    ),
    Reason.FIELD_NEGATIVE: ReasonDoc(
        _C.INVALID_ARGUMENT, "a number that must not be negative is (named in `field`)", _FIX
    ),
    Reason.FIELD_TOO_LONG: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "a text field, or a list of values, is longer than its limit (named in `field`)",
        _FIX,
    ),
    Reason.FIELD_MALFORMED: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "a field is not of its required form: a UUID, a timestamp, a MIME type, a hex digest,"
        " a known enum value, allowed characters (named in `field`)",
        _FIX,
    ),
    Reason.TIME_RANGE_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT, "a time window ends before it starts", _FIX
    ),
    Reason.EFFECTIVE_AT_IN_FUTURE: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "an event's effective_at lies after the commit time plus the server's horizon"
        " (named in `field`; `latest_allowed` in metadata)",
        "backdate or leave effective_at unset (= the commit time); future-dated facts are"
        " refused unless the operator sets FUNDLEDGER_EVENTSTORE_EFFECTIVE_AT_HORIZON_SECONDS",
    ),
    Reason.PAGE_SIZE_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "page_size is negative (0 means the default; above the maximum is capped)",
        _FIX,
    ),
    Reason.INVALID_PAGE_TOKEN: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "page_token was not issued by this RPC for the same query",
        "restart from the first page (empty token)",
    ),
    Reason.STREAM_ID_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT, "a stream id is not `<category>-<id>` within the length limit", _FIX
    ),
    Reason.FUND_ID_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT, "a fund id is not `fund-<id>` within the length limit", _FIX
    ),
    Reason.EMPTY_APPEND: ReasonDoc(_C.INVALID_ARGUMENT, "an append carries no events", _FIX),
    Reason.TOO_MANY_EVENTS: ReasonDoc(
        _C.INVALID_ARGUMENT, "an append carries more events than the store's limit", "split it"
    ),
    Reason.APPEND_TOO_LARGE: ReasonDoc(
        _C.INVALID_ARGUMENT, "an append's payloads exceed the store's byte limit", "split it"
    ),
    Reason.EVENT_TOO_LARGE: ReasonDoc(
        _C.INVALID_ARGUMENT, "one event exceeds the store's per-event byte limit", _FIX
    ),
    Reason.DUPLICATE_EVENT_ID: ReasonDoc(
        _C.INVALID_ARGUMENT, "two events of one append share an event id", _FIX
    ),
    Reason.INVALID_PAYLOAD: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "event data or metadata does not match its schema (the offending field is named)",
        _FIX,
    ),
    Reason.WRONG_EXPECTED_VERSION: ReasonDoc(
        _C.ABORTED,
        "the stream (or fund) is not at the version the caller expected; nothing was written;"
        " `actual_version` in the metadata",
        "re-read, re-decide, and retry with the new expected version",
    ),
    Reason.EVENT_ID_EXISTS: ReasonDoc(
        _C.FAILED_PRECONDITION,
        "an event id of the append is already stored in another place of the stream",
        "use new event ids for new events",
    ),
    Reason.IDEMPOTENCY_KEY_REUSED: ReasonDoc(
        _C.FAILED_PRECONDITION,
        "the idempotency key was used on this stream for a different request",
        "use a new key for a new request",
    ),
    Reason.APPEND_FAILED: ReasonDoc(
        _C.UNAVAILABLE, "the append's database transaction failed; nothing was written", _RETRY
    ),
    Reason.SHUTTING_DOWN: ReasonDoc(
        _C.UNAVAILABLE, "the server is draining before it stops", "retry on another instance"
    ),
    Reason.EVENT_STORE_REJECTED: ReasonDoc(
        _C.FAILED_PRECONDITION,
        "the event store refused a write made on the caller's behalf without a reason of its"
        " own; its status code is in `eventstore_code`",
        "read the message; fix the request",
    ),
    Reason.STREAM_NOT_FOUND: ReasonDoc(_C.NOT_FOUND, "the stream has no events", "none"),
    Reason.FUND_NOT_FOUND: ReasonDoc(_C.NOT_FOUND, "the fund has no events (or no state)", "none"),
    Reason.FUND_NOT_FOUND_AT_TIME: ReasonDoc(
        _C.NOT_FOUND, "the fund had no events at the requested time", "ask for a later time"
    ),
    Reason.VERSION_INVALID: ReasonDoc(_C.INVALID_ARGUMENT, "a version must be at least 1", _FIX),
    Reason.VERSION_BEYOND_CURRENT: ReasonDoc(
        _C.OUT_OF_RANGE,
        "the requested version is beyond the fund's current version",
        "ask for at most the current version",
    ),
    Reason.TARGET_REQUIRED: ReasonDoc(
        _C.INVALID_ARGUMENT, "one of at_time or at_version is required", _FIX
    ),
    Reason.MIN_VERSION_NOT_REACHED: ReasonDoc(
        _C.DEADLINE_EXCEEDED,
        "the projection did not reach min_version within the wait (read-your-writes)",
        "retry; the projection catches up",
    ),
    Reason.FUND_CHAIN_BROKEN: ReasonDoc(
        _C.DATA_LOSS,
        "a fund's event does not match its stream's hash chain (an event edited, removed or"
        " reordered in the database): the fund is not folded past it (`version` names it)",
        "alert an operator: `fundledger events verify STREAM` shows the break; restore the"
        " fund's events from a backup (docs/operations.md)",
    ),
    Reason.FUND_LOG_GAP: ReasonDoc(
        _C.DATA_LOSS,
        "the event store returned a fund's events with a version missing or repeated (e.g."
        " removed by retention): no exact state can be computed",
        "alert an operator; the fund's log must be repaired or restored",
    ),
    Reason.FUND_EVENT_UNREADABLE: ReasonDoc(
        _C.DATA_LOSS,
        "a stored fund event's payload does not decode into its schema; `fund_id`, `version`"
        " and `event_type` in the metadata",
        "alert an operator; the event cannot be folded",
    ),
    Reason.STORED_STATE_UNREADABLE: ReasonDoc(
        _C.DATA_LOSS,
        "a materialized fund state row cannot be read back",
        "an operator rebuilds the projection (RebuildProjection)",
    ),
    Reason.FUND_STATE_OUT_OF_RANGE: ReasonDoc(
        _C.FAILED_PRECONDITION,
        "a figure of the fund's state (a sum or a ratio) does not fit the wire's int64; the"
        " figure is named in the message",
        "an operator corrects the fund's events (compensating events); the state is not served",
    ),
    Reason.DATABASE_UNAVAILABLE: ReasonDoc(
        _C.UNAVAILABLE,
        "the service's own PostgreSQL could not be reached, or the connection broke mid-call"
        " (a restart or a failover)",
        _RETRY,
    ),
    Reason.EVENT_STORE_UNAVAILABLE: ReasonDoc(
        _C.UNAVAILABLE,
        "a call to the event store failed or timed out; its code in `eventstore_code`",
        _RETRY,
    ),
    Reason.REBUILD_IN_PROGRESS: ReasonDoc(
        _C.FAILED_PRECONDITION, "a projection rebuild is already running", "wait for it"
    ),
    Reason.REBUILD_SWAP_LOCK_TIMEOUT: ReasonDoc(
        _C.ABORTED,
        "the rebuilt table could not take the live table's lock in time",
        "retry the rebuild when fewer reads are running",
    ),
    Reason.REBUILD_SWAP_TIMEOUT: ReasonDoc(
        _C.UNAVAILABLE,
        "the rebuilt table did not catch up with the live log in time before the swap",
        "retry the rebuild when fewer appends are running",
    ),
    Reason.EXPECTED_VERSION_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT, "expected_version must not be negative", _FIX
    ),
    Reason.TOO_MANY_PROPOSALS: ReasonDoc(
        _C.INVALID_ARGUMENT, "a reallocation names more companies than the limit", "split it"
    ),
    Reason.PROPOSAL_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT, "a proposed company entry is malformed (named in `field`)", _FIX
    ),
    Reason.REASON_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "the reallocation's reason is empty, too long or holds control characters",
        _FIX,
    ),
    Reason.REALLOCATION_BLOCKED: ReasonDoc(
        _C.FAILED_PRECONDITION,
        "the reallocation has blocking findings (cap exceeded, negative amount, …); nothing"
        " was written",
        "preview, fix the proposal, commit again",
    ),
    Reason.KEY_PART_INVALID: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "an id that becomes part of an object key is too long or has characters outside its"
        " pattern",
        _FIX,
    ),
    Reason.EXPIRY_OUT_OF_RANGE: ReasonDoc(
        _C.INVALID_ARGUMENT, "a signed URL's expiry is outside the allowed range", _FIX
    ),
    Reason.SCOPE_REQUIRED: ReasonDoc(
        _C.INVALID_ARGUMENT, "a listing needs an owner or an entity to list", _FIX
    ),
    Reason.SCOPE_AMBIGUOUS: ReasonDoc(
        _C.INVALID_ARGUMENT, "a listing names both an owner and an entity", _FIX
    ),
    Reason.METADATA_REQUIRED: ReasonDoc(
        _C.INVALID_ARGUMENT, "an upload stream must start with its metadata message", _FIX
    ),
    Reason.METADATA_REPEATED: ReasonDoc(
        _C.INVALID_ARGUMENT, "an upload stream sent its metadata twice", _FIX
    ),
    Reason.CONTENT_REQUIRED: ReasonDoc(
        _C.INVALID_ARGUMENT, "an upload stream sent no content", _FIX
    ),
    Reason.FILE_TOO_LARGE: ReasonDoc(
        _C.INVALID_ARGUMENT, "the upload exceeds the maximum file size", _FIX
    ),
    Reason.CHECKSUM_MISMATCH: ReasonDoc(
        _C.INVALID_ARGUMENT,
        "the uploaded content's SHA-256 differs from the one the caller declared; nothing kept",
        "upload again",
    ),
    Reason.FILE_NOT_FOUND: ReasonDoc(_C.NOT_FOUND, "no file with this id", "none"),
    Reason.CONTENT_MISMATCH: ReasonDoc(
        _C.DATA_LOSS,
        "a stored object's content does not match its recorded size or SHA-256",
        "alert an operator; restore the object from the store's versioning",
    ),
    Reason.OBJECT_MISSING: ReasonDoc(
        _C.DATA_LOSS,
        "a file is recorded but its object is gone from object storage",
        "alert an operator; restore the object",
    ),
    Reason.OBJECT_STORE_UNAVAILABLE: ReasonDoc(
        _C.UNAVAILABLE, "a call to object storage failed or timed out", _RETRY
    ),
    Reason.TOKEN_MISSING: ReasonDoc(
        _C.UNAUTHENTICATED,
        "the call carries no `authorization: Bearer <token>` metadata",
        "get a token from your identity provider (or the dev issuer) and send it",
    ),
    Reason.TOKEN_MALFORMED: ReasonDoc(
        _C.UNAUTHENTICATED,
        "the authorization metadata is not one `Bearer <JWT>` (three base64url parts)",
        "send the access token itself, once, after `Bearer `",
    ),
    Reason.TOKEN_TOO_LARGE: ReasonDoc(
        _C.UNAUTHENTICATED,
        "the bearer token is larger than the server's limit (`max_bytes`); it was not parsed",
        "ask the identity provider for a smaller token (fewer claims or groups)",
    ),
    Reason.TOKEN_EXPIRED: ReasonDoc(
        _C.UNAUTHENTICATED,
        "the bearer token (or, with `check=subject_token`, the person's subject token) has"
        " expired (also ends a stream that outlives its token)",
        "get a fresh token and call again (a stream resumes from its last position)",
    ),
    Reason.TOKEN_INVALID: ReasonDoc(
        _C.UNAUTHENTICATED,
        "the bearer token was refused; `check` says why: issuer, algorithm, key, signature,"
        " audience, not_before or claims; `subject_token` when the `x-fundledger-subject-token`"
        " was refused (sent by a person, not a person's, or failing the check in `cause`)",
        "get a token from a trusted issuer for this service's audience; retrying it fails",
    ),
    Reason.PERMISSION_MISSING: ReasonDoc(
        _C.PERMISSION_DENIED,
        "the caller's roles lack the permission named in `permission` (the RPC's, or the one"
        " the request needs, e.g. `events.append:fund`); nothing was done",
        "ask for a role that grants it (docs/security.md); retrying does not help",
    ),
    Reason.TENANT_MISSING: ReasonDoc(
        _C.PERMISSION_DENIED,
        "the caller is a person whose token names no tenant (management company), so no fund,"
        " stream, snapshot, reallocation or file can be theirs; nothing was done",
        "have the identity provider put the tenant claim (docs/security.md) in the token",
    ),
}
