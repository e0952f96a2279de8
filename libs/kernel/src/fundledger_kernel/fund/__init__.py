"""The fund domain: the shared fold over a fund's events, its state, and the state's stored and
wire forms.

    state = project(empty_state("fund-…"), events)      # events: FundEvent, from decode_event
    row = state_to_json(state)                           # projector rows, snapshots
    same = state_from_json(row)                          # == state
    message = state_to_proto(state)                      # fundledger.fund.v1.FundState

Pure: no I/O, no clock, no randomness; money in integer cents, ratios as exact Fractions.
"""

from fundledger_kernel.fund.events import FundEvent, decode_event, decode_stored_event
from fundledger_kernel.fund.fold import FOLD_VERSION, empty_state, evolve, project
from fundledger_kernel.fund.frozen_map import FrozenMap
from fundledger_kernel.fund.handlers import HANDLERS
from fundledger_kernel.fund.json_codec import (
    FoldVersionMismatchError,
    state_from_json,
    state_to_json,
)
from fundledger_kernel.fund.json_reader import StoredStateError
from fundledger_kernel.fund.proto import StateRangeError, state_to_proto
from fundledger_kernel.fund.ratio import BPS_PER_UNIT, ratio, ratio_bps, ratio_text
from fundledger_kernel.fund.state import CompanyState, FundState, MetricKey, MetricVariance

__all__ = [
    "BPS_PER_UNIT",
    "FOLD_VERSION",
    "HANDLERS",
    "CompanyState",
    "FoldVersionMismatchError",
    "FrozenMap",
    "FundEvent",
    "FundState",
    "MetricKey",
    "MetricVariance",
    "StateRangeError",
    "StoredStateError",
    "decode_event",
    "decode_stored_event",
    "empty_state",
    "evolve",
    "project",
    "ratio",
    "ratio_bps",
    "ratio_text",
    "state_from_json",
    "state_to_json",
    "state_to_proto",
]
