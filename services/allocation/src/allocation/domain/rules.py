"""The rules a reallocation is checked against; each returns its findings.

Errors (block a commit): a proposed amount above the company's cap or below zero, a company the
fund does not hold, a company proposed twice, no proposal at all, and a proposal made against
another version than the fund's current one. Warnings (inform only): one company holding more
than the concentration threshold of all planned reserves after the change, and the total after
the change above the fund-share threshold of the fund size.

Allocation caps: a company's cap is set when it is > 0. `allocation_cap_cents` is optional in
COMPANY_ADDED and proto3 cannot tell 0 from "not given", so 0 means "no cap set" — otherwise every
company added without a cap could never receive any reserves. (A zero-reserve rule, if ever
wanted, needs its own field.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from fundledger_kernel.fund import FundState

from allocation.domain.findings import Finding, FindingType
from allocation.domain.model import Proposal
from allocation.domain.money import format_bps, format_cents, share_text
from allocation.domain.thresholds import Thresholds, exceeds_share


def version_findings(state: FundState, proposal: Proposal) -> Iterator[Finding]:
    if proposal.expected_version != state.version:
        yield Finding(
            FindingType.VERSION_CONFLICT,
            "",
            f"the proposal was made against version {proposal.expected_version};"
            f" the fund is at version {state.version}",
        )


def proposal_findings(state: FundState, proposal: Proposal) -> Iterator[Finding]:
    """Errors about the proposal itself: its shape and each proposed amount."""
    if not proposal.amounts:
        yield Finding(FindingType.EMPTY_PROPOSAL, "", "the proposal names no company")
        return
    counts = Counter(item.company_id for item in proposal.amounts)
    for company_id, count in sorted(counts.items()):
        if count > 1:
            yield Finding(
                FindingType.DUPLICATE_COMPANY,
                company_id,
                f"company {company_id} is proposed {count} times;"
                " the changes show its first amount",
            )
        if company_id not in state.companies:
            yield Finding(
                FindingType.COMPANY_NOT_FOUND,
                company_id,
                f"company {company_id} is not in fund {state.fund_id}",
            )
    # Every proposed amount is checked, duplicates included: each would be a planned reserve.
    for item in proposal.amounts:
        amount = item.planned_reserves_cents
        if amount < 0:
            yield Finding(
                FindingType.NEGATIVE_ALLOCATION,
                item.company_id,
                f"planned reserves of {item.company_id} cannot be negative"
                f" ({format_cents(amount)})",
            )
            continue
        company = state.companies.get(item.company_id)
        if company is not None and company.allocation_cap > 0 and amount > company.allocation_cap:
            yield Finding(
                FindingType.CAP_EXCEEDED,
                item.company_id,
                f"planned reserves of {item.company_id} ({format_cents(amount)}) exceed"
                f" its allocation cap ({format_cents(company.allocation_cap)})",
            )


def concentration_findings(
    after: Mapping[str, int], total_after: int, thresholds: Thresholds
) -> Iterator[Finding]:
    """Companies whose planned reserves after the change are above the threshold share.

    Every company of the fund is looked at, not only the changed ones: the warning is about the
    allocation the commit would leave, and a commit that leaves one company dominant should say
    so even when that company was not touched.
    """
    if total_after <= 0:  # nothing planned (or only negative amounts, already errors): no shares
        return
    for company_id in sorted(after):
        amount = after[company_id]
        if exceeds_share(amount, total_after, thresholds.concentration_bps):
            yield Finding(
                FindingType.HIGH_CONCENTRATION,
                company_id,
                f"{company_id} would hold {share_text(amount, total_after)} of planned reserves"
                f" ({format_cents(amount)} of {format_cents(total_after)}), above"
                f" {format_bps(thresholds.concentration_bps)}",
            )


def fund_share_findings(
    state: FundState, total_after: int, thresholds: Thresholds
) -> Iterator[Finding]:
    """The total after the change against the fund size (committed capital)."""
    size = state.committed
    if not exceeds_share(total_after, size, thresholds.fund_share_bps):
        return
    if size <= 0:
        share = "while the fund size is not set"
    else:
        share = f"{share_text(total_after, size)} of the fund size {format_cents(size)}"
    yield Finding(
        FindingType.ALLOCATION_EXCEEDS_FUND_SHARE,
        "",
        f"total planned reserves would be {format_cents(total_after)}, {share}, above"
        f" {format_bps(thresholds.fund_share_bps)}",
    )
