"""The auth phase's figures (phase_auth.py): their keys, which instance served each, and the
on/off comparison the report and the targets read.

Keys are ``<kind>.<on|off>.c<concurrency>.r<round>``, e.g. ``authstate.on.c16.r2``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tests.bench.measure import Figure

CONCURRENCIES = (1, 16)
TARGET_RATIO = 0.95
# What each figure kind calls, and which instance serves it in each configuration.
KINDS = {"authstate": "GetFundState", "authappend": "append 1 event, own stream"}
# off: plaintext, no authentication; tls: TLS only (the token is sent but not checked);
# on: TLS + authentication + authorization, as users run it.
CONFIGS = ("off", "tls", "on")
SERVICE_OF = {"authstate": "projector", "authappend": "event-store"}
SERVER_OF = {(kind, config): f"{SERVICE_OF[kind]}-{config}" for kind in KINDS for config in CONFIGS}


def auth_key(kind: str, config: str, concurrency: int, round_: int) -> str:
    return f"{kind}.{config}.c{concurrency}.r{round_}"


def parse_key(key: str) -> tuple[str, str, int, int] | None:
    """(kind, config, concurrency, round) of an auth figure's key; None for any other."""
    parts = key.split(".")
    if len(parts) != 4 or parts[0] not in KINDS:
        return None
    return parts[0], parts[1], int(parts[2][1:]), int(parts[3][1:])


def server_of(key: str) -> str | None:
    parsed = parse_key(key)
    return None if parsed is None else SERVER_OF[(parsed[0], parsed[1])]


@dataclass(frozen=True)
class Comparison:
    kind: str
    concurrency: int
    off: list[float]  # calls/s per round
    on: list[float]
    tls: list[float]
    ratios: list[float]  # on / off per round
    tls_ratios: list[float]  # tls / off per round
    auth_ratios: list[float]  # on / tls per round: what authentication itself costs
    off_cpu_ms: list[float]  # the serving process's CPU per call, per round
    on_cpu_ms: list[float]
    tls_cpu_ms: list[float]

    @property
    def ratio(self) -> float:
        """TLS + authentication against plaintext without it."""
        return statistics.median(self.ratios) if self.ratios else 0.0

    @property
    def auth_ratio(self) -> float:
        """Authentication + authorization on against off, both over TLS (the target's figure:
        TLS is the transport's cost, reported beside it as tls/off)."""
        return statistics.median(self.auth_ratios) if self.auth_ratios else 0.0


def cpu_ms_per_call(figure: Figure, process: str) -> float:
    calls = figure.result.calls_per_second
    pct = figure.cpu.get(process)
    return 10.0 * pct / calls if pct is not None and calls > 0 else 0.0


def comparisons(figures: Mapping[str, Figure]) -> list[Comparison]:
    """Pairs the on and off figures of each round (a round missing either is left out)."""
    found: dict[tuple[str, int], Comparison] = {}
    rounds = sorted({p[3] for k in figures if (p := parse_key(k)) is not None})
    for kind in KINDS:
        for c in CONCURRENCIES:
            comparison = Comparison(kind, c, [], [], [], [], [], [], [], [], [])
            for r in rounds:
                on = figures.get(auth_key(kind, "on", c, r))
                off = figures.get(auth_key(kind, "off", c, r))
                tls = figures.get(auth_key(kind, "tls", c, r))
                if on is None or off is None or off.value <= 0:
                    continue
                comparison.on.append(on.value)
                comparison.off.append(off.value)
                comparison.ratios.append(on.value / off.value)
                comparison.on_cpu_ms.append(cpu_ms_per_call(on, SERVER_OF[(kind, "on")]))
                comparison.off_cpu_ms.append(cpu_ms_per_call(off, SERVER_OF[(kind, "off")]))
                if tls is not None:
                    comparison.tls.append(tls.value)
                    comparison.tls_ratios.append(tls.value / off.value)
                    if tls.value > 0:
                        comparison.auth_ratios.append(on.value / tls.value)
                    comparison.tls_cpu_ms.append(cpu_ms_per_call(tls, SERVER_OF[(kind, "tls")]))
            if comparison.ratios:
                found[(kind, c)] = comparison
    return list(found.values())


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def render(found: Sequence[Comparison]) -> list[str]:
    head = (
        f"{'auth (calls/s)':<32}{'off':>7}{'tls':>7}{'on':>7}{'on/tls':>8}{'on/off':>8}"
        f"{'tls/off':>8}"
        f"  {'on/tls by round':<18}{'cpu ms/call: off':>17}{'tls':>7}{'on':>7}"
    )
    lines = [head, "-" * len(head)]
    for c in found:
        rounds = " ".join(f"{r:.2f}" for r in c.auth_ratios)
        lines.append(
            f"{KINDS[c.kind] + f', c{c.concurrency}':<32}"
            f"{_median(c.off):>7,.0f}{_median(c.tls):>7,.0f}{_median(c.on):>7,.0f}"
            f"{c.auth_ratio:>8.3f}{c.ratio:>8.3f}{_median(c.tls_ratios):>8.3f}  {rounds:<18}"
            f"{_median(c.off_cpu_ms):>17.3f}{_median(c.tls_cpu_ms):>7.3f}"
            f"{_median(c.on_cpu_ms):>7.3f}"
        )
    lines.append(
        "medians over the rounds; ratios are medians of each round's ratio; on/tls is what"
        " authentication costs (both over TLS), tls/off what TLS costs; cpu: the serving"
        " process only (PostgreSQL apart)."
    )
    return lines
