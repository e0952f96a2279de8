"""RebuildProjection for a caller bound to one tenant: only that tenant's funds.

The whole-table rebuild (rebuild.py) replaces every tenant's rows at once, so a tenant's
administrator must not run it: their rebuild folds each of their tenant's funds again from the
log, in place, through the live apply path (Applier.refold: the same exactly-once transaction
as every other write, so it races safely with the bus and the catch-up). Other tenants' rows
are neither read nor written. Callers who see every tenant (a service identity, or no
authentication) get the whole-table rebuild.

A fund whose row does not record its tenant yet (written before tenants were recorded) is not
the tenant's to rebuild: the whole-table rebuild, or the fund's next event, records it.
"""

from __future__ import annotations

from fundledger_kernel.fund.fold_input import FundLogError
from fundledger_platform.recorded import fund_log_data_loss

from projector.service_layer.applier import Applier
from projector.service_layer.ports import ProjectionRows
from projector.service_layer.rebuild import RebuildResult

BATCH = 100


async def rebuild_tenant(applier: Applier, rows: ProjectionRows) -> RebuildResult:
    """Refold the caller's tenant's funds (rows.tenant_funds is narrowed by tenant_scope());
    DATA_LOSS naming the first fund whose log cannot be folded (the ones before it stay
    refolded: each refold is exact on its own)."""
    funds = replayed = position = 0
    after: str | None = None
    while True:
        batch = await rows.tenant_funds(after, BATCH)
        if not batch:
            return RebuildResult(funds, replayed, position)
        for fund_id in batch:
            try:
                outcome = await applier.refold(fund_id)
            except FundLogError as err:
                raise fund_log_data_loss(err) from None
            funds += 1
            replayed += outcome.version
            position = max(position, outcome.position)
        after = batch[-1]
