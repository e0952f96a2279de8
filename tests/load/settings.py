"""What `python -m tests.load` runs: FUNDLEDGER_LOADTEST_* variables, then flags.

Read once at start-up into a frozen object; the defaults are `make loadtest`'s.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.load.gates import DEFAULT_GATES

PREFIX = "FUNDLEDGER_LOADTEST_"


@dataclass(frozen=True)
class LoadSettings:
    users: int = 100
    spawn_rate: float = 20.0  # users started per second
    duration: int = 60  # seconds of load, ramp-up included
    read_funds: int = 20  # shared funds the read scenarios pick from
    wait: str = "0.5,1.5"  # think time between a user's tasks, "min,max" seconds
    # An existing stack: its endpoints.json, or the folder holding it. None: start one.
    target: Path | None = None
    # Service addresses given directly ("event-store=host:port", …): they replace the
    # target's entries, and when they name every service no endpoints.json is needed.
    hosts: tuple[tuple[str, str], ...] = ()
    out_dir: Path = Path(".loadtest")
    gates: Path = DEFAULT_GATES
    stop_timeout: int = 10  # seconds users get to finish their task at the end
    # Reset locust's stats once every user is spawned, so the report and the gates are
    # the steady state (the ramp-up's connection set-up and first calls left out).
    reset_stats: bool = True

    @property
    def endpoints_file(self) -> Path | None:
        if self.target is None:
            return None
        return self.target / "endpoints.json" if self.target.is_dir() else self.target

    @classmethod
    def parse(
        cls, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> LoadSettings:
        env = os.environ if environ is None else environ
        d = cls()

        def var(name: str, default: object) -> str:
            return env.get(PREFIX + name) or str(default)

        target_env = env.get(PREFIX + "TARGET")
        p = argparse.ArgumentParser(
            prog="python -m tests.load",
            description="Seed, run locust headless against the stack, check the gates.",
        )
        p.add_argument("-u", "--users", type=int, default=int(var("USERS", d.users)))
        p.add_argument(
            "-r", "--spawn-rate", type=float, default=float(var("SPAWN_RATE", d.spawn_rate))
        )
        p.add_argument(
            "-t", "--duration", type=int, default=int(var("DURATION", d.duration)), help="seconds"
        )
        p.add_argument("--read-funds", type=int, default=int(var("READ_FUNDS", d.read_funds)))
        p.add_argument("--wait", default=var("WAIT", d.wait), help='think time "min,max" s')
        p.add_argument(
            "--target",
            type=Path,
            default=Path(target_env) if target_env else None,
            help="endpoints.json of a running stack (or its folder); default: start one",
        )
        p.add_argument(
            "--host",
            action="append",
            default=[h for h in env.get(PREFIX + "HOSTS", "").split(",") if h.strip()],
            metavar="SERVICE=HOST:PORT",
            help="a service's address (repeatable; env FUNDLEDGER_LOADTEST_HOSTS, comma-separated)",
        )
        p.add_argument("--out", type=Path, default=Path(var("OUT", d.out_dir)))
        p.add_argument("--gates", type=Path, default=Path(var("GATES", d.gates)))
        p.add_argument(
            "--include-ramp-up",
            action="store_true",
            default=var("INCLUDE_RAMP_UP", "0") == "1",
            help="keep the ramp-up in the stats (default: reset once every user is spawned)",
        )
        args = p.parse_args(argv)
        hosts = []
        for entry in args.host:
            name, sep, address = entry.strip().partition("=")
            if not sep or not name or not address:
                p.error(f"--host {entry!r} is not SERVICE=HOST:PORT")
            hosts.append((name.strip(), address.strip()))
        if args.users < 1 or args.duration < 1 or args.read_funds < 1 or args.spawn_rate <= 0:
            p.error("users, duration, read funds and spawn rate must be positive")
        return cls(
            users=args.users,
            spawn_rate=args.spawn_rate,
            duration=args.duration,
            read_funds=args.read_funds,
            wait=args.wait,
            target=args.target,
            hosts=tuple(hosts),
            out_dir=args.out,
            gates=args.gates,
            reset_stats=not args.include_ramp_up,
        )
