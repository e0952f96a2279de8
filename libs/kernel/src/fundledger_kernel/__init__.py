"""FundLedger kernel: pure rules shared by the services (no I/O).

Canonical JSON and payload hashes, strict JSON parsing, the fund event catalog and fund payload
validation.
"""

from fundledger_kernel.canonical import canonical_json, payload_hash, request_hash
from fundledger_kernel.catalog import (
    FUND_EVENT_TYPES,
    is_fund_event,
    is_required_field,
    required_fields,
)
from fundledger_kernel.errors import PayloadError
from fundledger_kernel.json_input import parse_json_object
from fundledger_kernel.validation import (
    MAX_AMOUNT_CENTS,
    validate_fund_payload,
    validate_new_fund_payload,
)

__all__ = [
    "FUND_EVENT_TYPES",
    "MAX_AMOUNT_CENTS",
    "PayloadError",
    "canonical_json",
    "is_fund_event",
    "is_required_field",
    "parse_json_object",
    "payload_hash",
    "request_hash",
    "required_fields",
    "validate_fund_payload",
    "validate_new_fund_payload",
]

# The fund domain (the shared fold), re-exported so services import it from the kernel's root.
from fundledger_kernel.fund import (
    FOLD_VERSION,
    CompanyState,
    FoldVersionMismatchError,
    FundEvent,
    FundState,
    MetricKey,
    MetricVariance,
    StateRangeError,
    StoredStateError,
    decode_event,
    empty_state,
    evolve,
    project,
    state_from_json,
    state_to_json,
    state_to_proto,
)

__all__ += [
    "FOLD_VERSION",
    "CompanyState",
    "FoldVersionMismatchError",
    "FundEvent",
    "FundState",
    "MetricKey",
    "MetricVariance",
    "StateRangeError",
    "StoredStateError",
    "decode_event",
    "empty_state",
    "evolve",
    "project",
    "state_from_json",
    "state_to_json",
    "state_to_proto",
]
