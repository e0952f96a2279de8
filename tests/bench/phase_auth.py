"""Phase `auth` (issue 10): what TLS + authentication + authorization cost, in the same run.

GetFundState and AppendToStream (1 event) are measured against two instances of each server
on the same database: one secure (TLS, token verified, permission checked; the client sends
the same token on every call, as a real client does) and one plaintext without
authentication. The two alternate (off, on, then on, off in the next round, so a drift of this
shared machine's load favours neither), each pair with the same workload, for
``FUNDLEDGER_BENCH_AUTH_ROUNDS`` rounds. Reported: each configuration's calls/s, the on/off
ratio (median over rounds; target ≥ 0.95), and the serving process's CPU per call.

The measured instances do no background work, so their CPU is the calls': the event stores
run without the relay (the run's own event store publishes), the projectors without following
the log (the run's own projector does; they read the table it writes).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from tests.bench.auth_figures import CONCURRENCIES, CONFIGS, auth_key, comparisons, render
from tests.bench.extra_stores import start_event_store
from tests.bench.fund_seed import NotReadyError, fund_ids, seed_funds, wait_projected
from tests.bench.services import Instance, ServiceError, running_services

if TYPE_CHECKING:
    from tests.bench.phases import Phases

FUNDS = 20
READY_SECONDS = 120.0
START_SECONDS = 90.0
# TLS without authentication or authorization: what TLS alone costs.
TLS_ONLY = {"FUNDLEDGER_AUTH_ENABLED": "false", "FUNDLEDGER_AUTH_POLICY_FILE": ""}
READ_ONLY = {
    "FUNDLEDGER_PROJECTOR_CONSUMER_ENABLED": "false",
    "FUNDLEDGER_PROJECTOR_CATCHUP_ENABLED": "false",
}


async def authentication_cost(p: Phases) -> None:
    stack = p.stack
    if stack.nats_url is None or stack.security is None:
        why = "target mode" if stack.nats_url is None else "FUNDLEDGER_BENCH_SECURE=false"
        p.log(f"phase auth skipped: needs the secure throwaway stack ({why})")
        p.notes["skipped_auth"] = why
        return
    p.log("authentication cost: secure and plaintext instances, interleaved")
    try:
        async with _event_stores(p) as stores:
            extra = [
                Instance(
                    f"projector-{config}",
                    "projector",
                    config != "off",
                    stores[config],
                    {**READ_ONLY, **(TLS_ONLY if config == "tls" else {})},
                )
                for config in CONFIGS
            ]
            async with running_services(stack, ("projector",), p.log, extra) as addr:
                funds = fund_ids(f"{p.tag}auth", FUNDS)
                await seed_funds(stack.eventstore, funds)
                await wait_projected(addr["projector"], funds, READY_SECONDS)
                projectors = {config: addr[f"projector-{config}"] for config in CONFIGS}
                await _rounds(p, funds, projectors, stores)
    except (ServiceError, NotReadyError) as err:
        p.log(f"phase auth stopped: {err}")
        p.notes["failed_auth"] = str(err)
        return
    found = comparisons({f.key: f for f in p.meter.figures})
    for line in render(found):
        p.log(line)
    p.notes["auth"] = {
        f"{c.kind}.c{c.concurrency}": {
            "off_calls_per_second": c.off,
            "on_calls_per_second": c.on,
            "ratios": [round(r, 4) for r in c.ratios],
            "median_ratio": round(c.ratio, 4),
            "off_cpu_ms_per_call": [round(v, 4) for v in c.off_cpu_ms],
            "on_cpu_ms_per_call": [round(v, 4) for v in c.on_cpu_ms],
        }
        for c in found
    }


async def _rounds(
    p: Phases, funds: tuple[str, ...], projectors: dict[str, str], stores: dict[str, str]
) -> None:
    for r in range(1, p.settings.auth_rounds + 1):
        order = CONFIGS if r % 2 else tuple(reversed(CONFIGS))
        p.log(f"  round {r}: {' then '.join(order)} for each figure")
        for c in CONCURRENCIES:
            for config in order:
                plain = config == "off"
                work = p.work("fundstate", projectors[config], funds=funds, plaintext=plain)
                label = f"GetFundState, auth {config}, c{c}, round {r}"
                await p.meter.measure(auth_key("authstate", config, c, r), label, work, c)
        for c in CONCURRENCIES:
            for config in order:
                tag, plain = f"{p.tag}auth{config}{c}", config == "off"
                work = p.work("append", stores[config], tag=tag, plaintext=plain)
                label = f"append 1 event, auth {config}, c{c}, round {r}"
                await p.meter.measure(auth_key("authappend", config, c, r), label, work, c)


@contextlib.asynccontextmanager
async def _event_stores(p: Phases) -> AsyncIterator[dict[str, str]]:
    """An event store per configuration on the run's database, without relays."""
    stack = p.stack
    addresses: dict[str, str] = {}
    with contextlib.ExitStack() as started:
        for config in CONFIGS:
            address, _ = await start_event_store(
                stack,
                started,
                f"event-store-{config}",
                security=stack.security if config != "off" else None,
                env=TLS_ONLY if config == "tls" else {},
                start_seconds=START_SECONDS,
            )
            addresses[config] = address
        p.log(f"  started {', '.join(f'event-store-{c} {a}' for c, a in addresses.items())}")
        yield addresses
